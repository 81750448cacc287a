//! Request-head checks that hyper's parser leaves to us: smuggling shapes,
//! the Host header, forbidden methods.

use std::borrow::Cow;

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, StatusCode, Version};
use portcullis_core::Deny;

/// Refuses framing that two HTTP parsers could read differently (RFC 9112
/// §6.3): such a request is answered 400 and its connection closed.
pub(crate) fn check_framing(req: &Parts) -> Result<(), Deny> {
    if req.version != Version::HTTP_11 && req.version != Version::HTTP_10 {
        return Ok(());
    }
    let mut te = req.headers.get_all(TRANSFER_ENCODING).iter();
    let mut cl = req.headers.get_all(CONTENT_LENGTH).iter();
    match (te.next(), cl.next()) {
        (Some(_), Some(_)) => return Err(Deny::malformed("request.smuggling.cl_and_te")),
        (Some(value), None) => {
            if te.next().is_some() || !value.as_bytes().eq_ignore_ascii_case(b"chunked") {
                return Err(Deny::malformed("request.smuggling.transfer_encoding"));
            }
        }
        (None, Some(_)) => {
            if cl.next().is_some() {
                return Err(Deny::malformed("request.smuggling.duplicate_content_length"));
            }
        }
        (None, None) => {}
    }
    Ok(())
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
    fn smuggling_shapes_are_refused() {
        let both = parts(http::Request::get("/").header("content-length", "5").header("transfer-encoding", "chunked"));
        assert_eq!(check_framing(&both).unwrap_err().reason, "request.smuggling.cl_and_te");
        let dup = parts(http::Request::get("/").header("content-length", "5").header("content-length", "5"));
        assert!(check_framing(&dup).unwrap_err().close);
        let gzip = parts(http::Request::get("/").header("transfer-encoding", "gzip, chunked"));
        assert!(check_framing(&gzip).is_err());
        let ok = parts(http::Request::get("/").header("transfer-encoding", "Chunked"));
        assert!(check_framing(&ok).is_ok());
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
