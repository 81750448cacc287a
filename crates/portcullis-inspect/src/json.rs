//! Streaming JSON threat protection: a byte-at-a-time validator that never
//! builds a tree. It enforces nesting depth, entries per object, array
//! length, string, key and number lengths, the total count of numbers,
//! unique keys and valid UTF-8, in linear time and with memory bounded by
//! the limits (one small frame per nesting level; for duplicate detection,
//! see [`keys`]). Runs of plain string bytes are taken eight at a time.

mod keys;

use keys::{ObjectKeys, OpenKeys};

/// Limits for one JSON document. Every field has a safe default.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where the scanner is in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value must come (top level, after `:` or `,` in an array).
    Value,
    /// After `[`: a value or `]`.
    ArrayStart,
    /// After `{`: a key or `}`.
    ObjectStart,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or the closer.
    AfterValue,
    /// The top-level value is complete: only whitespace may follow.
    Done,
    /// Inside a string (key or value).
    Str,
    /// After a backslash in a string.
    Escape,
    /// In `\uXXXX`: how many hex digits are read.
    Unicode(u8),
    /// In a number.
    Number(NumberPart),
    /// In `true`, `false` or `null`: the expected rest.
    Literal(&'static [u8], u8),
}

/// The parts of a JSON number (RFC 8259 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberPart {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

/// A streaming JSON validator. Feed it chunks as they arrive; `finish` at the end.
#[derive(Debug)]
pub struct JsonScanner {
    limits: JsonLimits,
    state: State,
    stack: Vec<Frame>,
    /// The string being read is a key.
    in_key: bool,
    /// Bytes of the current string or number.
    len: u32,
    numbers: u32,
    /// UTF-8 continuation bytes still expected, and the allowed range of the next one.
    utf8_pending: u8,
    utf8_next: (u8, u8),
    /// A high surrogate from `\uD8xx` waiting for its low half.
    high_surrogate: Option<u16>,
    unicode: u16,
    /// The keys of the open objects, when duplicates are refused.
    keys: OpenKeys,
}

impl JsonScanner {
    /// A scanner for one document.
    pub fn new(limits: JsonLimits) -> Self {
        Self {
            limits,
            state: State::Value,
            stack: Vec::new(),
            in_key: false,
            len: 0,
            numbers: 0,
            utf8_pending: 0,
            utf8_next: (0x80, 0xBF),
            high_surrogate: None,
            unicode: 0,
            keys: OpenKeys::default(),
        }
    }

