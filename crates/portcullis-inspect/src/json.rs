//! JSON threat protection: a validator over the whole document that never
//! builds a tree. It enforces nesting depth, entries per object, array
//! length, string, key and number lengths, the total count of numbers,
//! unique keys and valid UTF-8, in linear time and with memory bounded by
//! the limits (one small frame per nesting level; for duplicate detection,
//! see [`keys`]). It reads the grammar straight from the bytes, with no
//! state kept between them: runs of plain string bytes are taken eight at a
//! time, and UTF-8 is checked only in strings that are not ASCII (outside
//! strings, JSON is ASCII).

mod keys;

use keys::{Key, ObjectKeys, OpenKeys};

/// Limits for one JSON document. Every field has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of objects and arrays.
    pub max_depth: u32,
    /// Entries in one object.
    pub max_object_entries: u32,
    /// Elements in one array.
    pub max_array_len: u32,
    /// Bytes in one string value (as written, escapes counted as written).
    pub max_string_len: u32,
    /// Bytes in one object key.
    pub max_key_len: u32,
    /// Characters in one number.
    pub max_number_len: u32,
    /// Numbers in the whole document.
    pub max_numbers: u32,
    /// Refuse objects that repeat a key.
    pub reject_duplicate_keys: bool,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_object_entries: 1_000,
            max_array_len: 10_000,
            max_string_len: 64 * 1024,
            max_key_len: 256,
            max_number_len: 64,
            max_numbers: 100_000,
            reject_duplicate_keys: true,
        }
    }
}

impl JsonLimits {
    /// Limits that only check syntax (and UTF-8): everything else is unbounded.
    pub fn syntax_only() -> Self {
        Self {
            max_depth: 512,
            max_object_entries: u32::MAX,
            max_array_len: u32::MAX,
            max_string_len: u32::MAX,
            max_key_len: u32::MAX,
            max_number_len: u32::MAX,
            max_numbers: u32::MAX,
            reject_duplicate_keys: false,
        }
    }
}

/// Why a JSON body is refused. Each has a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON.
    #[error("invalid JSON syntax")]
    Syntax,
    /// Invalid UTF-8 or a lone surrogate escape.
    #[error("invalid UTF-8")]
    Utf8,
    /// Nested too deep.
    #[error("nesting too deep")]
    Depth,
    /// Too many entries in an object.
    #[error("too many object entries")]
    ObjectEntries,
    /// Too many elements in an array.
    #[error("array too long")]
    ArrayLength,
    /// A string value too long.
    #[error("string too long")]
    StringLength,
    /// A key too long.
    #[error("key too long")]
    KeyLength,
    /// A number too long.
    #[error("number too long")]
    NumberLength,
    /// Too many numbers.
    #[error("too many numbers")]
    NumberCount,
    /// A key repeated within one object.
    #[error("duplicate key")]
    DuplicateKey,
}

impl JsonError {
    /// The stable reason code for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Syntax => "inspect.json.syntax",
            Self::Utf8 => "inspect.json.utf8",
            Self::Depth => "inspect.json.depth",
            Self::ObjectEntries => "inspect.json.object_entries",
            Self::ArrayLength => "inspect.json.array_length",
            Self::StringLength => "inspect.json.string_length",
            Self::KeyLength => "inspect.json.key_length",
            Self::NumberLength => "inspect.json.number_length",
            Self::NumberCount => "inspect.json.number_count",
            Self::DuplicateKey => "inspect.json.duplicate_key",
        }
    }
}

/// One open object or array.
#[derive(Debug)]
enum Frame {
    Object { entries: u32, keys: ObjectKeys },
    Array { len: u32 },
}

/// Checks one whole document against `limits`.
///
/// # Errors
/// The first limit or syntax rule the document breaks.
pub fn scan(doc: &[u8], limits: JsonLimits) -> Result<(), JsonError> {
    let mut checker = Checker { doc, at: 0, limits, numbers: 0, stack: Vec::new(), keys: OpenKeys::default() };
    checker.value()?;
    if checker.take().is_some() { Err(JsonError::Syntax) } else { Ok(()) }
}

/// Where the check is in one document.
struct Checker<'a> {
    doc: &'a [u8],
    /// The next byte to read.
    at: usize,
    limits: JsonLimits,
    numbers: u32,
    /// The open containers, innermost last.
    stack: Vec<Frame>,
    /// The keys of the open objects, when duplicates are refused.
    keys: OpenKeys,
}

