//! Secrets at rest for Portcullis.
//!
//! **What it does.** Operators put secret configuration values in the YAML
//! config as single-line `enc:v1:…` tokens. A master key is derived from a
//! passphrase with argon2id ([`MasterKey`]); values are sealed with AES-256-GCM
//! ([`MasterKey::encrypt`]) and opened at load ([`Decrypter`]). The passphrase
//! comes from an environment variable, an owner-only file or a command
//! ([`PassphraseSource`]). [`rotate_text`] re-encrypts every token in a config
//! under a new master key, and [`write_private`] / [`read_private`] /
//! [`create_private_dir`] are the owner-only file handling every stored secret
//! uses. Secret buffers are wiped on drop and never appear in errors or `Debug`.
//!
//! **What it does not do.** It does not parse YAML, fetch secrets from a vault
//! or KMS, lock memory against swapping, or protect against an attacker who can
//! read the process memory or run code as the same user. It runs no shell.
//!
//! **The design decision.** Every token is self-describing: it carries its
//! argon2id parameters and salt next to the nonce and ciphertext, and the header
//! holding them is authenticated as associated data. Only the passphrase is
//! needed to decrypt, no key file or salt file can go missing, and the
//! parameters can be raised later without breaking old values. The cost is that
//! a crafted token chooses its own KDF cost, so those parameters are capped
//! ([`KdfParams::validate`]) and each derived key is cached per (parameters,
//! salt). The exact format is documented in [`envelope`].
#![forbid(unsafe_code)]

pub mod envelope;
mod error;
mod kdf;
mod keyring;
mod master_key;
mod passphrase;
mod private_file;
mod rotate;
#[cfg(test)]
mod test_support;

pub use envelope::TOKEN_PREFIX;
pub use error::SecretError;
pub use kdf::KdfParams;
pub use keyring::{Decrypter, is_encrypted};
pub use master_key::{MasterKey, SALT_LEN};
pub use passphrase::{COMMAND_TIMEOUT, MAX_SOURCE_BYTES, MIN_PASSPHRASE_LEN, Passphrase, PassphraseSource};
pub use private_file::{PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, create_private_dir, read_private, write_private};
pub use rotate::rotate_text;
