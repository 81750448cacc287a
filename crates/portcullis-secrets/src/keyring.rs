//! Opening `enc:v1:` tokens with a passphrase, deriving each key only once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use zeroize::{Zeroize, Zeroizing};

use crate::envelope::{ANY_VERSION_PREFIX, Envelope};
use crate::error::SecretError;
use crate::kdf::KdfParams;
use crate::master_key::{MasterKey, SALT_LEN};
use crate::passphrase::Passphrase;

/// Most derived keys kept by one [`Decrypter`]; beyond this, keys are derived
/// per value and not cached (a config normally has one or two).
const CACHE_CAPACITY: usize = 32;

/// Whether `text` looks like an encrypted value, i.e. starts with `enc:v`
/// (surrounding ASCII whitespace ignored).
///
/// Any version counts, not only `v1`, so that a value from a newer or
/// mistyped format is reported by [`Decrypter::decrypt`] instead of being
/// used as a literal secret.
#[must_use]
pub fn is_encrypted(text: &str) -> bool {
    text.trim_ascii().strip_prefix(ANY_VERSION_PREFIX).is_some_and(|rest| rest.starts_with('v'))
}

/// Opens tokens sealed under one passphrase.
///
/// Each token names its argon2 parameters and salt; the key for each
/// (parameters, salt) pair is derived once and cached, so a configuration with
/// many values sealed by the same [`MasterKey`] costs one derivation. Safe to
/// share between threads.
pub struct Decrypter {
    passphrase: Passphrase,
    cache: Mutex<HashMap<(KdfParams, [u8; SALT_LEN]), MasterKey>>,
}

impl Decrypter {
    /// A decrypter for tokens sealed under `passphrase`.
    #[must_use]
    pub fn new(passphrase: Passphrase) -> Self {
        Self { passphrase, cache: Mutex::new(HashMap::new()) }
    }

    /// Decrypts one token (surrounding ASCII whitespace ignored).
    ///
    /// # Errors
    ///
    /// [`SecretError::MalformedToken`] for a wrong prefix, bad base64 or
    /// truncated data; [`SecretError::UnsupportedVersion`];
    /// [`SecretError::InvalidKdfParams`] if the token asks for more than the
    /// [`KdfParams`] caps (checked before any derivation);
    /// [`SecretError::DecryptionFailed`] for a wrong passphrase or any
    /// tampering; derivation errors as in [`MasterKey::derive_with_salt`].
    pub fn decrypt(&self, token: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let envelope = Envelope::parse(token)?;
        envelope.params.validate()?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cache_key = (envelope.params, envelope.salt);
        if let Some(key) = cache.get(&cache_key) {
            return envelope.open(key.key());
        }
        let key = MasterKey::derive_with_salt(&self.passphrase, envelope.params, envelope.salt)?;
        let plaintext = envelope.open(key.key());
        if cache.len() < CACHE_CAPACITY {
            cache.insert(cache_key, key);
        }
        plaintext
    }

