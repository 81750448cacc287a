//! Security response headers and cookie hardening.

use http::header::{self, HeaderName, HeaderValue};
use http::response::Parts;
use portcullis_core::{Ctx, Policy};

/// Flags added to every upstream `Set-Cookie` that lacks them.
#[derive(Debug, Clone)]
pub struct CookieFlags {
    /// Add `HttpOnly`.
    pub http_only: bool,
    /// Add `Secure` on TLS connections.
    pub secure: bool,
    /// Add `SameSite=<value>` (`Strict`, `Lax` or `None`).
    pub same_site: Option<&'static str>,
}

/// Adds security headers to every response of a route (the gateway's own
/// errors included) and hardens upstream cookies.
#[derive(Debug)]
pub struct SecurityHeadersPolicy {
    /// `Strict-Transport-Security`, sent on TLS only.
    hsts: Option<HeaderValue>,
    /// Always set, replacing the upstream's.
    enforced: Vec<(HeaderName, HeaderValue)>,
    /// Set when the upstream did not set its own.
    defaults: Vec<(HeaderName, HeaderValue)>,
    cookies: Option<CookieFlags>,
}

impl SecurityHeadersPolicy {
    /// A policy sending `hsts` on TLS, `enforced` always, `defaults` where
    /// the upstream sent none, and hardening cookies with `cookies`.
    pub fn new(
        hsts: Option<HeaderValue>,
        enforced: Vec<(HeaderName, HeaderValue)>,
        defaults: Vec<(HeaderName, HeaderValue)>,
        cookies: Option<CookieFlags>,
    ) -> Self {
        Self { hsts, enforced, defaults, cookies }
    }
}

impl Policy for SecurityHeadersPolicy {
    fn name(&self) -> &'static str {
        "security_headers"
    }

    fn on_response(&self, resp: &mut Parts, cx: &Ctx) {
        let headers = &mut resp.headers;
        if let (Some(hsts), true) = (&self.hsts, cx.is_tls) {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        for (name, value) in &self.enforced {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.defaults {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if let Some(flags) = &self.cookies
            && headers.contains_key(header::SET_COOKIE)
        {
            let hardened: Vec<HeaderValue> =
                headers.get_all(header::SET_COOKIE).iter().map(|v| harden_cookie(v, flags, cx.is_tls)).collect();
            headers.remove(header::SET_COOKIE);
            for value in hardened {
                headers.append(header::SET_COOKIE, value);
            }
        }
    }
}

/// Appends the missing flags to one `Set-Cookie` value.
fn harden_cookie(value: &HeaderValue, flags: &CookieFlags, is_tls: bool) -> HeaderValue {
    let Ok(text) = value.to_str() else { return value.clone() };
    let (mut has_http_only, mut has_secure, mut has_same_site) = (false, false, false);
    for attr in text.split(';').skip(1) {
        let name = attr.split('=').next().unwrap_or("").trim();
        has_http_only |= name.eq_ignore_ascii_case("httponly");
        has_secure |= name.eq_ignore_ascii_case("secure");
        has_same_site |= name.eq_ignore_ascii_case("samesite");
    }
    let mut out = text.to_owned();
    if flags.http_only && !has_http_only {
        out.push_str("; HttpOnly");
    }
    if flags.secure && is_tls && !has_secure {
        out.push_str("; Secure");
    }
    if let (Some(same_site), false) = (flags.same_site, has_same_site) {
        out.push_str("; SameSite=");
        out.push_str(same_site);
    }
    HeaderValue::try_from(out).unwrap_or_else(|_| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_get_missing_flags_only() {
        let flags = CookieFlags { http_only: true, secure: true, same_site: Some("Lax") };
        let v = harden_cookie(&HeaderValue::from_static("sid=1; Path=/"), &flags, true);
        assert_eq!(v, "sid=1; Path=/; HttpOnly; Secure; SameSite=Lax");
        let v = harden_cookie(&HeaderValue::from_static("sid=1; secure; SameSite=Strict; HttpOnly"), &flags, true);
        assert_eq!(v, "sid=1; secure; SameSite=Strict; HttpOnly");
        let v = harden_cookie(&HeaderValue::from_static("sid=1"), &flags, false);
        assert_eq!(v, "sid=1; HttpOnly; SameSite=Lax");
    }
}
