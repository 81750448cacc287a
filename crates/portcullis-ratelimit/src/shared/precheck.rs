//! The local pre-check in front of shared counters: after Redis refuses a
//! key, this gateway remembers until when, and refuses that key itself
//! until then, without a round trip. Only a refusal is remembered, never
//! an admission, so the pre-check can make a node stricter for at most the
//! refusal's own `Retry-After`, never more lenient.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::algorithm::Decision;
use crate::key::SharedKey;

const SHARDS: usize = 16;
/// Refusals remembered at most (per shard); beyond that the oldest are dropped.
const PER_SHARD: usize = 4096;

/// Refusals by key: until when (ms on this process's monotonic clock), and the refusal.
type Shard = Mutex<HashMap<SharedKey, (u64, Decision)>>;

/// Remembered refusals.
#[derive(Debug)]
pub(crate) struct Precheck {
    shards: Box<[Shard]>,
}

impl Precheck {
    pub(crate) fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn shard(&self, key: SharedKey) -> &Shard {
        &self.shards[usize::from(key.0[15]) % SHARDS]
    }

    /// The remembered refusal of `key` if it still holds at `now_ms`, with its `Retry-After` brought up to date.
    pub(crate) fn refused(&self, key: SharedKey, now_ms: u64) -> Option<Decision> {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        let &(until, decision) = shard.get(&key)?;
        if until <= now_ms {
            shard.remove(&key);
            return None;
        }
        let retry_after = (until - now_ms).div_ceil(1000).max(1);
        Some(Decision { retry_after, reset: decision.reset.max(retry_after), ..decision })
    }

    /// Forgets the refusal of `key`, if any.
    pub(crate) fn forget(&self, key: SharedKey) {
        self.shard(key).lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
    }

    /// Remembers that `key` is refused for `retry_ms` from `now_ms`.
    pub(crate) fn remember(&self, key: SharedKey, decision: Decision, now_ms: u64, retry_ms: u64) {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            shard.retain(|_, (until, _)| *until > now_ms);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(key, (now_ms.saturating_add(retry_ms), decision));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_remembered_until_it_expires() {
        let precheck = Precheck::new();
        let key = SharedKey([7; 16]);
        let refusal = Decision { allowed: false, quota: 5, remaining: 0, reset: 3, retry_after: 3 };
        assert!(precheck.refused(key, 1_000).is_none());
        precheck.remember(key, refusal, 1_000, 2_500);
        let later = precheck.refused(key, 2_000).expect("still refused");
        assert!(!later.allowed);
        assert_eq!(later.retry_after, 2, "1.5 s left, rounded up");
        assert!(precheck.refused(key, 3_500).is_none(), "expired");
        assert!(precheck.refused(SharedKey([8; 16]), 2_000).is_none(), "other keys are untouched");
    }
}
