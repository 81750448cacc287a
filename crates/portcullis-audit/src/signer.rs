//! Ed25519-signed checkpoints: a signature over the chain hash at a given position.
//!
//! A checkpoint pins the whole log prefix up to its sequence number: rewriting any covered event requires the
//! signing key, which lives outside the database.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::chain::Digest;
use crate::error::AuditError;
use crate::hex::to_hex;

/// Domain separation tag prefixed to every signed checkpoint message.
pub const CHECKPOINT_TAG: &[u8] = b"portcullis-audit-checkpoint-v1";

/// Prefix of the text form of a public key.
const KEY_TEXT_PREFIX: &str = "ed25519:";

/// A signed statement that the chain hash after event `seq` was `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last event covered.
    pub seq: i64,
    /// The chain hash of that event.
    pub hash: Digest,
    /// When the checkpoint was signed, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// [`PublicKey::key_id`] of the signing key; not signed, only used to find the key.
    pub key_id: String,
    /// Ed25519 signature over [`checkpoint_message`].
    pub signature: [u8; 64],
}

/// The exact bytes a checkpoint signature covers:
/// `"portcullis-audit-checkpoint-v1" || seq (8 bytes BE) || hash || at_ms (8 bytes BE)`.
#[must_use]
pub fn checkpoint_message(seq: i64, hash: &Digest, at_ms: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(CHECKPOINT_TAG.len() + 8 + 32 + 8);
    message.extend_from_slice(CHECKPOINT_TAG);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash);
    message.extend_from_slice(&at_ms.to_be_bytes());
    message
}

/// The private checkpoint signing key. Its `Debug` output never shows the secret.
pub struct AuditSigner {
    key: SigningKey,
    public: PublicKey,
}

