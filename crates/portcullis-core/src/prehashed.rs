//! Hash maps over values that are already keyed hashes (a SipHash with a
//! per-process random seed): the map uses the value as its hash as it is,
//! instead of hashing it again. Safe against flooding only because the
//! values are keyed: a client cannot choose them.

use std::hash::{BuildHasherDefault, Hasher};

/// A [`Hasher`] for `u64` keys that are already keyed hashes.
#[derive(Debug, Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are meant for this hasher; anything else is folded in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// The build hasher for maps and sets keyed by [`Prehashed`] values.
pub type BuildPrehashed = BuildHasherDefault<Prehashed>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_key_is_its_own_hash() {
        assert_eq!(BuildPrehashed::default().hash_one(0x1234_5678_9abc_def0_u64), 0x1234_5678_9abc_def0);
        let set: HashSet<u64, BuildPrehashed> = (0..1000).map(|i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        assert_eq!(set.len(), 1000);
    }
}
