//! Upstream connections: opened on demand (TCP, then TLS with ALPN), kept
//! alive in a per-worker idle list of the target, and handed back when the
//! response body has been read to its end.
//!
//! Each worker thread runs its own single-threaded runtime, so a
//! connection's task, its checkouts and its check-ins all happen on one
//! thread and the idle list's mutex is never contended.

use std::cell::Cell;
use std::io;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;

use crate::request_body::RequestBody;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::upstream::Upstream;

/// Pooled connections unused for this long are not reused.
const IDLE_EXPIRY: Duration = Duration::from_secs(50);

thread_local! {
    static WORKER_SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Tells the pool which worker the current thread is.
pub(crate) fn set_worker_slot(slot: usize) {
    WORKER_SLOT.with(|s| s.set(slot));
}

fn worker_slot(slots: usize) -> usize {
    WORKER_SLOT.with(Cell::get) % slots.max(1)
}

/// A connection ready to take a request.
#[derive(Debug)]
pub(crate) enum Sender {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

/// A pooled connection.
#[derive(Debug)]
pub(crate) struct Idle {
    sender: Sender,
    since: Instant,
}

/// Opens connections to an upstream's targets.
pub(crate) struct Connector {
    tls: TlsConnector,
    connect_timeout: Duration,
    max_idle: usize,
}

/// Why no response head came back.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made (refused, unreachable, TLS failure, timeout).
    Connect(io::Error),
    /// The exchange failed on an open connection.
    Http(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Http(e) => write!(f, "http: {e}"),
        }
    }
}

/// Gives an HTTP/1 connection back to its idle list once the response body is read.
#[derive(Debug)]
pub(crate) struct Checkin {
    upstream: Arc<Upstream>,
    target: usize,
    sender: http1::SendRequest<RequestBody>,
}

impl Checkin {
    /// Returns the connection to the pool (unless it closed or the list is
    /// full), idle since `now`.
    pub(crate) fn give_back(self, now: Instant) {
        if self.sender.is_closed() {
            return;
        }
        let target = &self.upstream.targets[self.target];
        let slot = &target.idle[worker_slot(target.idle.len())];
        let mut idle = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.upstream.connector.max_idle {
            idle.push(Idle { sender: Sender::H1(self.sender), since: now });
        }
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("connect_timeout", &self.connect_timeout)
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

impl Connector {
    pub(crate) fn new(mut tls: rustls::ClientConfig, http2: bool, connect_timeout: Duration, max_idle: usize) -> Self {
        tls.alpn_protocols =
            if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
        Self { tls: TlsConnector::from(Arc::new(tls)), connect_timeout, max_idle }
    }
}

/// Sends `req` to target `index` at `now`: on a pooled connection when one
/// is idle (retrying once on a fresh connection if the pooled one turned out
/// to be closed before the request went out), else on a new one.
pub(crate) async fn send(
    upstream: &Arc<Upstream>,
    index: usize,
    mut req: Request<RequestBody>,
    now: Instant,
) -> Result<(Response<Incoming>, Option<Checkin>), SendError> {
    if let Some(sender) = checkout(upstream, index, now) {
        match dispatch(upstream, index, sender, req).await {
            Ok(done) => return Ok(done),
            Err((err, Some(unsent))) => {
                tracing::debug!(error = %err, "Pooled connection was closed; retrying on a new one.");
                req = unsent;
            }
            Err((err, None)) => return Err(SendError::Http(err)),
        }
    }
    // Boxed: the connect path (TCP, TLS, handshakes) is a large future that
    // would otherwise be moved along with every request's state.
    let sender = Box::pin(connect(upstream, index)).await?;
    dispatch(upstream, index, sender, req).await.map_err(|(err, _)| SendError::Http(err))
}

/// An idle connection of this worker, if one is usable at `now`.
fn checkout(upstream: &Upstream, index: usize, now: Instant) -> Option<Sender> {
    let target = &upstream.targets[index];
    let mut idle = target.idle[worker_slot(target.idle.len())].lock().unwrap_or_else(PoisonError::into_inner);
    while let Some(entry) = idle.pop() {
        if now.saturating_duration_since(entry.since) > IDLE_EXPIRY {
            continue;
        }
        match entry.sender {
            Sender::H1(s) if !s.is_closed() => return Some(Sender::H1(s)),
            Sender::H2(s) if !s.is_closed() => {
                // HTTP/2 multiplexes: the connection stays in the list.
                idle.push(Idle { sender: Sender::H2(s.clone()), since: entry.since });
                return Some(Sender::H2(s));
            }
            Sender::H1(_) | Sender::H2(_) => {}
        }
    }
    None
}

type Dispatched = Result<(Response<Incoming>, Option<Checkin>), (hyper::Error, Option<Request<RequestBody>>)>;

async fn dispatch(upstream: &Arc<Upstream>, index: usize, sender: Sender, req: Request<RequestBody>) -> Dispatched {
    match sender {
        Sender::H1(mut sender) => {
            if let Err(err) = sender.ready().await {
                return Err((err, Some(req)));
            }
            match sender.try_send_request(req).await {
                Ok(resp) => Ok((resp, Some(Checkin { upstream: upstream.clone(), target: index, sender }))),
                Err(mut err) => {
                    let unsent = err.take_message();
                    Err((err.into_error(), unsent))
                }
            }
        }
        Sender::H2(mut sender) => {
            let target = &upstream.targets[index];
            let mut req = req;
            let mut uri = http::uri::Parts::from(std::mem::take(req.uri_mut()));
            uri.scheme = Some(target.scheme.clone());
            uri.authority = Some(target.authority.clone());
            if let Ok(absolute) = http::Uri::from_parts(uri) {
                *req.uri_mut() = absolute;
            }
            req.headers_mut().remove(http::header::HOST);
            match sender.try_send_request(req).await {
                Ok(resp) => Ok((resp, None)),
                Err(mut err) => {
                    let unsent = err.take_message();
                    Err((err.into_error(), unsent))
                }
            }
        }
    }
}

/// Opens a new connection to target `index`.
async fn connect(upstream: &Upstream, index: usize) -> Result<Sender, SendError> {
    let target = &upstream.targets[index];
    let connector = &upstream.connector;
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    let deadline = tokio::time::Instant::now() + connector.connect_timeout;
    let addr = (
        target.authority.host().trim_start_matches('[').trim_end_matches(']'),
        target.authority.port_u16().unwrap_or(80),
    );
    let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| SendError::Connect(timed_out()))?
        .map_err(SendError::Connect)?;
    let _ = tcp.set_nodelay(true);
    if target.scheme != http::uri::Scheme::HTTPS {
        return handshake_h1(tcp).await;
    }
    let name = ServerName::try_from(target.authority.host().trim_start_matches('[').trim_end_matches(']').to_owned())
        .map_err(|e| SendError::Connect(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let tls = tokio::time::timeout_at(deadline, connector.tls.connect(name, tcp))
        .await
        .map_err(|_| SendError::Connect(timed_out()))?
        .map_err(SendError::Connect)?;
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut idle = target.idle[worker_slot(target.idle.len())].lock().unwrap_or_else(PoisonError::into_inner);
        idle.push(Idle { sender: Sender::H2(sender.clone()), since: Instant::now() });
        return Ok(Sender::H2(sender));
    }
    handshake_h1(tls).await
}

async fn handshake_h1<T>(io: T) -> Result<Sender, SendError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(io)).await.map_err(SendError::Http)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Sender::H1(sender))
}
