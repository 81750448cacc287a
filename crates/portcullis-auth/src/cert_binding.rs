//! Certificate-bound access tokens (RFC 8705 §3): a token whose
//! confirmation claim `cnf` carries `x5t#S256` (the base64url SHA-256 of
//! the client certificate its authorization server issued it to) is
//! accepted only over a connection whose verified client certificate has
//! that thumbprint, so a stolen token is useless without the certificate's
//! private key. The binding is checked on every request, also for tokens
//! the JWT cache or the introspection cache remembers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::ClientCert;
use portcullis_credentials::constant_time_eq;
use portcullis_jwt::Claims;
use serde_json::Value;

/// How a bearer policy treats certificate-bound tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertificateBound {
    /// `cnf` is not looked at (the default).
    #[default]
    Off,
    /// A token with `cnf.x5t#S256` needs the matching client certificate;
    /// a token without it is accepted as a plain bearer token.
    Optional,
    /// Every token must carry `cnf.x5t#S256` and come with the matching
    /// client certificate.
    Required,
}

/// The certificate a token is bound to, read once per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// No `cnf.x5t#S256`.
    Unbound,
    /// Bound to the certificate with this SHA-256.
    Bound([u8; 32]),
    /// `cnf.x5t#S256` is there but not the base64url of 32 bytes: bound to
    /// no certificate at all.
    Malformed,
}

impl Binding {
    /// The binding a token's claims declare.
    pub(crate) fn of(claims: &Claims) -> Self {
        Self::of_cnf(claims.get("cnf"))
    }

    /// The binding a `cnf` claim declares.
    fn of_cnf(cnf: Option<&Value>) -> Self {
        let Some(thumbprint) = cnf.and_then(|cnf| cnf.get("x5t#S256")) else { return Self::Unbound };
        let decoded = match thumbprint {
            Value::String(text) => URL_SAFE_NO_PAD.decode(text).ok(),
            _ => None,
        };
        decoded.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).map_or(Self::Malformed, Self::Bound)
    }
}

/// The reason codes a bearer policy logs for binding failures.
#[derive(Debug)]
pub(crate) struct BindingReasons {
    /// `required`, and the token is not bound.
    pub(crate) missing: &'static str,
    /// A bound token came without a client certificate.
    pub(crate) no_certificate: &'static str,
    /// A bound token came with another certificate (or a malformed thumbprint).
    pub(crate) mismatch: &'static str,
}

impl CertificateBound {
    /// Whether a token bound by `binding` may be used with `cert` (the
    /// connection's verified client certificate); `Err` is the reason.
    pub(crate) fn check(
        self,
        binding: Binding,
        cert: Option<&ClientCert>,
        reasons: &BindingReasons,
    ) -> Result<(), &'static str> {
        match (self, binding) {
            (Self::Off, _) | (Self::Optional, Binding::Unbound) => Ok(()),
            (Self::Required, Binding::Unbound) => Err(reasons.missing),
            (_, Binding::Malformed) => Err(reasons.mismatch),
            (_, Binding::Bound(thumbprint)) => match cert {
                None => Err(reasons.no_certificate),
                Some(cert) if constant_time_eq(&thumbprint, &cert.sha256) => Ok(()),
                Some(_) => Err(reasons.mismatch),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASONS: BindingReasons = BindingReasons { missing: "missing", no_certificate: "none", mismatch: "other" };

    fn cnf(json: &str) -> Binding {
        Binding::of_cnf(Some(&serde_json::from_str::<Value>(json).unwrap()))
    }

    #[test]
    fn only_the_certificate_a_token_is_bound_to_may_carry_it() {
        let ours = ClientCert { sha256: [7; 32], ..ClientCert::default() };
        let theirs = ClientCert { sha256: [8; 32], ..ClientCert::default() };
        let bound = cnf(&format!(r#"{{"x5t#S256":"{}"}}"#, URL_SAFE_NO_PAD.encode([7; 32])));
        assert_eq!(bound, Binding::Bound([7; 32]));
        for mode in [CertificateBound::Optional, CertificateBound::Required] {
            assert_eq!(mode.check(bound, Some(&ours), &REASONS), Ok(()));
            assert_eq!(mode.check(bound, Some(&theirs), &REASONS), Err("other"));
            assert_eq!(mode.check(bound, None, &REASONS), Err("none"));
            assert_eq!(mode.check(Binding::Malformed, Some(&ours), &REASONS), Err("other"));
        }
        assert_eq!(CertificateBound::Off.check(bound, None, &REASONS), Ok(()));
        let unbound = cnf(r#"{"jkt":"abc"}"#);
        assert_eq!(Binding::of_cnf(None), Binding::Unbound);
        assert_eq!(unbound, Binding::Unbound);
        assert_eq!(CertificateBound::Optional.check(unbound, None, &REASONS), Ok(()));
        assert_eq!(CertificateBound::Required.check(unbound, Some(&ours), &REASONS), Err("missing"));
    }

    #[test]
    fn a_thumbprint_that_is_not_32_base64url_bytes_binds_to_nothing() {
        let padded = format!("{}=", URL_SAFE_NO_PAD.encode([7; 32]));
        for text in [
            r#"{"x5t#S256":42}"#,
            r#"{"x5t#S256":"abc"}"#,
            r#"{"x5t#S256":""}"#,
            &format!(r#"{{"x5t#S256":"{padded}"}}"#),
        ] {
            assert_eq!(cnf(text), Binding::Malformed, "{text}");
        }
    }
}
