//! Wall-clock time and fresh identifiers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh random identifier such as `con_3k7q…`: a type tag and 96 random
/// bits in lowercase base32, so ids cannot be guessed or enumerated.
#[must_use]
pub(crate) fn new_id(tag: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut id = String::with_capacity(tag.len() + 21);
    id.push_str(tag);
    id.push('_');
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            id.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        id.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    id
}

/// Parses 64 hex digits into 32 bytes.
pub(crate) fn digest_from_hex(text: &str) -> Option<[u8; 32]> {
    portcullis_credentials::from_hex(text).and_then(|bytes| bytes.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_tagged_and_distinct() {
        let a = new_id("con");
        assert!(a.starts_with("con_") && a.len() == 4 + 20, "{a}");
        assert_ne!(a, new_id("con"));
    }

    #[test]
    fn hex_round_trips() {
        let digest = [0xabu8; 32];
        assert_eq!(digest_from_hex(&portcullis_credentials::to_hex(&digest)), Some(digest));
        assert_eq!(digest_from_hex("zz"), None);
    }
}
