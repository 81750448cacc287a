//! The JWS algorithms this crate verifies, and which kind of key each needs.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037).
///
/// There is deliberately no variant for `none`: it cannot be configured, and a token naming it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA; only Ed25519 keys are supported.
    EdDSA,
    /// HMAC with SHA-256; only with a configured secret.
    HS256,
    /// HMAC with SHA-384; only with a configured secret.
    HS384,
    /// HMAC with SHA-512; only with a configured secret.
    HS512,
}

/// The kind of key an algorithm verifies with: the alg/key-type binding of RFC 8725 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

/// Why an `alg` string is not an [`Algorithm`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmParseError {
    /// `none`, in any casing: unsigned tokens are never accepted.
    #[error("alg \"none\" is never accepted")]
    None,
    /// Not an algorithm this crate verifies.
    #[error("unsupported alg")]
    Unsupported,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Self; 12] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    /// The registered JOSE name, e.g. `RS256`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Whether this is an HMAC algorithm (needs a shared secret, never a public key).
    #[must_use]
    pub fn is_hmac(self) -> bool {
        self.family() == KeyFamily::Hmac
    }

    pub(crate) fn family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => KeyFamily::Rsa,
            Self::ES256 => KeyFamily::EcP256,
            Self::ES384 => KeyFamily::EcP384,
            Self::EdDSA => KeyFamily::Ed25519,
            Self::HS256 | Self::HS384 | Self::HS512 => KeyFamily::Hmac,
        }
    }

    /// A bit unique to this algorithm, for [`AlgorithmSet`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl FromStr for Algorithm {
    type Err = AlgorithmParseError;

    /// Parses the registered name exactly (JOSE names are case-sensitive); `none` in any casing is its own error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            return Err(AlgorithmParseError::None);
        }
        Self::ALL.into_iter().find(|a| a.name() == s).ok_or(AlgorithmParseError::Unsupported)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms as a bit mask: membership is one AND on the verify path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AlgorithmSet(u16);

impl AlgorithmSet {
    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub(crate) fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = Self::default();
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
        }
    }

    #[test]
    fn none_in_any_casing_is_refused() {
        for s in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(s.parse::<Algorithm>(), Err(AlgorithmParseError::None));
        }
    }

    #[test]
    fn names_are_case_sensitive_and_unknown_ones_refused() {
        for s in ["rs256", "Hs256", "ES512", "RSA-OAEP", "", "eddsa"] {
            assert_eq!(s.parse::<Algorithm>(), Err(AlgorithmParseError::Unsupported), "{s}");
        }
    }

    #[test]
    fn set_membership() {
        let set: AlgorithmSet = [Algorithm::RS256, Algorithm::EdDSA].into_iter().collect();
        assert!(set.contains(Algorithm::RS256));
        assert!(set.contains(Algorithm::EdDSA));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(set.iter().count(), 2);
        assert!(AlgorithmSet::default().is_empty());
    }
}
