//! One client connection: TLS handshake (bounded in time), protocol choice,
//! hyper's HTTP/1.1 or HTTP/2 server with our limits, idle timeout and
//! graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis_core::ClientCert;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::activity::{Activity, CountedIo};
use crate::forward::ConnForwarding;
use crate::pipeline;
use crate::shared::Shared;
use crate::snapshot::HttpLimits;

/// What the pipeline knows about the connection a request came on.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) peer: SocketAddr,
    pub(crate) listener: usize,
    pub(crate) is_tls: bool,
    pub(crate) client_cert: Option<Arc<ClientCert>>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) forwarding: ConnForwarding,
}

#[derive(Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
    Detect,
}

/// Serves one accepted connection until it closes, idles out, or drains.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: usize,
    shutdown: watch::Receiver<bool>,
) {
    let snapshot = shared.live.load_full();
    let Some(settings) = snapshot.listeners.get(listener) else { return };
    let limits = snapshot.limits.clone();
    let activity = Arc::new(Activity::default());
    let Some(tls) = settings.tls.clone() else {
        let protocol = if settings.http2 { Protocol::Detect } else { Protocol::Http1 };
        let forwarding = ConnForwarding::new(peer.ip(), false);
        let info =
            ConnInfo { peer, listener, is_tls: false, client_cert: None, activity: activity.clone(), forwarding };
        drop(snapshot);
        return run(shared, CountedIo::new(stream, activity), info, protocol, &limits, shutdown).await;
    };
    drop(snapshot);
    let handshake = tokio::time::timeout(limits.header_read_timeout, TlsAcceptor::from(tls).accept(stream)).await;
    let Ok(Ok(stream)) = handshake else {
        shared.metrics.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = %peer, "TLS handshake failed or timed out.");
        return;
    };
    let (_, session) = stream.get_ref();
    let protocol = if session.alpn_protocol() == Some(b"h2") { Protocol::Http2 } else { Protocol::Http1 };
    let client_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Arc::new(portcullis_tls::client_cert_info(leaf)));
    let forwarding = ConnForwarding::new(peer.ip(), true);
    let info = ConnInfo { peer, listener, is_tls: true, client_cert, activity: activity.clone(), forwarding };
    run(shared, CountedIo::new(stream, activity), info, protocol, &limits, shutdown).await;
}

async fn run<I>(
    shared: Arc<Shared>,
    io: I,
    info: ConnInfo,
    protocol: Protocol,
    limits: &HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = info.activity.clone();
    let info = Arc::new(info);
    let service = service_fn(move |req| pipeline::handle(shared.clone(), info.clone(), req));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(Some(50));
    let builder = match protocol {
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder.http2_only(),
        Protocol::Detect => builder,
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut idle = tokio::time::interval(limits.idle_timeout);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_mark = None;
    let mut draining = *shutdown.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "Connection ended with an error.");
                }
                return;
            }
            changed = shutdown.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = idle.tick() => {
                let mark = activity.idle_mark();
                if mark.is_some() && mark == last_mark {
                    tracing::debug!("Idle connection closed.");
                    return;
                }
                last_mark = mark;
            }
        }
    }
}
