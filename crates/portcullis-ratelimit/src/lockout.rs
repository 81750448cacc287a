//! Brute-force protection for authentication at the gateway: failures are
//! counted per key (a client address, a user name, a credential's public
//! part) in a window; at the limit the key is locked for a time that
//! doubles with each lock. A locked key is refused without checking the
//! credential, with the same answer as an ordinary failure, so an attacker
//! learns nothing and spends nothing of ours.
//!
//! The table is process-wide, sharded, and bounded: when full, expired
//! entries go first, then the oldest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::shared::SharedCounters;

const SHARDS: usize = 32;
/// The most keys tracked per shard.
const PER_SHARD: usize = 4096;

/// When failures lock a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRule {
    /// Failures within `window` that lock the key.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// The first lock's length; each further lock of the key doubles it.
    pub lock_for: Duration,
    /// The longest lock.
    pub max_lock: Duration,
}

impl Default for LockoutRule {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(300),
            lock_for: Duration::from_secs(900),
            max_lock: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
    /// How many times the key was locked (for the backoff).
    locks: u32,
}

/// A locked key, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// The key, e.g. `ip:203.0.113.9` or `basic:alice`.
    pub key: String,
    /// How much longer it stays locked.
    pub remaining: Duration,
    /// How many times it has been locked.
    pub locks: u32,
}

/// The process's lockout table.
#[derive(Debug)]
pub struct Lockouts {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    per_shard: usize,
    /// When the last lock anywhere ends, in ms after `epoch`: before it no
    /// key can be locked, so the common check costs one atomic load.
    last_lock_ends: AtomicU64,
    epoch: Instant,
    /// The Redis the gateways count failures in together, if any.
    shared: Mutex<Option<Arc<SharedCounters>>>,
}

