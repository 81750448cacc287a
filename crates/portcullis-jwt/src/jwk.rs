//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) into verification keys, once, at load.

use serde::Deserialize;
use serde_json::Value;

use crate::algorithm::{Algorithm, KeyFamily};
use crate::base64url;
use crate::key::{Key, KeyMaterial};

/// Largest JWKS document accepted, in bytes.
pub(crate) const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys a JWKS may list.
pub(crate) const MAX_JWKS_KEYS: usize = 100;

/// The members read from one JWK; others (`x5c`, `x5t`, private members …) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<Value>,
}

/// What became of one JWK.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A usable signature-verification key.
    Key(Key),
    /// Not for us by its own declaration (`use` other than `sig`, `key_ops` without `verify`).
    NotForVerification,
}

/// Parses one JWK. Symmetric (`oct`) keys are refused: a shared secret is configured as one, never read from a
/// key set (RFC 8725 §3.1: a public key must never become an HMAC secret).
///
/// # Errors
///
/// A description of why the key is unusable.
pub(crate) fn parse_jwk(value: Value) -> Result<Parsed, &'static str> {
    let raw: RawJwk = serde_json::from_value(value).map_err(|_| "not a JWK object with string members")?;
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return Ok(Parsed::NotForVerification);
    }
    if raw.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|o| o == "verify")) {
        return Ok(Parsed::NotForVerification);
    }
    let alg = match raw.alg.as_deref() {
        None => None,
        Some(a) => Some(a.parse::<Algorithm>().map_err(|_| "JWK alg is not a supported signature algorithm")?),
    };
    let b64 = |member: &Option<String>, name: &'static str| -> Result<Vec<u8>, &'static str> {
        let text = member.as_deref().ok_or(name)?;
        base64url::decode(text.as_bytes()).ok_or("JWK member is not base64url")
    };
    let material = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => KeyMaterial::rsa(&b64(&raw.n, "RSA JWK without n")?, &b64(&raw.e, "RSA JWK without e")?)?,
        ("EC", Some("P-256")) => {
            KeyMaterial::ec(KeyFamily::EcP256, &b64(&raw.x, "EC JWK without x")?, &b64(&raw.y, "EC JWK without y")?)?
        }
        ("EC", Some("P-384")) => {
            KeyMaterial::ec(KeyFamily::EcP384, &b64(&raw.x, "EC JWK without x")?, &b64(&raw.y, "EC JWK without y")?)?
        }
        ("EC", _) => return Err("EC curve is neither P-256 nor P-384"),
        ("OKP", Some("Ed25519")) => KeyMaterial::ed25519(&b64(&raw.x, "OKP JWK without x")?)?,
        ("OKP", _) => return Err("OKP curve is not Ed25519"),
        ("oct", _) => return Err("symmetric JWKs are refused; configure an HMAC secret instead"),
        _ => return Err("unsupported kty"),
    };
    if alg.is_some_and(|a| a.family() != material.family()) {
        return Err("JWK alg does not fit its key type");
    }
    Ok(Parsed::Key(Key { kid: raw.kid.map(String::into_boxed_str), alg, material }))
}

