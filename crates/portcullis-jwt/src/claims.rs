//! The verified claims of a token, with typed accessors and a safe claim-to-header conversion.

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::JwtError;

/// The payload of a verified token (RFC 7519 §4).
///
/// Only [`Issuer::verify`](crate::Issuer::verify) makes these, so holding one means the signature and the
/// configured checks passed. Top-level claim names are unique: a payload repeating one is refused as malformed
/// (so the gateway and an upstream re-parsing the token cannot disagree on which `sub` counts).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    map: Map<String, Value>,
}

impl Claims {
    /// Parses a decoded payload: a JSON object without duplicate top-level names.
    ///
    /// # Errors
    ///
    /// [`JwtError::Malformed`] otherwise.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, JwtError> {
        serde_json::from_slice::<UniqueObject>(bytes)
            .map(|o| Self { map: o.0 })
            .map_err(|_| JwtError::Malformed("payload is not a JSON object with unique claim names"))
    }

    /// A claim's value, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A string claim, if present and a string.
    #[must_use]
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// `iss`, if a string.
    #[must_use]
    pub fn iss(&self) -> Option<&str> {
        self.get_str("iss")
    }

    /// `sub`, if a string.
    #[must_use]
    pub fn sub(&self) -> Option<&str> {
        self.get_str("sub")
    }

    /// `jti`, if a string.
    #[must_use]
    pub fn jti(&self) -> Option<&str> {
        self.get_str("jti")
    }

    /// `iat` in whole seconds since the epoch (fractions dropped), if a number.
    #[must_use]
    pub fn iat(&self) -> Option<i64> {
        self.get("iat").and_then(numeric_date_secs)
    }

    /// `exp` in whole seconds since the epoch (fractions dropped), if a number.
    #[must_use]
    pub fn exp(&self) -> Option<i64> {
        self.get("exp").and_then(numeric_date_secs)
    }

    /// `nbf` in whole seconds since the epoch (fractions dropped), if a number.
    #[must_use]
    pub fn nbf(&self) -> Option<i64> {
        self.get("nbf").and_then(numeric_date_secs)
    }

    /// The audiences: `aud` as one string or the strings of an array (other elements skipped).
    #[must_use]
    pub fn audiences(&self) -> Vec<&str> {
        match self.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The granted scopes: from `scope` (RFC 8693 / RFC 9068: space-separated string), else from `scp`
    /// (an array of strings, or a space-separated string as some issuers send it). Empty when neither is usable.
    #[must_use]
    pub fn scopes(&self) -> Vec<&str> {
        fn from(value: &Value) -> Option<Vec<&str>> {
            match value {
                Value::String(s) => Some(s.split(' ').filter(|p| !p.is_empty()).collect()),
                Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
                _ => None,
            }
        }
        self.get("scope").and_then(from).or_else(|| self.get("scp").and_then(from)).unwrap_or_default()
    }

    /// Whether [`Claims::scopes`] contains `scope` exactly.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// The certificate thumbprint `cnf.x5t#S256` of a certificate-bound token (RFC 8705 §3.1), if a string.
    #[must_use]
    pub fn cnf_x5t_s256(&self) -> Option<&str> {
        self.get("cnf")?.get("x5t#S256")?.as_str()
    }

    /// A claim rendered for an upstream request header: strings as they are, numbers in JSON form.
    ///
    /// `None` when the claim is absent, of another type (bool, null, array, object), or a string containing
    /// any control character (CR, LF, NUL, tab, DEL, C1 …), so the value can never split or smuggle a header.
    #[must_use]
    pub fn claim_as_header_value(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) if !s.chars().any(char::is_control) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// All claims.
    #[must_use]
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// All claims, owned.
    #[must_use]
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }
}

/// A JSON NumericDate as whole seconds, saturating at the `i64` range.
fn numeric_date_secs(value: &Value) -> Option<i64> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let f = n.as_f64()?.floor();
    // Saturating conversion: `as` clamps out-of-range floats, and JSON has no NaN.
    #[allow(clippy::cast_possible_truncation)]
    Some(f as i64)
}

/// A JSON object whose top-level names are unique.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("duplicate claim"));
                    }
                    map.insert(name, value);
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        Claims::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn accessors() {
        let c = claims(
            r#"{"iss":"i","sub":"alice","jti":"j1","iat":10,"exp":20.9,"nbf":5,"aud":["a",1,"b"],"cnf":{"x5t#S256":"th"}}"#,
        );
        assert_eq!(c.iss(), Some("i"));
        assert_eq!(c.sub(), Some("alice"));
        assert_eq!(c.jti(), Some("j1"));
        assert_eq!(c.iat(), Some(10));
        assert_eq!(c.exp(), Some(20));
        assert_eq!(c.nbf(), Some(5));
        assert_eq!(c.audiences(), ["a", "b"]);
        assert_eq!(c.cnf_x5t_s256(), Some("th"));
        assert_eq!(claims(r#"{"aud":"x"}"#).audiences(), ["x"]);
        assert_eq!(claims(r#"{"exp":1e300}"#).exp(), Some(i64::MAX));
        assert_eq!(claims(r#"{"exp":18446744073709551615}"#).exp(), Some(i64::MAX));
        assert_eq!(claims(r#"{"exp":"20"}"#).exp(), None);
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(claims(r#"{"scope":"read  write"}"#).scopes(), ["read", "write"]);
        assert_eq!(claims(r#"{"scp":["read","write",3]}"#).scopes(), ["read", "write"]);
        assert_eq!(claims(r#"{"scp":"a b"}"#).scopes(), ["a", "b"]);
        assert!(claims(r#"{"scope":5}"#).scopes().is_empty());
        assert!(claims("{}").scopes().is_empty());
        assert!(claims(r#"{"scope":"read"}"#).has_scope("read"));
        assert!(!claims(r#"{"scope":"read"}"#).has_scope("rea"));
    }

    #[test]
    fn header_values_refuse_control_characters_and_non_scalars() {
        let c = claims(
            r#"{"s":"alice@example.com","n":42,"f":1.5,"crlf":"a\r\nX-Admin: 1","tab":"a\tb","nul":"a\u0000","del":"a\u007f","c1":"a\u0085","b":true,"o":{},"z":null,"u":"zoë"}"#,
        );
        assert_eq!(c.claim_as_header_value("s").as_deref(), Some("alice@example.com"));
        assert_eq!(c.claim_as_header_value("n").as_deref(), Some("42"));
        assert_eq!(c.claim_as_header_value("f").as_deref(), Some("1.5"));
        assert_eq!(c.claim_as_header_value("u").as_deref(), Some("zoë"));
        for name in ["crlf", "tab", "nul", "del", "c1", "b", "o", "z", "missing"] {
            assert_eq!(c.claim_as_header_value(name), None, "{name}");
        }
    }

    #[test]
    fn payload_must_be_an_object_with_unique_names() {
        for bad in ["", "[]", "1", "\"s\"", "null", r#"{"sub":"a","sub":"b"}"#, "{", r#"{"a":1} x"#] {
            assert_eq!(Claims::parse(bad.as_bytes()).unwrap_err().reason(), "auth.jwt.malformed", "{bad:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(Claims::parse(deep.as_bytes()).unwrap_err().reason(), "auth.jwt.malformed");
    }
}
