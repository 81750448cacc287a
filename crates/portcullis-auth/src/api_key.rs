//! API-key authentication: the key comes from one configured header only;
//! a key in the query string is refused (keys must not appear in URLs,
//! where logs, proxies and browser history keep them).

use http::HeaderName;
use http::request::Parts;
use portcullis_core::{Ctx, Policy, Step, Verdict};

use portcullis_ratelimit::LockoutRule;

use crate::brute_force::{BruteForce, address_key};
use crate::challenge::{strip, unauthorized, unavailable};
use crate::fingerprint;
use crate::source::CredentialSource;

const CHALLENGE: &str = "ApiKey realm=\"portcullis\"";

/// Query parameter names that carry keys in other gateways.
const KEY_PARAMS: [&str; 5] = ["api_key", "apikey", "api-key", "key", "access_key"];

/// Authenticates with an API key from a header.
#[derive(Debug)]
pub struct ApiKeyPolicy {
    header: HeaderName,
    forward: bool,
    source: CredentialSource,
    brute_force: BruteForce,
}

impl ApiKeyPolicy {
    /// Reads keys from `header`; removes it before proxying unless `forward`.
    #[must_use]
    pub fn new(header: HeaderName, forward: bool, source: CredentialSource) -> Self {
        Self { header, forward, source, brute_force: BruteForce::default() }
    }

    /// Locks addresses that fail too often under `rule`.
    #[must_use]
    pub fn with_brute_force(self, rule: LockoutRule) -> Self {
        Self { brute_force: BruteForce(rule), ..self }
    }
}

/// The decoded value of the first query parameter that looks like a key
/// (by parameter name, or a `pck_` value however it is percent-encoded).
fn key_in_query(query: &str) -> Option<String> {
    use portcullis_core::decode::{Component, percent_decode};
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name, Component::Query).unwrap_or_default();
        let value = percent_decode(value, Component::Query).unwrap_or_default();
        (KEY_PARAMS.iter().any(|k| name.eq_ignore_ascii_case(k)) || value.contains("pck_")).then(|| value.into_owned())
    })
}

impl Policy for ApiKeyPolicy {
    fn name(&self) -> &'static str {
        "api_key"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let result = self.check(req, cx);
        Step::Done(fingerprint::on_refusal(result, cx, || self.presented(req)))
    }
}

impl ApiKeyPolicy {
    /// The fingerprint of the key the request presented: in the header
    /// (the first, when repeated), else in the query string.
    fn presented(&self, req: &Parts) -> Option<Box<str>> {
        if let Some(value) = req.headers.get(&self.header) {
            return Some(
                value
                    .to_str()
                    .map_or_else(|_| fingerprint::digest(value.as_bytes()), |key| fingerprint::api_key(key.trim())),
            );
        }
        key_in_query(req.uri.query()?).map(|key| fingerprint::api_key(&key))
    }

    fn check(&self, req: &mut Parts, cx: &mut Ctx) -> portcullis_core::PolicyResult {
        if req.uri.query().and_then(key_in_query).is_some() {
            return Ok(Verdict::Deny(unauthorized("auth.api_key.in_url", CHALLENGE)));
        }
        let Some(index) = self.source.get() else { return Err(unavailable(self.name())) };
        let mut values = req.headers.get_all(&self.header).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            let reason =
                if req.headers.contains_key(&self.header) { "auth.api_key.repeated" } else { "auth.api_key.missing" };
            return Ok(Verdict::Deny(unauthorized(reason, CHALLENGE)));
        };
        let token = value.to_str().unwrap_or_default().trim();
        // A locked address is refused before any key is checked, with the
        // same answer as a wrong key.
        if self.brute_force.address_locked(cx) {
            return Ok(Verdict::Deny(unauthorized("auth.api_key.locked", CHALLENGE)));
        }
        let now = portcullis_core::time::unix_millis_at(cx.received);
        let Some(credential) = index.resolve_api_key(token, now) else {
            self.brute_force.fail(&address_key(cx));
            return Ok(Verdict::Deny(unauthorized("auth.api_key.invalid", CHALLENGE)));
        };
        cx.identity = Some(credential.identity.clone());
        if !self.forward {
            strip(&mut req.headers, &self.header);
        }
        Ok(Verdict::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_the_query_are_spotted() {
        for query in
            ["api_key=x", "a=1&APIKEY=2", "token=pck_abc", "x=1&key=", "q=a%20pck_z", "t=%70ck_x", "api%5Fkey=1"]
        {
            assert!(key_in_query(query).is_some(), "{query}");
        }
        assert_eq!(key_in_query("a=1&t=%70ck_x").as_deref(), Some("pck_x"));
        for query in ["page=2", "keyword=rust", "q=pick"] {
            assert_eq!(key_in_query(query), None, "{query}");
        }
    }
}
