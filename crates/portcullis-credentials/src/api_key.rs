//! API keys (gateway consumers) and admin tokens (management plane automation).
//!
//! # Format
//!
//! `<tag>_<prefix>_<secret>`, always 56 ASCII characters, for example
//! `pck_k3v7q2ab_Zm9v...` (43 secret characters):
//!
//! * `tag`: `pck` for [`KeyKind::ApiKey`] ("Portcullis consumer key"), `pca` for
//!   [`KeyKind::AdminToken`] ("Portcullis admin"). The tag makes a leaked key recognisable to
//!   secret scanners and lets the gateway refuse an admin token on the data plane and vice
//!   versa without a lookup.
//! * `prefix`: 8 characters of lowercase RFC 4648 base32 (`a-z`, `2-7`) from 40 random bits.
//!   It is **not secret**: it is stored in clear, shown in the UI and logs, and used to find
//!   the key's row. It is not guaranteed unique; the store must either put a unique index on it
//!   and call [`generate`] again on a conflict, or check every row that shares it.
//! * `secret`: 256 bits from the OS CSPRNG as unpadded base64url (43 characters).
//!
//! # Storage
//!
//! Only [`hash`] (SHA-256 of the whole token) is stored. Argon2 is not needed here: a slow
//! hash protects *low-entropy* secrets that a human chose, by making each guess expensive.
//! This token carries 256 bits of randomness, so even at 10^18 guesses per second an offline
//! attacker with the database would need far longer than the age of the universe; a fast hash
//! loses nothing, and it keeps the per-request check on the gateway's hot path cheap (a slow
//! hash there would also hand attackers a cheap denial of service).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::encoding::{BASE32_LOWER, base32_encode};

/// Length of the public prefix in characters.
pub const PREFIX_LEN: usize = 8;
/// Length of the secret part in characters (32 bytes, unpadded base64url).
pub const SECRET_LEN: usize = 43;
/// Total length of a token: tag, two separators, prefix and secret.
pub const TOKEN_LEN: usize = 3 + 1 + PREFIX_LEN + 1 + SECRET_LEN;

/// What a key may be used for; encoded in its first three characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A key for an API consumer calling through the gateway. Tag `pck`.
    ApiKey,
    /// A token for automation on the management plane. Tag `pca`.
    AdminToken,
}

impl KeyKind {
    /// The three-letter text tag that starts tokens of this kind: `"pck"` or `"pca"`.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::ApiKey => "pck",
            Self::AdminToken => "pca",
        }
    }

    /// The kind whose tag is `tag`, if any.
    #[must_use]
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "pck" => Some(Self::ApiKey),
            "pca" => Some(Self::AdminToken),
            _ => None,
        }
    }
}

/// A freshly generated key. Show `token` to the user once; store `prefix` and `hash`.
pub struct GeneratedKey {
    /// The full token, to be handed to the user exactly once and never stored.
    pub token: String,
    /// The public lookup prefix (8 lowercase base32 characters).
    pub prefix: String,
    /// SHA-256 of `token`, the value to store.
    pub hash: [u8; 32],
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("token", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("hash", &crate::to_hex(&self.hash))
            .finish()
    }
}

/// The public parts of a syntactically valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The kind named by the tag.
    pub kind: KeyKind,
    /// The lookup prefix, borrowed from the token.
    pub prefix: &'a str,
}

/// Generates a new key of the given kind.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
#[must_use]
pub fn generate(kind: KeyKind) -> GeneratedKey {
    let prefix = base32_encode(&crate::random::bytes::<5>(), BASE32_LOWER);
    let secret = URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>());
    let token = format!("{}_{prefix}_{secret}", kind.tag());
    let hash = hash(&token);
    GeneratedKey { token, prefix, hash }
}