    /// Scans the next chunk.
    ///
    /// # Errors
    /// The first limit or syntax rule the document breaks.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), JsonError> {
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            match self.state {
                // Fast path: a run of plain, valid UTF-8 inside a string (the
                // bulk of most documents) is counted and collected at once
                // instead of byte by byte, and the closing quote that most
                // often follows is taken with it. A character split by the
                // chunk's end, or invalid UTF-8, is left to the byte-wise path.
                State::Str if self.utf8_pending == 0 && self.high_surrogate.is_none() => {
                    let rest = &chunk[i..];
                    let (run, ascii) = plain_run(rest);
                    let run = if ascii {
                        run
                    } else {
                        std::str::from_utf8(&rest[..run]).map_or_else(|e| e.valid_up_to(), str::len)
                    };
                    if run > 0 {
                        self.grow_by(run)?;
                        self.key_bytes(&rest[..run]);
                        i += run;
                        if rest.get(run) == Some(&b'"') {
                            self.string_end()?;
                            i += 1;
                        }
                        continue;
                    }
                }
                // Fast path: the digits of a number's integer, fraction or
                // exponent, counted at once.
                State::Number(NumberPart::Int | NumberPart::Frac | NumberPart::ExpDigits) => {
                    let digits = chunk[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                    if digits > 0 {
                        self.number_grow_by(digits)?;
                        i += digits;
                        continue;
                    }
                }
                _ => {}
            }
            self.byte(b)?;
            i += 1;
        }
        Ok(())
    }

    /// Ends the document.
    ///
    /// # Errors
    /// The document is incomplete (or empty).
    pub fn finish(&mut self) -> Result<(), JsonError> {
        if let State::Number(part) = self.state {
            self.end_number(part)?;
        }
        if self.state == State::Done { Ok(()) } else { Err(JsonError::Syntax) }
    }

    fn byte(&mut self, b: u8) -> Result<(), JsonError> {
        match self.state {
            State::Str => self.string_byte(b),
            State::Escape => self.escape_byte(b),
            State::Unicode(n) => self.unicode_byte(b, n),
            State::Number(part) => self.number_byte(b, part),
            State::Literal(rest, i) => {
                if rest.get(usize::from(i)) != Some(&b) {
                    return Err(JsonError::Syntax);
                }
                if usize::from(i) + 1 == rest.len() {
                    self.value_done();
                } else {
                    self.state = State::Literal(rest, i + 1);
                }
                Ok(())
            }
            _ if matches!(b, b' ' | b'\t' | b'\n' | b'\r') => Ok(()),
            State::Value | State::ArrayStart => {
                if b == b']' && self.state == State::ArrayStart {
                    return self.close(false);
                }
                self.value_start(b)
            }
            State::ObjectStart | State::Key => match b {
                b'"' => self.key_start(),
                b'}' if self.state == State::ObjectStart => self.close(true),
                _ => Err(JsonError::Syntax),
            },
            State::Colon if b == b':' => {
                self.state = State::Value;
                Ok(())
            }
            State::AfterValue => match (b, self.stack.last()) {
                (b',', Some(Frame::Object { .. })) => {
                    self.state = State::Key;
                    Ok(())
                }
                (b',', Some(Frame::Array { .. })) => {
                    self.state = State::Value;
                    Ok(())
                }
                (b'}', Some(Frame::Object { .. })) => self.close(true),
                (b']', Some(Frame::Array { .. })) => self.close(false),
                _ => Err(JsonError::Syntax),
            },
            State::Colon | State::Done => Err(JsonError::Syntax),
        }
    }

    /// A value begins with `b`; counts it as an array element where it is one.
    fn value_start(&mut self, b: u8) -> Result<(), JsonError> {
        if let Some(Frame::Array { len }) = self.stack.last_mut() {
            *len += 1;
            if *len > self.limits.max_array_len {
                return Err(JsonError::ArrayLength);
            }
        }
        match b {
            b'{' | b'[' => {
                if self.stack.len() >= self.limits.max_depth as usize {
                    return Err(JsonError::Depth);
                }
                if b == b'{' {
                    self.stack.push(Frame::Object { entries: 0, keys: self.keys.open() });
                    self.state = State::ObjectStart;
                } else {
                    self.stack.push(Frame::Array { len: 0 });
                    self.state = State::ArrayStart;
                }
                Ok(())
            }
            b'"' => {
                self.in_key = false;
                self.len = 0;
                self.state = State::Str;
                Ok(())
            }
            b'-' | b'0'..=b'9' => {
                self.numbers += 1;
                if self.numbers > self.limits.max_numbers {
                    return Err(JsonError::NumberCount);
                }
                self.len = 1;
                self.state = State::Number(match b {
                    b'-' => NumberPart::Minus,
                    b'0' => NumberPart::Zero,
                    _ => NumberPart::Int,
                });
                Ok(())
            }
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            _ => Err(JsonError::Syntax),
        }
    }

    fn literal(&mut self, rest: &'static [u8]) -> Result<(), JsonError> {
        self.state = State::Literal(rest, 0);
        Ok(())
    }

    fn key_start(&mut self) -> Result<(), JsonError> {
        if let Some(Frame::Object { entries, .. }) = self.stack.last_mut() {
            *entries += 1;
            if *entries > self.limits.max_object_entries {
                return Err(JsonError::ObjectEntries);
            }
        }
        self.in_key = true;
        self.len = 0;
        if self.limits.reject_duplicate_keys {
            self.keys.start();
        }
        self.state = State::Str;
        Ok(())
    }

    fn close(&mut self, object: bool) -> Result<(), JsonError> {
        match self.stack.pop() {
            Some(Frame::Object { keys, .. }) if object => self.keys.close(&keys),
            Some(Frame::Array { .. }) if !object => {}
            _ => return Err(JsonError::Syntax),
        }
        self.value_done();
        Ok(())
    }

    fn value_done(&mut self) {
        self.state = if self.stack.is_empty() { State::Done } else { State::AfterValue };
    }

    /// Counts one byte of the current string against its limit.
    fn grow(&mut self) -> Result<(), JsonError> {
        self.grow_by(1)
    }

    /// Counts `n` bytes of the current string against its limit.
    fn grow_by(&mut self, n: usize) -> Result<(), JsonError> {
        self.len = self.len.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        match self.in_key {
            true if self.len > self.limits.max_key_len => Err(JsonError::KeyLength),
            false if self.len > self.limits.max_string_len => Err(JsonError::StringLength),
            _ => Ok(()),
        }
    }

    /// Whether the string being read is a key whose bytes `keys` collects.
    fn collects_key(&self) -> bool {
        self.in_key && self.limits.reject_duplicate_keys
    }

    /// The next decoded bytes of the current string, kept if it is a key.
    fn key_bytes(&mut self, bytes: &[u8]) {
        if self.collects_key() {
            self.keys.push(bytes);
        }
    }

    fn string_byte(&mut self, b: u8) -> Result<(), JsonError> {
        if self.high_surrogate.is_some() && b != b'\\' {
            return Err(JsonError::Utf8);
        }
        if self.utf8_pending > 0 {
            let (lo, hi) = self.utf8_next;
            if b < lo || b > hi {
                return Err(JsonError::Utf8);
            }
            self.utf8_pending -= 1;
            self.utf8_next = (0x80, 0xBF);
            self.key_bytes(&[b]);
            return self.grow();
        }
        match b {
            b'"' => self.string_end(),
            b'\\' => {
                self.state = State::Escape;
                self.grow()
            }
            0x00..=0x1F => Err(JsonError::Syntax),
            0x20..=0x7F => {
                self.key_bytes(&[b]);
                self.grow()
            }
            _ => {
                // RFC 3629 §4: the lead byte fixes how many continuation bytes
                // follow and the range of the first one (no overlongs, no surrogates).
                let (pending, next) = match b {
                    0xC2..=0xDF => (1, (0x80, 0xBF)),
                    0xE0 => (2, (0xA0, 0xBF)),
                    0xE1..=0xEC | 0xEE..=0xEF => (2, (0x80, 0xBF)),
                    0xED => (2, (0x80, 0x9F)),
                    0xF0 => (3, (0x90, 0xBF)),
                    0xF1..=0xF3 => (3, (0x80, 0xBF)),
                    0xF4 => (3, (0x80, 0x8F)),
                    _ => return Err(JsonError::Utf8),
                };
                self.utf8_pending = pending;
                self.utf8_next = next;
                self.key_bytes(&[b]);
                self.grow()
            }
        }
    }

    fn string_end(&mut self) -> Result<(), JsonError> {
        if !self.in_key {
            self.value_done();
            return Ok(());
        }
        if self.limits.reject_duplicate_keys
            && let Some(Frame::Object { keys, .. }) = self.stack.last_mut()
            && self.keys.end(keys)
        {
            return Err(JsonError::DuplicateKey);
        }
        self.state = State::Colon;
        Ok(())
    }

    fn escape_byte(&mut self, b: u8) -> Result<(), JsonError> {
        let decoded = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                self.unicode = 0;
                self.state = State::Unicode(0);
                return self.grow();
            }
            _ => return Err(JsonError::Syntax),
        };
        if self.high_surrogate.is_some() {
            return Err(JsonError::Utf8);
        }
        self.key_bytes(&[decoded]);
        self.state = State::Str;
        self.grow()
    }

    fn unicode_byte(&mut self, b: u8, n: u8) -> Result<(), JsonError> {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(JsonError::Syntax),
        };
        self.unicode = self.unicode << 4 | u16::from(digit);
        self.grow()?;
        if n < 3 {
            self.state = State::Unicode(n + 1);
            return Ok(());
        }
        self.state = State::Str;
        let unit = self.unicode;
        match (self.high_surrogate.take(), unit) {
            (None, 0xD800..=0xDBFF) => self.high_surrogate = Some(unit),
            (None, 0xDC00..=0xDFFF) | (Some(_), 0x0000..=0xDBFF | 0xE000..=0xFFFF) => return Err(JsonError::Utf8),
            (Some(high), low) => {
                let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                let mut buf = [0u8; 4];
                let c = char::from_u32(c).ok_or(JsonError::Utf8)?;
                self.key_bytes(c.encode_utf8(&mut buf).as_bytes());
            }
            (None, unit) => {
                let mut buf = [0u8; 4];
                let c = char::from_u32(u32::from(unit)).ok_or(JsonError::Utf8)?;
                self.key_bytes(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        Ok(())
    }

    fn number_byte(&mut self, b: u8, part: NumberPart) -> Result<(), JsonError> {
        use NumberPart as P;
        let next = match (part, b) {
            (P::Minus, b'0') => P::Zero,
            (P::Minus, b'1'..=b'9') | (P::Int, b'0'..=b'9') => P::Int,
            (P::Zero | P::Int, b'.') => P::Dot,
            (P::Dot | P::Frac, b'0'..=b'9') => P::Frac,
            (P::Zero | P::Int | P::Frac, b'e' | b'E') => P::Exp,
            (P::Exp, b'+' | b'-') => P::ExpSign,
            (P::Exp | P::ExpSign | P::ExpDigits, b'0'..=b'9') => P::ExpDigits,
            _ => {
                self.end_number(part)?;
                return self.byte(b);
            }
        };
        self.number_grow_by(1)?;
        self.state = State::Number(next);
        Ok(())
    }

    /// Counts `n` characters of the current number against its limit.
    fn number_grow_by(&mut self, n: usize) -> Result<(), JsonError> {
        self.len = self.len.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if self.len > self.limits.max_number_len {
            return Err(JsonError::NumberLength);
        }
        Ok(())
    }

    fn end_number(&mut self, part: NumberPart) -> Result<(), JsonError> {
        if matches!(part, NumberPart::Minus | NumberPart::Dot | NumberPart::Exp | NumberPart::ExpSign) {
            return Err(JsonError::Syntax);
        }
        self.value_done();
        Ok(())
    }
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

/// Scans a whole document at once.
///
/// # Errors
/// As [`JsonScanner::feed`] and [`JsonScanner::finish`].
pub fn scan(doc: &[u8], limits: JsonLimits) -> Result<(), JsonError> {
    let mut scanner = JsonScanner::new(limits);
    scanner.feed(doc)?;
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) {
        assert_eq!(scan(doc.as_bytes(), JsonLimits::default()), Ok(()), "{doc}");
        // Any chunking gives the same answer.
        for split in 0..doc.len() {
            let mut s = JsonScanner::new(JsonLimits::default());
            s.feed(&doc.as_bytes()[..split]).unwrap();
            s.feed(&doc.as_bytes()[split..]).unwrap();
            assert_eq!(s.finish(), Ok(()), "{doc} split at {split}");
        }
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
        err(br#"{"a":1,"b":2,"c":3}"#, limits.clone(), JsonError::ObjectEntries);
        err(b"[1,2,3,4]", limits.clone(), JsonError::ArrayLength);
        err(br#"["abcde"]"#, limits.clone(), JsonError::StringLength);
        err(br#"{"abc":1}"#, limits.clone(), JsonError::KeyLength);
        err(b"[123456]", limits.clone(), JsonError::NumberLength);
        err(b"[[1,2],[3],[4,5]]", limits, JsonError::NumberCount);
    }

    #[test]
    fn number_length_counts_every_part_however_the_body_is_cut() {
        let limits = JsonLimits { max_number_len: 6, ..JsonLimits::default() };
        for (doc, expected) in [
            ("[123456]", Ok(())),
            ("[1234567]", Err(JsonError::NumberLength)),
            ("[-1.5e30]", Err(JsonError::NumberLength)),
            ("[-1.5e3]", Ok(())),
            ("[0.1234]", Ok(())),
            ("[0.12345]", Err(JsonError::NumberLength)),
        ] {
            for split in 0..=doc.len() {
                let mut s = JsonScanner::new(limits.clone());
                let result = s.feed(&doc.as_bytes()[..split]).and_then(|()| s.feed(&doc.as_bytes()[split..]));
                assert_eq!(result.and_then(|()| s.finish()), expected, "{doc} split at {split}");
            }
        }
    }

    #[test]
    fn duplicate_keys_are_refused_even_when_escaped() {
        err(br#"{"role":"user","role":"admin"}"#, JsonLimits::default(), JsonError::DuplicateKey);
        err(br#"{"role":1,"\u0072ole":2}"#, JsonLimits::default(), JsonError::DuplicateKey);
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
