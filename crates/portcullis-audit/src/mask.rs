//! Masking of secrets and personal data in event details, applied before an event is hashed or stored.
//!
//! Masking is idempotent: masking already-masked details changes nothing.

use serde_json::Value;

/// The replacement for a masked value.
pub const MASK: &str = "***";

/// Nesting depth beyond which a value is replaced by [`MASK`] wholesale.
pub const MAX_DEPTH: usize = 32;

/// Case-insensitive substrings that mark a key as secret.
const SECRET_NEEDLES: &[&str] = &[
    "password",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "authorization",
    "cookie",
    "totp",
    "recovery",
    "private",
];

/// Credential tags issued by Portcullis: consumer keys and admin API keys.
const CREDENTIAL_TAGS: &[&str] = &["pck_", "pca_"];

/// Masks secrets and personal data in place.
///
/// - Values under secret-looking keys (case-insensitive: `password`, `passphrase`, `secret`, `token`, `api_key`,
///   `apikey`, `authorization`, `cookie`, `totp`, `recovery`, `private` anywhere in the key; `otp` as a word; the
///   key `key` exactly) become `"***"`, whatever their type.
/// - E-mail addresses (keys containing `email` or `e_mail`) keep their first character and domain: `a***@example.com`.
/// - Phone numbers (keys containing `phone`) keep their last two digits: `***78`.
/// - Any string containing a Portcullis credential (`pck_<prefix>_<secret>` or `pca_…`) keeps the tag and prefix:
///   `pck_ab12cd34_***`.
/// - Anything nested deeper than [`MAX_DEPTH`] becomes `"***"`.
pub fn mask_details(value: &mut Value) {
    mask_value(value, 0);
}

#[derive(Clone, Copy)]
enum KeyKind {
    Secret,
    Email,
    Phone,
    Plain,
}

fn classify(key: &str) -> KeyKind {
    let lower = key.to_ascii_lowercase();
    if lower == "key" || SECRET_NEEDLES.iter().any(|needle| lower.contains(needle)) || has_word(key, "otp") {
        KeyKind::Secret
    } else if lower.contains("email") || lower.contains("e_mail") || lower.contains("e-mail") {
        KeyKind::Email
    } else if lower.contains("phone") {
        KeyKind::Phone
    } else {
        KeyKind::Plain
    }
}

/// Whether `key` contains `word` as a whole word, splitting on non-alphanumerics and camelCase boundaries.
fn has_word(key: &str, word: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if !ch.is_alphanumeric() {
            words.push(std::mem::take(&mut current));
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = ch.is_lowercase() || ch.is_numeric();
        current.extend(ch.to_lowercase());
    }
    words.push(current);
    words.iter().any(|w| w == word)
}

fn mask_value(value: &mut Value, depth: usize) {
    if depth >= MAX_DEPTH {
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            *value = Value::String(MASK.to_owned());
        } else {
            mask_scalar(value);
        }
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match classify(key) {
                    KeyKind::Secret => *child = Value::String(MASK.to_owned()),
                    KeyKind::Email => mask_strings_with(child, depth + 1, mask_email),
                    KeyKind::Phone => mask_strings_with(child, depth + 1, mask_phone),
                    KeyKind::Plain => mask_value(child, depth + 1),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask_value(item, depth + 1)),
        _ => mask_scalar(value),
    }
}

fn mask_scalar(value: &mut Value) {
    if let Value::String(text) = value
        && let Some(masked) = mask_credentials(text)
    {
        *text = masked;
    }
}

