//! Path normalization, done once before routing: the form that is routed,
//! inspected and forwarded is the same (RFC 3986 §6.2.2).

use std::borrow::Cow;

use crate::decode::hex;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("path is not absolute")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape")]
    BadEscape,
    /// `%2F` or `%5C`, or a raw backslash: a separator hidden from routing.
    #[error("encoded or alternative path separator")]
    EncodedSeparator,
    /// `%25` followed by hex digits: double encoding meant to slip past a decoder.
    #[error("double percent-encoding")]
    DoubleEncoding,
    /// A control character or NUL, raw or encoded.
    #[error("control character in path")]
    ControlChar,
    /// A `..` segment that climbs above the root.
    #[error("path traversal above the root")]
    Traversal,
}

impl PathError {
    /// The stable reason code for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotAbsolute => "request.path.not_absolute",
            Self::BadEscape => "request.path.bad_escape",
            Self::EncodedSeparator => "request.path.encoded_separator",
            Self::DoubleEncoding => "request.path.double_encoding",
            Self::ControlChar => "request.path.control_char",
            Self::Traversal => "request.path.traversal",
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalizes a request path: decodes percent-escapes of unreserved
/// characters, upper-cases the remaining escapes, merges repeated slashes and
/// resolves `.` and `..` segments. Returns the input unchanged (borrowed) when
/// it is already normal, which is the common case.
///
/// # Errors
/// Refuses, rather than repairs, anything that is an evasion attempt: see
/// [`PathError`].
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut needs_work = false;
    let mut prev_slash = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(PathError::EncodedSeparator),
            0..=0x20 | 0x7f => return Err(PathError::ControlChar),
            b'%' => needs_work = true,
            b'/' if prev_slash => needs_work = true,
            b'.' if prev_slash => {
                let rest = &bytes[i..];
                if rest == b"." || rest == b".." || rest.starts_with(b"./") || rest.starts_with(b"../") {
                    needs_work = true;
                }
            }
            _ => {}
        }
        prev_slash = b == b'/';
    }
    if !needs_work {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode(bytes)?;
    Ok(Cow::Owned(resolve_segments(&decoded)?))
}

/// Decodes unreserved escapes and checks the others. Works on bytes: other
/// characters (including multi-byte UTF-8) are copied verbatim.
fn decode(bytes: &[u8]) -> Result<String, PathError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        else {
            return Err(PathError::BadEscape);
        };
        let value = hi << 4 | lo;
        match value {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            0..=0x1f | 0x7f => return Err(PathError::ControlChar),
            v if is_unreserved(v) => out.push(v),
            v => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend_from_slice(&[b'%', HEX[usize::from(v >> 4)], HEX[usize::from(v & 0xf)]]);
            }
        }
        i += 3;
    }
    // An encoded `%` followed by a hex digit (raw or just decoded) is a second
    // layer of encoding that a decoding upstream would unwrap: refused.
    if out.windows(4).any(|w| w.starts_with(b"%25") && w.get(3).copied().and_then(hex).is_some()) {
        return Err(PathError::DoubleEncoding);
    }
    // Only ASCII was inserted into bytes copied from a `str`: still UTF-8.
    String::from_utf8(out).map_err(|_| PathError::BadEscape)
}

/// Merges slashes and resolves dot segments; a trailing slash is kept.
fn resolve_segments(path: &str) -> Result<String, PathError> {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(PathError::Traversal)?;
                trailing_slash = true;
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize_path(p).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(normalize_path("/v1/users/42"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalize_path("/a.b/c..d/.e"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn dot_segments_and_slashes_are_resolved() {
        assert_eq!(norm("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(norm("//a///b/").unwrap(), "/a/b/");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/public/../admin").unwrap(), "/admin");
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_uppercased() {
        assert_eq!(norm("/%61dmin").unwrap(), "/admin");
        assert_eq!(norm("/a%2e%2e/b").unwrap(), "/a../b");
        assert_eq!(norm("/a%3fb%3a").unwrap(), "/a%3Fb%3A");
    }

    #[test]
    fn traversal_and_evasion_are_refused() {
        assert_eq!(norm("/../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(norm("/a/%2e%2e/%2e%2e/etc"), Err(PathError::Traversal));
        assert_eq!(norm("/a%2fb"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/a%5c..%5cb"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/a\\b"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/%252e%252e/"), Err(PathError::DoubleEncoding));
        assert_eq!(norm("/a%00"), Err(PathError::ControlChar));
        assert_eq!(norm("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%2"), Err(PathError::BadEscape));
        assert_eq!(norm("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(norm("*"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn fuzz_non_ascii_segments_are_kept_verbatim() {
        // Found by fuzz/path_normalize: bytes were widened one by one to chars.
        assert_eq!(norm("/a/%2e/d\u{d4}\u{9b}/").unwrap(), "/a/d\u{d4}\u{9b}/");
        assert_eq!(norm("/caf\u{e9}/./x").unwrap(), "/caf\u{e9}/x");
    }

    #[test]
    fn fuzz_decoded_hex_after_encoded_percent_is_double_encoding() {
        // Found by fuzz/path_normalize: `%25%64` decoded to `%25d`, which the
        // next decoder reads as an escape; normalization was not idempotent.
        assert_eq!(norm("/a/%25%64%f1"), Err(PathError::DoubleEncoding));
        assert_eq!(norm("/%25%32%65"), Err(PathError::DoubleEncoding));
        assert_eq!(norm("/100%25/x").unwrap(), "/100%25/x");
    }

    #[test]
    fn normalization_is_idempotent() {
        for p in ["/a/./b/../c", "//x//y/", "/%61%62%2F", "/%7e/%41/..", "/a/b/.", "/%e2%82%ac"] {
            if let Ok(once) = norm(p) {
                assert_eq!(norm(&once).unwrap(), once, "{p}");
            }
        }
    }
}
