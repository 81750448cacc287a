//! Upstreams: targets chosen round robin, skipped for a while after they
//! fail (passive health), reached over per-worker keep-alive pools.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::uri::{Authority, Scheme};

use crate::pool::{Connector, Idle};

/// Upstream timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect and TLS handshake.
    pub connect: Duration,
    /// Waiting for the response head, and between response body chunks.
    pub read: Duration,
    /// The whole exchange, from dispatch to the last body byte.
    pub total: Duration,
}

/// Passive health checking: after `max_fails` consecutive connection
/// failures a target is skipped for `cooldown`.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// Consecutive failures before the target is skipped.
    pub max_fails: u32,
    /// How long it is skipped.
    pub cooldown: Duration,
}

/// One address an upstream's requests can go to.
#[derive(Debug)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host:port`.
    pub authority: Authority,
    /// The `Host` header the target is sent.
    pub(crate) host_header: HeaderValue,
    fails: AtomicU32,
    /// Milliseconds after the upstream's epoch until which the target is skipped.
    down_until: AtomicU64,
    /// Idle connections, one list per worker thread, so checkouts never contend.
    pub(crate) idle: Box<[Mutex<Vec<Idle>>]>,
}

/// Everything needed to build an [`Upstream`].
#[derive(Debug)]
pub struct UpstreamSettings {
    /// The upstream's name, for logs.
    pub name: String,
    /// Targets as (scheme, authority).
    pub targets: Vec<(Scheme, Authority)>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Passive health.
    pub health: Health,
    /// Send the client's `Host` instead of the target's authority.
    pub preserve_host: bool,
    /// TLS client configuration for `https` targets (verification is always on).
    pub tls: rustls::ClientConfig,
    /// Offer HTTP/2 by ALPN on `https` targets.
    pub http2: bool,
    /// Idle keep-alive connections kept per target and worker.
    pub max_idle_per_target: usize,
    /// Requests in flight at most, from every route (none: no cap).
    pub max_in_flight: Option<usize>,
    /// Worker threads (one idle list each).
    pub workers: usize,
}

/// A compiled upstream.
#[derive(Debug)]
pub struct Upstream {
    /// The upstream's name.
    pub name: String,
    /// Its targets.
    pub targets: Vec<Target>,
    /// Its timeouts.
    pub timeouts: Timeouts,
    /// Send the client's `Host` upstream.
    pub preserve_host: bool,
    health: Health,
    next: AtomicUsize,
    epoch: Instant,
    pub(crate) connector: Connector,
    /// The cap on requests in flight and their count.
    in_flight: Option<(usize, Arc<AtomicUsize>)>,
}

/// A request in flight to a capped upstream; dropping it (when the response
/// has been sent in full) frees its place.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// Builds the upstream (no connection is opened yet).
    pub fn new(settings: UpstreamSettings) -> Self {
        let workers = settings.workers.max(1);
        let targets = settings
            .targets
            .into_iter()
            .map(|(scheme, authority)| Target {
                host_header: HeaderValue::try_from(authority.as_str()).unwrap_or(HeaderValue::from_static("localhost")),
                scheme,
                authority,
                fails: AtomicU32::new(0),
                down_until: AtomicU64::new(0),
                idle: (0..workers).map(|_| Mutex::new(Vec::new())).collect(),
            })
            .collect();
        Self {
            name: settings.name,
            targets,
            timeouts: settings.timeouts,
            preserve_host: settings.preserve_host,
            health: settings.health,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            in_flight: settings.max_in_flight.map(|max| (max, Arc::new(AtomicUsize::new(0)))),
            connector: Connector::new(
                settings.tls,
                settings.http2,
                settings.timeouts.connect,
                settings.max_idle_per_target,
            ),
        }
    }

    /// A place for one more request: `Ok(None)` when the upstream has no
    /// cap, `Err(())` when it is full.
    pub(crate) fn admit(&self) -> Result<Option<InFlight>, ()> {
        let Some((max, count)) = &self.in_flight else { return Ok(None) };
        if count.fetch_add(1, Ordering::Relaxed) >= *max {
            count.fetch_sub(1, Ordering::Relaxed);
            return Err(());
        }
        Ok(Some(InFlight(count.clone())))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The index of the next healthy target, round robin. When every target
    /// is down, the next one in turn is tried anyway rather than failing
    /// without trying.
    pub fn pick(&self) -> usize {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if n <= 1 {
            return 0;
        }
        let now = self.now_ms();
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.targets[i].down_until.load(Ordering::Relaxed) <= now)
            .unwrap_or(start % n)
    }

    /// Records the outcome of an attempt on target `index`.
    pub fn report(&self, index: usize, reachable: bool) {
        let target = &self.targets[index];
        if reachable {
            if target.fails.load(Ordering::Relaxed) != 0 {
                target.fails.store(0, Ordering::Relaxed);
            }
            return;
        }
        let fails = target.fails.fetch_add(1, Ordering::Relaxed) + 1;
        if fails >= self.health.max_fails {
            let cooldown = u64::try_from(self.health.cooldown.as_millis()).unwrap_or(u64::MAX);
            target.down_until.store(self.now_ms().saturating_add(cooldown), Ordering::Relaxed);
            target.fails.store(0, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, target = %target.authority, "Upstream target marked down.");
        }
    }
}

/// Shared handle, as the snapshot holds it.
pub type UpstreamRef = Arc<Upstream>;
