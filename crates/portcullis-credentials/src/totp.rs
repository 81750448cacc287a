//! Time-based one-time passwords (RFC 6238) for admin two-factor login.
//!
//! Parameters are fixed to what every authenticator app supports: HMAC-SHA-1, 6 digits,
//! 30-second steps, Unix epoch origin.
//!
//! Implemented here on `hmac` + `sha1` rather than with the `totp-rs` crate: the algorithm is
//! HOTP's dynamic truncation over a step counter (about thirty lines, checked below against
//! the RFC 4226 and RFC 6238 test vectors), while `totp-rs` brings its own base32, URL and
//! constant-time crates and an API that does not model replay protection the way the store
//! needs it (the caller persists the last accepted step).

use std::fmt;

use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use subtle::ConstantTimeEq as _;

use crate::CredentialError;
use crate::encoding::{BASE32_UPPER, base32_decode, base32_encode};

/// Length of a TOTP step in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Number of digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes of randomness in a generated secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Smallest secret accepted from outside (80 bits, the historic Google Authenticator size).
pub const MIN_SECRET_BYTES: usize = 10;
/// Largest secret accepted from outside.
pub const MAX_SECRET_BYTES: usize = 64;

/// A TOTP shared secret. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// Generates a new secret of [`SECRET_BYTES`] random bytes.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails.
    #[must_use]
    pub fn generate() -> Self {
        Self(crate::random::bytes::<SECRET_BYTES>().to_vec())
    }

    /// Wraps raw secret bytes (for example after decrypting them from storage).
    ///
    /// # Errors
    ///
    /// [`CredentialError::TotpSecretLength`] unless the length is between
    /// [`MIN_SECRET_BYTES`] and [`MAX_SECRET_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CredentialError> {
        if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(CredentialError::TotpSecretLength { min: MIN_SECRET_BYTES, max: MAX_SECRET_BYTES })
        }
    }

    /// The raw secret bytes, for the caller to encrypt and store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as unpadded upper-case RFC 4648 base32, the form authenticator apps take.
    #[must_use]
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0, BASE32_UPPER)
    }

    /// Parses base32 as typed from an authenticator app: either case, spaces and `=` ignored.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidBase32`] for characters outside base32 or an impossible
    /// length; [`CredentialError::TotpSecretLength`] if the decoded secret is too short or long.
    pub fn from_base32(text: &str) -> Result<Self, CredentialError> {
        // Bound the work before decoding: generous room for spaces and padding.
        if text.len() > MAX_SECRET_BYTES * 4 {
            return Err(CredentialError::TotpSecretLength { min: MIN_SECRET_BYTES, max: MAX_SECRET_BYTES });
        }
        let bytes = base32_decode(text).ok_or(CredentialError::InvalidBase32)?;
        Self::from_bytes(&bytes)
    }

    /// The `otpauth://totp/...` URI to show as a QR code when enrolling.
    ///
    /// Label and parameters are percent-encoded; `issuer` is repeated as a parameter as the
    /// Google Authenticator key-URI format recommends, and omitted when empty.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let secret = self.to_base32();
        let account = percent_encode(account);
        if issuer.is_empty() {
            format!("otpauth://totp/{account}?secret={secret}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}")
        } else {
            let issuer = percent_encode(issuer);
            format!(
                "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
            )
        }
    }

    /// The 6-digit code for the step containing `unix_seconds`.
    #[must_use]
    pub fn code_at(&self, unix_seconds: u64) -> String {
        format_code(hotp(&self.0, unix_seconds / STEP_SECONDS, DIGITS))
    }

    /// Checks a code typed by the user and returns the step it matched.
    ///
    /// Accepts the current step and one step either side (up to about 30 s of clock skew).
    /// Steps at or before `last_used_step` are refused, so a code cannot be replayed, nor an
    /// older code used after a newer one: the caller must store the returned step as the new
    /// `last_used_step` atomically with accepting the login. `code` must be exactly six ASCII
    /// digits (no spaces). Codes are compared in constant time.
    #[must_use]
    pub fn verify(&self, code: &str, unix_seconds: u64, last_used_step: Option<u64>) -> Option<u64> {
        let digits = usize::try_from(DIGITS).ok()?;
        if code.len() != digits || !code.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let current = unix_seconds / STEP_SECONDS;
        let mut matched = None;
        for step in [current.checked_sub(1), Some(current), current.checked_add(1)].into_iter().flatten() {
            if last_used_step.is_some_and(|last| step <= last) {
                continue;
            }
            let expected = format_code(hotp(&self.0, step, DIGITS));
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(step);
            }
        }
        matched
    }
}