impl AuditSigner {
    /// Generates a new random key from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness; use [`AuditSigner::try_generate`] to handle that.
    #[must_use]
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(signer) => signer,
            Err(error) => panic!("operating system random number generator failed: {error}"),
        }
    }

    /// Generates a new random key, reporting a failure of the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// The [`getrandom::Error`] if no randomness is available.
    pub fn try_generate() -> Result<Self, getrandom::Error> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut_slice())?;
        Ok(Self::from_key(SigningKey::from_bytes(&secret)))
    }

    /// Loads a key from its 32-byte secret, as returned by [`AuditSigner::secret_bytes`].
    ///
    /// # Errors
    ///
    /// [`AuditError::InvalidSecretKey`] if `secret` is not exactly 32 bytes long.
    pub fn from_secret_bytes(secret: &[u8]) -> Result<Self, AuditError> {
        let bytes: Zeroizing<[u8; 32]> =
            Zeroizing::new(secret.try_into().map_err(|_| AuditError::InvalidSecretKey(secret.len()))?);
        Ok(Self::from_key(SigningKey::from_bytes(&bytes)))
    }

    fn from_key(key: SigningKey) -> Self {
        let public = PublicKey(key.verifying_key());
        Self { key, public }
    }

    /// The 32-byte secret, wiped from memory when dropped. Store it somewhere the database cannot reach.
    #[must_use]
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The matching public key, to give to verifiers.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs the statement "after event `seq` the chain hash was `hash`".
    #[must_use]
    pub fn sign(&self, seq: i64, hash: &Digest, at_ms: i64) -> Checkpoint {
        let signature = self.key.sign(&checkpoint_message(seq, hash, at_ms));
        Checkpoint { seq, hash: *hash, at_ms, key_id: self.public.key_id(), signature: signature.to_bytes() }
    }
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("key_id", &self.public.key_id())
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key that verifies checkpoints. Text form: `ed25519:<base64url, no padding>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Loads a key from its 32 raw bytes.
    ///
    /// # Errors
    ///
    /// [`AuditError::InvalidPublicKey`] if the bytes are not a valid curve point or are a weak (small-order) key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, AuditError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| AuditError::InvalidPublicKey("not a curve point"))?;
        if key.is_weak() {
            return Err(AuditError::InvalidPublicKey("weak key"));
        }
        Ok(Self(key))
    }

    /// The 32 raw bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A short identifier: the first 16 hex digits of SHA-256 of the raw key.
    #[must_use]
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        to_hex(&digest[..8])
    }

    /// The text form `ed25519:<base64url>`, accepted by [`PublicKey::parse`].
    #[must_use]
    pub fn to_text(&self) -> String {
        format!("{KEY_TEXT_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0.as_bytes()))
    }

    /// Parses the text form produced by [`PublicKey::to_text`]; surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`AuditError::InvalidPublicKey`] if the prefix, encoding, length or key itself is wrong.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let encoded = text
            .trim()
            .strip_prefix(KEY_TEXT_PREFIX)
            .ok_or(AuditError::InvalidPublicKey("missing \"ed25519:\" prefix"))?;
        let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| AuditError::InvalidPublicKey("not base64url"))?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| AuditError::InvalidPublicKey("not 32 bytes"))?;
        Self::from_bytes(&bytes)
    }

    /// Whether `checkpoint` names this key and carries a valid (strictly verified) signature by it.
    #[must_use]
    pub fn verify(&self, checkpoint: &Checkpoint) -> bool {
        if checkpoint.key_id != self.key_id() {
            return false;
        }
        let message = checkpoint_message(checkpoint.seq, &checkpoint.hash, checkpoint.at_ms);
        self.0.verify_strict(&message, &Signature::from_bytes(&checkpoint.signature)).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for PublicKey {
    type Err = AuditError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::{AuditSigner, PublicKey};
    use crate::error::AuditError;

    #[test]
    fn signs_and_verifies() {
        let signer = AuditSigner::generate();
        let checkpoint = signer.sign(60, &[7; 32], 1_700_000_000_000);
        let public = signer.public_key();
        assert!(public.verify(&checkpoint));
        assert_eq!(checkpoint.key_id, public.key_id());
        assert_eq!(checkpoint.key_id.len(), 16);

        for tamper in 0..4 {
            let mut forged = checkpoint.clone();
            match tamper {
                0 => forged.seq += 1,
                1 => forged.hash[0] ^= 1,
                2 => forged.at_ms += 1,
                _ => forged.signature[10] ^= 1,
            }
            assert!(!public.verify(&forged), "tamper {tamper}");
        }
        assert!(!AuditSigner::generate().public_key().verify(&checkpoint));
    }

    #[test]
    fn secret_round_trips_and_debug_is_redacted() {
        let signer = AuditSigner::generate();
        let secret = signer.secret_bytes();
        let again = AuditSigner::from_secret_bytes(secret.as_slice());
        assert_eq!(again.map(|s| s.public_key()), Ok(signer.public_key()));
        assert_eq!(AuditSigner::from_secret_bytes(&[1; 31]).err(), Some(AuditError::InvalidSecretKey(31)));

        let debug = format!("{signer:?}");
        assert!(debug.contains("redacted"));
        assert!(!debug.contains(&crate::hex::to_hex(secret.as_slice())));
        assert!(!debug.contains(&format!("{:?}", secret.as_slice())));
    }

    #[test]
    fn public_key_text_round_trips() {
        let public = AuditSigner::generate().public_key();
        let text = public.to_text();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(PublicKey::parse(&format!("  {text}\n")), Ok(public));
        assert_eq!(text.parse::<PublicKey>(), Ok(public));
    }

    #[test]
    fn public_key_parse_rejects_garbage() {
        for bad in ["", "ed25519:", "rsa:AAAA", "ed25519:!!!!", "ed25519:AAAA", "ed25519:🦀"] {
            assert!(PublicKey::parse(bad).is_err(), "{bad}");
        }
        // The identity point is a valid encoding but a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(AuditError::InvalidPublicKey("weak key")));
    }

    #[test]
    fn deterministic_key_id() {
        let signer = AuditSigner::from_secret_bytes(&[42; 32]);
        let public = signer.map(|s| s.public_key());
        let id = public.map(|p| p.key_id());
        assert_eq!(id.as_ref().map(String::len), Ok(16));
        assert_eq!(id, AuditSigner::from_secret_bytes(&[42; 32]).map(|s| s.public_key().key_id()));
    }
}
