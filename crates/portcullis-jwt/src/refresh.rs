//! When keys are refetched: on demand for unknown `kid`s (rate-limited, coalesced, not cancellable by the
//! caller), and on a schedule in the background.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::fetch::FetchError;

/// What [`Issuer::refresh_for_unknown_kid`](crate::Issuer::refresh_for_unknown_kid) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// This call fetched the keys, and the new set is in use.
    Refreshed,
    /// Another caller's fetch completed while this one waited; its result is in use.
    Coalesced,
    /// A fetch started less than `min_refresh_interval` ago: nothing was fetched.
    RateLimited,
    /// This call fetched and failed; the previous keys (if any) stay in use.
    Failed(FetchError),
    /// The issuer's keys are static or a secret: there is nothing to fetch.
    NotRemote,
}

/// Serializes fetches and spaces on-demand ones at least `min_interval` apart.
#[derive(Debug)]
pub(crate) struct RefreshGate {
    state: tokio::sync::Mutex<GateState>,
    min_interval: Duration,
}

#[derive(Debug, Default)]
struct GateState {
    last_started: Option<Instant>,
    last_completed: Option<Instant>,
}

impl RefreshGate {
    pub(crate) fn new(min_interval: Duration) -> Self {
        Self { state: tokio::sync::Mutex::default(), min_interval }
    }

    /// Runs `fetch` for an unknown `kid`, unless a fetch completed while we waited for the gate (coalesced) or
    /// one started less than `min_interval` ago (rate-limited).
    ///
    /// The fetch runs as its own task: a caller that goes away (a client that disconnects) does not abort it,
    /// and the start time is recorded before it runs, so dropped requests cannot restart fetches in a loop.
    pub(crate) async fn on_demand<F>(&self, fetch: F) -> RefreshOutcome
    where
        F: Future<Output = Result<(), FetchError>> + Send + 'static,
    {
        let asked = Instant::now();
        let mut state = self.state.lock().await;
        if state.last_completed.is_some_and(|t| t >= asked) {
            return RefreshOutcome::Coalesced;
        }
        if state.last_started.is_some_and(|t| t.elapsed() < self.min_interval) {
            return RefreshOutcome::RateLimited;
        }
        state.last_started = Some(Instant::now());
        let result = tokio::spawn(fetch).await;
        state.last_completed = Some(Instant::now());
        match result {
            Ok(Ok(())) => RefreshOutcome::Refreshed,
            Ok(Err(e)) => RefreshOutcome::Failed(e),
            Err(_) => RefreshOutcome::Failed(FetchError::Aborted),
        }
    }

    /// Runs `fetch` now (scheduled or explicit refresh), after any fetch in progress, and records it so that
    /// on-demand fetches stay spaced from it.
    pub(crate) async fn now<F>(&self, fetch: F) -> Result<(), FetchError>
    where
        F: Future<Output = Result<(), FetchError>>,
    {
        let mut state = self.state.lock().await;
        state.last_started = Some(Instant::now());
        let result = fetch.await;
        state.last_completed = Some(Instant::now());
        result
    }
}

/// The background refresher of [`Issuer::spawn_refresher`](crate::Issuer::spawn_refresher); dropping it stops
/// the task.
#[derive(Debug)]
#[must_use = "the refresher stops when this handle is dropped"]
pub struct RefresherHandle(pub(crate) JoinHandle<()>);

impl RefresherHandle {
    /// Stops the refresher now.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for RefresherHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The wait before retrying after `failures` consecutive failed scheduled fetches: `min_interval` (at least 1 s)
/// doubled per failure, never more than `interval`.
pub(crate) fn retry_delay(min_interval: Duration, interval: Duration, failures: u32) -> Duration {
    let base = min_interval.max(Duration::from_secs(1));
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn retry_backs_off_up_to_the_interval() {
        let min = Duration::from_secs(30);
        let max = Duration::from_secs(600);
        assert_eq!(retry_delay(min, max, 1), Duration::from_secs(30));
        assert_eq!(retry_delay(min, max, 2), Duration::from_secs(60));
        assert_eq!(retry_delay(min, max, 5), Duration::from_secs(480));
        assert_eq!(retry_delay(min, max, 6), max);
        assert_eq!(retry_delay(min, max, u32::MAX), max);
        assert_eq!(retry_delay(Duration::ZERO, max, 1), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn on_demand_fetches_are_rate_limited_and_coalesced() {
        let gate = Arc::new(RefreshGate::new(Duration::from_secs(60)));
        let count = Arc::new(AtomicUsize::new(0));
        let fetch = |count: Arc<AtomicUsize>| async move {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        };
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (gate, count) = (gate.clone(), count.clone());
            tasks.push(tokio::spawn(async move { gate.on_demand(fetch(count)).await }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes.iter().filter(|o| **o == RefreshOutcome::Refreshed).count(), 1);
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                RefreshOutcome::Refreshed | RefreshOutcome::Coalesced | RefreshOutcome::RateLimited
            ))
        );
        assert_eq!(gate.on_demand(fetch(count.clone())).await, RefreshOutcome::RateLimited);
        gate.now(fetch(count.clone())).await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_reset_the_limit() {
        let gate = RefreshGate::new(Duration::from_secs(60));
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let c = count.clone();
            let slow = async move {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            };
            let _ = tokio::time::timeout(Duration::from_millis(5), gate.on_demand(slow)).await;
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
