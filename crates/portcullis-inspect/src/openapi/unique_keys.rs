//! JSON parsed into a `serde_json::Value` with every object's keys unique.
//! serde_json alone keeps the last of a repeated key; an upstream's parser
//! might keep the first, so a body checked as one could be read as another.
//! The duplicate is found where the key is inserted, in the one pass that
//! builds the value (a separate scan for it cost more than the parse).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// `body` as a value, or `None` if it is not JSON or repeats a key in an
/// object (keys compared after their escapes are decoded).
pub(super) fn parse(body: &[u8]) -> Option<Value> {
    let mut parser = serde_json::Deserializer::from_slice(body);
    let value = UniqueKeys.deserialize(&mut parser).ok()?;
    parser.end().ok()?;
    Some(value)
}

/// Builds a value as serde_json's own does, refusing a repeated key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Value, D::Error> {
        parser.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut array = Vec::new();
        while let Some(item) = items.next_element_seed(UniqueKeys)? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let value = entries.next_value_seed(UniqueKeys)?;
            if object.insert(key, value).is_some() {
                return Err(A::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_what_serde_json_makes() {
        let doc = r#"{"a":[1,-2,3.5,1e400,"x\u00e9",true,null,{}],"b":{"c":18446744073709551615}}"#;
        let expected = serde_json::from_str::<Value>(&doc.replace("1e400", "0")).unwrap();
        // 1e400 overflows f64: refused, as by serde_json.
        assert_eq!(parse(doc.as_bytes()), None);
        assert_eq!(parse(doc.replace("1e400", "0").as_bytes()), Some(expected));
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_however_escaped() {
        assert!(parse(br#"{"a":1,"b":{"a":2}}"#).is_some(), "the same key in different objects");
        assert_eq!(parse(br#"{"a":1,"a":1}"#), None);
        assert_eq!(parse(br#"[{"x":{"a":1,"b":2,"a":3}}]"#), None);
        assert_eq!(parse(br#"{"role":"user","\u0072ole":"admin"}"#), None);
    }

    #[test]
    fn what_is_not_one_json_document_is_refused() {
        for bad in [&b"{\"a\":1"[..], b"{} {}", b"[1,]", b"\"\\ud800\"", b"\"\xff\"", b"", b"nul"] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b" [] \n"), Some(Value::Array(vec![])));
    }
}
