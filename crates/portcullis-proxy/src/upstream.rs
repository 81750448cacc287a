//! Upstreams: targets chosen round robin, skipped for a while after they
//! fail (passive health), reached over a pooled, keep-alive client.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The pooled client every request to an upstream goes through.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Incoming>;

/// Upstream timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
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
    fails: AtomicU32,
    /// Milliseconds after the upstream's epoch until which the target is skipped.
    down_until: AtomicU64,
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
    /// Idle pooled connections kept per target.
    pub max_idle_per_target: usize,
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
    /// The pooled client.
    pub client: UpstreamClient,
}

impl Upstream {
    /// Builds the upstream and its connection pool (no connection is opened yet).
    pub fn new(settings: UpstreamSettings) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.timeouts.connect));
        let builder =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(settings.tls).https_or_http().enable_http1();
        let connector =
            if settings.http2 { builder.enable_http2().wrap_connector(http) } else { builder.wrap_connector(http) };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(settings.max_idle_per_target)
            .set_host(true)
            .build(connector);
        let targets = settings
            .targets
            .into_iter()
            .map(|(scheme, authority)| Target {
                scheme,
                authority,
                fails: AtomicU32::new(0),
                down_until: AtomicU64::new(0),
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
            client,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The next healthy target, round robin. When every target is down, the
    /// next one in turn is tried anyway rather than failing without trying.
    pub fn pick(&self) -> &Target {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if n == 1 {
            return &self.targets[0];
        }
        let now = self.now_ms();
        (0..n)
            .map(|i| &self.targets[(start + i) % n])
            .find(|t| t.down_until.load(Ordering::Relaxed) <= now)
            .unwrap_or(&self.targets[start % n])
    }

    /// Records the outcome of an attempt on `target`.
    pub fn report(&self, target: &Target, reachable: bool) {
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
