//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong when configuring or using the credential primitives.
///
/// Verification never returns an error: a wrong, malformed or unsupported credential is
/// simply `false`/`None`, so a caller cannot accidentally treat "could not check" as "ok".
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// The Argon2 cost parameters were rejected.
    #[error("invalid argon2 parameters: {0}")]
    InvalidHasherParams(String),
    /// A password was longer than [`crate::MAX_PASSWORD_BYTES`].
    #[error("password is longer than {max} bytes")]
    PasswordTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// The Argon2 computation itself failed.
    #[error("password hashing failed")]
    Hashing,
    /// A base32 string held a character outside RFC 4648 base32 or had an impossible length.
    #[error("invalid base32 text")]
    InvalidBase32,
    /// A TOTP secret was shorter or longer than this crate accepts.
    #[error("totp secret must be between {min} and {max} bytes")]
    TotpSecretLength {
        /// Smallest accepted length in bytes.
        min: usize,
        /// Largest accepted length in bytes.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase() {
        let errors = [
            CredentialError::InvalidHasherParams("x".into()),
            CredentialError::PasswordTooLong { max: 1 },
            CredentialError::Hashing,
            CredentialError::InvalidBase32,
            CredentialError::TotpSecretLength { min: 1, max: 2 },
        ];
        for e in errors {
            let msg = e.to_string();
            let first = msg.chars().next().unwrap_or('X');
            assert!(first.is_lowercase(), "{msg}");
        }
    }
}
