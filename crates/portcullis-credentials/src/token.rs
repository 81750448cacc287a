//! Opaque random tokens (session ids, CSRF tokens) and how to store and compare them.
//!
//! A session id is a bearer secret: whoever holds it is logged in. The store therefore keeps
//! only [`digest`] of it, so a leaked sessions table cannot be replayed. SHA-256 is enough
//! because the token is uniformly random (see [`random_token`]); there is nothing to guess.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Returns `bytes` random bytes from the OS CSPRNG, as unpadded base64url.
///
/// Use at least 32 bytes (256 bits) for session ids and CSRF tokens.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
#[must_use]
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    crate::random::fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// SHA-256 of the token's UTF-8 bytes: the form in which a token is stored.
#[must_use]
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two byte strings in time that depends only on their lengths, not their contents.
///
/// Different lengths compare unequal (lengths are not treated as secret).
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_token_has_expected_length_and_charset() {
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert!(t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(t, random_token(32));
        assert_eq!(random_token(0), "");
    }

    #[test]
    fn digest_is_sha256() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(crate::to_hex(&digest("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"same!"));
        assert!(constant_time_eq(b"", b""));
    }
}
