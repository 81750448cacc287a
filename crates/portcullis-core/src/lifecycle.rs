//! API version lifecycle: active, deprecated (RFC 9745 / RFC 8594 headers) or retired.

use http::HeaderValue;

/// Where a route stands in its API version's life.
#[derive(Debug, Clone)]
pub enum Lifecycle {
    /// Served normally.
    Active,
    /// Served, with `Deprecation` (and `Sunset`, `Link`) headers on every response.
    Deprecated {
        /// `Deprecation: @<unix seconds>` (RFC 9745).
        deprecation: HeaderValue,
        /// `Sunset: <HTTP-date>` (RFC 8594).
        sunset: Option<HeaderValue>,
        /// `Link: <url>; rel="deprecation"`.
        link: Option<HeaderValue>,
    },
    /// Answered with `410 Gone`; the upstream is never called.
    Retired,
}
