//! The answers authentication and authorization give: one generic 401 with
//! a challenge, one 403, and 503 when credentials cannot be checked at all.

use http::{HeaderName, HeaderValue, StatusCode, header};
use portcullis_core::{Deny, PolicyError};

/// 401 with `WWW-Authenticate: <challenge>` and `reason` for the log.
pub(crate) fn unauthorized(reason: &'static str, challenge: &'static str) -> Deny {
    Deny {
        headers: vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge))],
        ..Deny::new(StatusCode::UNAUTHORIZED, reason)
    }
}

/// 403 with `reason` for the log.
pub(crate) fn forbidden(reason: &'static str) -> Deny {
    Deny::new(StatusCode::FORBIDDEN, reason)
}

/// The credential index is not available yet: fail closed.
pub(crate) fn unavailable(policy: &str) -> PolicyError {
    PolicyError { reason: "auth.unavailable", detail: format!("{policy}: the credential store is not open") }
}

/// Removes a header the route does not forward.
pub(crate) fn strip(headers: &mut http::HeaderMap, name: &HeaderName) {
    headers.remove(name);
}
