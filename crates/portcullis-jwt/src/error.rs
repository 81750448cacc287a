//! Why a token was refused, with a stable reason code per kind.

/// Longest `kid` echoed back in [`JwtError::UnknownKey`]; longer ones are cut (the value is attacker-chosen).
const MAX_ECHOED_KID: usize = 64;

/// Why [`Issuer::verify`](crate::Issuer::verify) refused a token.
///
/// Each variant maps to a stable reason code ([`JwtError::reason`]) for deny responses, metrics and audit.
/// Messages never contain the token, and attacker-chosen strings they echo are bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS of three base64url segments holding JSON objects, or a claim has the wrong type.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token is longer than the issuer's `max_token_bytes`; nothing was decoded.
    #[error("token longer than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// `alg` is `none`, unknown, not allowed for this issuer, or does not fit the selected key.
    #[error("algorithm refused: {0}")]
    Algorithm(&'static str),
    /// The signature does not verify with the selected key.
    #[error("signature does not verify")]
    Signature,
    /// `exp` is missing or has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway) or older than the configured maximum age.
    #[error("implausible iat: {0}")]
    IssuedAt(&'static str),
    /// `iss` is missing or not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` is missing or names none of the configured audiences.
    #[error("wrong audience")]
    Audience,
    /// A configured required claim is absent or null.
    #[error("missing required claim {claim}")]
    MissingClaim {
        /// The claim's name (from configuration).
        claim: String,
    },
    /// The `typ` header is missing or differs from the configured one.
    #[error("wrong typ header")]
    Typ,
    /// A `crit` header is present; no extension is understood, so every one is unknown (RFC 7515 §4.1.11).
    #[error("critical header extension not understood")]
    Crit,
    /// No loaded key has this `kid` (or the token has none and several keys are loaded).
    ///
    /// The caller may call [`Issuer::refresh_for_unknown_kid`](crate::Issuer::refresh_for_unknown_kid)
    /// and retry once; [`Issuer::verify_or_refresh`](crate::Issuer::verify_or_refresh) does both.
    #[error("unknown key id {}", kid.as_deref().unwrap_or("(none)"))]
    UnknownKey {
        /// The token's `kid`, cut to 64 bytes; `None` when the token has none.
        kid: Option<String>,
    },
    /// Keys come from a URL and none has ever been loaded: the caller should fail closed (503).
    #[error("no signing keys are available for this issuer")]
    KeysUnavailable,
}

impl JwtError {
    /// The stable reason code, e.g. `auth.jwt.expired`.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "auth.jwt.malformed",
            Self::TooLarge { .. } => "auth.jwt.too_large",
            Self::Algorithm(_) => "auth.jwt.alg",
            Self::Signature => "auth.jwt.signature",
            Self::Expired => "auth.jwt.expired",
            Self::NotYetValid => "auth.jwt.not_yet_valid",
            Self::IssuedAt(_) => "auth.jwt.iat",
            Self::Issuer => "auth.jwt.issuer",
            Self::Audience => "auth.jwt.audience",
            Self::MissingClaim { .. } => "auth.jwt.missing_claim",
            Self::Typ => "auth.jwt.typ",
            Self::Crit => "auth.jwt.crit",
            Self::UnknownKey { .. } => "auth.jwt.unknown_key",
            Self::KeysUnavailable => "auth.jwt.keys_unavailable",
        }
    }

    /// Whether fetching the issuer's keys again could change the outcome (unknown `kid`, or no keys yet).
    #[must_use]
    pub fn keys_may_be_stale(&self) -> bool {
        matches!(self, Self::UnknownKey { .. } | Self::KeysUnavailable)
    }

    /// An [`JwtError::UnknownKey`] echoing at most 64 bytes of `kid`.
    pub(crate) fn unknown_key(kid: Option<&str>) -> Self {
        let kid = kid.map(|k| {
            let mut end = k.len().min(MAX_ECHOED_KID);
            while !k.is_char_boundary(end) {
                end -= 1;
            }
            k[..end].to_owned()
        });
        Self::UnknownKey { kid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_stable() {
        assert_eq!(JwtError::Malformed("x").reason(), "auth.jwt.malformed");
        assert_eq!(JwtError::TooLarge { limit: 1 }.reason(), "auth.jwt.too_large");
        assert_eq!(JwtError::Algorithm("x").reason(), "auth.jwt.alg");
        assert_eq!(JwtError::Signature.reason(), "auth.jwt.signature");
        assert_eq!(JwtError::Expired.reason(), "auth.jwt.expired");
        assert_eq!(JwtError::NotYetValid.reason(), "auth.jwt.not_yet_valid");
        assert_eq!(JwtError::IssuedAt("x").reason(), "auth.jwt.iat");
        assert_eq!(JwtError::Issuer.reason(), "auth.jwt.issuer");
        assert_eq!(JwtError::Audience.reason(), "auth.jwt.audience");
        assert_eq!(JwtError::MissingClaim { claim: "sub".into() }.reason(), "auth.jwt.missing_claim");
        assert_eq!(JwtError::Typ.reason(), "auth.jwt.typ");
        assert_eq!(JwtError::Crit.reason(), "auth.jwt.crit");
        assert_eq!(JwtError::unknown_key(None).reason(), "auth.jwt.unknown_key");
        assert_eq!(JwtError::KeysUnavailable.reason(), "auth.jwt.keys_unavailable");
    }

    #[test]
    fn echoed_kid_is_bounded_on_a_char_boundary() {
        let kid = "é".repeat(100);
        let JwtError::UnknownKey { kid: Some(echoed) } = JwtError::unknown_key(Some(&kid)) else {
            panic!("expected UnknownKey");
        };
        assert!(echoed.len() <= 64);
        assert!(kid.starts_with(&echoed));
    }
}
