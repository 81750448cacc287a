//! Identity to the upstream: the gateway's own `X-Consumer-Id`, `X-App-Id`,
//! `X-Subject`, `X-Consumer-Groups`, `X-Scopes` and `X-Authenticated-By`.
//! The same headers from the client are always removed, on every route, so
//! an upstream can trust them.

use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::Identity;

const CONSUMER: HeaderName = HeaderName::from_static("x-consumer-id");
const CONSUMER_NAME: HeaderName = HeaderName::from_static("x-consumer-name");
const APP: HeaderName = HeaderName::from_static("x-app-id");
const SUBJECT: HeaderName = HeaderName::from_static("x-subject");
const GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");
const SCOPES: HeaderName = HeaderName::from_static("x-scopes");
const METHOD: HeaderName = HeaderName::from_static("x-authenticated-by");

/// Every identity header the gateway owns; a header's position is its
/// number in an identity's [`portcullis_core::HeaderCache`].
pub const IDENTITY_HEADERS: [HeaderName; 7] = [CONSUMER, CONSUMER_NAME, APP, SUBJECT, GROUPS, SCOPES, METHOD];

/// The name numbered `n` in [`IDENTITY_HEADERS`], made from its constant
/// (a clone of a stored custom name costs an indirect call).
fn name_of(n: u8) -> HeaderName {
    match n {
        0 => CONSUMER,
        1 => CONSUMER_NAME,
        2 => APP,
        3 => SUBJECT,
        4 => GROUPS,
        5 => SCOPES,
        _ => METHOD,
    }
}

/// Removes client-sent identity headers and sets the gateway's.
pub(crate) fn apply(headers: &mut HeaderMap, identity: Option<&Identity>) {
    // Clients rarely send these: one pass over the request's few names finds
    // out, cheaper than hashing all seven for removal on every request.
    if headers.keys().any(is_identity_header) {
        for name in &IDENTITY_HEADERS {
            headers.remove(name);
        }
    }
    let Some(identity) = identity else { return };
    let values = identity.headers_with(values_of);
    headers.reserve(values.len());
    for (n, value) in values {
        headers.append(name_of(*n), value.clone());
    }
}

/// Whether `name` is one of ours: all start with `x-`, which most names a
/// request carries (the standard ones) do not, so they are passed over
/// without comparing against each of ours.
fn is_identity_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-") && IDENTITY_HEADERS.iter().any(|ours| ours.as_str() == name)
}

/// The identity's headers, built once per identity: an API key's identity
/// is shared by all its requests, so they copy ready values.
fn values_of(identity: &Identity) -> Vec<(u8, HeaderValue)> {
    let mut values = Vec::with_capacity(IDENTITY_HEADERS.len());
    let mut set = |name: HeaderName, value: &str| {
        let n = IDENTITY_HEADERS.iter().position(|ours| *ours == name).and_then(|n| u8::try_from(n).ok());
        // A value that is not a valid header value (control characters from
        // a token claim) is left out rather than forwarded mangled.
        if !value.is_empty()
            && let Ok(value) = HeaderValue::from_str(value)
        {
            values.extend(n.map(|n| (n, value)));
        }
    };
    set(SUBJECT, &identity.subject);
    set(METHOD, identity.method);
    if let Some(consumer) = &identity.consumer {
        set(CONSUMER, consumer);
    }
    if let Some(name) = &identity.consumer_name {
        set(CONSUMER_NAME, name);
    }
    if let Some(app) = &identity.app {
        set(APP, app);
    }
    set(GROUPS, &identity.groups.join(","));
    set(SCOPES, &identity.scopes.join(" "));
    values
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn identity(subject: &str) -> Identity {
        Identity {
            method: "api_key",
            subject: subject.into(),
            consumer: Some(subject.into()),
            consumer_name: None,
            app: Some("app_1".into()),
            groups: Arc::from(["a".to_owned(), "b".to_owned()]),
            scopes: Arc::from([]),
            claims: None,
            headers: portcullis_core::HeaderCache::default(),
        }
    }

    fn applied(identity: &Identity) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONSUMER, HeaderValue::from_static("spoofed"));
        headers.insert(SCOPES, HeaderValue::from_static("admin"));
        apply(&mut headers, Some(identity));
        headers
    }

    #[test]
    fn every_request_of_a_shared_identity_gets_its_headers_not_the_clients() {
        let shared = identity("con_1");
        for _ in 0..2 {
            let headers = applied(&shared);
            assert_eq!(headers[&CONSUMER], "con_1");
            assert_eq!(headers[&GROUPS], "a,b");
            assert_eq!(headers[&METHOD], "api_key");
            assert!(!headers.contains_key(&SCOPES), "no scopes: the client's value is gone");
        }
        let mut copy = shared.clone();
        copy.subject = "con_2".into();
        copy.consumer = Some("con_2".into());
        assert_eq!(applied(&copy)[&CONSUMER], "con_2", "a changed copy does not reuse the original's headers");
    }

    #[test]
    fn an_anonymous_request_loses_the_identity_headers_it_sent() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, HeaderValue::from_static("api"));
        headers.append(SUBJECT, HeaderValue::from_static("admin"));
        headers.append(SUBJECT, HeaderValue::from_static("root"));
        apply(&mut headers, None);
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn each_number_names_its_header() {
        for (n, name) in IDENTITY_HEADERS.iter().enumerate() {
            assert_eq!(&name_of(u8::try_from(n).unwrap()), name);
        }
    }

    #[test]
    fn each_identity_header_a_client_sends_is_removed_and_others_kept() {
        for ours in &IDENTITY_HEADERS {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, HeaderValue::from_static("api"));
            headers.insert("x-consumer", HeaderValue::from_static("kept"));
            let spoofed = HeaderName::from_bytes(ours.as_str().to_ascii_uppercase().as_bytes()).unwrap();
            headers.insert(spoofed, HeaderValue::from_static("spoofed"));
            apply(&mut headers, None);
            assert!(!headers.contains_key(ours), "{ours}");
            assert_eq!(headers.len(), 2, "{ours}");
        }
    }

    #[test]
    fn a_value_that_is_no_header_value_is_left_out() {
        let headers = applied(&identity("bad\nvalue"));
        assert!(!headers.contains_key(&SUBJECT) && !headers.contains_key(&CONSUMER));
        assert_eq!(headers[&APP], "app_1");
    }
}
