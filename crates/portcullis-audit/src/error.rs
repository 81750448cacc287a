//! The crate's single error type.

/// Everything that can go wrong when parsing audit data or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// An outcome string was not `success`, `failure` or `denied`.
    #[error("unknown outcome {0:?}, expected success, failure or denied")]
    UnknownOutcome(String),
    /// A signing key secret did not have exactly 32 bytes.
    #[error("signing key must be 32 bytes, got {0}")]
    InvalidSecretKey(usize),
    /// A public key text or byte string could not be decoded into a usable Ed25519 key.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// A hexadecimal string had the wrong length or a non-hex character.
    #[error("invalid hex: expected {expected} hex digits")]
    InvalidHex {
        /// Number of hex digits that were expected.
        expected: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::AuditError;

    #[test]
    fn messages_are_lowercase() {
        let errors = [
            AuditError::UnknownOutcome("X".into()),
            AuditError::InvalidSecretKey(3),
            AuditError::InvalidPublicKey("bad prefix"),
            AuditError::InvalidHex { expected: 64 },
        ];
        for error in errors {
            let text = error.to_string();
            let first = text.chars().next().unwrap_or('A');
            assert!(first.is_lowercase(), "{text}");
        }
    }
}
