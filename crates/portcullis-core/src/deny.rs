//! A denial: the status the client gets and the reason code the log gets.

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, StatusCode};

/// Why a request is refused. The client sees only the status and a generic
/// error word; `reason` is a stable code for logs and metrics.
#[derive(Debug, Clone)]
pub struct Deny {
    /// HTTP status sent to the client.
    pub status: StatusCode,
    /// Stable, documented reason code, e.g. `route.not_found`.
    pub reason: &'static str,
    /// Value of the `Allow` header, for 405 answers.
    pub allow: Option<HeaderValue>,
    /// Further headers of the answer (`Retry-After`, `RateLimit`, …).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Close the connection after answering (framing is in doubt).
    pub close: bool,
}

impl Deny {
    /// A denial with `status` and `reason`, keeping the connection open.
    pub fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason, allow: None, headers: Vec::new(), close: false }
    }

    /// A `400 Bad Request` after which the connection is closed, because the
    /// request's framing cannot be trusted.
    pub fn malformed(reason: &'static str) -> Self {
        Self { close: true, ..Self::new(StatusCode::BAD_REQUEST, reason) }
    }

    /// The same denial, telling the client to try again in `seconds`.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.headers.push((RETRY_AFTER, HeaderValue::from(seconds)));
        self
    }
}

/// The generic error word shown to clients for `status`: it names the class of
/// problem and nothing that helps an attacker.
pub fn error_word(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        410 => "gone",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        421 => "misdirected_request",
        429 => "too_many_requests",
        431 => "request_header_fields_too_large",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        code if code < 500 => "client_error",
        _ => "server_error",
    }
}

/// The client-facing body of every error the gateway generates:
/// `{"error":"<word>","request_id":"<id>"}`. The id is made of `[0-9a-zA-Z._-]`
/// only (see [`crate::RequestIds`]), so no JSON escaping is needed.
pub fn error_body(status: StatusCode, request_id: &str) -> Bytes {
    let word = error_word(status);
    let mut body = String::with_capacity(32 + word.len() + request_id.len());
    body.push_str("{\"error\":\"");
    body.push_str(word);
    body.push_str("\",\"request_id\":\"");
    body.push_str(request_id);
    body.push_str("\"}");
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_small_generic_json() {
        let body = error_body(StatusCode::NOT_FOUND, "abc-1");
        assert_eq!(&body[..], br#"{"error":"not_found","request_id":"abc-1"}"#);
    }
}
