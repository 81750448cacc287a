//! Duplicate-key detection for the JSON checker: the keys of every open
//! object. A key without escapes is held as where it stands in the
//! document (no copy); one with escapes is decoded once into a side buffer,
//! since keys are equal when their decoded bytes are. An object's first
//! [`SMALL`] keys are compared as bytes (no hashing, and no allocation once
//! the buffers have grown); past that, the object keeps a set of keyed
//! 64-bit hashes of its keys instead, so a large object costs linear time,
//! not quadratic, and at most `SMALL` keys per open object are held.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::ops::Range;

use portcullis_core::prehashed::BuildPrehashed;

/// Keys an object holds before it switches to hashes.
const SMALL: usize = 16;

/// Where a key's decoded bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    /// In the document, as written (it has no escapes).
    Written(Range<usize>),
    /// In [`OpenKeys::decoded`], the last bytes pushed there.
    Decoded(Range<usize>),
}

/// The keys of the open objects, innermost last.
#[derive(Debug, Default)]
pub(super) struct OpenKeys {
    /// Each held key, and its [`tag`].
    held: Vec<(Key, u64)>,
    /// The decoded bytes of held keys that have escapes.
    decoded: Vec<u8>,
}

/// One open object's share of [`OpenKeys`].
#[derive(Debug)]
pub(super) struct ObjectKeys {
    first: usize,
    decoded_from: usize,
    /// One bit per held key, picked by its tag: a key whose bit is clear is
    /// new without a comparison.
    seen: u64,
    /// Keyed hashes of every key, once the object has more than `SMALL`.
    large: Option<Hashed>,
}

/// A large object's keys as keyed hashes; the key is drawn when an object
/// first grows large, so most documents never draw one.
#[derive(Debug)]
struct Hashed {
    seed: RandomState,
    hashes: HashSet<u64, BuildPrehashed>,
}

impl OpenKeys {
    /// An object opens.
    pub(super) fn open(&self) -> ObjectKeys {
        ObjectKeys { first: self.held.len(), decoded_from: self.decoded.len(), seen: 0, large: None }
    }

    /// `object` closes (or switches to hashes): its keys are let go.
    pub(super) fn close(&mut self, object: &ObjectKeys) {
        self.held.truncate(object.first);
        self.decoded.truncate(object.decoded_from);
    }

    /// Where a key with escapes is decoded to, before [`OpenKeys::end`]
    /// takes it as [`Key::Decoded`] from the length it had.
    pub(super) fn decoded(&mut self) -> &mut Vec<u8> {
        &mut self.decoded
    }

    /// The bytes of `key` in `doc`.
    fn bytes<'a>(&'a self, doc: &'a [u8], key: &Key) -> &'a [u8] {
        match key {
            Key::Written(range) => &doc[range.clone()],
            Key::Decoded(range) => &self.decoded[range.clone()],
        }
    }

    /// Adds the next key of `object`: whether `object` already has it.
    pub(super) fn end(&mut self, doc: &[u8], key: Key, object: &mut ObjectKeys) -> bool {
        let bytes = self.bytes(doc, &key);
        if let Some(Hashed { seed, hashes }) = &mut object.large {
            let hash = seed.hash_one(bytes);
            if let Key::Decoded(range) = key {
                self.decoded.truncate(range.start);
            }
            return !hashes.insert(hash);
        }
        let key_tag = tag(bytes);
        let bit = 1 << (key_tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        if object.seen & bit != 0
            && self.held[object.first..]
                .iter()
                .any(|(held, held_tag)| *held_tag == key_tag && self.bytes(doc, held) == bytes)
        {
            return true;
        }
        object.seen |= bit;
        self.held.push((key, key_tag));
        if self.held.len() - object.first > SMALL {
            let seed = RandomState::new();
            let mut hashes = HashSet::with_capacity_and_hasher(4 * SMALL, BuildPrehashed::default());
            hashes.extend(self.held[object.first..].iter().map(|(held, _)| seed.hash_one(self.bytes(doc, held))));
            object.large = Some(Hashed { seed, hashes });
            self.close(object);
        }
        false
    }
}

/// A key's length and up to eight of its bytes in one word (the first
/// eight; of a shorter key, its first and last four or its first, middle
/// and last byte, read without a copy): keys with different tags differ, so
/// most comparisons cost one integer compare. Equal tags (which a client
/// can arrange) only mean the bytes are compared.
fn tag(key: &[u8]) -> u64 {
    let len = key.len();
    let bytes = if let Some(first) = key.first_chunk::<8>() {
        u64::from_le_bytes(*first)
    } else if let (Some(first), Some(last)) = (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32
    } else if let (Some(&first), Some(&last)) = (key.first(), key.last()) {
        u64::from(first) | u64::from(key[len / 2]) << 8 | u64::from(last) << 16
    } else {
        0
    };
    bytes ^ u64::try_from(len).unwrap_or(u64::MAX).rotate_right(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document of `keys` one after another, and where each stands.
    fn written(keys: &[&[u8]]) -> (Vec<u8>, Vec<Key>) {
        let mut doc = Vec::new();
        let spans = keys
            .iter()
            .map(|key| {
                doc.extend_from_slice(key);
                Key::Written(doc.len() - key.len()..doc.len())
            })
            .collect();
        (doc, spans)
    }

    /// Reads `keys` into one object; the index of the first duplicate.
    fn first_duplicate(keys: &[&[u8]]) -> Option<usize> {
        let (doc, spans) = written(keys);
        let mut open = OpenKeys::default();
        let mut object = open.open();
        spans.into_iter().position(|key| open.end(&doc, key, &mut object))
    }

    #[test]
    fn duplicates_are_found_in_small_and_large_objects() {
        assert_eq!(first_duplicate(&[b"a", b"ab", b"b", b""]), None);
        assert_eq!(first_duplicate(&[b"a", b"ab", b"", b"ab"]), Some(3));
        assert_eq!(first_duplicate(&[b"", b""]), Some(1));
        // Tags that collide (same length, same sampled bytes) fall back to the bytes.
        assert_eq!(first_duplicate(&[b"abcdefgh1", b"abcdefgh2", b"abcdefgh3"]), None);
        assert_eq!(first_duplicate(&[b"abcdefgh1", b"abcdefgh2", b"abcdefgh1"]), Some(2));
        assert_eq!(first_duplicate(&[b"abcde", b"abXde", b"abcdf", b"abXde"]), Some(3));
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
    fn a_decoded_key_equals_the_same_key_written() {
        let (doc, spans) = written(&[b"role", b"name"]);
        let mut open = OpenKeys::default();
        let mut object = open.open();
        for key in spans {
            assert!(!open.end(&doc, key, &mut object));
        }
        let from = open.decoded().len();
        open.decoded().extend_from_slice(b"role");
        let again = Key::Decoded(from..open.decoded().len());
        assert!(open.end(&doc, again, &mut object));
    }

    #[test]
    fn a_large_object_holds_no_keys() {
        let many: Vec<Vec<u8>> = (0..1000).map(|i: u32| i.to_string().into_bytes()).collect();
        let (doc, spans) = written(&many.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let mut open = OpenKeys::default();
        let mut outer = open.open();
        for key in spans {
            assert!(!open.end(&doc, key, &mut outer));
        }
        assert!(open.held.is_empty() && open.decoded.is_empty());
        let mut inner = open.open();
        assert!(!open.end(&doc, Key::Written(0..1), &mut inner));
        open.close(&inner);
        assert!(open.end(&doc, Key::Written(7..8), &mut outer), "the outer object's keys survive an inner object");
    }
}
