//! The `rate_limit` route policy: several limits checked together; 429 with
//! `Retry-After` and the `RateLimit-Policy` / `RateLimit` headers (IETF
//! httpapi draft), legacy `X-RateLimit-*` if asked; or a bounded delay.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::request::Parts;
use portcullis_core::{Counter, Ctx, Deny, Policy, Step, Verdict, counters};

use crate::algorithm::{Algorithm, Decision};
use crate::key::KeySpec;
use crate::store::Store;

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

/// One compiled limit.
#[derive(Debug)]
pub struct Limit {
    /// Name for headers, metrics and logs.
    pub name: String,
    /// Identity across reloads: route and name.
    pub id: String,
    /// What it counts by.
    pub key: KeySpec,
    /// How it counts.
    pub algorithm: Algorithm,
    /// The `RateLimit-Policy` item.
    policy_item: HeaderValue,
    allowed: Arc<Counter>,
    rejected: Arc<Counter>,
}

impl Limit {
    /// A limit called `name` on route `route`.
    pub fn new(route: &str, name: &str, key: KeySpec, algorithm: Algorithm) -> Self {
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
        Self {
            name: name.to_owned(),
            id: format!("{route}/{name}"),
            key,
            algorithm,
            policy_item,
            allowed: decisions("allowed"),
            rejected: decisions("rejected"),
        }
    }
}

/// Several limits, checked together.
#[derive(Debug)]
pub struct RateLimitPolicy {
    limits: Vec<Limit>,
    on_limit: OnLimit,
    headers: HeaderStyle,
    store: &'static Store,
}

impl RateLimitPolicy {
    /// A policy over `limits`, counting in `store`.
    pub fn new(limits: Vec<Limit>, on_limit: OnLimit, headers: HeaderStyle, store: &'static Store) -> Self {
        Self { limits, on_limit, headers, store }
    }

    fn decide(&self, req: &Parts, cx: &Ctx) -> Vec<Decision> {
        let checks: Vec<(u64, &Algorithm)> =
            self.limits.iter().map(|l| (l.key.hash(&l.id, req, cx, &self.store.hasher), &l.algorithm)).collect();
        self.store.decide_all(&checks)
    }

    /// The headers describing the most constrained limit.
    fn headers(&self, decisions: &[Decision]) -> Vec<(HeaderName, HeaderValue)> {
        let Some((limit, d)) = self.limits.iter().zip(decisions).min_by_key(|(_, d)| (d.allowed, d.remaining)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if matches!(self.headers, HeaderStyle::Draft | HeaderStyle::Both) {
            out.push((HeaderName::from_static("ratelimit-policy"), limit.policy_item.clone()));
            if let Ok(v) = HeaderValue::try_from(format!("\"{}\";r={};t={}", limit.name, d.remaining, d.reset)) {
                out.push((HeaderName::from_static("ratelimit"), v));
            }
        }
        if matches!(self.headers, HeaderStyle::Legacy | HeaderStyle::Both) {
            out.push((HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(d.quota)));
            out.push((HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(d.remaining)));
            out.push((HeaderName::from_static("x-ratelimit-reset"), HeaderValue::from(d.reset)));
        }
        out
    }

    fn settle(&self, decisions: &[Decision], cx: &mut Ctx) -> Verdict {
        for (limit, d) in self.limits.iter().zip(decisions) {
            if d.allowed { limit.allowed.inc() } else { limit.rejected.inc() }
        }
        let headers = self.headers(decisions);
        let retry = decisions.iter().filter(|d| !d.allowed).map(|d| d.retry_after).max();
        let Some(retry) = retry else {
            cx.response_headers.extend(headers);
            return Verdict::Continue;
        };
        for limit in self.limits.iter().zip(decisions).filter(|(_, d)| !d.allowed).map(|(l, _)| l) {
            tracing::info!(request_id = %cx.request_id, client_ip = %cx.client_ip, limit = %limit.name, "Rate limit exceeded.");
        }
        let mut deny = Deny::new(StatusCode::TOO_MANY_REQUESTS, "ratelimit.exceeded");
        deny.headers = headers;
        deny.headers.push((RETRY_AFTER, HeaderValue::from(retry)));
        Verdict::Deny(deny)
    }
}

impl Policy for RateLimitPolicy {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let decisions = self.decide(req, cx);
        let refused = decisions.iter().filter(|d| !d.allowed).map(|d| d.retry_after).max();
        match (refused, self.on_limit) {
            (Some(wait), OnLimit::Delay { max }) if Duration::from_secs(wait) <= max => {
                Step::Wait(Box::pin(async move {
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    let decisions = self.decide(req, cx);
                    Ok(self.settle(&decisions, cx))
                }))
            }
            _ => Step::Done(Ok(self.settle(&decisions, cx))),
        }
    }
}
