//! Request-head checks that hyper's parser leaves to us: transfer codings,
//! the Host header, forbidden methods.

use std::borrow::Cow;

use http::header::{HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, StatusCode, Version};
use portcullis_core::Deny;

/// Accepts only `Transfer-Encoding: chunked`, once. hyper takes any list
/// ending in `chunked` (`gzip, chunked`); the gateway would strip the header
/// as hop-by-hop and hand the upstream a body whose coding it cannot know.
/// (Conflicting `Content-Length`s, `Content-Length` with `Transfer-Encoding`
/// and obs-fold are settled by hyper's parser; see docs/architecture.md.)
pub(crate) fn check_transfer_encoding(req: &Parts) -> Result<(), Deny> {
    let mut te = req.headers.get_all(TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (None, _) => Ok(()),
        (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(Deny::malformed("request.smuggling.transfer_encoding")),
    }
}

/// TRACE reflects credentials (cross-site tracing) and CONNECT opens tunnels:
/// neither is ever served.
pub(crate) fn check_method(method: &Method) -> Result<(), Deny> {
    if method == Method::TRACE || method == Method::CONNECT {
        return Err(Deny::new(StatusCode::METHOD_NOT_ALLOWED, "request.method.forbidden"));
    }
    Ok(())
}

/// The request's host, lower-cased and without port: from `:authority` or
/// an absolute-form target, else the single `Host` header. The two must
/// agree when both are present.
pub(crate) fn request_host(req: &Parts) -> Result<Cow<'_, str>, Deny> {
    let bad = || Deny::malformed("request.host.invalid");
    let mut hosts = req.headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(bad());
    }
    let header = header.map(|h| h.to_str().map_err(|_| bad())).transpose()?;
    let authority = req.uri.authority().map(http::uri::Authority::as_str);
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused, even in absolute form.
    if header.is_none() && req.version == Version::HTTP_11 {
        return Err(bad());
    }
    let raw = match (authority, header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(bad()),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) if req.version == Version::HTTP_10 => "",
        (None, None) => return Err(bad()),
    };
    if raw.contains('@') {
        return Err(bad());
    }
    let host = strip_port(raw).ok_or_else(bad)?;
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':' | b'_'));
    if !valid || host.len() > 253 {
        return Err(bad());
    }
    Ok(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`; a bad port is `None`.
fn strip_port(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        (&authority[..end], authority[end..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() => None,
        _ => Some(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(build: http::request::Builder) -> Parts {
        build.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_plain_chunked_is_accepted() {
        let te = |v: &str| check_transfer_encoding(&parts(http::Request::post("/").header("transfer-encoding", v)));
        assert!(te("chunked").is_ok() && te("Chunked").is_ok());
        assert!(te("gzip, chunked").is_err());
        let twice = parts(
            http::Request::post("/").header("transfer-encoding", "chunked").header("transfer-encoding", "chunked"),
        );
        assert!(check_transfer_encoding(&twice).unwrap_err().close);
    }

    #[test]
    fn hosts_are_parsed_strictly() {
        let host = |h: &str| request_host(&parts(http::Request::get("/").header("host", h))).map(Cow::into_owned);
        assert_eq!(host("API.Example.com:8443").unwrap(), "api.example.com");
        assert_eq!(host("[::1]:80").unwrap(), "[::1]");
        assert_eq!(host("example.com.").unwrap(), "example.com");
        assert!(host("a.com:x").is_err());
        assert!(host("a.com:99999").is_err());
        assert!(host("a.com:").is_err());
        assert!(host("evil.com/x").is_err());
        assert!(host("user@a.com").is_err());
        let two = parts(http::Request::get("/").header("host", "a").header("host", "b"));
        assert!(request_host(&two).is_err());
        let mismatch = parts(http::Request::get("http://a.com/").header("host", "b.com"));
        assert!(request_host(&mismatch).is_err());
        assert!(request_host(&parts(http::Request::get("/"))).is_err());
        assert!(request_host(&parts(http::Request::get("http://a.com/"))).is_err());
    }
}
