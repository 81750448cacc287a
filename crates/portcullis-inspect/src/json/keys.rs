//! Duplicate-key detection for the JSON scanner: the decoded keys of every
//! open object. An object's first [`SMALL`] keys are compared as bytes (no
//! hashing, and no allocation once the buffers have grown); past that, the
//! object keeps a set of keyed 64-bit hashes of its keys instead, so a
//! large object costs linear time, not quadratic, and at most `SMALL` keys
//! per open object are held as bytes.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use portcullis_core::prehashed::BuildPrehashed;

/// Keys an object holds as bytes before it switches to hashes.
const SMALL: usize = 16;

/// The keys of the open objects, innermost last, and the key being read.
#[derive(Debug, Default)]
pub(super) struct OpenKeys {
    /// The decoded bytes of the held keys, then of the key being read.
    bytes: Vec<u8>,
    /// Where each held key ends in `bytes`, and its [`tag`].
    ends: Vec<(usize, u64)>,
    /// Where the key being read starts in `bytes`.
    current: usize,
    seed: RandomState,
}

/// One open object's share of [`OpenKeys`].
#[derive(Debug)]
pub(super) struct ObjectKeys {
    bytes_from: usize,
    first: usize,
    /// Keyed hashes of every key, once the object has more than `SMALL`.
    large: Option<HashSet<u64, BuildPrehashed>>,
}

impl OpenKeys {
    /// An object opens.
    pub(super) fn open(&self) -> ObjectKeys {
        ObjectKeys { bytes_from: self.bytes.len(), first: self.ends.len(), large: None }
    }

    /// `object` closes (or switches to hashes): its keys are let go.
    pub(super) fn close(&mut self, object: &ObjectKeys) {
        self.bytes.truncate(object.bytes_from);
        self.ends.truncate(object.first);
    }

    /// A key begins.
    pub(super) fn start(&mut self) {
        self.current = self.bytes.len();
    }

    /// The next decoded bytes of the key being read.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The key being read is complete: whether `object` already has it.
    pub(super) fn end(&mut self, object: &mut ObjectKeys) -> bool {
        let start = self.current;
        if let Some(hashes) = &mut object.large {
            let hash = self.seed.hash_one(&self.bytes[start..]);
            self.bytes.truncate(start);
            return !hashes.insert(hash);
        }
        let key = &self.bytes[start..];
        let key_tag = tag(key);
        let mut from = object.bytes_from;
        for &(end, held) in &self.ends[object.first..] {
            if held == key_tag && &self.bytes[from..end] == key {
                return true;
            }
            from = end;
        }
        self.ends.push((self.bytes.len(), key_tag));
        if self.ends.len() - object.first > SMALL {
            let mut hashes = HashSet::with_capacity_and_hasher(4 * SMALL, BuildPrehashed::default());
            let mut from = object.bytes_from;
            for &(end, _) in &self.ends[object.first..] {
                hashes.insert(self.seed.hash_one(&self.bytes[from..end]));
                from = end;
            }
            object.large = Some(hashes);
            self.close(object);
        }
        false
    }
}

/// A key's length and first eight bytes in one word: keys with different
/// tags differ, so most comparisons cost one integer compare. Equal tags
/// (which a client can arrange) only mean the bytes are compared.
fn tag(key: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    let n = key.len().min(8);
    first[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(first) ^ u64::try_from(key.len()).unwrap_or(u64::MAX).rotate_right(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `keys` into one object; the index of the first duplicate.
    fn first_duplicate(keys: &[&[u8]]) -> Option<usize> {
        let mut open = OpenKeys::default();
        let mut object = open.open();
        keys.iter().position(|key| {
            open.start();
            for byte in *key {
                open.push(&[*byte]);
            }
            open.end(&mut object)
        })
    }

    #[test]
    fn duplicates_are_found_in_small_and_large_objects() {
        assert_eq!(first_duplicate(&[b"a", b"ab", b"b", b""]), None);
        assert_eq!(first_duplicate(&[b"a", b"ab", b"", b"ab"]), Some(3));
        assert_eq!(first_duplicate(&[b"", b""]), Some(1));
        let many: Vec<Vec<u8>> = (0..200).map(|i: u32| i.to_string().into_bytes()).collect();
        let mut keys: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        assert_eq!(first_duplicate(&keys), None);
        for (repeat, at) in [(0, 200), (SMALL, 200), (150, 200), (3, SMALL)] {
            keys.insert(at, many[repeat].as_slice());
            assert_eq!(first_duplicate(&keys), Some(at), "key {repeat} again at {at}");
            keys.remove(at);
        }
    }

    #[test]
    fn a_large_object_holds_no_key_bytes() {
        let mut open = OpenKeys::default();
        let mut outer = open.open();
        for i in 0..1000u32 {
            open.start();
            open.push(i.to_string().as_bytes());
            assert!(!open.end(&mut outer));
        }
        assert!(open.bytes.is_empty() && open.ends.is_empty());
        let mut inner = open.open();
        open.start();
        open.push(b"x");
        assert!(!open.end(&mut inner));
        open.close(&inner);
        open.start();
        open.push(b"7");
        assert!(open.end(&mut outer), "the outer object's keys survive an inner object");
    }
}
