//! Strict unpadded base64url (RFC 7515 §2): no padding, no whitespace, canonical trailing bits.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Segments that decode to at most this many bytes use a stack buffer instead of the heap.
const STACK_BYTES: usize = 1536;

/// Decodes `input` and hands the bytes to `f`; `None` when `input` is not strict base64url.
///
/// Small inputs (every realistic JOSE header and signature) decode into a stack buffer, so the verify path
/// does not allocate for them.
pub(crate) fn with_decoded<R>(input: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let estimate = base64::decoded_len_estimate(input.len());
    if estimate <= STACK_BYTES {
        let mut buf = [0u8; STACK_BYTES];
        let n = URL_SAFE_NO_PAD.decode_slice(input, &mut buf[..estimate]).ok()?;
        Some(f(&buf[..n]))
    } else {
        let bytes = decode(input)?;
        Some(f(&bytes))
    }
}

/// Decodes `input` into a new vector; `None` when it is not strict base64url.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_small_and_large() {
        assert_eq!(with_decoded(b"aGVsbG8", <[u8]>::to_vec), Some(b"hello".to_vec()));
        let big = vec![0xA5u8; 5000];
        let enc = encode(&big);
        assert_eq!(with_decoded(enc.as_bytes(), <[u8]>::to_vec), Some(big));
        assert_eq!(with_decoded(b"", <[u8]>::len), Some(0));
    }

    #[test]
    fn refuses_padding_standard_alphabet_whitespace_and_loose_bits() {
        for bad in ["aGVsbG8=", "a+b/", "aGVs bG8", "aGVsbG9", "a", "aGVsbG8\n", "é"] {
            assert_eq!(with_decoded(bad.as_bytes(), |_| ()), None, "{bad:?}");
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
