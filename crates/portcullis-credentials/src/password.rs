//! Password hashing for admin users: Argon2id for everything new, PBKDF2-HMAC-SHA256 accepted
//! for hashes imported from other systems until the user's next login re-hashes them.
//!
//! The login flow is:
//!
//! 1. look the user up; if there is none, call [`PasswordHasher::verify_dummy`] and fail, so
//!    "no such user" costs the same time as "wrong password";
//! 2. [`PasswordHasher::verify`] the typed password against the stored string;
//! 3. on success, if [`PasswordHasher::needs_rehash`] says so, store
//!    [`PasswordHasher::hash`] of the password the user just typed.
//!
//! Stored hashes are treated as untrusted input: cost parameters are capped (see
//! [`MAX_PBKDF2_ITERATIONS`] and [`PasswordHasher::verify`]) so a crafted or mistyped row cannot
//! make one login burn minutes of CPU or gigabytes of memory.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::CredentialError;

/// Longest password, in bytes, that [`PasswordHasher::verify`] will check.
///
/// Longer input is refused outright (verification returns `false`) so that an attacker cannot
/// make the server hash megabytes per request. [`crate::PasswordPolicy`]'s default maximum of
/// 128 characters is at most 512 bytes, well inside this.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Highest PBKDF2 iteration count accepted from an imported hash.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Caps on Argon2 parameters read from a stored hash (raised to the hasher's own values if
/// those are higher): 256 MiB of memory, 16 passes, 16 lanes.
const MAX_STORED_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
const MAX_STORED_ARGON2_ITERATIONS: u32 = 16;
const MAX_STORED_ARGON2_LANES: u32 = 16;

/// Longest stored hash string that is even parsed.
const MAX_STORED_HASH_LEN: usize = 512;
/// Argon2 output length in bytes.
const OUTPUT_LEN: usize = 32;
/// Random salt length in bytes.
const SALT_LEN: usize = 16;
/// Accepted PBKDF2 derived-key lengths in bytes.
const PBKDF2_OUTPUT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// The string [`PasswordHasher::hash`] returns when it cannot hash: no password verifies
/// against it, so a misuse fails closed.
const LOCKED: &str = "!";

/// Hashes and verifies passwords with Argon2id at fixed cost parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    /// OWASP's recommended Argon2id settings: 19 MiB (19456 KiB) of memory, 2 iterations,
    /// 1 lane, 32-byte output.
    fn default() -> Self {
        let params =
            Params::new(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, Params::DEFAULT_P_COST, Some(OUTPUT_LEN))
                .unwrap_or(Params::DEFAULT);
        Self { params }
    }
}

