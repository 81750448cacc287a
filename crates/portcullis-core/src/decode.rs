//! Percent-decoding of path segments and query components (RFC 3986 §2.1),
//! shared by every policy that reads decoded request parts.

use std::borrow::Cow;

/// The value of one hex digit.
pub fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Where the text comes from: in a query, `+` stands for a space
/// (`application/x-www-form-urlencoded`, which is what clients send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A path segment: `+` is itself.
    Path,
    /// A query name or value: `+` is a space.
    Query,
}

/// Decodes `text`; `None` for a malformed escape or bytes that are not UTF-8.
/// Borrows when there is nothing to decode, which is the common case.
pub fn percent_decode(text: &str, component: Component) -> Option<Cow<'_, str>> {
    let plus = component == Component::Query;
    if !text.bytes().any(|b| b == b'%' || (plus && b == b'+')) {
        return Some(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let high = hex(bytes.next()?)?;
                let low = hex(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            b'+' if plus => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b+c", Component::Query).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a%20b+c", Component::Path).as_deref(), Some("a b+c"));
        assert!(matches!(percent_decode("plain", Component::Query), Some(Cow::Borrowed("plain"))));
        assert_eq!(percent_decode("%C3%A9", Component::Path).as_deref(), Some("é"));
        assert!(percent_decode("%zz", Component::Path).is_none());
        assert!(percent_decode("%4", Component::Path).is_none());
        assert!(percent_decode("%FF", Component::Path).is_none(), "not UTF-8");
    }
}
