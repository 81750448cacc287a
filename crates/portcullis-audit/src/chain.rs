//! The hash chain: a canonical byte encoding of an event and the SHA-256 link to its predecessor.
//!
//! `hash(n) = SHA-256("portcullis-audit-v1" || hash(n - 1) || canonical_bytes(event n))` with `hash(0) = GENESIS`.
//! Changing, removing or reordering any event changes every later hash.

use serde_json::{Number, Value};
use sha2::{Digest as _, Sha256};

use crate::event::Event;

/// A SHA-256 chain hash.
pub type Digest = [u8; 32];

/// The hash that precedes the first event.
pub const GENESIS: Digest = [0; 32];

/// Domain separation tag prefixed to every link computation.
pub const LINK_TAG: &[u8] = b"portcullis-audit-v1";

/// Nesting depth beyond which `details` is encoded as a fixed marker instead of recursing, so hostile input cannot
/// exhaust the stack. Masked events never come close (masking cuts at a lower depth).
const MAX_ENCODE_DEPTH: usize = 128;

/// A deterministic, unambiguous encoding of every field of an event.
///
/// Layout: `seq` and `at_ms` as 8-byte big-endian, then `actor`, `source`, `action`, `target` and the outcome name, each
/// as an 8-byte big-endian length followed by UTF-8 bytes, then `details` in a tagged binary form: `n` null, `f`/`t`
/// booleans, `u`/`i` + 8-byte unsigned/negative integer, `d` + 8-byte IEEE 754 bits, `s` + length + UTF-8, `a` +
/// count + items, `o` + count + (length-prefixed key, value) pairs sorted by key bytes, `X` for anything nested deeper
/// than 128 levels. All integers are big-endian.
///
/// `details` is not encoded with `serde_json`'s text output: its number formatting is an implementation detail that
/// may change between versions. Instead each value is tagged and length-prefixed; object keys are sorted by their
/// bytes explicitly, so the result does not depend on map iteration order (the crate also does not enable `serde_json`'s
/// `preserve_order`). Integers and floats are distinct (`1` and `1.0` hash differently), as they stay distinct when
/// `serde_json` writes and re-reads them.
#[must_use]
pub fn canonical_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&event.seq.to_be_bytes());
    out.extend_from_slice(&event.at_ms.to_be_bytes());
    for field in [&event.actor, &event.source, &event.action, &event.target] {
        push_bytes(&mut out, field.as_bytes());
    }
    push_bytes(&mut out, event.outcome.as_str().as_bytes());
    encode_value(&mut out, &event.details, 0);
    out
}

/// Computes the chain hash of `event` given the hash of the event before it ([`GENESIS`] for the first).
#[must_use]
pub fn link(prev: &Digest, event: &Event) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(LINK_TAG);
    hasher.update(prev);
    hasher.update(canonical_bytes(event));
    hasher.finalize().into()
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // usize is at most 64 bits on every supported target.
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn encode_value(out: &mut Vec<u8>, value: &Value, depth: usize) {
    if depth > MAX_ENCODE_DEPTH {
        out.push(b'X');
        return;
    }
    match value {
        Value::Null => out.push(b'n'),
        Value::Bool(false) => out.push(b'f'),
        Value::Bool(true) => out.push(b't'),
        Value::Number(number) => encode_number(out, number),
        Value::String(text) => {
            out.push(b's');
            push_bytes(out, text.as_bytes());
        }
        Value::Array(items) => {
            out.push(b'a');
            push_len(out, items.len());
            for item in items {
                encode_value(out, item, depth + 1);
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'o');
            push_len(out, entries.len());
            for (key, item) in entries {
                push_bytes(out, key.as_bytes());
                encode_value(out, item, depth + 1);
            }
        }
    }
}

fn encode_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(unsigned) = number.as_u64() {
        out.push(b'u');
        out.extend_from_slice(&unsigned.to_be_bytes());
    } else if let Some(signed) = number.as_i64() {
        out.push(b'i');
        out.extend_from_slice(&signed.to_be_bytes());
    } else if let Some(float) = number.as_f64().filter(|f| f.is_finite()) {
        out.push(b'd');
        out.extend_from_slice(&float.to_bits().to_be_bytes());
    } else {
        // Only reachable if some crate enables serde_json's `arbitrary_precision` and a number exceeds f64.
        out.push(b'r');
        push_bytes(out, number.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{GENESIS, canonical_bytes, link};
    use crate::event::{Event, NewEvent, Outcome};

    fn sample() -> Event {
        NewEvent::new("alice", "192.0.2.1", "consumer.create", "consumer:42", Outcome::Success)
            .with_details(json!({"after": {"name": "shop", "rate": 1.5, "tags": ["a", "b"]}, "n": -3}))
            .into_event(1, 1_700_000_000_000)
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample();
        let original = link(&GENESIS, &base);
        let mutations: [fn(&mut Event); 9] = [
            |e| e.seq = 2,
            |e| e.at_ms += 1,
            |e| e.actor.push('x'),
            |e| e.source.push('x'),
            |e| e.action.push('x'),
            |e| e.target.push('x'),
            |e| e.outcome = Outcome::Denied,
            |e| e.details["n"] = json!(-4),
            |e| e.details["n"] = json!(-3.0),
        ];
        for mutate in mutations {
            let mut event = base.clone();
            mutate(&mut event);
            assert_ne!(link(&GENESIS, &event), original);
        }
        assert_ne!(link(&[1; 32], &base), original);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = sample();
        let mut b = sample();
        a.actor = "ab".into();
        a.source = "c".into();
        b.actor = "a".into();
        b.source = "bc".into();
        assert_ne!(canonical_bytes(&a), canonical_bytes(&b));
    }

    #[test]
    fn key_order_does_not_matter_and_text_round_trip_is_stable() {
        let event = sample();
        let mut reordered = event.clone();
        reordered.details = serde_json::from_str(r#"{"n":-3,"after":{"tags":["a","b"],"rate":1.5,"name":"shop"}}"#)
            .unwrap_or(Value::Null);
        assert_eq!(canonical_bytes(&event), canonical_bytes(&reordered));

        // The store keeps details as JSON text; reading it back must reproduce the hash, floats included.
        let mut tricky = sample();
        tricky.details = json!({"a": 0.1, "b": 1e-7, "c": 2.225_073_858_507_201e-308, "d": u64::MAX, "e": i64::MIN});
        let text = tricky.details.to_string();
        let mut reread = tricky.clone();
        reread.details = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(link(&GENESIS, &tricky), link(&GENESIS, &reread));
    }

    #[test]
    fn deep_values_do_not_overflow() {
        let mut deep = json!(1);
        for _ in 0..10_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut event = sample();
        event.details = deep;
        assert!(canonical_bytes(&event).len() < 2_000);
        // Dropping a 10k-deep Value recurses inside serde_json; unwind it iteratively instead.
        let mut current = std::mem::take(&mut event.details);
        while let Value::Array(mut items) = current {
            current = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn hash_is_pinned() {
        // Guards the on-disk format: if this changes, existing logs stop verifying.
        let event = Event {
            seq: 1,
            at_ms: 0,
            actor: "system".into(),
            source: "host".into(),
            action: "audit.init".into(),
            target: "audit".into(),
            outcome: Outcome::Success,
            details: json!({}),
        };
        assert_eq!(crate::hex::to_hex(&link(&GENESIS, &event)), PINNED);
    }

    const PINNED: &str = "78143889c695695ff95b29f3ad67f638d02f61339b292578463803d387f631fb";
}
