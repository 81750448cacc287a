//! The keys an issuer verifies with at one moment, and how a token's `kid` and `alg` pick one.

use crate::algorithm::Algorithm;
use crate::error::JwtError;
use crate::key::Key;

/// An immutable set of keys; a refresh builds a new one and swaps it in whole.
#[derive(Debug)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<Key>) -> Self {
        Self { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a token's `kid` and `alg`.
    ///
    /// With exactly one key, that key is used whatever the token's `kid` when either side has none; otherwise the
    /// `kid`s must be equal. With several keys the token must name one by `kid`, and keys without a `kid` are
    /// never chosen. Only the selected key's signature check runs: a token never makes us try several keys.
    ///
    /// # Errors
    ///
    /// [`JwtError::UnknownKey`] when no key has the `kid`; [`JwtError::Algorithm`] when keys with the `kid`
    /// exist but none fits `alg` (for example an RSA key and `alg: ES256`, or a JWK bound to another `alg`).
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, JwtError> {
        const MISFIT: JwtError = JwtError::Algorithm("the key for this kid does not fit alg");
        if let [only] = self.keys.as_slice() {
            return match (kid, only.kid.as_deref()) {
                (Some(wanted), Some(have)) if wanted != have => Err(JwtError::unknown_key(kid)),
                _ if only.accepts(alg) => Ok(only),
                _ => Err(MISFIT),
            };
        }
        let Some(wanted) = kid else {
            return Err(JwtError::unknown_key(None));
        };
        let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(wanted)).peekable();
        if named.peek().is_none() {
            return Err(JwtError::unknown_key(kid));
        }
        named.find(|k| k.accepts(alg)).ok_or(MISFIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyMaterial;

    fn key(kid: Option<&str>, alg: Option<Algorithm>) -> Key {
        Key { kid: kid.map(Into::into), alg, material: KeyMaterial::ed25519(&[9; 32]).unwrap() }
    }

    #[test]
    fn a_single_key_is_used_unless_kids_disagree() {
        let set = KeySet::new(vec![key(Some("a"), None)]);
        assert!(set.select(Some("a"), Algorithm::EdDSA).is_ok());
        assert!(set.select(None, Algorithm::EdDSA).is_ok());
        assert_eq!(set.select(Some("b"), Algorithm::EdDSA).unwrap_err().reason(), "auth.jwt.unknown_key");
        assert_eq!(set.select(Some("a"), Algorithm::ES256).unwrap_err().reason(), "auth.jwt.alg");
        let anonymous = KeySet::new(vec![key(None, None)]);
        assert!(anonymous.select(Some("whatever"), Algorithm::EdDSA).is_ok());
    }

    #[test]
    fn several_keys_need_a_matching_kid() {
        let set = KeySet::new(vec![
            key(None, None),
            key(Some("a"), Some(Algorithm::RS256)),
            key(Some("a"), None),
            key(Some("b"), Some(Algorithm::RS256)),
        ]);
        assert_eq!(set.len(), 4);
        assert_eq!(set.select(None, Algorithm::EdDSA).unwrap_err(), JwtError::UnknownKey { kid: None });
        assert_eq!(set.select(Some("c"), Algorithm::EdDSA).unwrap_err().reason(), "auth.jwt.unknown_key");
        assert!(set.select(Some("a"), Algorithm::EdDSA).unwrap().alg.is_none());
        assert_eq!(set.select(Some("b"), Algorithm::EdDSA).unwrap_err().reason(), "auth.jwt.alg");
    }
}
