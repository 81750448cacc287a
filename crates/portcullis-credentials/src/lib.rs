//! How Portcullis makes, stores and checks the secrets that prove identity.
//!
//! For the management plane: admin passwords ([`PasswordHasher`], [`PasswordPolicy`]),
//! TOTP second factors ([`TotpSecret`]), one-time recovery codes ([`recovery`]), session and
//! CSRF tokens ([`token`]), and admin automation tokens. For the gateway: API keys
//! ([`api_key`]).
//!
//! What it does not do: any IO. It has no database, no clock, no configuration loading and
//! no HTTP; callers pass the current time, the stored hash and the user's context in, and
//! persist what comes out (including the last used TOTP step and which recovery codes are
//! spent). Rate limiting, lockout, password history and expiry also belong to the caller.
//!
//! The one design decision to know: **the cost of the hash follows the entropy of the
//! secret.** Human-chosen passwords are low-entropy, so they get Argon2id, which makes every
//! offline guess expensive. Everything this crate generates itself (API keys, admin tokens,
//! session ids, recovery codes) carries 100–256 bits from the OS CSPRNG, so it is stored as
//! plain SHA-256: guessing is already hopeless, and a fast hash keeps the gateway's per-request
//! key check cheap and denies attackers a CPU-exhaustion lever. Every comparison of a secret
//! against a stored value is constant time, and every verify function answers `false`/`None`
//! (never an error, never a panic) for malformed input.
#![forbid(unsafe_code)]

pub mod api_key;
pub mod common;
pub mod encoding;
mod error;
pub mod password;
pub mod policy;
mod random;
pub mod recovery;
pub mod token;
pub mod totp;

pub use api_key::{GeneratedKey, KeyKind, ParsedKey};
pub use common::is_common;
pub use encoding::{from_hex, to_hex};
pub use error::CredentialError;
pub use password::{MAX_PASSWORD_BYTES, PasswordHasher};
pub use policy::{PasswordPolicy, PasswordViolation};
pub use recovery::{generate_recovery_codes, hash_recovery_code};
pub use token::{constant_time_eq, random_token};
pub use totp::TotpSecret;
