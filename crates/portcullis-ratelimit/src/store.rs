//! The in-process counter store: sharded maps behind uncontended mutexes,
//! with a bound on the number of keys. When a shard is full, keys back at
//! their full budget are dropped first; only if none is idle is an active
//! key evicted (and counted), so memory stays bounded under a key flood.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use jiff::Timestamp;
use portcullis_core::prehashed::BuildPrehashed;
use portcullis_core::{Counter, counters};

use smallvec::SmallVec;

use crate::algorithm::{Algorithm, Decision, Decisions, State};

const SHARDS: usize = 64;
/// Keys the process keeps at most (all limits together).
const MAX_KEYS: usize = 250_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    /// Monotonic time after which the key is back at its full budget.
    idle_after: u64,
}

/// A key is already a keyed SipHash of the request's parts
/// ([`crate::KeySpec::hash`] with the store's random seed): the maps use it as it is.
type Shard = HashMap<u64, Entry, BuildPrehashed>;

/// Counters of every limit, shared across configuration reloads.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    epoch: Instant,
    pub(crate) hasher: RandomState,
    evictions: Arc<Counter>,
}

impl Store {
    /// A store for at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            evictions: counters().counter(
                "portcullis_ratelimit_evictions_total",
                "Active rate-limit keys evicted because the store was full.",
                &[],
            ),
        }
    }

    /// The process's store: counters survive reloads.
    pub fn global() -> &'static Store {
        static STORE: OnceLock<Store> = OnceLock::new();
        STORE.get_or_init(|| Store::new(MAX_KEYS))
    }

    /// Monotonic nanoseconds from the store's making to `at`.
    fn nanos_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The shard takes bits 32–37 of the key, which the maps' bucket index
    /// (low bits) and tag (top 7 bits) do not use.
    fn shard_of(key: u64) -> usize {
        usize::try_from((key >> 32) % SHARDS as u64).unwrap_or(0)
    }

    /// Decides every `(key, algorithm)` for a request counted at `at` (the
    /// time it was received, which saves reading the clock again); commits
    /// only if all allow. A route's few limits need no heap allocation.
    pub(crate) fn decide_all(&self, checks: &[(u64, &Algorithm)], at: Instant) -> Decisions {
        let now = self.nanos_at(at);
        // Only calendar quotas read the wall clock.
        let wall = if checks.iter().any(|(_, alg)| matches!(alg, Algorithm::Quota(_))) {
            Timestamp::now()
        } else {
            Timestamp::UNIX_EPOCH
        };
        let mut order: SmallVec<[usize; 4]> = checks.iter().map(|(k, _)| Self::shard_of(*k)).collect();
        order.sort_unstable();
        order.dedup();
        // Locked in ascending order, so concurrent requests cannot deadlock.
        let mut guards: SmallVec<[MutexGuard<'_, Shard>; 4]> =
            order.iter().map(|&i| self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)).collect();
        // Each check's shard, as its position among the locked ones.
        let slots: SmallVec<[usize; 4]> =
            checks.iter().map(|(key, _)| order.binary_search(&Self::shard_of(*key)).unwrap_or(0)).collect();
        let mut decisions = Decisions::new();
        let mut states: SmallVec<[State; 4]> = SmallVec::new();
        for ((key, alg), &slot) in checks.iter().zip(&slots) {
            let state = guards[slot].get(key).map(|e| e.state);
            let (decision, next) = alg.decide(state, now, wall);
            decisions.push(decision);
            states.push(next);
        }
        if decisions.iter().all(|d| d.allowed) {
            for ((((key, alg), decision), next), &slot) in checks.iter().zip(&decisions).zip(&states).zip(&slots) {
                let entry = Entry {
                    state: *next,
                    idle_after: now.saturating_add(decision.reset.saturating_mul(1_000_000_000)),
                };
                let map = &mut guards[slot];
                if let Some(held) = map.get_mut(key) {
                    *held = entry;
                    continue;
                }
                if map.len() >= self.per_shard {
                    self.make_room(map, alg, now, wall);
                }
                map.insert(*key, entry);
            }
        }
        decisions
    }

    /// What `alg` would answer for `key` now, counting nothing.
    pub(crate) fn peek(&self, key: u64, alg: &Algorithm) -> Decision {
        let state =
            self.shards[Self::shard_of(key)].lock().unwrap_or_else(PoisonError::into_inner).get(&key).map(|e| e.state);
        alg.decide(state, self.nanos_at(Instant::now()), Timestamp::now()).0
    }

    /// Forgets `key`: its limit starts again from a full budget. Whether it was held.
    pub(crate) fn forget(&self, key: u64) -> bool {
        self.shards[Self::shard_of(key)].lock().unwrap_or_else(PoisonError::into_inner).remove(&key).is_some()
    }

    fn make_room(&self, map: &mut Shard, alg: &Algorithm, now: u64, wall: Timestamp) {
        map.retain(|_, e| e.idle_after > now && !alg.is_idle(e.state, now, wall));
        if map.len() >= self.per_shard
            && let Some(&victim) = map.keys().next()
        {
            map.remove(&victim);
            self.evictions.inc();
        }
    }

    /// Keys held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;
    use std::time::Duration;

    use super::*;
    use crate::algorithm::Rate;

    #[test]
    fn a_refusal_consumes_no_other_budget() {
        let store = Store::new(1000);
        let loose = Algorithm::Gcra { rate: Rate { count: 100, period: Duration::from_secs(1) }, burst: 100 };
        let tight = Algorithm::Gcra { rate: Rate { count: 1, period: Duration::from_secs(60) }, burst: 1 };
        assert!(store.decide_all(&[(1, &loose), (2, &tight)], Instant::now()).iter().all(|d| d.allowed));
        let second = store.decide_all(&[(1, &loose), (2, &tight)], Instant::now());
        assert!(second[0].allowed && !second[1].allowed);
        // The loose limit was not charged for the refused request: 99 left, not 98.
        assert_eq!(store.decide_all(&[(1, &loose)], Instant::now())[0].remaining, 98);
    }

    #[test]
    fn a_key_flood_stays_bounded() {
        let store = Store::new(640);
        let alg = Algorithm::Gcra { rate: Rate { count: 1, period: Duration::from_secs(3600) }, burst: 1 };
        // Real keys are keyed hashes: spread over every shard, as these are.
        let hasher = RandomState::new();
        let mut shards = [0usize; SHARDS];
        for n in 0..100_000u64 {
            let key = hasher.hash_one(n);
            shards[Store::shard_of(key)] += 1;
            store.decide_all(&[(key, &alg)], Instant::now());
        }
        assert!(shards.iter().all(|&n| n > 10), "every shard was flooded: {shards:?}");
        // Every key is active (one request an hour), so the store is full and
        // each new key evicted one: at its bound, not past it.
        assert_eq!(store.len(), 640);
    }
}
