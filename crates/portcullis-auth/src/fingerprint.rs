//! Masked fingerprints of presented credentials, for the access log line of
//! a failed authentication (`"credential":"sha256:1a2b3c4d"`): enough to tell
//! one client's repeated failures from another's, never enough to replay or
//! guess the credential. They are computed only when a policy refuses (401),
//! so the hot path of an admitted request pays nothing.
//!
//! * tokens (JWT, opaque, an API key that is not well formed, a malformed
//!   `Authorization` header): `sha256:` and the first 8 hex digits of the
//!   SHA-256 of what was sent (32 bits: a high-entropy token cannot be
//!   recovered from them);
//! * well-formed API keys: `pck_<prefix>…`, the public prefix the store
//!   keeps in clear and the admin API shows;
//! * basic credentials: `user:<name>` (at most 64 characters), never
//!   anything derived from the password (a short hash of a low-entropy
//!   password could be searched offline);
//! * client certificates: `sha256:` and the first 8 hex digits of the
//!   certificate's fingerprint (public, like the certificate).

use http::StatusCode;
use portcullis_core::{ClientCert, Ctx, PolicyResult, Verdict};
use portcullis_credentials::api_key;
use sha2::{Digest as _, Sha256};

/// How many hex digits of the SHA-256 are kept.
const DIGITS: usize = 8;
/// The longest user name logged.
const MAX_USER: usize = 64;

/// `sha256:` and the first hex digits of the SHA-256 of `credential`.
pub(crate) fn digest(credential: &[u8]) -> Box<str> {
    short(&Sha256::digest(credential).into())
}

/// A client certificate: `sha256:` and the first hex digits of its fingerprint.
pub(crate) fn certificate(cert: &ClientCert) -> Box<str> {
    short(&cert.sha256)
}

fn short(hash: &[u8; 32]) -> Box<str> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(7 + DIGITS);
    out.push_str("sha256:");
    for byte in hash.iter().take(DIGITS / 2) {
        let _ = write!(out, "{byte:02x}");
    }
    out.into()
}

/// A presented API key: its public prefix when well formed, else [`digest`].
pub(crate) fn api_key(token: &str) -> Box<str> {
    match api_key::parse(token) {
        Some(parsed) => format!("{}_{}…", parsed.kind.tag(), parsed.prefix).into(),
        None => digest(token.as_bytes()),
    }
}

/// A basic-auth user name, shortened.
pub(crate) fn user(name: &str) -> Box<str> {
    let mut out = String::from("user:");
    out.extend(name.chars().take(MAX_USER));
    out.into()
}

/// Notes on `cx` the fingerprint `credential` gives when `result` refuses
/// the caller with 401, and passes the result on. `credential` runs only
/// then; `None` means nothing was presented.
pub(crate) fn on_refusal(
    result: PolicyResult,
    cx: &mut Ctx,
    credential: impl FnOnce() -> Option<Box<str>>,
) -> PolicyResult {
    if let Ok(Verdict::Deny(deny)) = &result
        && deny.status == StatusCode::UNAUTHORIZED
    {
        cx.credential = credential();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_never_contain_the_secret() {
        let key = api_key::generate(api_key::KeyKind::ApiKey);
        let shown = api_key(&key.token);
        assert_eq!(&*shown, format!("pck_{}…", key.prefix));
        let secret = &key.token[13..];
        assert!(!shown.contains(secret));
        // One changed character: no longer a well-formed key, so only a digest.
        let mut bent = key.token.clone();
        bent.push('x');
        let shown = api_key(&bent);
        assert!(shown.starts_with("sha256:") && shown.len() == 15, "{shown}");
        assert!(!shown.contains(&key.prefix));
        assert_eq!(&*digest(b"abc"), "sha256:ba7816bf");
        let cert = ClientCert { sha256: [0xab; 32], ..ClientCert::default() };
        assert_eq!(&*certificate(&cert), "sha256:abababab");
        assert_eq!(&*user("batch"), "user:batch");
        assert_eq!(user(&"é".repeat(100)).chars().count(), 5 + MAX_USER);
    }
}
