//! The registered-claim checks of RFC 7519 §4.1 and RFC 8725 §3.8–3.9, run after the signature verified.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::claims::Claims;
use crate::error::JwtError;

/// What a verified payload must satisfy.
#[derive(Debug)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) max_age: Option<Duration>,
    pub(crate) required: Vec<String>,
}

impl ClaimRules {
    /// Checks `iss`, `aud`, `exp` (always required), `nbf`, `iat` and the required claims at time `now`.
    ///
    /// # Errors
    ///
    /// The first failing check's [`JwtError`]; a time claim that is not a number is [`JwtError::Malformed`].
    pub(crate) fn check(&self, claims: &Claims, now: SystemTime) -> Result<(), JwtError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(JwtError::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => self.audiences.contains(aud),
            Some(Value::Array(auds)) => {
                auds.iter().filter_map(Value::as_str).any(|a| self.audiences.iter().any(|c| c == a))
            }
            _ => false,
        };
        if !audience_ok {
            return Err(JwtError::Audience);
        }

        let now = now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let leeway = self.leeway.as_secs_f64();
        let exp = numeric_date(claims, "exp")?.ok_or_else(|| JwtError::MissingClaim { claim: "exp".to_owned() })?;
        if now >= exp + leeway {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && now + leeway < nbf
        {
            return Err(JwtError::NotYetValid);
        }
        match (numeric_date(claims, "iat")?, self.max_age) {
            (Some(iat), _) if iat > now + leeway => return Err(JwtError::IssuedAt("issued in the future")),
            (Some(iat), Some(max_age)) if now - iat > max_age.as_secs_f64() + leeway => {
                return Err(JwtError::IssuedAt("older than the maximum age"));
            }
            (None, Some(_)) => return Err(JwtError::MissingClaim { claim: "iat".to_owned() }),
            _ => {}
        }

        for claim in &self.required {
            if claims.get(claim).is_none_or(Value::is_null) {
                return Err(JwtError::MissingClaim { claim: claim.clone() });
            }
        }
        Ok(())
    }
}

/// A NumericDate claim in seconds, `None` when absent.
fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(JwtError::Malformed("a time claim is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://idp".into(),
            audiences: vec!["api".into(), "other".into()],
            leeway: Duration::from_secs(30),
            max_age: None,
            required: vec!["sub".into()],
        }
    }

    fn check(rules: &ClaimRules, json: &str) -> Result<(), JwtError> {
        rules.check(&Claims::parse(json.as_bytes()).unwrap(), UNIX_EPOCH + Duration::from_secs(NOW))
    }

    fn token(extra: &str) -> String {
        let base = format!(r#""iss":"https://idp","aud":"api","sub":"u","exp":{}"#, NOW + 60);
        if extra.is_empty() { format!("{{{base}}}") } else { format!("{{{base},{extra}}}") }
    }

    fn reason(rules: &ClaimRules, json: &str) -> &'static str {
        check(rules, json).unwrap_err().reason()
    }

    #[test]
    fn a_good_payload_passes() {
        check(&rules(), &token("")).unwrap();
        check(&rules(), &token(&format!(r#""nbf":{},"iat":{}"#, NOW + 20, NOW + 20))).unwrap();
    }

    #[test]
    fn issuer_and_audience() {
        let r = rules();
        assert_eq!(
            reason(&r, &format!(r#"{{"iss":"https://evil","aud":"api","sub":"u","exp":{}}}"#, NOW + 60)),
            "auth.jwt.issuer"
        );
        assert_eq!(reason(&r, &format!(r#"{{"aud":"api","sub":"u","exp":{}}}"#, NOW + 60)), "auth.jwt.issuer");
        assert_eq!(
            reason(&r, &format!(r#"{{"iss":"https://idp","aud":"nope","exp":{}}}"#, NOW + 60)),
            "auth.jwt.audience"
        );
        assert_eq!(
            reason(&r, &format!(r#"{{"iss":"https://idp","aud":["x","y"],"exp":{}}}"#, NOW + 60)),
            "auth.jwt.audience"
        );
        assert_eq!(reason(&r, &format!(r#"{{"iss":"https://idp","aud":[],"exp":{}}}"#, NOW + 60)), "auth.jwt.audience");
        assert_eq!(reason(&r, &format!(r#"{{"iss":"https://idp","exp":{}}}"#, NOW + 60)), "auth.jwt.audience");
        check(&r, &format!(r#"{{"iss":"https://idp","aud":["x",1,"other"],"sub":"u","exp":{}}}"#, NOW + 60)).unwrap();
    }

    #[test]
    fn times_with_leeway() {
        let r = rules();
        let at = |exp: u64| format!(r#"{{"iss":"https://idp","aud":"api","sub":"u","exp":{exp}}}"#);
        check(&r, &at(NOW - 29)).unwrap();
        assert_eq!(reason(&r, &at(NOW - 30)), "auth.jwt.expired");
        assert_eq!(reason(&r, r#"{"iss":"https://idp","aud":"api","sub":"u"}"#), "auth.jwt.missing_claim");
        assert_eq!(reason(&r, r#"{"iss":"https://idp","aud":"api","sub":"u","exp":"soon"}"#), "auth.jwt.malformed");
        assert_eq!(reason(&r, &token(&format!(r#""nbf":{}"#, NOW + 31))), "auth.jwt.not_yet_valid");
        assert_eq!(reason(&r, &token(&format!(r#""iat":{}"#, NOW + 31))), "auth.jwt.iat");
        assert_eq!(reason(&r, &token(r#""iat":null"#)), "auth.jwt.malformed");
        check(&r, &token(&format!(r#""iat":{}"#, NOW - 1_000_000))).unwrap();
    }

    #[test]
    fn maximum_age() {
        let r = ClaimRules { max_age: Some(Duration::from_secs(300)), ..rules() };
        check(&r, &token(&format!(r#""iat":{}"#, NOW - 320))).unwrap();
        assert_eq!(reason(&r, &token(&format!(r#""iat":{}"#, NOW - 331))), "auth.jwt.iat");
        assert_eq!(check(&r, &token("")).unwrap_err(), JwtError::MissingClaim { claim: "iat".into() });
    }

    #[test]
    fn required_claims() {
        let r = rules();
        let no_sub = format!(r#"{{"iss":"https://idp","aud":"api","exp":{}}}"#, NOW + 60);
        assert_eq!(check(&r, &no_sub).unwrap_err(), JwtError::MissingClaim { claim: "sub".into() });
        let null_sub = format!(r#"{{"iss":"https://idp","aud":"api","sub":null,"exp":{}}}"#, NOW + 60);
        assert_eq!(reason(&r, &null_sub), "auth.jwt.missing_claim");
    }

    #[test]
    fn a_clock_before_the_epoch_does_not_panic() {
        let claims = Claims::parse(token("").as_bytes()).unwrap();
        rules().check(&claims, UNIX_EPOCH - Duration::from_secs(5)).unwrap();
    }
}
