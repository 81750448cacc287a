//! The `concurrency` route policy: at most `max` requests in flight per key
//! (per client, per tenant, or per route to protect a backend). A slot is
//! held until the response has been sent in full.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use http::StatusCode;
use http::request::Parts;
use portcullis_core::prehashed::BuildPrehashed;
use portcullis_core::{Counter, Ctx, Deny, Policy, Step, Verdict, counters};

use crate::key::{KeySpec, LimitSeed};

/// In-flight counts by key, process-wide. Keys are keyed hashes
/// ([`KeySpec::hash`]), so the map uses them as they are.
#[derive(Debug, Default)]
struct InFlight {
    counts: Mutex<HashMap<u64, u32, BuildPrehashed>>,
    hasher: RandomState,
}

fn in_flight() -> &'static InFlight {
    static TABLE: OnceLock<InFlight> = OnceLock::new();
    TABLE.get_or_init(InFlight::default)
}

/// A held slot; dropping it frees the slot.
struct Slot(u64);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = in_flight().counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.0);
            }
        }
    }
}

/// Caps requests in flight per key.
#[derive(Debug)]
pub struct ConcurrencyPolicy {
    seed: LimitSeed,
    key: KeySpec,
    max: u32,
    rejected: Arc<Counter>,
}

impl ConcurrencyPolicy {
    /// At most `max` in flight per `key` on route `route`, under `name`.
    pub fn new(route: &str, name: &str, key: KeySpec, max: u32) -> Self {
        let rejected = counters().counter(
            "portcullis_concurrency_rejected_total",
            "Requests refused because too many were in flight.",
            &[("route", route), ("limit", name)],
        );
        Self { seed: LimitSeed::new(&format!("{route}/{name}"), &in_flight().hasher), key, max, rejected }
    }
}

impl Policy for ConcurrencyPolicy {
    fn name(&self) -> &'static str {
        "concurrency"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let table = in_flight();
        let key = self.key.hash(&self.seed, req, cx);
        let mut counts = table.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key).or_insert(0);
        if *n >= self.max {
            drop(counts);
            self.rejected.inc();
            let deny = Deny::new(StatusCode::TOO_MANY_REQUESTS, "ratelimit.concurrency").retry_after(1);
            return Step::Done(Ok(Verdict::Deny(deny)));
        }
        *n += 1;
        drop(counts);
        cx.holds.push(Box::new(Slot(key)));
        Step::CONTINUE
    }
}
