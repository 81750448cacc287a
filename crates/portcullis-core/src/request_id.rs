//! Request ids: unique, cheap, and safe to echo in headers and JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Generates request ids: a random per-process prefix and a counter, so ids
/// are unique across restarts and nodes without a syscall per request.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    /// A generator with a prefix from the operating system's CSPRNG.
    ///
    /// # Errors
    /// Fails when the operating system has no randomness to give.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed)?;
        Ok(Self { prefix: u64::from_le_bytes(seed), counter: AtomicU64::new(0) })
    }

    /// The next id: 32 lowercase hex characters.
    pub fn next_id(&self) -> Arc<str> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 32];
        for (i, byte) in buf.iter_mut().enumerate() {
            let word = if i < 16 { self.prefix } else { n };
            let shift = 60 - 4 * (i % 16);
            *byte = HEX[usize::try_from((word >> shift) & 0xf).unwrap_or(0)];
        }
        Arc::from(std::str::from_utf8(&buf).unwrap_or_default())
    }

    /// Whether an id received from a trusted proxy is safe to adopt: 1 to 128
    /// characters of `[0-9A-Za-z._-]`.
    pub fn is_acceptable(id: &[u8]) -> bool {
        (1..=128).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_safe() {
        let ids = RequestIds::new().unwrap();
        let (a, b) = (ids.next_id(), ids.next_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(&a[..16], &b[..16]);
        assert_eq!(&b[16..], "0000000000000001");
        assert!(RequestIds::is_acceptable(a.as_bytes()));
        assert!(!RequestIds::is_acceptable(b"a\"b"));
        assert!(!RequestIds::is_acceptable(b""));
    }
}