impl Checker<'_> {
    /// Reads one value, with everything nested in it.
    fn value(&mut self) -> Result<(), JsonError> {
        'value: loop {
            match self.take().ok_or(JsonError::Syntax)? {
                b'{' => {
                    self.open(Frame::Object { entries: 0, keys: self.keys.open() })?;
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        self.close_object();
                    } else {
                        self.member()?;
                        continue 'value;
                    }
                }
                b'[' => {
                    self.open(Frame::Array { len: 0 })?;
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        self.stack.pop();
                    } else {
                        self.element()?;
                        continue 'value;
                    }
                }
                b'"' => {
                    self.string(self.limits.max_string_len, JsonError::StringLength)?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                _ => return Err(JsonError::Syntax),
            }
            // A value is complete: close what it completes, up to the next
            // member or element.
            loop {
                let object = match self.stack.last() {
                    None => return Ok(()),
                    Some(frame) => matches!(frame, Frame::Object { .. }),
                };
                match (self.take(), object) {
                    (Some(b','), true) => {
                        self.member()?;
                        continue 'value;
                    }
                    (Some(b','), false) => {
                        self.element()?;
                        continue 'value;
                    }
                    (Some(b'}'), true) => self.close_object(),
                    (Some(b']'), false) => {
                        self.stack.pop();
                    }
                    _ => return Err(JsonError::Syntax),
                }
            }
        }
    }

    /// The next byte that is not whitespace, consumed.
    fn take(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    /// The next byte that is not whitespace, left in place.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.doc.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn open(&mut self, frame: Frame) -> Result<(), JsonError> {
        if self.stack.len() >= self.limits.max_depth as usize {
            return Err(JsonError::Depth);
        }
        self.stack.push(frame);
        Ok(())
    }

    fn close_object(&mut self) {
        if let Some(Frame::Object { keys, .. }) = self.stack.pop() {
            self.keys.close(&keys);
        }
    }

    /// The next element of the innermost array begins.
    fn element(&mut self) -> Result<(), JsonError> {
        if let Some(Frame::Array { len }) = self.stack.last_mut() {
            *len += 1;
            if *len > self.limits.max_array_len {
                return Err(JsonError::ArrayLength);
            }
        }
        Ok(())
    }

    /// Reads the next member's key of the innermost object, and its `:`.
    fn member(&mut self) -> Result<(), JsonError> {
        if let Some(Frame::Object { entries, .. }) = self.stack.last_mut() {
            *entries += 1;
            if *entries > self.limits.max_object_entries {
                return Err(JsonError::ObjectEntries);
            }
        }
        if self.take() != Some(b'"') {
            return Err(JsonError::Syntax);
        }
        let start = self.at;
        let escaped = self.string(self.limits.max_key_len, JsonError::KeyLength)?;
        if self.limits.reject_duplicate_keys {
            let written = start..self.at - 1;
            let key = if escaped {
                let decoded = self.keys.decoded();
                let from = decoded.len();
                decode(&self.doc[written], decoded);
                Key::Decoded(from..decoded.len())
            } else {
                Key::Written(written)
            };
            if let Some(Frame::Object { keys, .. }) = self.stack.last_mut()
                && self.keys.end(self.doc, key, keys)
            {
                return Err(JsonError::DuplicateKey);
            }
        }
        if self.take() == Some(b':') { Ok(()) } else { Err(JsonError::Syntax) }
    }

    /// Reads a string after its opening quote, at most `max` bytes as
    /// written; whether it has escapes.
    #[inline(always)]
    fn string(&mut self, max: u32, too_long: JsonError) -> Result<bool, JsonError> {
        let start = self.at;
        let mut escaped = false;
        loop {
            let rest = &self.doc[self.at..];
            let (run, ascii) = plain_run(rest);
            // A run stops before an ASCII byte or at the end, never inside a character.
            if !ascii && std::str::from_utf8(&rest[..run]).is_err() {
                return Err(JsonError::Utf8);
            }
            self.at += run;
            // Checked once a run: an escape's bytes count in the next one.
            if self.at - start > max as usize {
                return Err(too_long);
            }
            match rest.get(run) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    self.escape()?;
                    escaped = true;
                }
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    /// Reads one escape sequence, at its backslash.
    fn escape(&mut self) -> Result<(), JsonError> {
        match self.doc.get(self.at + 1) {
            Some(b'u') => self.unicode_escape(),
            Some(&b) if short_escape(b).is_some() => {
                self.at += 2;
                Ok(())
            }
            _ => Err(JsonError::Syntax),
        }
    }

    /// Reads `\uXXXX` (a surrogate pair as two), at its backslash.
    fn unicode_escape(&mut self) -> Result<(), JsonError> {
        let unit = self.hex_escape()?;
        match unit {
            0xD800..=0xDBFF => {
                if self.doc.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(JsonError::Utf8);
                }
                if !(0xDC00..=0xDFFF).contains(&self.hex_escape()?) {
                    return Err(JsonError::Utf8);
                }
                Ok(())
            }
            0xDC00..=0xDFFF => Err(JsonError::Utf8),
            _ => Ok(()),
        }
    }

    /// The unit of the `\u` escape at `at`, which it passes.
    fn hex_escape(&mut self) -> Result<u16, JsonError> {
        let unit = self.doc.get(self.at + 2..).and_then(hex4).ok_or(JsonError::Syntax)?;
        self.at += 6;
        Ok(unit)
    }

    /// Reads a number after its first character (RFC 8259 §6).
    fn number(&mut self) -> Result<(), JsonError> {
        self.numbers += 1;
        if self.numbers > self.limits.max_numbers {
            return Err(JsonError::NumberCount);
        }
        let start = self.at - 1;
        let int = if self.doc[start] == b'-' { self.digits() } else { 1 + self.digits() };
        // No leading zeros: a zero integer part is that one digit.
        let leading_zero = self.doc.get(self.at - int) == Some(&b'0');
        let mut ok = int == 1 || (int > 1 && !leading_zero);
        if self.doc.get(self.at) == Some(&b'.') {
            self.at += 1;
            ok &= self.digits() > 0;
        }
        if matches!(self.doc.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.doc.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            ok &= self.digits() > 0;
        }
        if self.at - start > self.limits.max_number_len as usize {
            Err(JsonError::NumberLength)
        } else if ok {
            Ok(())
        } else {
            Err(JsonError::Syntax)
        }
    }

    /// Passes a run of digits; how many.
    fn digits(&mut self) -> usize {
        let n = self.doc[self.at..].iter().take_while(|c| c.is_ascii_digit()).count();
        self.at += n;
        n
    }

    /// Reads the rest of `true`, `false` or `null`.
    fn literal(&mut self, rest: &[u8]) -> Result<(), JsonError> {
        if self.doc.get(self.at..self.at + rest.len()) != Some(rest) {
            return Err(JsonError::Syntax);
        }
        self.at += rest.len();
        Ok(())
    }
}