/// Applies `mask` to every string and number under a personal-data key; booleans and null are kept.
fn mask_strings_with(value: &mut Value, depth: usize, mask: fn(&str) -> String) {
    if depth >= MAX_DEPTH {
        *value = Value::String(MASK.to_owned());
        return;
    }
    match value {
        Value::String(text) => *text = mask(text),
        Value::Number(number) => *value = Value::String(mask(&number.to_string())),
        Value::Array(items) => items.iter_mut().for_each(|item| mask_strings_with(item, depth + 1, mask)),
        Value::Object(map) => map.values_mut().for_each(|item| mask_strings_with(item, depth + 1, mask)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// `alice@example.com` → `a***@example.com`; anything without a local part and domain → `***`.
fn mask_email(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            match local.chars().next().filter(|c| *c != '*') {
                Some(first) => format!("{first}{MASK}@{domain}"),
                None => format!("{MASK}@{domain}"),
            }
        }
        _ => MASK.to_owned(),
    }
}

/// `+33 6 12 34 56 78` → `***78`.
fn mask_phone(text: &str) -> String {
    let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("{MASK}{tail}")
}

/// Masks every Portcullis credential inside `text`, or returns `None` when there is none.
fn mask_credentials(text: &str) -> Option<String> {
    if !CREDENTIAL_TAGS.iter().any(|tag| text.contains(tag)) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while !rest.is_empty() {
        // Split off the next run of token characters (ASCII, so byte offsets are char boundaries).
        let start = rest.find(is_token_char).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        let token = &rest[..end];
        match mask_token(token) {
            Some(masked) => {
                out.push_str(&masked);
                changed = true;
            }
            None => out.push_str(token),
        }
        rest = &rest[end..];
    }
    changed.then_some(out)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `pck_ab12cd34_SECRET` → `pck_ab12cd34_***`; `pck_SECRET` → `pck_***`.
fn mask_token(token: &str) -> Option<String> {
    let tag = CREDENTIAL_TAGS.iter().find(|tag| token.starts_with(**tag))?;
    let body = &token[tag.len()..];
    if body.is_empty() {
        return None;
    }
    match body.split_once('_') {
        // Already masked (`pck_ab12cd34_` followed by `***`): nothing secret left.
        Some((_, "")) => None,
        Some((prefix, _)) if !prefix.is_empty() => Some(format!("{tag}{prefix}_{MASK}")),
        _ => Some(format!("{tag}{MASK}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{MASK, MAX_DEPTH, mask_details};

    fn masked(mut value: Value) -> Value {
        mask_details(&mut value);
        value
    }

    #[test]
    fn secret_keys_are_masked_whatever_their_value() {
        let input = json!({
            "Password": "hunter2",
            "new_passphrase": "correct horse",
            "client_secret": {"nested": "x"},
            "refreshToken": "abc",
            "X-API-Key": "k",
            "apikey": 12,
            "key": "raw",
            "Authorization": "Basic Zm9v",
            "set_cookie": ["a=b"],
            "otp_code": "123456",
            "totpSeed": "JBSWY3DP",
            "recovery_codes": ["1", "2"],
            "private_key_pem": "-----BEGIN",
            "key_id": "abc123",
            "footprint": "kept",
            "name": "kept"
        });
        let expected = json!({
            "Password": MASK, "new_passphrase": MASK, "client_secret": MASK, "refreshToken": MASK, "X-API-Key": MASK,
            "apikey": MASK, "key": MASK, "Authorization": MASK, "set_cookie": MASK, "otp_code": MASK, "totpSeed": MASK,
            "recovery_codes": MASK, "private_key_pem": MASK, "key_id": "abc123", "footprint": "kept", "name": "kept"
        });
        assert_eq!(masked(input), expected);
    }

    #[test]
    fn personal_data_keeps_a_hint() {
        let input = json!({
            "before": {"email": "alice@example.com", "phone": "+33 6 12 34 56 78"},
            "after": {"E_Mail": "bob@example.org", "mobile_phone": 33_612_345_699_i64, "email_verified": true},
            "contact_email": ["x@y.z", "not-an-address"]
        });
        let expected = json!({
            "before": {"email": "a***@example.com", "phone": "***78"},
            "after": {"E_Mail": "b***@example.org", "mobile_phone": "***99", "email_verified": true},
            "contact_email": ["x***@y.z", MASK]
        });
        assert_eq!(masked(input), expected);
    }

    #[test]
    fn credentials_are_masked_anywhere() {
        let input = json!({
            "note": "rotated pck_ab12cd34_s3cr3tV4lue; old was pca_99ff_zzz",
            "list": ["pck_ab12cd34_s3cr3t", "pck_nounderscore", "pck_", "xpck_notatoken"],
            "header": "Bearer pca_0011aabb_verysecret"
        });
        let expected = json!({
            "note": "rotated pck_ab12cd34_***; old was pca_99ff_***",
            "list": ["pck_ab12cd34_***", "pck_***", "pck_", "xpck_notatoken"],
            "header": "Bearer pca_0011aabb_***"
        });
        assert_eq!(masked(input), expected);
    }

    #[test]
    fn masking_is_idempotent() {
        let once = masked(json!({
            "email": "alice@example.com", "phone": "0612345678", "token": "t", "s": "pck_ab_cd", "e2": "@nodomain"
        }));
        assert_eq!(masked(once.clone()), once);
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!({"leaf": "pck_ab_secret"});
        for _ in 0..(MAX_DEPTH + 5) {
            deep = Value::Object(serde_json::Map::from_iter([("d".to_owned(), deep)]));
        }
        let mut value = masked(deep);
        let mut depth = 0;
        while let Some(inner) = value.get("d").cloned() {
            value = inner;
            depth += 1;
        }
        assert_eq!(value, json!(MASK));
        assert_eq!(depth, MAX_DEPTH);

        let shallow = masked(json!({"a": {"b": {"leaf": "pck_ab_secret"}}}));
        assert_eq!(shallow, json!({"a": {"b": {"leaf": "pck_ab_***"}}}));
    }
}
