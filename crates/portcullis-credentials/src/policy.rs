//! What a new admin password must look like.
//!
//! # The rule
//!
//! A password passes [`PasswordPolicy::check`] when all of these hold, checked in this order
//! (the first failure is reported):
//!
//! 1. its length in Unicode characters is between `min_length` and `max_length`;
//! 2. if `reject_common`, it is not on the bundled common-password list ([`crate::is_common`]);
//! 3. it does not contain, ignoring case, any context word of at least 4 characters (the
//!    user name, the e-mail address, and the parts of the e-mail split at `@ . _ - +`);
//! 4. it uses at least `min_classes` character classes (lower case, upper case, digits,
//!    other) **or** its estimated entropy is at least `min_entropy_bits`.
//!
//! Rule 4 lets a long passphrase of lower-case words pass without forced symbols, as NIST
//! SP 800-63B recommends, while a short mixed password can pass on variety. The entropy
//! estimate is deliberately simple: each character adds `log2(pool)` bits, where `pool` is the
//! total size of the classes the password uses (26 + 26 + 10 + 33, plus 100 if any character
//! is outside ASCII), except that a character repeating the previous one or continuing a run
//! (`abc`, `321`) adds only 1 bit.
//!
//! Not checked here: reuse of earlier passwords and maximum age. Both need the user's history,
//! which the store owns; it compares the new password against its last hashes with
//! [`crate::PasswordHasher::verify`] and tracks when the password was set.
//! Unicode is not normalised: the password is hashed as the bytes the user typed.

use std::fmt;

/// Requirements for new passwords. See the module docs for the exact rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordPolicy {
    /// Fewest Unicode characters allowed.
    pub min_length: usize,
    /// Most Unicode characters allowed.
    pub max_length: usize,
    /// Character classes (of lower, upper, digit, other) that suffice for strength.
    pub min_classes: u8,
    /// Estimated entropy in bits that suffices for strength.
    pub min_entropy_bits: f64,
    /// Whether to refuse passwords on the bundled common-password list.
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    /// At least 12 and at most 128 characters, not common, and 3 classes or 50 bits.
    fn default() -> Self {
        Self { min_length: 12, max_length: 128, min_classes: 3, min_entropy_bits: 50.0, reject_common: true }
    }
}

/// Why a password was refused. `Display` gives a sentence to show to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordViolation {
    /// Fewer characters than `min_length`.
    TooShort {
        /// The policy's minimum.
        min: usize,
    },
    /// More characters than `max_length`.
    TooLong {
        /// The policy's maximum.
        max: usize,
    },
    /// On the common-password list.
    Common,
    /// Contains the user name or e-mail address (or a part of it).
    ContainsContext,
    /// Neither enough character classes nor enough estimated entropy.
    TooPredictable {
        /// Classes that would have sufficed.
        min_classes: u8,
    },
}

impl fmt::Display for PasswordViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { min } => write!(f, "the password must be at least {min} characters long"),
            Self::TooLong { max } => write!(f, "the password must be at most {max} characters long"),
            Self::Common => f.write_str("the password is on the list of commonly used passwords"),
            Self::ContainsContext => f.write_str("the password must not contain your user name or e-mail address"),
            Self::TooPredictable { min_classes } => write!(
                f,
                "the password is too predictable: make it longer, or mix at least {min_classes} of \
                 lower case letters, upper case letters, digits and symbols"
            ),
        }
    }
}

impl std::error::Error for PasswordViolation {}

/// Context words shorter than this are ignored (too many false positives).
const MIN_CONTEXT_LEN: usize = 4;

impl PasswordPolicy {
    /// Checks a proposed new password.
    ///
    /// `context` holds strings the password must not contain, typically the user name and
    /// e-mail address; matching ignores case and skips words under 4 characters.
    ///
    /// # Errors
    ///
    /// The first [`PasswordViolation`] found, in the order listed in the module docs.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), PasswordViolation> {
        // Count at most max_length + 1 characters so huge input costs nothing extra.
        let length = password.chars().take(self.max_length.saturating_add(1)).count();
        if length < self.min_length {
            return Err(PasswordViolation::TooShort { min: self.min_length });
        }
        if length > self.max_length {
            return Err(PasswordViolation::TooLong { max: self.max_length });
        }
        if self.reject_common && crate::is_common(password) {
            return Err(PasswordViolation::Common);
        }
        if contains_context(password, context) {
            return Err(PasswordViolation::ContainsContext);
        }
        if character_classes(password) >= self.min_classes || entropy_bits(password) >= self.min_entropy_bits {
            Ok(())
        } else {
            Err(PasswordViolation::TooPredictable { min_classes: self.min_classes })
        }
    }
}

