//! The admin listener: loopback by default, an optional client-address
//! allowlist checked before any byte is read, optional TLS (with client
//! certificates when configured), HTTP/1.1 only, and a request id plus the
//! stable error shape on every answer.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use portcullis_core::RequestIds;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::{ApiError, PendingError};
use crate::principal::Peer;
use crate::state::AppState;

/// How long a client may take to send its request head or finish TLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The complete admin application (routes, fallbacks, request ids).
pub fn app(state: AppState) -> Router {
    let ids = Arc::new(RequestIds::new().expect("the operating system's random source failed"));
    crate::routes::router()
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not take that method",
            )
        })
        .layer(middleware::from_fn(move |req, next| stamp(ids.clone(), req, next)))
        .with_state(state)
}

/// Gives every request an id, answers 406 to clients that will not take
/// JSON, fills the id into error bodies, and adds hardening headers.
async fn stamp(ids: Arc<RequestIds>, req: Request, next: Next) -> Response {
    let id = ids.next_id();
    let accepts_json = req.headers().get_all(header::ACCEPT).iter().all(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|range| {
                let range = range.split(';').next().unwrap_or("").trim();
                matches!(range, "*/*" | "application/*" | "application/json")
            })
        })
    });
    let mut response = if accepts_json {
        next.run(req).await
    } else {
        ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", "this API answers application/json only")
            .into_response()
    };
    if let Some(PendingError(error)) = response.extensions_mut().remove::<PendingError>() {
        let headers = std::mem::take(response.headers_mut());
        response = error.render(&id);
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name, value.clone());
            }
        }
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value);
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_TYPE) && response.status() != StatusCode::NO_CONTENT {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    let tls = state.settings.tls.clone().map(TlsAcceptor::from);
    let allow = state.settings.allow.clone();
    let app = app(state);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "Admin listener accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if !allow.is_empty() && !allow.contains(portcullis_core::ip::canonical(peer.ip())) {
            tracing::info!(peer = %peer.ip(), "Admin connection refused by the allow list.");
            drop(stream);
            continue;
        }
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = app.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req.map(Body::new)
            });
            let service = TowerToHyperService::new(service);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .max_buf_size(64 * 1024);
            let result = match tls {
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => builder.serve_connection(TokioIo::new(tls), service).await,
                    _ => return,
                },
                None => builder.serve_connection(TokioIo::new(stream), service).await,
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "Admin connection ended with an error.");
            }
        });
    }
}