fn format_code(code: Option<u32>) -> String {
    // `None` cannot happen for a valid HMAC key; an empty string then matches no input.
    code.map_or_else(String::new, |c| format!("{c:0width$}", width = DIGITS as usize))
}

/// RFC 4226 HOTP with HMAC-SHA-1 and dynamic truncation to `digits` (at most 9) digits.
fn hotp(key: &[u8], counter: u64, digits: u32) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
    mac.update(&counter.to_be_bytes());
    let sum = mac.finalize().into_bytes();
    let offset = usize::from(sum.get(19)? & 0x0f);
    let window: [u8; 4] = sum.get(offset..offset + 4)?.try_into().ok()?;
    let binary = u32::from_be_bytes(window) & 0x7fff_ffff;
    Some(binary % 10u32.checked_pow(digits)?)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(RFC_KEY).expect("20 bytes")
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871, 520_489];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), Some(want), "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 column, 8 digits.
        let vectors = [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (time, want) in vectors {
            let eight = hotp(RFC_KEY, time / STEP_SECONDS, 8).map(|c| format!("{c:08}"));
            assert_eq!(eight.as_deref(), Some(want), "time {time}");
            // Six-digit codes are the last six digits of the eight-digit ones.
            assert_eq!(secret.code_at(time), want[2..], "time {time}");
        }
    }

    #[test]
    fn verify_accepts_skew_and_returns_step() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = now / STEP_SECONDS;
        assert_eq!(secret.verify(&secret.code_at(now), now, None), Some(step));
        assert_eq!(secret.verify(&secret.code_at(now - 30), now, None), Some(step - 1));
        assert_eq!(secret.verify(&secret.code_at(now + 30), now, None), Some(step + 1));
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, None), None);
        assert_eq!(secret.verify(&secret.code_at(now + 60), now, None), None);
    }

    #[test]
    fn verify_refuses_replay() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = secret.code_at(now);
        let step = secret.verify(&code, now, None).expect("first use accepted");
        assert_eq!(secret.verify(&code, now, Some(step)), None);
        assert_eq!(secret.verify(&code, now + 10, Some(step)), None);
        // An older code after a newer one is refused too.
        let older = secret.code_at(now - 30);
        assert_eq!(secret.verify(&older, now, Some(step)), None);
        // The next step's code is still fine.
        let next = secret.code_at(now + 30);
        assert_eq!(secret.verify(&next, now + 30, Some(step)), Some(step + 1));
    }

    #[test]
    fn verify_rejects_malformed_codes() {
        let secret = rfc_secret();
        let now = 59;
        let good = secret.code_at(now);
        for bad in ["", "12345", "1234567", " 123456", "12345a", "１２３４５６", &format!("{good} ")] {
            assert_eq!(secret.verify(bad, now, None), None, "{bad:?}");
        }
        assert!(secret.verify(&good, now, None).is_some());
        assert!(secret.verify(&secret.code_at(0), 0, None).is_some());
        assert_eq!(secret.verify(&good, u64::MAX, None), None);
    }

    #[test]
    fn base32_round_trip_and_limits() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), SECRET_BYTES);
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        let back = TotpSecret::from_base32(&text.to_lowercase()).expect("round trip");
        assert_eq!(back.as_bytes(), secret.as_bytes());
        assert_eq!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").map(|s| s.0), Ok(RFC_KEY.to_vec()));
        assert_eq!(TotpSecret::from_base32("not base32!").map(|s| s.0), Err(CredentialError::InvalidBase32));
        assert!(matches!(TotpSecret::from_base32("MZXW6"), Err(CredentialError::TotpSecretLength { .. })));
        assert!(TotpSecret::from_base32(&"A".repeat(10_000)).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let secret = rfc_secret();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TotpSecret(<redacted>)");
    }

    #[test]
    fn otpauth_uri_is_encoded() {
        let secret = rfc_secret();
        let uri = secret.otpauth_uri("Acme Corp", "alice@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        let bare = secret.otpauth_uri("", "a:b");
        assert!(bare.starts_with("otpauth://totp/a%3Ab?secret="));
        assert!(!bare.contains("issuer"));
    }
}
