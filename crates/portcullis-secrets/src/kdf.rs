//! Argon2id cost parameters, their limits, and their text form in a token.
//!
//! The text form is `m=<memory KiB>.t=<iterations>.p=<parallelism>`, each number
//! in canonical decimal (no sign, no leading zero), e.g. `m=65536.t=3.p=1`.
//! Parsing is strict so that one set of parameters has exactly one spelling.

use std::fmt;

use crate::error::SecretError;

/// Argon2id cost parameters.
///
/// A token carries its parameters, so a crafted token could ask for an absurd
/// cost; [`KdfParams::validate`] caps them (see the `MAX_*` constants) before
/// any memory is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes over memory.
    pub iterations: u32,
    /// Number of lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 iterations, 1 lane (OWASP's argon2id recommendation band).
    fn default() -> Self {
        Self { memory_kib: 65_536, iterations: 3, parallelism: 1 }
    }
}

impl KdfParams {
    /// Largest accepted memory cost: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// Largest accepted iteration count.
    pub const MAX_ITERATIONS: u32 = 100;
    /// Largest accepted lane count.
    pub const MAX_PARALLELISM: u32 = 16;

    /// A deliberately cheap preset (8 KiB, 1 iteration, 1 lane).
    ///
    /// **For tests only**: it offers no protection against guessing.
    #[must_use]
    pub const fn for_tests() -> Self {
        Self { memory_kib: 8, iterations: 1, parallelism: 1 }
    }

    /// Checks the parameters against argon2's minimums and this crate's caps.
    ///
    /// # Errors
    ///
    /// [`SecretError::InvalidKdfParams`] when a value is zero, above its
    /// `MAX_*` cap, or the memory is below 8 KiB per lane.
    pub fn validate(&self) -> Result<(), SecretError> {
        let reason = if !(1..=Self::MAX_PARALLELISM).contains(&self.parallelism) {
            "parallelism must be between 1 and 16"
        } else if !(1..=Self::MAX_ITERATIONS).contains(&self.iterations) {
            "iterations must be between 1 and 100"
        } else if self.memory_kib > Self::MAX_MEMORY_KIB {
            "memory must be at most 1 GiB"
        } else if self.memory_kib < 8 * self.parallelism {
            "memory must be at least 8 KiB per lane"
        } else {
            return Ok(());
        };
        Err(SecretError::InvalidKdfParams { reason })
    }

    /// Parses the text form (see the module documentation). Does not validate.
    ///
    /// # Errors
    ///
    /// [`SecretError::MalformedToken`] if `text` is not exactly
    /// `m=<n>.t=<n>.p=<n>` with canonical `u32` numbers.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let malformed = || SecretError::MalformedToken { reason: "bad key derivation parameters" };
        let mut parts = text.split('.');
        let mut field = |key: &str| -> Result<u32, SecretError> {
            let part = parts.next().ok_or_else(malformed)?;
            let digits = part.strip_prefix(key).and_then(|p| p.strip_prefix('=')).ok_or_else(malformed)?;
            parse_canonical_u32(digits).ok_or_else(malformed)
        };
        let memory_kib = field("m")?;
        let iterations = field("t")?;
        let parallelism = field("p")?;
        if parts.next().is_some() {
            return Err(malformed());
        }
        Ok(Self { memory_kib, iterations, parallelism })
    }
}

impl fmt::Display for KdfParams {
    /// The text form used in tokens, e.g. `m=65536.t=3.p=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={}.t={}.p={}", self.memory_kib, self.iterations, self.parallelism)
    }
}

/// Parses ASCII digits with no sign and no superfluous leading zero.
fn parse_canonical_u32(digits: &str) -> Option<u32> {
    let canonical =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if canonical { digits.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let params = KdfParams::default();
        assert_eq!(params.to_string(), "m=65536.t=3.p=1");
        assert_eq!(KdfParams::parse("m=65536.t=3.p=1").unwrap(), params);
        assert_eq!(KdfParams::parse(&KdfParams::for_tests().to_string()).unwrap(), KdfParams::for_tests());
    }

    #[test]
    fn parse_is_strict() {
        for text in [
            "",
            "m=65536.t=3",
            "m=65536.t=3.p=1.x=2",
            "m=065536.t=3.p=1",
            "m=+65536.t=3.p=1",
            "t=3.m=65536.p=1",
            "m=65536,t=3,p=1",
            "m=4294967296.t=3.p=1",
            "m=.t=3.p=1",
            "m=1 .t=3.p=1",
        ] {
            assert!(KdfParams::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn validate_caps_costs() {
        assert!(KdfParams::default().validate().is_ok());
        assert!(KdfParams::for_tests().validate().is_ok());
        let base = KdfParams::default();
        for bad in [
            KdfParams { memory_kib: KdfParams::MAX_MEMORY_KIB + 1, ..base },
            KdfParams { memory_kib: u32::MAX, ..base },
            KdfParams { iterations: 0, ..base },
            KdfParams { iterations: 101, ..base },
            KdfParams { parallelism: 0, ..base },
            KdfParams { parallelism: 17, ..base },
            KdfParams { memory_kib: 15, parallelism: 2, ..base },
        ] {
            assert!(matches!(bad.validate(), Err(SecretError::InvalidKdfParams { .. })), "{bad:?}");
        }
        assert!(
            KdfParams { memory_kib: KdfParams::MAX_MEMORY_KIB, iterations: 100, parallelism: 16 }.validate().is_ok()
        );
    }
}
