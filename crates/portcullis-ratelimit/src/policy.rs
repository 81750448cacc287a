//! The `rate_limit` route policy: several limits checked together; 429 with
//! `Retry-After` and the `RateLimit-Policy` / `RateLimit` headers (IETF
//! httpapi draft), legacy `X-RateLimit-*` if asked; or a bounded delay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use portcullis_core::{Counter, Ctx, Deny, Policy, PolicyError, Step, Verdict, counters};

use smallvec::SmallVec;

use crate::algorithm::{Algorithm, Decision, Decisions};
use crate::key::{KeySpec, LimitSeed, SharedKey};
use crate::shared::SharedCounters;
use crate::store::Store;

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// What happens to a request over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    /// Answer 429 at once.
    Reject,
    /// Hold the request until it fits, if that is within `max`; else 429.
    Delay {
        /// The longest wait.
        max: Duration,
    },
}

/// Which rate-limit headers are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStyle {
    /// `RateLimit-Policy` and `RateLimit` (IETF httpapi draft).
    Draft,
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
    Legacy,
    /// Both.
    Both,
    /// None (429 still carries `Retry-After`).
    None,
}

/// What a limit does while its shared counters cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBackendFailure {
    /// Count on this gateway alone, with the limit divided by the number of gateways.
    Local,
    /// Refuse the request (503).
    FailClosed,
}

/// Where a policy's limits count.
#[derive(Debug, Clone)]
pub enum Counting {
    /// In this process only.
    Local(&'static Store),
    /// In shared counters, falling back to this process's store per each limit's setting.
    Shared(Arc<SharedCounters>),
}

/// One compiled limit.
#[derive(Debug)]
pub struct Limit {
    /// Name for headers, metrics and logs.
    pub name: String,
    /// The route it belongs to.
    pub route: String,
    /// Identity across reloads: route and name.
    pub id: String,
    /// What it counts by.
    pub key: KeySpec,
    /// How it counts.
    pub algorithm: Algorithm,
    /// What it does while shared counters are unreachable.
    pub on_backend_failure: OnBackendFailure,
    /// The `RateLimit-Policy` item.
    policy_item: HeaderValue,
    /// The start of the `RateLimit` item: `"name";r=`.
    ratelimit_prefix: Box<[u8]>,
    allowed: Arc<Counter>,
    rejected: Arc<Counter>,
    fell_back: Arc<Counter>,
}

impl Limit {
    /// A limit called `name` on route `route`.
    pub fn new(
        route: &str,
        name: &str,
        key: KeySpec,
        algorithm: Algorithm,
        on_backend_failure: OnBackendFailure,
    ) -> Self {
        let (quota, window) = match &algorithm {
            Algorithm::Gcra { rate, .. } | Algorithm::SlidingWindow(rate) => (rate.count, rate.period.as_secs().max(1)),
            Algorithm::Quota(q) => (
                q.limit,
                match q.period {
                    crate::QuotaPeriod::Day => 86_400,
                    crate::QuotaPeriod::Month => 2_592_000,
                },
            ),
        };
        let policy_item =
            HeaderValue::try_from(format!("\"{name}\";q={quota};w={window}")).unwrap_or(HeaderValue::from_static(""));
        let decisions = |d| {
            counters().counter(
                "portcullis_ratelimit_decisions_total",
                "Rate-limit decisions by limit.",
                &[("route", route), ("limit", name), ("decision", d)],
            )
        };
        let mode = match on_backend_failure {
            OnBackendFailure::Local => "local",
            OnBackendFailure::FailClosed => "fail_closed",
        };
        Self {
            name: name.to_owned(),
            route: route.to_owned(),
            id: format!("{route}/{name}"),
            key,
            algorithm,
            on_backend_failure,
            ratelimit_prefix: format!("\"{name}\";r=").into_bytes().into_boxed_slice(),
            policy_item,
            allowed: decisions("allowed"),
            rejected: decisions("rejected"),
            fell_back: counters().counter(
                "portcullis_ratelimit_fallback_total",
                "Decisions made without the shared counters, by limit and fallback mode.",
                &[("route", route), ("limit", name), ("mode", mode)],
            ),
        }
    }
}

impl Limit {
    /// The `RateLimit` item for `d`: `"name";r=REMAINING;t=RESET`, formatted without `fmt`.
    fn ratelimit_value(&self, d: &Decision) -> Option<HeaderValue> {
        let mut out: SmallVec<[u8; 64]> = SmallVec::new();
        out.extend_from_slice(&self.ratelimit_prefix);
        out.extend_from_slice(itoa::Buffer::new().format(d.remaining).as_bytes());
        out.extend_from_slice(b";t=");
        out.extend_from_slice(itoa::Buffer::new().format(d.reset).as_bytes());
        HeaderValue::from_bytes(&out).ok()
    }
}

/// Where a policy counts, with what each way needs per limit (in the
/// limits' order).
#[derive(Debug)]
enum Tally {
    /// In `store`, each limit's key hashed from its seed.
    Local { store: &'static Store, seeds: Vec<LimitSeed> },
    /// In shared counters; while they are down, in this process with each
    /// limit's share.
    Shared { shared: Arc<SharedCounters>, local_shares: Vec<Algorithm> },
}

/// Several limits, checked together.
#[derive(Debug)]
pub struct RateLimitPolicy {
    limits: Vec<Arc<Limit>>,
    on_limit: OnLimit,
    headers: HeaderStyle,
    tally: Tally,
}

impl RateLimitPolicy {
    /// A policy over `limits`, counting as `counting` says.
    pub fn new(limits: Vec<Limit>, on_limit: OnLimit, headers: HeaderStyle, counting: Counting) -> Self {
        let limits: Vec<Arc<Limit>> = limits.into_iter().map(Arc::new).collect();
        for limit in &limits {
            crate::registry::register(limit, &counting);
        }
        let tally = match counting {
            Counting::Local(store) => {
                Tally::Local { store, seeds: limits.iter().map(|l| LimitSeed::new(&l.id, &store.hasher)).collect() }
            }
            Counting::Shared(shared) => {
                let local_shares = limits.iter().map(|l| shared.local_share(&l.algorithm)).collect();
                Tally::Shared { shared, local_shares }
            }
        };
        Self { limits, on_limit, headers, tally }
    }

