//! The session cookie and its CSRF token. The session id is 256 random
//! bits; the store keeps only its SHA-256. The CSRF token is derived from the
//! id, so only a page that read our login response (not a cross-site form
//! riding on the cookie) can send it.

use portcullis_credentials::{to_hex, token};

/// The cookie's name.
pub const COOKIE: &str = "portcullis_admin_session";

/// A new random session id.
#[must_use]
pub fn new_session_id() -> String {
    token::random_token(32)
}

/// What the store keeps for a session id.
#[must_use]
pub fn session_hash(id: &str) -> String {
    to_hex(&token::digest(id))
}

/// The CSRF token that goes with session `id`.
#[must_use]
pub fn csrf_token(id: &str) -> String {
    to_hex(&token::digest(&format!("portcullis-csrf-v1:{id}")))
}

/// The `Set-Cookie` value for session `id`, living at most `max_age_s`.
#[must_use]
pub fn set_cookie(id: &str, max_age_s: u64) -> String {
    format!("{COOKIE}={id}; Path=/admin/; Max-Age={max_age_s}; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value that deletes the cookie.
#[must_use]
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/admin/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}
