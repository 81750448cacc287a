//! Lowercase hexadecimal encoding of digests and signatures, for storage columns and exports.

use crate::error::AuditError;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lowercase hexadecimal.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `N` bytes from hexadecimal (either case).
///
/// # Errors
///
/// [`AuditError::InvalidHex`] if the text is not exactly `2 * N` hex digits.
pub fn from_hex<const N: usize>(text: &str) -> Result<[u8; N], AuditError> {
    let error = AuditError::InvalidHex { expected: N * 2 };
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return Err(error);
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = nibble(pair[0]).ok_or_else(|| error.clone())?;
        let low = nibble(pair[1]).ok_or_else(|| error.clone())?;
        *slot = (high << 4) | low;
    }
    Ok(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{from_hex, to_hex};
    use crate::error::AuditError;

    #[test]
    fn round_trips() {
        let bytes = [0x00, 0x01, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex::<4>("0001ABff"), Ok(bytes));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(from_hex::<2>("abc"), Err(AuditError::InvalidHex { expected: 4 }));
        assert_eq!(from_hex::<2>("zzzz"), Err(AuditError::InvalidHex { expected: 4 }));
        assert_eq!(from_hex::<1>("é"), Err(AuditError::InvalidHex { expected: 2 }));
    }
}
