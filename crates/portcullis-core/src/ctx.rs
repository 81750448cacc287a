//! Per-request context shared by the policies of one exchange.

use std::any::Any;
use std::net::IpAddr;
use std::time::Instant;

use http::{HeaderName, HeaderValue};
use smallvec::SmallVec;
use std::sync::Arc;

/// The verified client certificate of a mutual-TLS connection, parsed once
/// at handshake time.
///
/// Attribute values that are not text (or not valid UTF-8) are left out, so
/// they can never match an identity rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// The subject distinguished name, RFC 4514 form.
    pub subject: String,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint_sha256: String,
    /// SHA-256 of the DER certificate: the RFC 8705 `x5t#S256` thumbprint
    /// before base64url encoding.
    pub sha256: [u8; 32],
    /// The subject's common names (CN), in certificate order.
    pub subject_cn: Vec<String>,
    /// The subject's organizations (O).
    pub subject_o: Vec<String>,
    /// The subject's organizational units (OU).
    pub subject_ou: Vec<String>,
    /// DNS subject alternative names, lower-cased.
    pub san_dns: Vec<String>,
    /// URI subject alternative names (e.g. SPIFFE IDs `spiffe://…`), as written.
    pub san_uri: Vec<String>,
    /// E-mail (RFC 822) subject alternative names, as written.
    pub san_email: Vec<String>,
}

/// What policies know about the request beyond its head.
#[derive(Debug)]
pub struct Ctx {
    /// The request id, also sent back in `X-Request-Id`.
    pub request_id: Arc<str>,
    /// When the gateway began to handle the request: the start of its
    /// timings, and the time rate limits count it at.
    pub received: Instant,
    /// The client's address: the peer, or the address a trusted proxy reported.
    pub client_ip: IpAddr,
    /// The TCP peer's address.
    pub peer_ip: IpAddr,
    /// Whether the request came over TLS.
    pub is_tls: bool,
    /// The verified client certificate, on mutual-TLS listeners.
    pub client_cert: Option<Arc<ClientCert>>,
    /// The matched route's id, once routed.
    pub route: Option<Arc<str>>,
    /// The reason code of a denial or failure, for the access log.
    pub reason: Option<&'static str>,
    /// A masked fingerprint of the credential a failed authentication was
    /// given (e.g. `sha256:1a2b3c4d`, an API key's public prefix, a basic
    /// user name), for the access log. Never the credential itself.
    pub credential: Option<Box<str>>,
    /// Headers policies add to the response, whatever it is (e.g. `RateLimit`).
    /// The first two are held inline, without a heap allocation.
    pub response_headers: SmallVec<[(HeaderName, HeaderValue); 2]>,
    /// Values held until the response has been sent in full, then dropped
    /// (e.g. a concurrency slot).
    pub holds: Vec<Box<dyn Any + Send + Sync>>,
    /// The caller, once an authentication policy proved who it is.
    pub identity: Option<Arc<crate::Identity>>,
    /// The matched route's template parameters (`{id}` → value), in order.
    pub path_params: Vec<(Box<str>, Box<str>)>,
    /// Typed per-request values one phase leaves for a later one (e.g. the
    /// OpenAPI operation matched on the way in, for the response check).
    pub extensions: http::Extensions,
}

impl Ctx {
    /// The context of a request from `peer_ip`, on behalf of `client_ip`
    /// (the same unless a trusted proxy reported another), over TLS or not.
    pub fn new(request_id: Arc<str>, client_ip: IpAddr, peer_ip: IpAddr, is_tls: bool) -> Self {
        Self {
            request_id,
            received: Instant::now(),
            client_ip,
            peer_ip,
            is_tls,
            client_cert: None,
            route: None,
            reason: None,
            credential: None,
            response_headers: SmallVec::new(),
            holds: Vec::new(),
            identity: None,
            path_params: Vec::new(),
            extensions: http::Extensions::new(),
        }
    }
}