/// The byte a one-letter escape (`\n`, `\"`, ...) stands for.
fn short_escape(letter: u8) -> Option<u8> {
    Some(match letter {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0C,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// The UTF-16 unit of the first four bytes as hex digits.
fn hex4(digits: &[u8]) -> Option<u16> {
    digits.get(..4)?.iter().try_fold(0u16, |unit, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some(unit << 4 | u16::from(digit))
    })
}

/// Appends the decoded bytes of a checked string's contents (between its
/// quotes) to `out`.
fn decode(written: &[u8], out: &mut Vec<u8>) {
    let mut rest = written;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let escape = &rest[at + 1..];
        let Some(unit) = escape.strip_prefix(b"u").and_then(hex4) else {
            out.push(escape.first().copied().and_then(short_escape).unwrap_or(b'?'));
            rest = escape.get(1..).unwrap_or_default();
            continue;
        };
        let (c, used) = match escape.get(7..).and_then(hex4) {
            Some(low) if (0xD800..=0xDBFF).contains(&unit) && (0xDC00..=0xDFFF).contains(&low) => {
                (0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00), 11)
            }
            _ => (u32::from(unit), 5),
        };
        let c = char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        rest = escape.get(used..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
}

/// How many leading bytes of `bytes` a string can take without a closer
/// look (anything but `"`, `\` and control characters), read eight at a
/// time, and whether they are all ASCII.
fn plain_run(bytes: &[u8]) -> (usize, bool) {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Bit 7 of a byte is set where the byte is zero, exact up to the first
    // such byte (a borrow can only mark bytes after it).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut high = 0;
    let mut words = bytes.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let stop = (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')));
        if stop != 0 {
            let at = n * 8 + (stop.trailing_zeros() / 8) as usize;
            let high = high | (x & HIGH & ((stop & stop.wrapping_neg()) - 1));
            return (at, high == 0);
        }
        high |= x & HIGH;
    }
    let done = bytes.len() - words.remainder().len();
    let tail = words.remainder().iter().take_while(|&&c| c >= 0x20 && c != b'"' && c != b'\\').count();
    let ascii = high == 0 && words.remainder()[..tail].is_ascii();
    (done + tail, ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) {
        assert_eq!(scan(doc.as_bytes(), JsonLimits::default()), Ok(()), "{doc}");
    }

    fn err(doc: &[u8], limits: JsonLimits, expected: JsonError) {
        assert_eq!(scan(doc, limits), Err(expected), "{}", String::from_utf8_lossy(doc));
    }

    #[test]
    fn valid_documents_pass() {
        for doc in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
            r#"[]"#,
            r#"{}"#,
            " 0 ",
            "-0.5e+10",
            r#""\u00e9\ud83d\ude00\n""#,
            r#"{"k":"caf\u00e9 ☕"}"#,
            "[1,2.5,-3e2,4E-1]",
        ] {
            ok(doc);
        }
    }

    #[test]
    fn syntax_errors_are_refused() {
        for doc in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "01",
            "1.",
            "-",
            "tru",
            "[1] 2",
            "{'a':1}",
            "\"a\u{1}\"",
            "[1 2]",
            "{\"a\":1,}",
            "NaN",
        ] {
            err(doc.as_bytes(), JsonLimits::default(), JsonError::Syntax);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let deep = "[".repeat(40) + &"]".repeat(40);
        err(deep.as_bytes(), JsonLimits::default(), JsonError::Depth);
        let limits = JsonLimits {
            max_object_entries: 2,
            max_array_len: 3,
            max_string_len: 4,
            max_key_len: 2,
            max_number_len: 5,
            max_numbers: 4,
            ..JsonLimits::default()
        };
        err(br#"{"a":1,"b":2,"c":3}"#, limits, JsonError::ObjectEntries);
        err(b"[1,2,3,4]", limits, JsonError::ArrayLength);
        err(br#"["abcde"]"#, limits, JsonError::StringLength);
        err(br#"{"abc":1}"#, limits, JsonError::KeyLength);
        err(b"[123456]", limits, JsonError::NumberLength);
        err(b"[[1,2],[3],[4,5]]", limits, JsonError::NumberCount);
    }

    #[test]
    fn number_length_counts_every_part() {
        let limits = JsonLimits { max_number_len: 6, ..JsonLimits::default() };
        for (doc, expected) in [
            ("[123456]", Ok(())),
            ("[1234567]", Err(JsonError::NumberLength)),
            ("[-1.5e30]", Err(JsonError::NumberLength)),
            ("[-1.5e3]", Ok(())),
            ("[0.1234]", Ok(())),
            ("[0.12345]", Err(JsonError::NumberLength)),
        ] {
            assert_eq!(scan(doc.as_bytes(), limits), expected, "{doc}");
        }
    }

    #[test]
    fn every_prefix_of_a_document_is_refused_without_panic() {
        let doc = r#"{"a":[1,-2.5e+3,true,false,null,"x\u00e9\ud83d\ude00\n"],"b":{"c":"é"}}"#;
        ok(doc);
        for end in 0..doc.len() {
            let prefix = &doc.as_bytes()[..end];
            assert!(scan(prefix, JsonLimits::default()).is_err(), "{}", String::from_utf8_lossy(prefix));
        }
    }

    #[test]
    fn duplicate_keys_are_refused_even_when_escaped() {
        err(br#"{"role":"user","role":"admin"}"#, JsonLimits::default(), JsonError::DuplicateKey);
        err(br#"{"role":1,"\u0072ole":2}"#, JsonLimits::default(), JsonError::DuplicateKey);
        err(r#"{"\ud83d\ude00":1,"😀":2}"#.as_bytes(), JsonLimits::default(), JsonError::DuplicateKey);
        err(br#"{"a\nb":1,"a\u000Ab":2}"#, JsonLimits::default(), JsonError::DuplicateKey);
        err(br#"{"\"\\\/":1,"\u0022\u005c/":2}"#, JsonLimits::default(), JsonError::DuplicateKey);
        ok(r#"{"\ud83d\ude00":1,"\ud83d\ude01":2,"a\nb":3,"a\u000bb":4}"#);
        ok(r#"{"a":{"a":1},"b":{"a":2}}"#);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        for doc in [
            &b"\"\xff\""[..],
            b"\"\xc0\xaf\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xe2\x82\"",
            br#""\udc00""#,
            br#""\ud800x""#,
            br#""\ud800\u0041""#,
        ] {
            err(doc, JsonLimits::default(), JsonError::Utf8);
        }
    }
}
