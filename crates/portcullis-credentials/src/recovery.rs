//! One-time recovery codes, the fallback when an admin loses their TOTP device.
//!
//! A code looks like `7kq2m-9xv4d-hc3ab-pw8tz`: 20 symbols of Crockford base32 in lower case
//! (digits and letters without `i`, `l`, `o`, `u`), 100 random bits. When checking, input is
//! lower-cased, spaces and dashes are removed, and the look-alikes `o` → `0`, `i`/`l` → `1`
//! are folded as Crockford specifies, so a code read aloud or retyped from paper still works.
//!
//! Only [`hash_recovery_code`] is stored. SHA-256 suffices for the same reason as for API keys:
//! 100 random bits cannot be brute-forced offline, so a slow hash would add nothing. The store
//! deletes (or marks) a code's row when it is used; that is what makes it one-time.

use crate::encoding::base32_encode;

/// Crockford's base32 alphabet, lower case.
const CROCKFORD_LOWER: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per group and groups per code.
const GROUP_LEN: usize = 5;
const GROUPS: usize = 4;
/// Symbols in a code: 20 × 5 bits = 100 bits.
const SYMBOLS: usize = GROUP_LEN * GROUPS;

/// Generates `count` fresh recovery codes of 100 bits each, formatted `xxxxx-xxxxx-xxxxx-xxxxx`.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
#[must_use]
pub fn generate_recovery_codes(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            // 13 bytes = 104 bits; the first 100 become 20 symbols.
            let symbols = base32_encode(&crate::random::bytes::<13>(), CROCKFORD_LOWER);
            let symbols = symbols.get(..SYMBOLS).unwrap_or(&symbols);
            let groups: Vec<&str> =
                (0..GROUPS).filter_map(|g| symbols.get(g * GROUP_LEN..(g + 1) * GROUP_LEN)).collect();
            groups.join("-")
        })
        .collect()
}

/// Normalises a typed code (see the module docs) and returns its SHA-256, the stored form.
#[must_use]
pub fn hash_recovery_code(code: &str) -> [u8; 32] {
    crate::token::digest(&normalise(code))
}

/// Whether `code` (as typed) matches the `stored` hash, compared in constant time.
#[must_use]
pub fn matches(code: &str, stored: &[u8; 32]) -> bool {
    crate::token::constant_time_eq(&hash_recovery_code(code), stored)
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_documented_shape() {
        let codes = generate_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 23, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4);
            for g in groups {
                assert_eq!(g.len(), 5);
                assert!(g.bytes().all(|c| CROCKFORD_LOWER.contains(&c)), "{code}");
            }
            assert!(!code.contains(['i', 'l', 'o', 'u']));
        }
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn matching_is_forgiving_about_format_only() {
        let code = generate_recovery_codes(1).remove(0);
        let stored = hash_recovery_code(&code);
        assert!(matches(&code, &stored));
        assert!(matches(&code.to_uppercase(), &stored));
        assert!(matches(&code.replace('-', ""), &stored));
        assert!(matches(&format!("  {} ", code.replace('-', " ")), &stored));
        let mut other = code.clone().into_bytes();
        other[0] = if other[0] == b'a' { b'b' } else { b'a' };
        assert!(!matches(&String::from_utf8_lossy(&other), &stored));
        assert!(!matches("", &stored));
    }

    #[test]
    fn look_alikes_are_folded() {
        let stored = hash_recovery_code("01abc-01abc-01abc-01abc");
        assert!(matches("OIABC-oLabc-01ABC-01abc", &stored));
    }

    #[test]
    fn garbage_does_not_panic() {
        let stored = hash_recovery_code("00000-00000-00000-00000");
        assert!(!matches("\u{0}\u{ffff}é--  ", &stored));
        assert!(!matches(&"x".repeat(100_000), &stored));
    }
}