/// Checks a presented token's shape and returns its kind and prefix.
///
/// Strict: exactly [`TOKEN_LEN`] ASCII characters, a known tag, `_` separators, a prefix of
/// lowercase base32 and a secret that is canonical unpadded base64url of exactly 32 bytes.
/// Anything else (including surrounding whitespace) is `None`. This only says the token is
/// well formed; [`verify`] against the stored hash says whether it is genuine.
#[must_use]
pub fn parse(token: &str) -> Option<ParsedKey<'_>> {
    if token.len() != TOKEN_LEN || !token.is_ascii() {
        return None;
    }
    // ASCII, so every byte index is a char boundary.
    let kind = KeyKind::from_tag(token.get(..3)?)?;
    let bytes = token.as_bytes();
    if bytes[3] != b'_' || bytes[4 + PREFIX_LEN] != b'_' {
        return None;
    }
    let prefix = token.get(4..4 + PREFIX_LEN)?;
    if !prefix.bytes().all(|c| BASE32_LOWER.contains(&c)) {
        return None;
    }
    let secret = token.get(5 + PREFIX_LEN..)?;
    // The default engine config rejects padding and non-zero trailing bits, so each secret has
    // exactly one accepted spelling.
    match URL_SAFE_NO_PAD.decode(secret) {
        Ok(raw) if raw.len() == 32 => Some(ParsedKey { kind, prefix }),
        _ => None,
    }
}

/// SHA-256 of the whole token: the value stored for a key.
#[must_use]
pub fn hash(token: &str) -> [u8; 32] {
    crate::token::digest(token)
}

/// Whether `token` hashes to `stored`, compared in constant time.
#[must_use]
pub fn verify(token: &str, stored: &[u8; 32]) -> bool {
    crate::token::constant_time_eq(&hash(token), stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_verify() {
        for kind in [KeyKind::ApiKey, KeyKind::AdminToken] {
            let key = generate(kind);
            assert_eq!(key.token.len(), TOKEN_LEN);
            assert!(key.token.starts_with(kind.tag()));
            let parsed = parse(&key.token).expect("generated token parses");
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.prefix, key.prefix);
            assert!(verify(&key.token, &key.hash));
        }
    }

    #[test]
    fn tags_are_documented_values() {
        assert_eq!(KeyKind::ApiKey.tag(), "pck");
        assert_eq!(KeyKind::AdminToken.tag(), "pca");
        assert_eq!(KeyKind::from_tag("pck"), Some(KeyKind::ApiKey));
        assert_eq!(KeyKind::from_tag("PCK"), None);
    }

    #[test]
    fn keys_are_unique() {
        let a = generate(KeyKind::ApiKey);
        let b = generate(KeyKind::ApiKey);
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn tampered_token_fails_verify() {
        let key = generate(KeyKind::ApiKey);
        let mut chars: Vec<char> = key.token.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(!verify(&tampered, &key.hash));
        let other_kind = key.token.replacen("pck", "pca", 1);
        assert!(parse(&other_kind).is_some());
        assert!(!verify(&other_kind, &key.hash));
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        let key = generate(KeyKind::ApiKey);
        let t = key.token.as_str();
        let bad = [
            String::new(),
            "pck".to_owned(),
            format!(" {t}"),
            format!("{t} "),
            format!("{t}A"),
            t[..TOKEN_LEN - 1].to_owned(),
            t.replacen("pck", "pcx", 1),
            t.replacen("pck_", "pck-", 1),
            format!("pck_{}_{}", "ABCDEFGH", &t[13..]),
            format!("pck_{}_{}", "abcdefg1", &t[13..]),
            format!("{}={}", &t[..55], ""),
            format!("{}!{}", &t[..20], &t[21..]),
            // Multi-byte character keeping the byte length.
            format!("{}\u{e9}{}", &t[..20], &t[22..]),
        ];
        for b in &bad {
            assert!(parse(b).is_none(), "accepted {b:?}");
        }
    }

    #[test]
    fn parse_rejects_non_canonical_secret() {
        // 43 base64url characters: the last one carries 4 bits, its low 2 bits must be zero.
        let secret_ok = format!("{}A", "A".repeat(42));
        let secret_bad = format!("{}B", "A".repeat(42));
        assert!(parse(&format!("pck_abcdefgh_{secret_ok}")).is_some());
        assert!(parse(&format!("pck_abcdefgh_{secret_bad}")).is_none());
    }

    #[test]
    fn debug_redacts_token() {
        let key = generate(KeyKind::ApiKey);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.token));
        assert!(shown.contains("<redacted>"));
    }
}
