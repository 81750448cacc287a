//! Any bytes: the JSON checker never panics, and agrees with serde_json on
//! what is JSON and on which objects repeat a key (keys with escapes are
//! compared decoded).
#![no_main]

use std::collections::HashSet;
use std::fmt;

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::json::{JsonError, JsonLimits, scan};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// serde_json's reading of a document, failing with "duplicate key" on the
/// first object that repeats a key (keys compared after unescaping).
struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = scan(data, JsonLimits::default());

    // Differential: with only syntax checked, we accept exactly what serde_json's
    // grammar accepts (IgnoredAny checks the grammar without converting numbers,
    // so 5e322 is JSON here as in RFC 8259), below its recursion limit of 128.
    let syntax = scan(data, JsonLimits { max_depth: 100, ..JsonLimits::syntax_only() });
    let reference = serde_json::from_slice::<serde::de::IgnoredAny>(data);
    match (&syntax, &reference) {
        (Ok(()), Err(e)) => panic!("accepted what serde_json refuses: {e}"),
        // (IgnoredAny skips string bytes without checking UTF-8, so only syntax is compared.)
        (Err(JsonError::Syntax), Ok(_)) => panic!("refused what serde_json accepts"),
        _ => {}
    }

    // Duplicate keys: refused exactly when serde_json sees a repeated key.
    let unique = scan(data, JsonLimits { max_depth: 100, reject_duplicate_keys: true, ..JsonLimits::syntax_only() });
    let reference = serde_json::from_slice::<Unique>(data);
    match (&unique, &reference) {
        (Err(JsonError::DuplicateKey), Ok(_)) => panic!("refused a duplicate key serde_json does not see"),
        (Ok(()), Err(e)) if e.to_string().starts_with("duplicate key") => panic!("missed a duplicate key"),
        _ => {}
    }
});