    fn decide_local(&self, store: &Store, seeds: &[LimitSeed], req: &Parts, cx: &Ctx, at: Instant) -> Decisions {
        let checks: SmallVec<[(u64, &Algorithm); 4]> =
            self.limits.iter().zip(seeds).map(|(l, seed)| (l.key.hash(seed, req, cx), &l.algorithm)).collect();
        store.decide_all(&checks, at)
    }

    async fn decide_shared(
        &self,
        shared: &SharedCounters,
        local_shares: &[Algorithm],
        req: &Parts,
        cx: &Ctx,
    ) -> Result<Decisions, PolicyError> {
        let keys: Vec<SharedKey> = self.limits.iter().map(|l| l.key.shared(&l.id, req, cx)).collect();
        let checks: Vec<(SharedKey, &Algorithm)> =
            keys.iter().copied().zip(self.limits.iter().map(|l| &l.algorithm)).collect();
        if let Ok(decisions) = shared.decide_all(&checks).await {
            return Ok(decisions);
        }
        for limit in &self.limits {
            limit.fell_back.inc();
        }
        if let Some(closed) = self.limits.iter().find(|l| l.on_backend_failure == OnBackendFailure::FailClosed) {
            return Err(PolicyError {
                reason: "ratelimit.unavailable",
                detail: format!("limit {:?} fails closed while its shared counters are unreachable", closed.name),
            });
        }
        let store = Store::global();
        let local: SmallVec<[(u64, &Algorithm); 4]> =
            keys.iter().map(|k| k.local(&store.hasher)).zip(local_shares).collect();
        Ok(store.decide_all(&local, Instant::now()))
    }

    /// Adds the headers describing the most constrained limit to `out`.
    fn headers(&self, decisions: &[Decision], out: &mut impl Extend<(HeaderName, HeaderValue)>) {
        let Some((limit, d)) = self.limits.iter().zip(decisions).min_by_key(|(_, d)| (d.allowed, d.remaining)) else {
            return;
        };
        if matches!(self.headers, HeaderStyle::Draft | HeaderStyle::Both) {
            out.extend([(RATELIMIT_POLICY, limit.policy_item.clone())]);
            out.extend(limit.ratelimit_value(d).map(|v| (RATELIMIT, v)));
        }
        if matches!(self.headers, HeaderStyle::Legacy | HeaderStyle::Both) {
            out.extend([
                (X_LIMIT, HeaderValue::from(d.quota)),
                (X_REMAINING, HeaderValue::from(d.remaining)),
                (X_RESET, HeaderValue::from(d.reset)),
            ]);
        }
    }

    /// How long to hold a refused request in delay mode, if it may be held.
    fn delay(&self, decisions: &[Decision]) -> Option<Duration> {
        let wait = Duration::from_secs(decisions.iter().filter(|d| !d.allowed).map(|d| d.retry_after).max()?);
        match self.on_limit {
            OnLimit::Delay { max } if wait <= max => Some(wait),
            _ => None,
        }
    }

    fn settle(&self, decisions: &[Decision], cx: &mut Ctx) -> Verdict {
        for (limit, d) in self.limits.iter().zip(decisions) {
            if d.allowed { limit.allowed.inc() } else { limit.rejected.inc() }
        }
        let retry = decisions.iter().filter(|d| !d.allowed).map(|d| d.retry_after).max();
        let Some(retry) = retry else {
            self.headers(decisions, &mut cx.response_headers);
            return Verdict::Continue;
        };
        for limit in self.limits.iter().zip(decisions).filter(|(_, d)| !d.allowed).map(|(l, _)| l) {
            tracing::info!(request_id = %cx.request_id, client_ip = %cx.client_ip, limit = %limit.name, "Rate limit exceeded.");
        }
        let mut deny = Deny::new(StatusCode::TOO_MANY_REQUESTS, "ratelimit.exceeded");
        self.headers(decisions, &mut deny.headers);
        Verdict::Deny(deny.retry_after(retry))
    }
}

impl Policy for RateLimitPolicy {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        match &self.tally {
            Tally::Local { store, seeds } => {
                let decisions = self.decide_local(store, seeds, req, cx, cx.received);
                match self.delay(&decisions) {
                    Some(wait) => Step::Wait(Box::pin(async move {
                        tokio::time::sleep(wait).await;
                        let decisions = self.decide_local(store, seeds, req, cx, Instant::now());
                        Ok(self.settle(&decisions, cx))
                    })),
                    None => Step::Done(Ok(self.settle(&decisions, cx))),
                }
            }
            Tally::Shared { shared, local_shares } => Step::Wait(Box::pin(async move {
                let mut decisions = self.decide_shared(shared, local_shares, req, cx).await?;
                if let Some(wait) = self.delay(&decisions) {
                    tokio::time::sleep(wait).await;
                    decisions = self.decide_shared(shared, local_shares, req, cx).await?;
                }
                Ok(self.settle(&decisions, cx))
            })),
        }
    }
}