impl PasswordHasher {
    /// A hasher with the given Argon2id costs: memory in KiB, passes, and lanes.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidHasherParams`] if Argon2 rejects the combination (for
    /// example memory below 8 KiB per lane, zero iterations, or zero lanes).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, CredentialError> {
        Params::new(memory_kib, iterations, parallelism, Some(OUTPUT_LEN))
            .map(|params| Self { params })
            .map_err(|err| CredentialError::InvalidHasherParams(err.to_string()))
    }

    /// Argon2id hash of `password` as a PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`)
    /// with a fresh random 16-byte salt.
    ///
    /// Callers must check the password against [`crate::PasswordPolicy`] first. If the
    /// password is longer than [`MAX_PASSWORD_BYTES`] (or hashing fails in any other way) this
    /// returns the locked marker `"!"`, against which nothing ever verifies. Use
    /// [`Self::try_hash`] to get the error instead.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails.
    #[must_use]
    pub fn hash(&self, password: &str) -> String {
        self.try_hash(password).unwrap_or_else(|_| LOCKED.to_owned())
    }

    /// Like [`Self::hash`], but reports failure.
    ///
    /// # Errors
    ///
    /// [`CredentialError::PasswordTooLong`] above [`MAX_PASSWORD_BYTES`];
    /// [`CredentialError::Hashing`] if Argon2 itself fails.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails.
    pub fn try_hash(&self, password: &str) -> Result<String, CredentialError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(CredentialError::PasswordTooLong { max: MAX_PASSWORD_BYTES });
        }
        let salt = SaltString::encode_b64(&crate::random::bytes::<SALT_LEN>()).map_err(|_| CredentialError::Hashing)?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| CredentialError::Hashing)
    }

    /// Whether `password` matches the stored string `phc`.
    ///
    /// Accepted formats:
    ///
    /// * Argon2id PHC strings, with any parameters up to 256 MiB, 16 passes and 16 lanes (or
    ///   this hasher's own parameters, if higher);
    /// * PBKDF2-HMAC-SHA256 in passlib/PHC form,
    ///   `$pbkdf2-sha256$<iterations>$<salt>$<hash>` with adapted base64 (`.` for `+`, no
    ///   padding); the second field may also be spelled `i=<iterations>[,l=<len>]`, and the
    ///   base64 may be plain unpadded base64, as the Rust `pbkdf2` crate writes them;
    /// * PBKDF2-HMAC-SHA256 in Django form, `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`,
    ///   where the salt is used as text.
    ///
    /// PBKDF2 iteration counts must be between 1 and [`MAX_PBKDF2_ITERATIONS`]. Anything else
    /// (other algorithms, malformed strings, passwords over [`MAX_PASSWORD_BYTES`]) is `false`.
    /// The final comparison is constant time.
    #[must_use]
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES || phc.len() > MAX_STORED_HASH_LEN {
            return false;
        }
        let password = password.as_bytes();
        if phc.starts_with("$argon2id$") {
            self.verify_argon2(password, phc)
        } else if let Some(rest) = phc.strip_prefix("$pbkdf2-sha256$") {
            verify_pbkdf2_passlib(password, rest)
        } else if let Some(rest) = phc.strip_prefix("pbkdf2_sha256$") {
            verify_pbkdf2_django(password, rest)
        } else {
            false
        }
    }

    /// Whether `phc` should be replaced by a fresh [`Self::hash`] after a successful login.
    ///
    /// True for anything that is not an Argon2id (version 19) hash with exactly this hasher's
    /// memory, iterations, lanes and output length: imported PBKDF2 hashes, hashes made with
    /// older settings, and strings that cannot be parsed at all.
    #[must_use]
    pub fn needs_rehash(&self, phc: &str) -> bool {
        if phc.len() > MAX_STORED_HASH_LEN {
            return true;
        }
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        if hash.algorithm != argon2::ARGON2ID_IDENT || hash.version != Some(Version::V0x13.into()) {
            return true;
        }
        let Ok(stored) = Params::try_from(&hash) else {
            return true;
        };
        stored.m_cost() != self.params.m_cost()
            || stored.t_cost() != self.params.t_cost()
            || stored.p_cost() != self.params.p_cost()
            || stored.output_len() != self.params.output_len()
            || !stored.keyid().is_empty()
            || !stored.data().is_empty()
    }

    /// Does the work of one Argon2id verification at this hasher's settings and discards it.
    ///
    /// Call it when the user does not exist, so that the response takes as long as a wrong
    /// password for a real user and does not reveal which user names exist. Like
    /// [`Self::verify`], it returns at once for input over [`MAX_PASSWORD_BYTES`].
    pub fn verify_dummy(&self, password: &str) {
        if password.len() > MAX_PASSWORD_BYTES {
            return;
        }
        // A real verify derives the output from the stored salt; any fixed salt costs the same.
        let salt = [0x5a_u8; SALT_LEN];
        let mut out = [0u8; OUTPUT_LEN];
        let ok = self.argon2().hash_password_into(password.as_bytes(), &salt, &mut out).is_ok();
        std::hint::black_box((ok, out));
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn verify_argon2(&self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return false;
        }
        let Ok(stored) = Params::try_from(&hash) else {
            return false;
        };
        let within_caps = stored.m_cost() <= MAX_STORED_ARGON2_MEMORY_KIB.max(self.params.m_cost())
            && stored.t_cost() <= MAX_STORED_ARGON2_ITERATIONS.max(self.params.t_cost())
            && stored.p_cost() <= MAX_STORED_ARGON2_LANES.max(self.params.p_cost());
        // The verifier takes algorithm, version and parameters from the stored hash and
        // compares outputs in constant time.
        within_caps && self.argon2().verify_password(password, &hash).is_ok()
    }
}