fn contains_context(password: &str, context: &[&str]) -> bool {
    let lower = password.to_lowercase();
    context.iter().any(|entry| {
        let entry = entry.trim().to_lowercase();
        std::iter::once(entry.as_str())
            .chain(entry.split(['@', '.', '_', '-', '+', ' ']))
            .any(|word| word.chars().count() >= MIN_CONTEXT_LEN && lower.contains(word))
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class_of(c: char) -> Class {
    if c.is_lowercase() {
        Class::Lower
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_numeric() {
        Class::Digit
    } else {
        Class::Other
    }
}

/// Number of distinct classes among lower, upper, digit and other.
fn character_classes(password: &str) -> u8 {
    let mut seen = [false; 4];
    for c in password.chars() {
        seen[class_of(c) as usize] = true;
    }
    seen.iter().fold(0, |n, &s| n + u8::from(s))
}

/// The estimate described in the module docs.
fn entropy_bits(password: &str) -> f64 {
    let mut pool = 0u32;
    let mut seen = [false; 4];
    let mut non_ascii = false;
    for c in password.chars() {
        seen[class_of(c) as usize] = true;
        non_ascii |= !c.is_ascii();
    }
    for (class, size) in [(Class::Lower, 26), (Class::Upper, 26), (Class::Digit, 10), (Class::Other, 33)] {
        if seen[class as usize] {
            pool += size;
        }
    }
    if non_ascii {
        pool += 100;
    }
    if pool == 0 {
        return 0.0;
    }
    let per_char = f64::from(pool).log2();
    let mut bits = 0.0;
    let mut previous: Option<u32> = None;
    for c in password.chars() {
        let code = u32::from(c);
        let predictable =
            previous.is_some_and(|p| p == code || p.checked_add(1) == Some(code) || code.checked_add(1) == Some(p));
        bits += if predictable { 1.0 } else { per_char };
        previous = Some(code);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), PasswordViolation> {
        PasswordPolicy::default().check(password, &["alice", "alice.smith@example.com"])
    }

    #[test]
    fn defaults_are_documented_values() {
        let p = PasswordPolicy::default();
        assert_eq!((p.min_length, p.max_length, p.min_classes), (12, 128, 3));
        assert!((p.min_entropy_bits - 50.0).abs() < f64::EPSILON);
        assert!(p.reject_common);
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(check("Ab1!Ab1!Ab1"), Err(PasswordViolation::TooShort { min: 12 }));
        // 12 characters, 24 bytes: long enough.
        assert_eq!(check("ÄbÇdÉfĞhÎjĶl"), Ok(()));
        assert_eq!(check(&"Ab1!".repeat(33)), Err(PasswordViolation::TooLong { max: 128 }));
        assert_eq!(check(&"x".repeat(10_000_000)), Err(PasswordViolation::TooLong { max: 128 }));
    }

    #[test]
    fn common_passwords_are_refused() {
        assert_eq!(check("Password123!"), Err(PasswordViolation::Common));
        assert_eq!(check("password1!!!!!!"), Err(PasswordViolation::Common));
        assert_eq!(check("qwertyuiop12"), Err(PasswordViolation::Common));
        let lenient = PasswordPolicy { reject_common: false, ..PasswordPolicy::default() };
        assert_eq!(lenient.check("Password123!", &[]), Ok(()));
    }

    #[test]
    fn context_words_are_refused() {
        assert_eq!(check("xx-ALICE-2024-yy!"), Err(PasswordViolation::ContainsContext));
        assert_eq!(check("Smith&Wesson#77"), Err(PasswordViolation::ContainsContext));
        assert_eq!(check("Example-Rover#77"), Err(PasswordViolation::ContainsContext));
        // "com" is shorter than 4 characters and is ignored.
        assert_eq!(check("Com-Rover#7755"), Ok(()));
        let short_name = PasswordPolicy::default().check("Bob-Rover#7755", &["bob"]);
        assert_eq!(short_name, Ok(()));
    }

    #[test]
    fn strength_passes_by_classes_or_entropy() {
        // Three classes.
        assert_eq!(check("Tangerine-rocket"), Ok(()));
        // One class but long and varied: passes on entropy.
        assert_eq!(check("velvetquarrymoth"), Ok(()));
        // One class and runs/repeats: fails.
        assert_eq!(check("zzzzzzzzzzzzzzzz"), Err(PasswordViolation::TooPredictable { min_classes: 3 }));
        assert_eq!(check("nopqrstuvwxyz"), Err(PasswordViolation::TooPredictable { min_classes: 3 }));
        // Digits only: 12 × log2(10) ≈ 39.9 bits.
        assert_eq!(check("804261937504"), Err(PasswordViolation::TooPredictable { min_classes: 3 }));
    }

    #[test]
    fn entropy_estimate_behaves() {
        assert!(entropy_bits("") < f64::EPSILON);
        assert!((entropy_bits("aaaa") - (26f64.log2() + 3.0)).abs() < 1e-9);
        assert!(entropy_bits("aZ9!") > entropy_bits("azqk"));
        assert_eq!(character_classes("aZ9!"), 4);
        assert_eq!(character_classes("日本語"), 1);
    }

    #[test]
    fn messages_are_sentences_for_users() {
        assert_eq!(PasswordViolation::Common.to_string(), "the password is on the list of commonly used passwords");
        assert_eq!(
            PasswordViolation::TooShort { min: 12 }.to_string(),
            "the password must be at least 12 characters long"
        );
        assert!(PasswordViolation::TooPredictable { min_classes: 3 }.to_string().contains("at least 3"));
    }

    #[test]
    fn garbage_does_not_panic() {
        let _ = check("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}");
        let _ = check(&"\u{10ffff}".repeat(50));
        let _ = PasswordPolicy { min_length: 0, max_length: usize::MAX, ..PasswordPolicy::default() }.check("", &[""]);
    }
}
