//! Counters shared by every gateway of a cluster, in Redis or Redis
//! Cluster: a server-side script decides and counts atomically on the
//! server's clock. With one server, one call decides all of a request's
//! limits and counts only if all admit; with a cluster (keys in different
//! slots) one call per limit goes out together on the multiplexed
//! connection (one round trip), and when one refuses, the admitted ones are
//! given back. After a failure the store is skipped for
//! a while (no request waits on a dead server), and each limit falls back
//! as configured.

mod lockouts;
mod precheck;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portcullis_core::{Counter, counters};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;

use crate::algorithm::{Algorithm, Decision, Decisions, Quota};
use crate::key::SharedKey;
use precheck::Precheck;

/// Where the shared counters live and how they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://` or `rediss://` URLs: one server, or the seed nodes of a cluster.
    pub urls: Vec<String>,
    /// Whether the URLs are Redis Cluster nodes.
    pub cluster: bool,
    /// Extra CA certificates (PEM) trusted for `rediss://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Gateways sharing the counters; a limit falling back to local counting gets this share.
    pub gateways: u64,
    /// Longest wait for an answer (and for a connection).
    pub timeout: Duration,
    /// How long the store is skipped after a failure before it is tried again.
    pub retry_after: Duration,
    /// Whether refusals are remembered locally to spare round trips.
    pub local_precheck: bool,
}

/// Whether `url` is a `redis://` or `rediss://` URL the client accepts.
pub fn is_redis_url(url: &str) -> bool {
    redis::IntoConnectionInfo::into_connection_info(url).is_ok()
}

/// The shared counters could not answer in time.
#[derive(Debug)]
pub(crate) struct Unavailable;

enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Self::Single(c) => cmd.query_async(&mut c.clone()).await,
            Self::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }

    async fn invoke<T: redis::FromRedisValue>(&self, call: &redis::ScriptInvocation<'_>) -> redis::RedisResult<T> {
        match self {
            Self::Single(c) => call.invoke_async(&mut c.clone()).await,
            Self::Cluster(c) => call.invoke_async(&mut c.clone()).await,
        }
    }

    /// Runs the decision script for `keys` with their `args`: five numbers per key.
    async fn run(
        &self,
        script: &redis::Script,
        op: &str,
        keys: &[RedisKey],
        args: &[Args],
    ) -> redis::RedisResult<Vec<u64>> {
        let mut call = script.prepare_invoke();
        call.arg(op);
        for (key, a) in keys.iter().zip(args) {
            call.key(&key[..]).arg(a.algorithm).arg(a.values[0]).arg(a.values[1]).arg(a.values[2]);
        }
        self.invoke(&call).await
    }
}

/// Counters in Redis, shared by every gateway configured with the same URL.
pub struct SharedCounters {
    settings: SharedSettings,
    connection: OnceCell<Connection>,
    script: redis::Script,
    lockout_script: redis::Script,
    precheck: Option<Precheck>,
    epoch: Instant,
    /// Milliseconds since `epoch` before which the store is not tried.
    skip_until: AtomicU64,
    healthy: AtomicBool,
    errors: Arc<Counter>,
}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters").field("cluster", &self.settings.cluster).finish_non_exhaustive()
    }
}

const KEY_PREFIX: &str = "portcullis:rl:";

impl SharedCounters {
    /// The counters for `settings`: one instance per process and settings,
    /// so connections survive configuration reloads.
    pub fn shared(settings: SharedSettings) -> Arc<SharedCounters> {
        static ALL: Mutex<Vec<Arc<SharedCounters>>> = Mutex::new(Vec::new());
        let mut all = ALL.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = all.iter().find(|c| c.settings == settings) {
            return found.clone();
        }
        let counters = Arc::new(SharedCounters::new(settings));
        all.push(counters.clone());
        counters
    }

