//! The `enc:v1:` token format: sealing and opening one value.
//!
//! A token is one line of printable ASCII with four `:`-separated fields after
//! the literal `enc:`:
//!
//! ```text
//! enc:v1:m=<memory KiB>.t=<iterations>.p=<parallelism>:<salt>:<sealed>
//! \______________________ header _____________________/
//! ```
//!
//! - `v1` — the format version: argon2id (version 0x13) producing a 256-bit key,
//!   then AES-256-GCM.
//! - `m=…t=…p=…` — the argon2id costs in canonical decimal (see [`crate::KdfParams`]).
//! - `<salt>` — the 16-byte argon2 salt, base64url without padding (22 characters).
//! - `<sealed>` — base64url without padding of `nonce (12 bytes) || ciphertext ||
//!   tag (16 bytes)`; the nonce is random per value.
//! - The header, i.e. the exact text `enc:v1:<params>:<salt>` as written in the
//!   token, is the AES-GCM associated data: changing the parameters or the salt
//!   (even to another spelling of the same bytes) fails authentication.
//!
//! Example (test parameters, empty plaintext):
//! `enc:v1:m=8.t=1.p=1:AAAAAAAAAAAAAAAAAAAAAA:<38 base64url characters>`.
//!
//! The alphabet is `A–Z a–z 0–9 - _ = . :`, so a token needs no quoting in YAML
//! and is ended by whitespace, quotes, commas or brackets.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::error::SecretError;
use crate::kdf::KdfParams;
use crate::master_key::{KEY_LEN, SALT_LEN};

/// The literal start of every version-1 token.
pub const TOKEN_PREFIX: &str = "enc:v1:";

/// The start shared by all token versions.
pub(crate) const ANY_VERSION_PREFIX: &str = "enc:";

/// AES-GCM nonce length in bytes.
const NONCE_LEN: usize = 12;

/// AES-GCM tag length in bytes.
const TAG_LEN: usize = 16;

/// Whether `byte` may appear in a token.
pub(crate) const fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'=' | b'.' | b':')
}

/// The header of a token: `enc:v1:<params>:<salt>`.
pub(crate) fn header(params: KdfParams, salt: &[u8; SALT_LEN]) -> String {
    format!("{TOKEN_PREFIX}{params}:{}", URL_SAFE_NO_PAD.encode(salt))
}

/// Encrypts `plaintext` under `key` with a fresh random nonce; returns the token.
pub(crate) fn seal(key: &[u8; KEY_LEN], header: &str, plaintext: &[u8]) -> Result<String, SecretError> {
    let mut nonce = [0_u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|err| SecretError::Random { reason: err.to_string() })?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: header.as_bytes() })
        .map_err(|_| SecretError::Encrypt)?;
    let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&sealed);
    Ok(format!("{header}:{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// A parsed, not yet authenticated token.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    /// `enc:v1:<params>:<salt>` exactly as written; the associated data.
    pub(crate) header: &'a str,
    /// Key derivation parameters (not yet validated against the caps).
    pub(crate) params: KdfParams,
    /// Argon2 salt.
    pub(crate) salt: [u8; SALT_LEN],
    /// `nonce || ciphertext || tag`.
    raw: Vec<u8>,
}

impl<'a> Envelope<'a> {
    /// Parses `token` (surrounding ASCII whitespace ignored) without decrypting.
    pub(crate) fn parse(token: &'a str) -> Result<Self, SecretError> {
        let malformed = |reason| SecretError::MalformedToken { reason };
        let token = token.trim_ascii();
        let rest = token.strip_prefix(ANY_VERSION_PREFIX).ok_or(malformed("missing enc: prefix"))?;
        if !rest.starts_with("v1:") {
            return Err(SecretError::UnsupportedVersion);
        }
        let body = &token[TOKEN_PREFIX.len()..];
        let mut fields = body.split(':');
        let (Some(params_text), Some(salt_text), Some(raw_text), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed("expected enc:v1:<params>:<salt>:<data>"));
        };
        let params = KdfParams::parse(params_text)?;
        let salt = URL_SAFE_NO_PAD
            .decode(salt_text)
            .ok()
            .and_then(|bytes| <[u8; SALT_LEN]>::try_from(bytes).ok())
            .ok_or(malformed("bad salt"))?;
        let raw = URL_SAFE_NO_PAD.decode(raw_text).map_err(|_| malformed("bad base64 in data"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed("data is truncated"));
        }
        let header_len = TOKEN_PREFIX.len() + params_text.len() + 1 + salt_text.len();
        Ok(Self { header: &token[..header_len], params, salt, raw })
    }

    /// Authenticates and decrypts with `key`.
    pub(crate) fn open(&self, key: &[u8; KEY_LEN]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (nonce, sealed) = self.raw.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: self.header.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::DecryptionFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const SALT: [u8; SALT_LEN] = [0; SALT_LEN];

    fn token(plaintext: &[u8]) -> String {
        seal(&KEY, &header(KdfParams::for_tests(), &SALT), plaintext).unwrap()
    }

    #[test]
    fn layout_matches_the_documentation() {
        let token = token(b"");
        assert!(token.starts_with("enc:v1:m=8.t=1.p=1:AAAAAAAAAAAAAAAAAAAAAA:"), "{token}");
        let data = token.rsplit(':').next().unwrap();
        assert_eq!(data.len(), 38); // 28 bytes, unpadded base64
        assert!(token.bytes().all(is_token_byte));
    }

    #[test]
    fn seal_then_open() {
        let token = token(b"hunter2 but longer");
        let envelope = Envelope::parse(&token).unwrap();
        assert_eq!(envelope.params, KdfParams::for_tests());
        assert_eq!(envelope.salt, SALT);
        assert_eq!(envelope.open(&KEY).unwrap().as_slice(), b"hunter2 but longer");
        assert!(matches!(envelope.open(&[8; KEY_LEN]), Err(SecretError::DecryptionFailed)));
    }

    /// `token` with characters appended so its data part has length 1 mod 4.
    fn impossible_base64_length(token: &str) -> String {
        let data_len = token.rsplit(':').next().unwrap().len();
        let extra = (5 - data_len % 4) % 4;
        format!("{token}{}", "A".repeat(extra))
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        let good = token(b"x");
        let cases = [
            "".to_owned(),
            "plain".to_owned(),
            "enc:v1:".to_owned(),
            good.replacen("enc:", "ENC:", 1),
            format!("{good}:extra"),
            good.rsplit_once(':').unwrap().0.to_owned(),
            format!("{}:AAAA", good.rsplit_once(':').unwrap().0),
            good.replacen(":AAAAAAAAAAAAAAAAAAAAAA:", ":AAAA:", 1),
            format!("{}!", good),
            impossible_base64_length(&good),
        ];
        for case in cases {
            assert!(matches!(Envelope::parse(&case), Err(SecretError::MalformedToken { .. })), "{case:?}");
        }
        assert!(matches!(Envelope::parse("enc:v2:whatever"), Err(SecretError::UnsupportedVersion)));
    }
}
