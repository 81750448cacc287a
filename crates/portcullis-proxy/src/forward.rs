//! Rewriting heads between client and upstream: hop-by-hop headers out,
//! forwarding headers set by the gateway, the target chosen by configuration
//! only, and banners removed from responses.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};
use http::{StatusCode, Version};
use portcullis_core::Deny;
use portcullis_core::ip::{IpSet, canonical};

use crate::upstream::{Target, Upstream};

/// Hop-by-hop headers (RFC 9110 §7.6.1), plus the legacy ones proxies drop.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// Response headers that advertise the software behind the gateway.
const BANNERS: [HeaderName; 4] = [
    header::SERVER,
    HeaderName::from_static("x-powered-by"),
    HeaderName::from_static("x-aspnet-version"),
    HeaderName::from_static("x-aspnetmvc-version"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// The request id header, both ways.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in
/// which case the right-most untrusted `X-Forwarded-For` entry.
pub(crate) fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &IpSet) -> IpAddr {
    let peer = canonical(peer);
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers.get_all(X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let hops: Vec<&str> = hops.collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
        client = canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// What the gateway says about a connection's client, prepared once per connection.
#[derive(Debug)]
pub(crate) struct ConnForwarding {
    /// The peer's address as a header value, for `X-Forwarded-For`.
    peer: HeaderValue,
    /// `for=<peer>;proto=<scheme>`, the start of a `Forwarded` element.
    element: String,
    /// `http` or `https`.
    proto: HeaderValue,
}

impl ConnForwarding {
    pub(crate) fn new(peer: IpAddr, is_tls: bool) -> Self {
        let peer = canonical(peer);
        let scheme = if is_tls { "https" } else { "http" };
        let element = if peer.is_ipv6() {
            format!("for=\"[{peer}]\";proto={scheme}")
        } else {
            format!("for={peer};proto={scheme}")
        };
        Self {
            peer: HeaderValue::try_from(peer.to_string()).unwrap_or(HeaderValue::from_static("unknown")),
            element,
            proto: HeaderValue::from_static(scheme),
        }
    }
}

/// What the gateway tells the upstream about the original request.
pub(crate) struct Forwarding<'a> {
    pub(crate) peer_trusted: bool,
    pub(crate) conn: &'a ConnForwarding,
    pub(crate) request_id: &'a str,
    pub(crate) identity: Option<&'a portcullis_core::Identity>,
}

/// Turns the client's request head into the upstream's, in place.
/// `normalized` is the normalized path when it differs from the request's.
pub(crate) fn upstream_head(
    req: &mut Parts,
    normalized: Option<&str>,
    upstream: &Upstream,
    target: &Target,
    fwd: &Forwarding<'_>,
) -> Result<(), Deny> {
    strip_hop_by_hop(&mut req.headers);
    crate::identity_headers::apply(&mut req.headers, fwd.identity);
    let invalid = || Deny::malformed("request.header.invalid");
    let host = match req.uri.authority() {
        Some(authority) => HeaderValue::try_from(authority.as_str()).ok(),
        None => req.headers.get(header::HOST).cloned(),
    };
    let headers = &mut req.headers;
    let xff = if fwd.peer_trusted && headers.contains_key(&X_FORWARDED_FOR) {
        let prior = joined(headers, &X_FORWARDED_FOR).unwrap_or_default();
        HeaderValue::try_from(format!("{prior}, {}", fwd.conn.peer.to_str().unwrap_or_default()))
            .map_err(|_| invalid())?
    } else {
        fwd.conn.peer.clone()
    };
    let prior_fwd = if fwd.peer_trusted { joined(headers, &header::FORWARDED) } else { None };
    let mut forwarded = String::with_capacity(64);
    if let Some(prior) = prior_fwd {
        forwarded.push_str(&prior);
        forwarded.push_str(", ");
    }
    forwarded.push_str(&fwd.conn.element);
    if let Some(host) = host.as_ref().and_then(|h| h.to_str().ok()) {
        forwarded.push_str(";host=\"");
        forwarded.push_str(host);
        forwarded.push('"');
    }
    for name in [&X_FORWARDED_FOR, &X_FORWARDED_HOST, &header::FORWARDED, &X_REAL_IP] {
        headers.remove(name);
    }
    if !fwd.peer_trusted || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, fwd.conn.proto.clone());
    }
    headers.insert(X_FORWARDED_FOR, xff);
    headers.insert(header::FORWARDED, HeaderValue::try_from(forwarded).map_err(|_| invalid())?);
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_REQUEST_ID, HeaderValue::try_from(fwd.request_id).map_err(|_| invalid())?);
    if !upstream.preserve_host {
        headers.insert(header::HOST, target.host_header.clone());
    }

    let path_and_query = match (normalized, req.uri.query()) {
        (None, _) => req.uri.path_and_query().cloned(),
        (Some(path), None) => PathAndQuery::try_from(path).ok(),
        (Some(path), Some(query)) => PathAndQuery::try_from(format!("{path}?{query}")).ok(),
    };
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(target.scheme.clone());
    uri.authority = Some(target.authority.clone());
    uri.path_and_query =
        Some(path_and_query.ok_or_else(|| Deny::new(StatusCode::BAD_REQUEST, "request.target.invalid"))?);
    req.uri = Uri::from_parts(uri).map_err(|_| Deny::new(StatusCode::BAD_REQUEST, "request.target.invalid"))?;
    req.version = Version::HTTP_11;
    Ok(())
}

/// All values of `name`, comma-joined, if any.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Removes hop-by-hop headers and software banners from an upstream response.
pub(crate) fn clean_response(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    for name in &BANNERS {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_forwarded_for_is_ignored_from_untrusted_peers() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        let peer: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(client_ip(&headers, peer, &IpSet::default()), peer);
        let trusted = IpSet::new(vec!["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(client_ip(&headers, peer, &trusted), "1.2.3.4".parse::<IpAddr>().unwrap());
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6, 1.2.3.4, 192.0.2.7"));
        assert_eq!(client_ip(&headers, peer, &trusted), "1.2.3.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        headers.insert(header::SERVER, HeaderValue::from_static("Apache/2.4.1"));
        clean_response(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
