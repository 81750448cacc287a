//! The master key: 256 bits derived from a passphrase with argon2id.

use std::fmt;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

use crate::envelope;
use crate::error::SecretError;
use crate::kdf::KdfParams;
use crate::passphrase::Passphrase;

/// Length of the argon2 salt in bytes.
pub const SALT_LEN: usize = 16;

/// Length of the derived AES-256 key in bytes.
pub(crate) const KEY_LEN: usize = 32;

/// A 256-bit AES key derived from a [`Passphrase`] with argon2id, together with
/// the parameters and salt that produced it.
///
/// The key is wiped from memory on drop; `Debug` shows only the parameters.
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    /// `enc:v1:<params>:<salt>`, shared by every token this key seals.
    header: String,
}

impl MasterKey {
    /// Derives a key with a fresh random 16-byte salt.
    ///
    /// # Errors
    ///
    /// [`SecretError::Random`] if the operating system cannot provide a salt,
    /// otherwise as [`MasterKey::derive_with_salt`].
    pub fn derive(passphrase: &Passphrase, params: KdfParams) -> Result<Self, SecretError> {
        let mut salt = [0_u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|err| SecretError::Random { reason: err.to_string() })?;
        Self::derive_with_salt(passphrase, params, salt)
    }

    /// Derives the key for a given salt (used to open existing tokens).
    ///
    /// # Errors
    ///
    /// [`SecretError::InvalidKdfParams`] if `params` fail
    /// [`KdfParams::validate`], [`SecretError::KdfOutOfMemory`] if the argon2
    /// memory cannot be allocated, [`SecretError::Kdf`] if argon2 refuses.
    pub fn derive_with_salt(
        passphrase: &Passphrase,
        params: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Result<Self, SecretError> {
        params.validate()?;
        let kdf_error = |err: argon2::Error| SecretError::Kdf { reason: err.to_string() };
        let argon_params =
            Params::new(params.memory_kib, params.iterations, params.parallelism, Some(KEY_LEN)).map_err(kdf_error)?;
        let block_count = argon_params.block_count();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);

        // Our own, fallibly allocated and wiped, working memory.
        let mut blocks: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
        blocks
            .try_reserve_exact(block_count)
            .map_err(|_| SecretError::KdfOutOfMemory { memory_kib: params.memory_kib })?;
        blocks.resize(block_count, Block::default());

        let mut key = Zeroizing::new([0_u8; KEY_LEN]);
        argon
            .hash_password_into_with_memory(passphrase.expose_secret().as_bytes(), &salt, &mut *key, &mut blocks[..])
            .map_err(kdf_error)?;
        Ok(Self { key, params, salt, header: envelope::header(params, &salt) })
    }

    /// The parameters this key was derived with.
    #[must_use]
    pub const fn params(&self) -> KdfParams {
        self.params
    }

    /// The salt this key was derived with.
    #[must_use]
    pub const fn salt(&self) -> [u8; SALT_LEN] {
        self.salt
    }

    /// Seals `plaintext` into a single-line `enc:v1:` token (format in
    /// [`crate::envelope`]). Each call uses a fresh random nonce, so sealing the
    /// same plaintext twice gives different tokens.
    ///
    /// # Panics
    ///
    /// Only if the operating system's random number generator fails or
    /// `plaintext` exceeds AES-GCM's limit of about 64 GiB; use
    /// [`MasterKey::try_encrypt`] to get an error instead.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        match self.try_encrypt(plaintext) {
            Ok(token) => token,
            Err(err) => panic!("{err}"),
        }
    }

    /// Like [`MasterKey::encrypt`], reporting failures instead of panicking.
    ///
    /// # Errors
    ///
    /// [`SecretError::Random`] if no nonce can be drawn,
    /// [`SecretError::Encrypt`] if `plaintext` is beyond AES-GCM's limit.
    pub fn try_encrypt(&self, plaintext: &[u8]) -> Result<String, SecretError> {
        envelope::seal(&self.key, &self.header, plaintext)
    }

    /// The raw key, for opening envelopes.
    pub(crate) fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("params", &self.params).field("key", &"<redacted>").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(text.to_owned()).unwrap()
    }

    #[test]
    fn derivation_is_deterministic_per_salt() {
        let params = KdfParams::for_tests();
        let a = MasterKey::derive_with_salt(&pass("correct horse battery"), params, [1; SALT_LEN]).unwrap();
        let b = MasterKey::derive_with_salt(&pass("correct horse battery"), params, [1; SALT_LEN]).unwrap();
        let c = MasterKey::derive_with_salt(&pass("correct horse battery"), params, [2; SALT_LEN]).unwrap();
        let d = MasterKey::derive_with_salt(&pass("correct horse stapler"), params, [1; SALT_LEN]).unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn random_salts_differ() {
        let a = MasterKey::derive(&pass("correct horse battery"), KdfParams::for_tests()).unwrap();
        let b = MasterKey::derive(&pass("correct horse battery"), KdfParams::for_tests()).unwrap();
        assert_ne!(a.salt(), b.salt());
    }

    #[test]
    fn token_embeds_params_and_salt() {
        let key = MasterKey::derive(&pass("correct horse battery"), KdfParams::for_tests()).unwrap();
        let token = key.encrypt(b"secret value");
        assert!(!token.contains('\n'));
        let envelope = Envelope::parse(&token).unwrap();
        assert_eq!(envelope.params, key.params());
        assert_eq!(envelope.salt, key.salt());
        assert_eq!(envelope.open(key.key()).unwrap().as_slice(), b"secret value");
    }

    #[test]
    fn same_plaintext_gives_different_tokens() {
        let key = MasterKey::derive(&pass("correct horse battery"), KdfParams::for_tests()).unwrap();
        assert_ne!(key.encrypt(b"same"), key.encrypt(b"same"));
    }

    #[test]
    fn absurd_params_are_refused_before_allocating() {
        let absurd = KdfParams { memory_kib: u32::MAX, iterations: 1, parallelism: 1 };
        let err = MasterKey::derive(&pass("correct horse battery"), absurd).unwrap_err();
        assert!(matches!(err, SecretError::InvalidKdfParams { .. }));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = MasterKey::derive_with_salt(&pass("correct horse battery"), KdfParams::for_tests(), [0; 16]).unwrap();
        let text = format!("{key:?}");
        assert!(text.contains("<redacted>") && text.contains("memory_kib"), "{text}");
    }
}
