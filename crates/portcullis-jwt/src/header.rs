//! The JOSE header of a compact JWS: only `alg`, `kid`, `typ` and `crit` are read.
//!
//! `jku`, `x5u`, `jwk`, `x5c` and every other member are ignored (RFC 8725 §3.10): keys come from the issuer's
//! configuration only, never from the token.

use std::borrow::Cow;

use serde::Deserialize;

use crate::algorithm::{Algorithm, AlgorithmParseError};
use crate::error::JwtError;

/// The header members that matter, borrowed from the decoded header bytes where no JSON escape forces a copy.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
}

/// The wire form; serde refuses duplicate `alg`/`kid`/`typ`/`crit` members (RFC 7515 §4: must be unique).
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Text<'a>>,
    #[serde(borrow, default)]
    typ: Option<Text<'a>>,
    #[serde(default)]
    crit: Present,
}

/// A JSON string, borrowed when it has no escapes (serde copies an `Option<Cow<str>>` otherwise).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cow<'de, str>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(V).map(Text)
    }
}

/// Whether a member was present at all, whatever its value (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Self(true))
    }
}

impl<'a> Header<'a> {
    /// Parses decoded header bytes.
    ///
    /// # Errors
    ///
    /// [`JwtError::Malformed`] for anything but a JSON object with a string `alg` (and string `kid`/`typ` when
    /// present); [`JwtError::Algorithm`] for `none` or an unsupported `alg`; [`JwtError::Crit`] when `crit` is
    /// present, since no extension is understood.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, JwtError> {
        let raw: RawHeader<'a> =
            serde_json::from_slice(bytes).map_err(|_| JwtError::Malformed("header is not valid JOSE JSON"))?;
        let alg = raw.alg.parse::<Algorithm>().map_err(|e| match e {
            AlgorithmParseError::None => JwtError::Algorithm("alg none is never accepted"),
            AlgorithmParseError::Unsupported => JwtError::Algorithm("unsupported alg"),
        })?;
        if raw.crit.0 {
            return Err(JwtError::Crit);
        }
        Ok(Self { alg, kid: raw.kid.map(|t| t.0), typ: raw.typ.map(|t| t.0) })
    }
}

/// Whether a token's `typ` matches the configured one: case-insensitive, with an optional `application/`
/// prefix on either side (RFC 7515 §4.1.9).
pub(crate) fn typ_matches(configured: &str, actual: &str) -> bool {
    fn strip(s: &str) -> &str {
        const PREFIX: &str = "application/";
        match s.get(..PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(PREFIX) => &s[PREFIX.len()..],
            _ => s,
        }
    }
    strip(configured).eq_ignore_ascii_case(strip(actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Header<'_>, JwtError> {
        Header::parse(s.as_bytes())
    }

    #[test]
    fn reads_alg_kid_typ_and_borrows() {
        let h = parse(r#"{"alg":"RS256","kid":"k1","typ":"JWT","x":1}"#).unwrap();
        assert_eq!(h.alg, Algorithm::RS256);
        assert!(matches!(h.kid, Some(Cow::Borrowed("k1"))));
        assert_eq!(h.typ.as_deref(), Some("JWT"));
        let h = parse(r#"{"alg":"ES256","kid":"a\"b"}"#).unwrap();
        assert_eq!(h.kid.as_deref(), Some("a\"b"));
    }

    #[test]
    fn key_carrying_headers_are_ignored() {
        let h = parse(
            r#"{"alg":"RS256","jku":"https://evil/jwks","x5u":"https://evil/c","jwk":{"kty":"RSA"},"x5c":["AA"]}"#,
        )
        .unwrap();
        assert_eq!(h.alg, Algorithm::RS256);
        assert!(h.kid.is_none());
    }

    #[test]
    fn none_and_unknown_algs_are_refused() {
        for s in [r#"{"alg":"none"}"#, r#"{"alg":"NoNe"}"#, r#"{"alg":"\u006eone"}"#, r#"{"alg":"XS256"}"#] {
            assert_eq!(parse(s).unwrap_err().reason(), "auth.jwt.alg", "{s}");
        }
    }

    #[test]
    fn any_crit_is_refused() {
        for s in [r#"{"alg":"RS256","crit":["exp"]}"#, r#"{"alg":"RS256","crit":[]}"#, r#"{"alg":"RS256","crit":null}"#]
        {
            assert_eq!(parse(s).unwrap_err(), JwtError::Crit, "{s}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for s in [
            "",
            "[]",
            "null",
            r#"{"kid":"k"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":"RS256","kid":5}"#,
            r#"{"alg":"RS256","alg":"HS256"}"#,
            r#"{"alg":"RS256","kid":"a","kid":"b"}"#,
            r#"{"alg":"RS256"} trailing"#,
            "{\"alg\":\"RS256\"",
        ] {
            assert_eq!(parse(s).unwrap_err().reason(), "auth.jwt.malformed", "{s}");
        }
        assert_eq!(Header::parse(b"\xff\xfe").unwrap_err().reason(), "auth.jwt.malformed");
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("at+jwt", "AT+JWT"));
        assert!(typ_matches("at+jwt", "application/at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+JWT"));
        assert!(!typ_matches("at+jwt", "JWT"));
        assert!(!typ_matches("JWT", "application/"));
        assert!(!typ_matches("JWT", "é"));
    }
}