    fn new(settings: SharedSettings) -> Self {
        Self {
            precheck: settings.local_precheck.then(Precheck::new),
            settings,
            connection: OnceCell::new(),
            script: redis::Script::new(include_str!("decide.lua")),
            lockout_script: redis::Script::new(include_str!("lockout.lua")),
            epoch: Instant::now(),
            skip_until: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            errors: counters().counter(
                "portcullis_ratelimit_backend_errors_total",
                "Shared rate-limit counter calls that failed or timed out.",
                &[],
            ),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A client of the one server at `url`.
    fn client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        match &self.settings.ca_pem {
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) },
            ),
            None => redis::Client::open(url),
        }
    }

    async fn connect(&self) -> redis::RedisResult<Connection> {
        let s = &self.settings;
        let certs = || redis::TlsCertificates { client_tls: None, root_cert: s.ca_pem.clone() };
        if s.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(s.urls.iter().map(String::as_str))
                .connection_timeout(s.timeout)
                .response_timeout(s.timeout)
                .retries(2);
            if s.ca_pem.is_some() {
                builder = builder.certs(certs());
            }
            return Ok(Connection::Cluster(builder.build()?.get_async_connection().await?));
        }
        let client = self.client(s.urls.first().map_or("", String::as_str))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(s.timeout))
            .set_response_timeout(Some(s.timeout))
            .set_number_of_retries(1);
        Ok(Connection::Single(ConnectionManager::new_with_config(client, config).await?))
    }

    /// Decides every limit for one request together, in one round trip.
    /// One server: one script call for all, counting only if all admit.
    /// Redis Cluster (keys in different slots): one call per limit, sent
    /// together, and if any refuses, the others are given back.
    pub(crate) async fn decide_all(&self, checks: &[(SharedKey, &Algorithm)]) -> Result<Decisions, Unavailable> {
        let now_ms = self.now_ms();
        if let Some(decisions) = self.prechecked(checks, now_ms) {
            return Ok(decisions);
        }
        if now_ms < self.skip_until.load(Ordering::Relaxed) {
            return Err(Unavailable);
        }
        let wall = Timestamp::now();
        let keys: Vec<RedisKey> = checks.iter().map(|(key, _)| redis_key(*key)).collect();
        let args: Vec<Args> = checks.iter().map(|(_, alg)| Args::of(alg, wall)).collect();
        let replies = self
            .call(|connection| async {
                if !self.settings.cluster {
                    return connection.run(&self.script, "take", &keys, &args).await;
                }
                let one_each = keys.iter().zip(&args).map(|(key, a)| {
                    connection.run(&self.script, "take", std::slice::from_ref(key), std::slice::from_ref(a))
                });
                Ok(futures_util::future::try_join_all(one_each).await?.concat())
            })
            .await?;
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::warn!("Shared rate-limit counters are reachable again; limits count together again.");
        }
        let replies: Vec<[u64; 5]> = replies.chunks_exact(5).filter_map(|c| c.try_into().ok()).collect();
        if replies.len() != checks.len() {
            return Err(self.failed("an answer of the wrong length"));
        }
        let decisions: Decisions = replies.iter().map(decision).collect();
        if decisions.iter().any(|d| !d.allowed) {
            if self.settings.cluster {
                self.give_back(&keys, &args, &decisions);
            }
            if let Some(precheck) = &self.precheck {
                for ((key, _), (d, reply)) in checks.iter().zip(decisions.iter().zip(&replies)) {
                    if !d.allowed {
                        precheck.remember(*key, *d, now_ms, reply[4]);
                    }
                }
            }
        }
        Ok(decisions)
    }

    /// What `alg` would answer for `key` now, counting nothing.
    pub(crate) async fn peek(&self, key: SharedKey, alg: &Algorithm) -> Result<Decision, Unavailable> {
        let (keys, args) = ([redis_key(key)], [Args::of(alg, Timestamp::now())]);
        let reply = self.call(|connection| connection.run(&self.script, "peek", &keys, &args)).await?;
        match <[u64; 5]>::try_from(reply.as_slice()) {
            Ok(reply) => Ok(decision(&reply)),
            Err(_) => Err(self.failed("an answer of the wrong length")),
        }
    }

    /// Deletes `key`'s counter (and this gateway's remembered refusal of it). Whether Redis held it.
    pub(crate) async fn forget(&self, key: SharedKey) -> Result<bool, Unavailable> {
        if let Some(precheck) = &self.precheck {
            precheck.forget(key);
        }
        let deleted: u64 = self
            .call(|connection| async move {
                let mut del = redis::cmd("DEL");
                del.arg(&redis_key(key)[..]);
                connection.query(&del).await
            })
            .await?;
        Ok(deleted > 0)
    }

    /// Runs `op` on the connection within the timeout.
    async fn call<'a, T, F, Fut>(&'a self, op: F) -> Result<T, Unavailable>
    where
        F: FnOnce(&'a Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let answer = tokio::time::timeout(self.settings.timeout, async {
            let connection = self.connection.get_or_try_init(|| self.connect()).await?;
            op(connection).await
        })
        .await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failed(&e.to_string())),
            Err(_) => Err(self.failed("timed out")),
        }
    }

    /// The request's decisions if a remembered refusal still holds for one of its keys.
    fn prechecked(&self, checks: &[(SharedKey, &Algorithm)], now_ms: u64) -> Option<Decisions> {
        let precheck = self.precheck.as_ref()?;
        let refusals: Vec<Option<Decision>> = checks.iter().map(|(key, _)| precheck.refused(*key, now_ms)).collect();
        refusals.iter().any(Option::is_some).then(|| {
            refusals
                .into_iter()
                .zip(checks)
                .map(|(refusal, (_, alg))| refusal.unwrap_or_else(|| untouched(alg)))
                .collect()
        })
    }

    /// Returns what the admitted limits counted for a refused request (in
    /// a cluster, where they were counted one by one), without making the client wait.
    fn give_back(&self, keys: &[RedisKey], args: &[Args], d: &[Decision]) {
        let Some(connection) = self.connection.get() else { return };
        let refunds: Vec<(RedisKey, Args)> =
            keys.iter().zip(args).zip(d).filter(|(_, d)| d.allowed).map(|((key, a), _)| (*key, *a)).collect();
        if refunds.is_empty() {
            return;
        }
        let connection = match connection {
            Connection::Single(c) => Connection::Single(c.clone()),
            Connection::Cluster(c) => Connection::Cluster(c.clone()),
        };
        let script = self.script.clone();
        let timeout = self.settings.timeout;
        tokio::spawn(async move {
            let runs = refunds
                .iter()
                .map(|(key, a)| connection.run(&script, "give", std::slice::from_ref(key), std::slice::from_ref(a)));
            if let Ok(Err(e)) = tokio::time::timeout(timeout, futures_util::future::try_join_all(runs)).await {
                tracing::debug!(error = %e, "Could not give back a refused request's count.");
            }
        });
    }

    fn failed(&self, error: &str) -> Unavailable {
        self.errors.inc();
        let retry = u64::try_from(self.settings.retry_after.as_millis()).unwrap_or(u64::MAX);
        self.skip_until.store(self.now_ms().saturating_add(retry), Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(
                error,
                "Shared rate-limit counters are unreachable; limits fall back to their configured mode."
            );
        }
        Unavailable
    }

    /// The fallback share of an algorithm: its rate divided among the gateways.
    pub(crate) fn local_share(&self, alg: &Algorithm) -> Algorithm {
        let n = self.settings.gateways.max(1);
        let share = |v: u64| v.div_ceil(n).max(1);
        match alg {
            Algorithm::Gcra { rate, burst } => {
                Algorithm::Gcra { rate: crate::Rate { count: share(rate.count), ..*rate }, burst: share(*burst) }
            }
            Algorithm::SlidingWindow(rate) => {
                Algorithm::SlidingWindow(crate::Rate { count: share(rate.count), ..*rate })
            }
            Algorithm::Quota(q) => Algorithm::Quota(Quota { limit: share(q.limit), ..q.clone() }),
        }
    }
}