impl Lockouts {
    fn with_capacity(per_shard: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            last_lock_ends: AtomicU64::new(0),
            epoch: Instant::now(),
            shared: Mutex::new(None),
        }
    }

    /// The process-wide table.
    pub fn process() -> &'static Self {
        static TABLE: OnceLock<Lockouts> = OnceLock::new();
        TABLE.get_or_init(|| Self::with_capacity(PER_SHARD))
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Entry>> {
        let hash =
            key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        &self.shards[usize::try_from(hash % SHARDS as u64).unwrap_or(0)]
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether any key may be locked now (one atomic load; callers skip
    /// building keys when it says no).
    pub fn any_locked(&self) -> bool {
        let ends = self.last_lock_ends.load(Ordering::Relaxed);
        // Until the first lock, not even the clock is read.
        ends != 0 && self.millis(Instant::now()) < ends
    }

    /// Whether `key` is locked now.
    pub fn is_locked(&self, key: &str) -> bool {
        if !self.any_locked() {
            return false;
        }
        let shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        shard.get(key).and_then(|e| e.locked_until).is_some_and(|until| until > Instant::now())
    }

    /// Counts failures together with every gateway sharing `counters`
    /// (`None`: in this process only), following their locks from now on.
    pub fn share(&'static self, counters: Option<Arc<SharedCounters>>) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.as_ref().map(Arc::as_ptr) == counters.as_ref().map(Arc::as_ptr) {
            return;
        }
        shared.clone_from(&counters);
        drop(shared);
        if let Some(counters) = counters {
            counters.follow_lockouts(self);
        }
    }

    /// Whether failures are counted together through `counters`.
    pub(crate) fn shares_with(&self, counters: &Arc<SharedCounters>) -> bool {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|c| Arc::ptr_eq(c, counters))
    }

    fn shared(&self) -> Option<Arc<SharedCounters>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Counts a failure of `key` under `rule` (here, and with every gateway
    /// sharing counters); returns whether it is now locked here.
    pub fn fail(&self, key: &str, rule: LockoutRule) -> bool {
        if let Some(shared) = self.shared()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let key = key.to_owned();
            runtime.spawn(async move { shared.record_failure(&key, rule).await });
        }
        self.fail_at(key, Instant::now(), rule)
    }

    /// Locks `key` for `length` on another gateway's word.
    pub(crate) fn lock_here(&self, key: &str, length: Duration, locks: u32) {
        let now = Instant::now();
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            evict(&mut shard, now, LockoutRule::default());
        }
        let entry = shard.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
            locks: 0,
        });
        entry.locked_until = Some(entry.locked_until.map_or(now + length, |until| until.max(now + length)));
        entry.locks = entry.locks.max(locks);
        entry.failures = 0;
        self.last_lock_ends.fetch_max(self.millis(now + length), Ordering::Relaxed);
    }

    fn fail_at(&self, key: &str, now: Instant, rule: LockoutRule) -> bool {
        if rule.max_failures == 0 {
            return false;
        }
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            evict(&mut shard, now, rule);
        }
        let entry = shard.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
            locks: 0,
        });
        if entry.locked_until.is_some_and(|until| until > now) {
            return true;
        }
        if now.duration_since(entry.window_start) >= rule.window {
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures += 1;
        if entry.failures < rule.max_failures {
            return false;
        }
        let doubling = 1u32.checked_shl(entry.locks.min(20)).unwrap_or(u32::MAX);
        let length = rule.lock_for.saturating_mul(doubling).min(rule.max_lock);
        entry.locked_until = Some(now + length);
        self.last_lock_ends.fetch_max(self.millis(now + length), Ordering::Relaxed);
        entry.locks += 1;
        entry.failures = 0;
        entry.window_start = now;
        true
    }

    /// Forgets the failures of `key` after a success (the lock history,
    /// which drives the backoff, stays).
    pub fn succeed(&self, key: &str) {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = shard.get_mut(key) {
            entry.failures = 0;
        }
    }

    /// Every key locked now.
    pub fn locked(&self) -> Vec<Locked> {
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in shard.iter() {
                if let Some(until) = entry.locked_until.filter(|until| *until > now) {
                    out.push(Locked { key: key.clone(), remaining: until - now, locks: entry.locks });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Unlocks `key` (an admin action), here and on every gateway sharing
    /// counters; returns whether it was locked here or among them.
    pub async fn unlock(&self, key: &str) -> bool {
        let here = self.unlock_here(key);
        let Some(shared) = self.shared() else { return here };
        shared.announce_unlock(key).await.unwrap_or(false) || here
    }

    /// Unlocks `key` in this process; returns whether it was locked.
    pub(crate) fn unlock_here(&self, key: &str) -> bool {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        shard.remove(key).is_some_and(|e| e.locked_until.is_some_and(|until| until > Instant::now()))
    }
}

/// Drops expired entries; if that frees nothing, the unlocked eighth with
/// the oldest windows (at once, so a flood of new keys costs amortized O(1)).
fn evict(shard: &mut HashMap<String, Entry>, now: Instant, rule: LockoutRule) {
    let before = shard.len();
    shard.retain(|_, e| {
        e.locked_until.is_some_and(|until| until > now) || now.duration_since(e.window_start) < rule.window
    });
    if shard.len() < before {
        return;
    }
    let mut unlocked: Vec<(Instant, String)> =
        shard.iter().filter(|(_, e)| e.locked_until.is_none()).map(|(k, e)| (e.window_start, k.clone())).collect();
    let drop = (before / 8).max(1).min(unlocked.len());
    if drop == 0 {
        return;
    }
    unlocked.select_nth_unstable_by_key(drop - 1, |(start, _)| *start);
    for (_, key) in unlocked.into_iter().take(drop) {
        shard.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: LockoutRule = LockoutRule {
        max_failures: 3,
        window: Duration::from_secs(60),
        lock_for: Duration::from_secs(10),
        max_lock: Duration::from_secs(25),
    };

    #[test]
    fn failures_lock_with_doubling_then_capped_locks() {
        let table = Lockouts::with_capacity(64);
        let t0 = Instant::now();
        assert!(!table.fail_at("ip:a", t0, RULE));
        assert!(!table.fail_at("ip:a", t0, RULE));
        assert!(table.fail_at("ip:a", t0, RULE), "third failure locks");
        assert!(table.fail_at("ip:a", t0 + Duration::from_secs(9), RULE), "still locked");
        let t1 = t0 + Duration::from_secs(11);
        assert!(!table.fail_at("ip:a", t1, RULE));
        assert!(!table.fail_at("ip:a", t1, RULE));
        assert!(table.fail_at("ip:a", t1, RULE));
        let shard = table.shard("ip:a").lock().unwrap();
        let until = shard["ip:a"].locked_until.unwrap();
        assert_eq!(until - t1, Duration::from_secs(20), "the second lock doubles");
        drop(shard);
        for _ in 0..3 {
            table.fail_at("ip:a", t1 + Duration::from_secs(21), RULE);
        }
        let until = table.shard("ip:a").lock().unwrap()["ip:a"].locked_until.unwrap();
        assert_eq!(until - (t1 + Duration::from_secs(21)), Duration::from_secs(25), "capped at max_lock");
        assert!(!table.fail_at("ip:b", t0, RULE), "keys are counted apart");
    }

    #[test]
    fn a_window_resets_and_an_unlock_clears() {
        let table = Lockouts::with_capacity(64);
        let t0 = Instant::now();
        table.fail_at("k", t0, RULE);
        table.fail_at("k", t0, RULE);
        assert!(!table.fail_at("k", t0 + Duration::from_secs(61), RULE), "the window passed");
        table.fail_at("k", t0 + Duration::from_secs(61), RULE);
        assert!(table.fail_at("k", t0 + Duration::from_secs(61), RULE));
        assert!(table.unlock_here("k"));
        assert!(!table.is_locked("k"));
        assert!(!table.unlock_here("k"));
    }

    #[test]
    fn the_table_stays_bounded() {
        let table = Lockouts::with_capacity(64);
        let t0 = Instant::now();
        for n in 0..(64 * SHARDS * 4) {
            table.fail_at(&format!("ip:{n}"), t0, RULE);
        }
        let total: usize = table.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 64 * SHARDS, "{total}");
    }
}
