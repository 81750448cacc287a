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

/// Every identity header the gateway owns.
pub const IDENTITY_HEADERS: [HeaderName; 7] = [CONSUMER, CONSUMER_NAME, APP, SUBJECT, GROUPS, SCOPES, METHOD];

/// Removes client-sent identity headers and sets the gateway's.
pub(crate) fn apply(headers: &mut HeaderMap, identity: Option<&Identity>) {
    for name in &IDENTITY_HEADERS {
        headers.remove(name);
    }
    let Some(identity) = identity else { return };
    let mut set = |name: HeaderName, value: &str| {
        // A value that is not a valid header value (control characters from
        // a token claim) is left out rather than forwarded mangled.
        if !value.is_empty()
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(name, value);
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
}