    /// Decrypts one token whose plaintext must be UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`Decrypter::decrypt`], plus [`SecretError::NotUtf8`] (the rejected
    /// bytes are wiped).
    pub fn decrypt_str(&self, token: &str) -> Result<Zeroizing<String>, SecretError> {
        let mut bytes = self.decrypt(token)?;
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(err) => {
                err.into_bytes().zeroize();
                Err(SecretError::NotUtf8)
            }
        }
    }

    /// How many derived keys are cached.
    #[must_use]
    pub fn cached_keys(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl fmt::Debug for Decrypter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypter").field("cached_keys", &self.cached_keys()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const PASS: &str = "correct horse battery";

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(text.to_owned()).unwrap()
    }

    fn key() -> MasterKey {
        MasterKey::derive(&pass(PASS), KdfParams::for_tests()).unwrap()
    }

    #[test]
    fn round_trip() {
        let key = key();
        let decrypter = Decrypter::new(pass(PASS));
        for plaintext in [&b""[..], b"x", b"upstream-api-key-0123456789", &[0, 255, 10, 13]] {
            let token = key.encrypt(plaintext);
            assert_eq!(decrypter.decrypt(&token).unwrap().as_slice(), plaintext);
        }
        let token = key.encrypt("pässwörd".as_bytes());
        assert_eq!(decrypter.decrypt_str(&format!("  {token}\n")).unwrap().as_str(), "pässwörd");
    }

    #[test]
    fn one_derivation_per_master_key() {
        let key = key();
        let decrypter = Decrypter::new(pass(PASS));
        for i in 0..20 {
            let token = key.encrypt(format!("value {i}").as_bytes());
            assert_eq!(decrypter.decrypt_str(&token).unwrap().as_str(), format!("value {i}"));
        }
        assert_eq!(decrypter.cached_keys(), 1);
        let other = MasterKey::derive(&pass(PASS), KdfParams::for_tests()).unwrap();
        decrypter.decrypt(&other.encrypt(b"x")).unwrap();
        assert_eq!(decrypter.cached_keys(), 2);
    }

    #[test]
    fn wrong_passphrase_fails() {
        let token = key().encrypt(b"secret");
        let err = Decrypter::new(pass("correct horse stapler")).decrypt(&token).unwrap_err();
        assert!(matches!(err, SecretError::DecryptionFailed), "{err}");
    }

    #[test]
    fn flipping_any_byte_fails() {
        let token = key().encrypt(b"a secret worth protecting");
        let decrypter = Decrypter::new(pass(PASS));
        let bytes = token.as_bytes();
        for index in 0..bytes.len() {
            for replacement in [b'A', b'x', b'0', b'_', b':', b'=', b'!'] {
                if bytes[index] == replacement {
                    continue;
                }
                let mut tampered = bytes.to_vec();
                tampered[index] = replacement;
                let tampered = String::from_utf8(tampered).unwrap();
                assert!(decrypter.decrypt(&tampered).is_err(), "accepted {tampered}");
            }
        }
    }

    #[test]
    fn swapping_params_or_salt_fails() {
        let key = key();
        let token = key.encrypt(b"secret");
        let decrypter = Decrypter::new(pass(PASS));
        // Same bytes under other parameters: a different key, so it fails.
        let other_params = token.replacen("m=8.t=1.p=1", "m=16.t=1.p=1", 1);
        assert!(matches!(decrypter.decrypt(&other_params), Err(SecretError::DecryptionFailed)));
        // Header of another key spliced onto this ciphertext.
        let other = MasterKey::derive(&pass(PASS), KdfParams::for_tests()).unwrap().encrypt(b"other");
        let (other_header, _) = other.rsplit_once(':').unwrap();
        let (_, data) = token.rsplit_once(':').unwrap();
        assert!(matches!(decrypter.decrypt(&format!("{other_header}:{data}")), Err(SecretError::DecryptionFailed)));
    }

    #[test]
    fn truncation_and_garbage_fail() {
        let token = key().encrypt(b"secret");
        let decrypter = Decrypter::new(pass(PASS));
        for len in 0..token.len() {
            assert!(decrypter.decrypt(&token[..len]).is_err(), "accepted prefix of length {len}");
        }
        for garbage in ["", "enc", "enc:v1", "enc:v9:x:y:z", "enc:v1:::", "enc:v1:m=8.t=1.p=1:%%%:%%%", "\u{1F600}"] {
            assert!(decrypter.decrypt(garbage).is_err(), "{garbage:?}");
        }
        assert!(matches!(decrypter.decrypt("enc:v2:a:b:c"), Err(SecretError::UnsupportedVersion)));
    }

    #[test]
    fn absurd_params_are_refused_quickly() {
        let token = key().encrypt(b"secret");
        let decrypter = Decrypter::new(pass(PASS));
        let started = Instant::now();
        for params in ["m=1073741824.t=1.p=1", "m=8.t=4294967295.p=1", "m=65536.t=1.p=255", "m=8.t=0.p=1"] {
            let bomb = token.replacen("m=8.t=1.p=1", params, 1);
            assert!(matches!(decrypter.decrypt(&bomb), Err(SecretError::InvalidKdfParams { .. })), "{params}");
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(decrypter.cached_keys(), 0);
    }

    #[test]
    fn random_garbage_never_panics() {
        let good = key().encrypt(b"secret");
        let decrypter = Decrypter::new(pass(PASS));
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let mut bytes = good.as_bytes().to_vec();
            let len = usize::try_from(next() % (bytes.len() as u64 + 1)).unwrap();
            bytes.truncate(len);
            for _ in 0..next() % 4 {
                if !bytes.is_empty() {
                    let at = usize::try_from(next() % bytes.len() as u64).unwrap();
                    let alphabet = b"enc:v1m=tp.A_-=\xff";
                    bytes[at] = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap()];
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if text != good {
                assert!(decrypter.decrypt(&text).is_err(), "accepted {text}");
            }
        }
    }

    #[test]
    fn non_utf8_plaintext_is_refused_as_str() {
        let token = key().encrypt(&[0xff, 0xfe]);
        assert!(matches!(Decrypter::new(pass(PASS)).decrypt_str(&token), Err(SecretError::NotUtf8)));
    }

    #[test]
    fn is_encrypted_recognises_tokens() {
        assert!(is_encrypted(&key().encrypt(b"x")));
        assert!(is_encrypted(" enc:v2:future"));
        assert!(!is_encrypted("plain-secret"));
        assert!(!is_encrypted("encrypted"));
        assert!(!is_encrypted(""));
    }
}