/// Parses a JWK Set, keeping the usable signature keys and logging (not failing on) unusable entries.
///
/// # Errors
///
/// Larger than 64 KiB, not `{"keys": [...]}`, more than 100 keys, or not one usable key.
pub(crate) fn parse_jwks(bytes: &[u8]) -> Result<Vec<Key>, String> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!("JWKS larger than {MAX_JWKS_BYTES} bytes"));
    }
    let raw: RawJwks = serde_json::from_slice(bytes).map_err(|e| format!("JWKS is not a JSON key set: {e}"))?;
    if raw.keys.len() > MAX_JWKS_KEYS {
        return Err(format!("JWKS lists {} keys, more than {MAX_JWKS_KEYS}", raw.keys.len()));
    }
    let mut keys = Vec::with_capacity(raw.keys.len());
    for (index, value) in raw.keys.into_iter().enumerate() {
        let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
        match parse_jwk(value) {
            Ok(Parsed::Key(key)) => keys.push(key),
            Ok(Parsed::NotForVerification) => {
                tracing::debug!(index, kid, "JWKS key skipped: not a signature key");
            }
            Err(reason) => tracing::warn!(index, kid, reason, "JWKS key skipped"),
        }
    }
    if keys.is_empty() {
        return Err("JWKS holds no usable signature key".to_owned());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    fn p256_jwk() -> Value {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let point = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap().public_key().as_ref().to_vec();
        json!({"kty":"EC","crv":"P-256","kid":"ec","x":base64url::encode(&point[1..33]),"y":base64url::encode(&point[33..])})
    }

    fn rsa_jwk(bits: usize) -> Value {
        let mut n = vec![0xC3u8; bits / 8];
        n[bits / 8 - 1] |= 1;
        json!({"kty":"RSA","kid":"r","n":base64url::encode(&n),"e":"AQAB"})
    }

    fn key(v: Value) -> Key {
        match parse_jwk(v).unwrap() {
            Parsed::Key(k) => k,
            Parsed::NotForVerification => panic!("skipped"),
        }
    }

    #[test]
    fn parses_each_key_type() {
        assert_eq!(key(p256_jwk()).material.family(), KeyFamily::EcP256);
        let rsa = key(rsa_jwk(2048));
        assert_eq!(rsa.kid.as_deref(), Some("r"));
        assert_eq!(rsa.material.family(), KeyFamily::Rsa);
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let ed =
            key(json!({"kty":"OKP","crv":"Ed25519","x":base64url::encode(pair.public_key().as_ref()),"alg":"EdDSA"}));
        assert_eq!(ed.alg, Some(Algorithm::EdDSA));
        assert!(ed.kid.is_none());
    }

    #[test]
    fn refuses_weak_symmetric_and_mismatched_keys() {
        assert!(parse_jwk(rsa_jwk(1024)).is_err());
        assert!(parse_jwk(json!({"kty":"oct","k":"c2VjcmV0"})).is_err());
        let mut wrong_alg = p256_jwk();
        wrong_alg["alg"] = json!("RS256");
        assert_eq!(parse_jwk(wrong_alg).unwrap_err(), "JWK alg does not fit its key type");
        let mut none = p256_jwk();
        none["alg"] = json!("none");
        assert!(parse_jwk(none).is_err());
        let mut p521 = p256_jwk();
        p521["crv"] = json!("P-521");
        assert!(parse_jwk(p521).is_err());
        let mut padded = p256_jwk();
        padded["x"] = json!(format!("{}=", padded["x"].as_str().unwrap()));
        assert!(parse_jwk(padded).is_err());
        assert!(parse_jwk(json!({"kty":"RSA","e":"AQAB"})).is_err());
        assert!(parse_jwk(json!({"kty":5})).is_err());
        assert!(parse_jwk(json!([])).is_err());
    }

    #[test]
    fn skips_encryption_keys() {
        let mut enc = p256_jwk();
        enc["use"] = json!("enc");
        assert!(matches!(parse_jwk(enc), Ok(Parsed::NotForVerification)));
        let mut ops = p256_jwk();
        ops["key_ops"] = json!(["encrypt"]);
        assert!(matches!(parse_jwk(ops), Ok(Parsed::NotForVerification)));
        let mut sig = p256_jwk();
        sig["use"] = json!("sig");
        sig["key_ops"] = json!(["verify"]);
        assert!(matches!(parse_jwk(sig), Ok(Parsed::Key(_))));
    }

    #[test]
    fn jwks_bounds() {
        let one = json!({"keys":[p256_jwk(), {"kty":"oct","k":"AA"}]}).to_string();
        assert_eq!(parse_jwks(one.as_bytes()).unwrap().len(), 1);
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(br#"{"keys":[{"kty":"oct","k":"AA"}]}"#).is_err());
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"").is_err());
        let many = json!({"keys": vec![json!({"kty":"x"}); 101]}).to_string();
        assert!(parse_jwks(many.as_bytes()).unwrap_err().contains("more than 100"));
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(MAX_JWKS_BYTES));
        assert!(parse_jwks(huge.as_bytes()).unwrap_err().contains("larger"));
    }
}
