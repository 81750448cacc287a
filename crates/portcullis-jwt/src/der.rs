//! Just enough DER to read a public key: definite-length tag-length-value items, nothing else.

/// A cursor over DER items; every read is bounds-checked and returns `None` on anything unexpected.
pub(crate) struct Der<'a>(&'a [u8]);

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OID: u8 = 0x06;
pub(crate) const NULL: u8 = 0x05;

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next item's tag, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Reads one item that must have `tag`, returning its contents.
    pub(crate) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.0.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 3 || rest.len() < count {
                return None;
            }
            let len = rest[..count].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[count..])
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Some(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut d = Der::new(&[0x02, 0x01, 0x05, 0x30, 0x81, 0x02, 0xAA, 0xBB]);
        assert_eq!(d.read(INTEGER), Some(&[5u8][..]));
        assert_eq!(d.peek_tag(), Some(SEQUENCE));
        assert_eq!(d.read(SEQUENCE), Some(&[0xAA, 0xBB][..]));
        assert!(d.is_empty());
        assert_eq!(d.read(SEQUENCE), None);
    }

    #[test]
    fn refuses_truncation_wrong_tags_and_indefinite_lengths() {
        assert_eq!(Der::new(&[0x02, 0x05, 0x01]).read(INTEGER), None);
        assert_eq!(Der::new(&[0x02, 0x01, 0x01]).read(OID), None);
        assert_eq!(Der::new(&[0x30, 0x80, 0x00, 0x00]).read(SEQUENCE), None);
        assert_eq!(Der::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).read(SEQUENCE), None);
        assert_eq!(Der::new(&[0x30, 0x82, 0x01]).read(SEQUENCE), None);
        assert_eq!(Der::new(&[0x30]).read(SEQUENCE), None);
        assert_eq!(Der::new(&[]).read(SEQUENCE), None);
    }
}