/// The decision of a limit that was not asked (another limit's remembered refusal decided).
fn untouched(alg: &Algorithm) -> Decision {
    let quota = match alg {
        Algorithm::Gcra { burst, .. } => *burst,
        Algorithm::SlidingWindow(rate) => rate.count,
        Algorithm::Quota(q) => q.limit,
    };
    Decision { allowed: true, quota, remaining: quota, reset: 0, retry_after: 0 }
}

/// `portcullis:rl:` and 32 hex digits.
type RedisKey = [u8; 46];

fn redis_key(key: SharedKey) -> RedisKey {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 46];
    out[..KEY_PREFIX.len()].copy_from_slice(KEY_PREFIX.as_bytes());
    for (i, b) in key.0.iter().enumerate() {
        out[KEY_PREFIX.len() + 2 * i] = HEX[usize::from(b >> 4)];
        out[KEY_PREFIX.len() + 2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One limit's arguments to the script: the algorithm and three numbers.
#[derive(Debug, Clone, Copy)]
struct Args {
    algorithm: &'static str,
    values: [i64; 3],
}

impl Args {
    fn of(alg: &Algorithm, wall: Timestamp) -> Self {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        match alg {
            Algorithm::Gcra { rate, burst } => {
                let interval = (micros(rate.period) / rate.count.max(1)).max(1);
                Self { algorithm: "gcra", values: [int(interval), int((*burst).max(1)), 0] }
            }
            Algorithm::SlidingWindow(rate) => {
                Self { algorithm: "window", values: [int(micros(rate.period)), int(rate.count), 0] }
            }
            Algorithm::Quota(q) => {
                let start = q.period_start(wall).unwrap_or(0);
                let end = q.period_end(start).unwrap_or(start + 86_400);
                Self { algorithm: "quota", values: [start, end, int(q.limit)] }
            }
        }
    }
}

fn decision(reply: &[u64; 5]) -> Decision {
    let [allowed, quota, remaining, reset, retry_ms] = *reply;
    Decision {
        allowed: allowed == 1,
        quota,
        remaining,
        reset,
        retry_after: if allowed == 1 { 0 } else { retry_ms.div_ceil(1000).max(1) },
    }
}