/// Base64 decoder for imported hashes: standard alphabet, padding optional, lenient about
/// unused trailing bits (some encoders leave them set).
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `<iterations>$<salt ab64>$<hash ab64>`, after the `$pbkdf2-sha256$` prefix.
fn verify_pbkdf2_passlib(password: &[u8], rest: &str) -> bool {
    let mut fields = rest.split('$');
    let (Some(cost), Some(salt), Some(hash), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let Some((iterations, declared_len)) = parse_pbkdf2_cost(cost) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (decode_adapted_b64(salt), decode_adapted_b64(hash)) else {
        return false;
    };
    if declared_len.is_some_and(|len| len != expected.len()) {
        return false;
    }
    pbkdf2_matches(password, &salt, iterations, &expected)
}

/// `<iterations>$<salt text>$<hash base64>`, after the `pbkdf2_sha256$` prefix.
fn verify_pbkdf2_django(password: &[u8], rest: &str) -> bool {
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let Some(iterations) = parse_iterations(iterations) else {
        return false;
    };
    let Ok(expected) = LENIENT_B64.decode(hash) else {
        return false;
    };
    pbkdf2_matches(password, salt.as_bytes(), iterations, &expected)
}

/// Passlib writes a bare decimal; the Rust `pbkdf2` crate's PHC form writes `i=<n>` or `i=<n>,l=<len>`.
fn parse_pbkdf2_cost(cost: &str) -> Option<(u32, Option<usize>)> {
    let Some(params) = cost.strip_prefix("i=") else {
        return Some((parse_iterations(cost)?, None));
    };
    match params.split_once(",l=") {
        None => Some((parse_iterations(params)?, None)),
        Some((iterations, len)) => {
            let len = parse_iterations(len)?;
            Some((parse_iterations(iterations)?, Some(usize::try_from(len).ok()?)))
        }
    }
}

/// A decimal between 1 and [`MAX_PBKDF2_ITERATIONS`], digits only (no sign, no spaces).
fn parse_iterations(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u32 = text.parse().ok()?;
    (1..=MAX_PBKDF2_ITERATIONS).contains(&n).then_some(n)
}

/// Passlib's "adapted base64" (standard base64 with `.` for `+`, no padding); plain
/// unpadded standard base64, as the Rust `pbkdf2` crate writes it, decodes too.
fn decode_adapted_b64(text: &str) -> Option<Vec<u8>> {
    LENIENT_B64.decode(text.replace('.', "+")).ok()
}

fn pbkdf2_matches(password: &[u8], salt: &[u8], iterations: u32, expected: &[u8]) -> bool {
    if !PBKDF2_OUTPUT_LEN.contains(&expected.len()) {
        return false;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut derived);
    derived.ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters so tests stay fast in debug builds.
    fn fast() -> PasswordHasher {
        PasswordHasher::new(64, 1, 1).expect("valid params")
    }

    // Both vectors were made by the real tools (passlib 1.7.4, Django 5.2.19):
    //   from passlib.hash import pbkdf2_sha256
    //   pbkdf2_sha256.using(rounds=1000, salt=SALT16).hash("correct horse battery staple")
    //   from django.contrib.auth.hashers import PBKDF2PasswordHasher
    //   PBKDF2PasswordHasher().encode("correct horse battery staple", "Qh2DyHmYJ8cI", iterations=1000)
    // and cross-checked with hashlib.pbkdf2_hmac("sha256", ...). The passlib one was chosen so
    // that both its salt and its hash contain the "." of adapted base64.
    const PBKDF2_PASSWORD: &str = "correct horse battery staple";
    const PASSLIB_VECTOR: &str =
        "$pbkdf2-sha256$1000$OEVSX2x5hpOgrbrH1OHu.w$5tqJNL68zY2FOMlp7SC6wTas.Qcm39kO./mMClwf084";
    const DJANGO_VECTOR: &str = "pbkdf2_sha256$1000$Qh2DyHmYJ8cI$Zmt2RUc845u1TvFKm5XFmeZpXanUkm7S4tlB5NYG66s=";

    #[test]
    fn default_is_owasp_argon2id() {
        let hasher = PasswordHasher::default();
        assert_eq!(hasher.params.m_cost(), 19_456);
        assert_eq!(hasher.params.t_cost(), 2);
        assert_eq!(hasher.params.p_cost(), 1);
        let phc = hasher.hash("a reasonably long password");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("a reasonably long password", &phc));
        assert!(!hasher.needs_rehash(&phc));
    }

    #[test]
    fn hash_then_verify() {
        let hasher = fast();
        let phc = hasher.hash("hunter2 but longer");
        assert!(hasher.verify("hunter2 but longer", &phc));
        assert!(!hasher.verify("hunter2 but longeR", &phc));
        assert!(!hasher.verify("", &phc));
        assert_ne!(phc, hasher.hash("hunter2 but longer"), "salts must differ");
    }

    #[test]
    fn invalid_params_are_rejected() {
        assert!(matches!(PasswordHasher::new(64, 0, 1), Err(CredentialError::InvalidHasherParams(_))));
        assert!(PasswordHasher::new(64, 1, 0).is_err());
        assert!(PasswordHasher::new(1, 1, 1).is_err());
    }

    #[test]
    fn garbage_hashes_are_false_not_panics() {
        let hasher = fast();
        let long = "$argon2id$".repeat(100);
        let garbage = [
            "",
            "!",
            "$",
            "$$$$",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$!!!!",
            "$argon2id$v=99$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=64,t=4294967295,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$",
            "$pbkdf2-sha256$1000$$",
            "$pbkdf2-sha256$0$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$-1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$+10$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$99999999999$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$4294967295$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$10000001$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$1000$AAAA$AAAA",
            "$pbkdf2-sha256$1000$A*AA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$1000$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$extra",
            "$pbkdf2-sha256$i=1000,l=99$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$abc$salt$AAAA",
            "pbkdf2_sha256$1000$salt$not base64",
            "pbkdf2_sha1$1000$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "bcrypt$$2b$12$abcdefghijklmnopqrstuv",
            "\u{0}\u{ffff}é",
            &long,
        ];
        for g in garbage {
            assert!(!hasher.verify("password", g), "accepted {g:?}");
            assert!(hasher.needs_rehash(g), "{g:?}");
        }
        assert!(!hasher.verify("password", LOCKED));
    }

    #[test]
    fn over_long_passwords_are_refused() {
        let hasher = fast();
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hasher.try_hash(&long), Err(CredentialError::PasswordTooLong { max: MAX_PASSWORD_BYTES }));
        assert_eq!(hasher.hash(&long), LOCKED);
        assert!(!hasher.verify(&long, LOCKED));
        let at_limit = "a".repeat(MAX_PASSWORD_BYTES);
        let phc = hasher.hash(&at_limit);
        assert!(hasher.verify(&at_limit, &phc));
        hasher.verify_dummy(&long);
    }

    #[test]
    fn passlib_pbkdf2_vector_verifies() {
        let hasher = fast();
        let phc = PASSLIB_VECTOR.trim();
        assert!(phc.starts_with("$pbkdf2-sha256$1000$"), "{phc}");
        assert!(hasher.verify(PBKDF2_PASSWORD, phc));
        assert!(!hasher.verify("correct horse battery stapler", phc));
        assert!(hasher.needs_rehash(phc));
    }

    #[test]
    fn passlib_vector_in_rustcrypto_spelling_verifies() {
        let hasher = fast();
        let phc = PASSLIB_VECTOR.trim();
        let rest = phc.strip_prefix("$pbkdf2-sha256$1000$").expect("vector shape");
        let rustcrypto = format!("$pbkdf2-sha256$i=1000,l=32${}", rest.replace('.', "+"));
        assert!(hasher.verify(PBKDF2_PASSWORD, &rustcrypto));
        let plain_i = format!("$pbkdf2-sha256$i=1000${rest}");
        assert!(hasher.verify(PBKDF2_PASSWORD, &plain_i));
        let wrong_iterations = format!("$pbkdf2-sha256$1001${rest}");
        assert!(!hasher.verify(PBKDF2_PASSWORD, &wrong_iterations));
    }

    #[test]
    fn django_pbkdf2_vector_verifies() {
        let hasher = fast();
        let stored = DJANGO_VECTOR.trim();
        assert!(stored.starts_with("pbkdf2_sha256$1000$Qh2DyHmYJ8cI$"), "{stored}");
        assert!(hasher.verify(PBKDF2_PASSWORD, stored));
        assert!(!hasher.verify("Correct horse battery staple", stored));
        let other_salt = stored.replace("Qh2DyHmYJ8cI", "Qh2DyHmYJ8cJ");
        assert!(!hasher.verify(PBKDF2_PASSWORD, &other_salt));
        assert!(hasher.needs_rehash(stored));
    }

    #[test]
    fn needs_rehash_tracks_parameters() {
        let old = fast();
        let phc = old.hash("some password here");
        assert!(!old.needs_rehash(&phc));
        let newer = PasswordHasher::new(128, 1, 1).expect("valid params");
        assert!(newer.needs_rehash(&phc));
        // The newer hasher still verifies hashes made with the older settings.
        assert!(newer.verify("some password here", &phc));
    }

    #[test]
    fn stored_argon2_costs_are_capped() {
        // A well-formed hash claiming 1 GiB of memory is refused without computing it.
        let hasher = fast();
        let huge = "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(!hasher.verify("password", huge));
    }

    #[test]
    fn verify_dummy_runs() {
        let hasher = fast();
        hasher.verify_dummy("whatever");
        hasher.verify_dummy("");
    }
}
