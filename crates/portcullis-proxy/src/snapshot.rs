//! The compiled, immutable configuration the data path reads: one value,
//! swapped whole on reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_core::ip::IpSet;
use portcullis_core::{Policy, RouteTable};

use crate::access_log::LogMasking;
use crate::metrics::RouteMetrics;
use crate::upstream::Upstream;

/// A listener as compiled. Its address is restart-only; the rest reloads.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Name for logs and metrics.
    pub name: String,
    /// Address to bind.
    pub addr: SocketAddr,
    /// TLS, if this is an HTTPS listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer everything with a redirect to HTTPS on this port.
    pub redirect_https: Option<u16>,
    /// Accept HTTP/2 (ALPN on TLS, prior knowledge on plain listeners).
    pub http2: bool,
}

/// Connection and request-head limits.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Longest request target, in bytes (414 beyond).
    pub max_uri_bytes: usize,
    /// Request line plus headers, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Number of request headers (431 beyond).
    pub max_headers: usize,
    /// Time allowed for the TLS handshake and each request head.
    pub header_read_timeout: Duration,
    /// An idle connection (no request in flight, no bytes moving) is closed after this.
    pub idle_timeout: Duration,
    /// Longest wait for the next chunk of a request body the gateway buffers.
    pub body_read_timeout: Duration,
    /// Open connections, all listeners together (restart-only).
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
}

/// Everything the data path reads for one request.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one on every successful reload.
    pub generation: u64,
    /// Routes by host, path and method.
    pub routes: RouteTable,
    /// Upstreams, indexed by `Route::upstream`.
    pub upstreams: Vec<Arc<Upstream>>,
    /// Listeners, in configuration order.
    pub listeners: Vec<ListenerSettings>,
    /// Request and connection limits.
    pub limits: HttpLimits,
    /// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Request-Id` are believed.
    pub trusted_proxies: IpSet,
    /// Response-phase policies for answers given before a route matched.
    pub default_policies: Arc<[Arc<dyn Policy>]>,
    /// Access-log masking.
    pub masking: Arc<LogMasking>,
    /// Metrics per route, indexed by `Route::index`.
    pub route_metrics: Vec<Arc<RouteMetrics>>,
    /// Metrics of requests answered before a route matched.
    pub unrouted_metrics: Arc<RouteMetrics>,
}

/// The running snapshot, swapped atomically on reload.
pub type Live = ArcSwap<Snapshot>;
