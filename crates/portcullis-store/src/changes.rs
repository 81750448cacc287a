//! Change notification: every node learns the audit sequence number of the
//! newest committed change, so in-memory indexes refresh at once.
//!
//! Three sources feed one [`tokio::sync::watch`] channel per [`Store`]:
//!
//! * this node's own commits ([`Changes::committed`], called by the audited
//!   write right after its transaction commits);
//! * on PostgreSQL, a `LISTEN` on [`CHANGE_CHANNEL`], which every commit on
//!   every node `pg_notify`s in its transaction; the listener reconnects with
//!   backoff when its connection drops and then reads the head once, to catch
//!   what it missed while deaf;
//! * on both backends, a poll of the audit head every [`DEFAULT_POLL`]
//!   (adjustable with [`Store::set_change_poll`]): a safety net, so a lost
//!   notification (or, on SQLite, a write by another process on the same
//!   file) delays a refresh by one interval at most, never forever.
//!
//! The channel only ever moves forward (a smaller number is ignored), so
//! subscribers wake for news only. The listener and the poll start with the
//! first [`Store::subscribe`] (a store nobody follows opens no extra
//! connection) and stop when the last clone of the store is dropped or
//! [`Store::close`]d.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use sqlx::{AnyPool, Row};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::open::redact;
use crate::write::CHANGE_CHANNEL;
use crate::{Store, StoreError};

/// How often the audit head is polled when nothing else says it moved.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// The first wait before the PostgreSQL listener reconnects; it doubles on
/// each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A listener connection that lived this long counts as healthy: the next
/// failure starts the backoff over.
const HEALTHY: Duration = Duration::from_secs(30);

/// The change channel of one store and the tasks that feed it.
pub(crate) struct Changes {
    sender: watch::Sender<i64>,
    /// The PostgreSQL URL for the listener's own connection. It may hold a
    /// password: never logged, never in `Debug`.
    url: Option<String>,
    poll_ms: Arc<AtomicU64>,
    /// `None` until the first subscriber starts the tasks.
    tasks: Mutex<Option<Vec<AbortHandle>>>,
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes")
            .field("seq", &*self.sender.borrow())
            .field("poll_ms", &self.poll_ms.load(Ordering::Relaxed))
            .field("feeding", &self.tasks.try_lock().is_ok_and(|tasks| tasks.as_ref().is_some_and(|t| !t.is_empty())))
            .finish_non_exhaustive()
    }
}

impl Changes {
    /// A channel starting at `seq`; `url` is the PostgreSQL URL, if any.
    pub(crate) fn new(seq: i64, url: Option<String>) -> Self {
        Self {
            sender: watch::Sender::new(seq),
            url,
            poll_ms: Arc::new(AtomicU64::new(millis(DEFAULT_POLL))),
            tasks: Mutex::new(None),
        }
    }

    /// Announces that the change with audit sequence number `seq` committed.
    pub(crate) fn committed(&self, seq: i64) {
        advance(&self.sender, seq);
    }

    fn subscribe(&self, pool: &AnyPool) -> watch::Receiver<i64> {
        let receiver = self.sender.subscribe();
        let mut tasks = self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if tasks.is_none() && !pool.is_closed() {
            // Outside a runtime there is nothing to run the feeders on: the
            // receiver still hears this node's own commits, and the next
            // subscribe from inside a runtime starts them.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let mut started = vec![
                    runtime.spawn(poll(pool.clone(), self.sender.clone(), Arc::clone(&self.poll_ms))).abort_handle(),
                ];
                if let Some(url) = &self.url {
                    started.push(runtime.spawn(listen(url.clone(), pool.clone(), self.sender.clone())).abort_handle());
                }
                *tasks = Some(started);
            }
        }
        receiver
    }

    /// Stops the listener and the poll.
    pub(crate) fn stop(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for task in tasks.iter().flatten() {
            task.abort();
        }
        // Stopped for good: `Some` keeps a later subscribe from restarting them.
        *tasks = Some(Vec::new());
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Store {
    /// The audit sequence number of the newest change this node knows to be
    /// committed, here or (on PostgreSQL, by notification; on both backends,
    /// by polling) on any other node. It only moves forward: wait on
    /// [`watch::Receiver::changed`], then refresh whatever follows the store,
    /// such as a [`CredentialIndex`](crate::CredentialIndex).
    ///
    /// The first call starts the PostgreSQL listener and the poll of the
    /// audit head (when called inside a Tokio runtime); they run until the
    /// last clone of the store is dropped or closed.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.changes.subscribe(&self.pool)
    }

    /// How often the audit head is polled as a safety net against a lost
    /// notification (default 2 s); takes effect after the current wait. A
    /// zero interval is taken as 1 ms.
    pub fn set_change_poll(&self, every: Duration) {
        self.changes.poll_ms.store(millis(every).max(1), Ordering::Relaxed);
    }

    /// The audit head's sequence number, straight from the database.
    pub(crate) async fn head_seq(&self) -> Result<i64, StoreError> {
        Ok(head_seq(&self.pool).await?)
    }
}

/// The audit head's sequence number.
pub(crate) async fn head_seq(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT seq FROM audit_head WHERE id = 1").fetch_one(pool).await?.try_get(0)
}

/// Moves the channel to `seq` if that is news; wakes subscribers only then.
fn advance(sender: &watch::Sender<i64>, seq: i64) {
    sender.send_if_modified(|current| {
        let newer = seq > *current;
        if newer {
            *current = seq;
        }
        newer
    });
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Reads the audit head every poll interval until the pool closes.
async fn poll(pool: AnyPool, sender: watch::Sender<i64>, every: Arc<AtomicU64>) {
    let mut failing = false;
    loop {
        tokio::time::sleep(Duration::from_millis(every.load(Ordering::Relaxed))).await;
        if pool.is_closed() {
            return;
        }
        match head_seq(&pool).await {
            Ok(seq) => {
                failing = false;
                advance(&sender, seq);
            }
            Err(_) if pool.is_closed() => return,
            Err(err) => {
                // Once per outage, not every interval.
                if !failing {
                    tracing::warn!(error = %redact(&err), "Cannot poll the store for changes; retrying.");
                }
                failing = true;
            }
        }
    }
}

/// Forwards PostgreSQL change notifications into the channel, reconnecting
/// with backoff, until the pool closes.
async fn listen(url: String, pool: AnyPool, sender: watch::Sender<i64>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if pool.is_closed() {
            return;
        }
        match connect(&url).await {
            Ok(mut listener) => {
                let since = Instant::now();
                // Whatever committed while nobody listened.
                if let Ok(seq) = head_seq(&pool).await {
                    advance(&sender, seq);
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            if let Ok(seq) = notification.payload().parse::<i64>() {
                                advance(&sender, seq);
                            }
                        }
                        Ok(None) => {
                            tracing::warn!("The store's change listener lost its PostgreSQL connection; reconnecting.");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(error = %redact(&err), "The store's change listener failed; reconnecting.");
                            break;
                        }
                    }
                }
                if since.elapsed() >= HEALTHY {
                    backoff = MIN_BACKOFF;
                }
            }
            Err(err) => {
                tracing::warn!(
                    error = %redact(&err),
                    retry_in_ms = millis(backoff),
                    "Cannot listen for store changes on PostgreSQL; retrying."
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANGE_CHANNEL).await?;
    Ok(listener)
}
