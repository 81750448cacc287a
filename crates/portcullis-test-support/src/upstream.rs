//! A real HTTP upstream that records what it receives.
//!
//! Paths drive its behaviour: `/status/NNN` answers NNN with a revealing
//! body, `/slow/MS` waits MS milliseconds first, `/cookie` sets a cookie,
//! `/banner` sends `Server` and `X-Powered-By`, `/big/N` sends N bytes;
//! anything else answers 200 with a small JSON body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Request target (origin form).
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes received.
    pub body: Bytes,
    /// HTTP version.
    pub version: http::Version,
}

/// A recording upstream on a free port.
#[derive(Debug)]
pub struct TestUpstream {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestUpstream {
    /// Starts the upstream on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Serves on a listener the caller bound (to restart on a known port).
    pub fn serve(listener: TcpListener) -> Self {
        Self::serve_with(listener, None)
    }

    fn serve_with(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (recorder, tls) = (recorder.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, recorder.clone()));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => drop(builder.serve_connection(TokioIo::new(stream), service).await),
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                drop(builder.serve_connection(TokioIo::new(stream), service).await);
                            }
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(req: Request<Incoming>, seen: Arc<Mutex<Vec<Seen>>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let target = parts.uri.path_and_query().map_or_else(|| "/".to_owned(), ToString::to_string);
    seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        target: target.clone(),
        headers: parts.headers,
        body,
        version: parts.version,
    });
    let path = parts.uri.path();
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    if let Some(code) = path.strip_prefix("/status/") {
        *response.status_mut() =
            StatusCode::from_u16(code.parse().unwrap_or(500)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *response.body_mut() = Full::new(Bytes::from_static(b"Traceback: secret internal detail at 10.0.0.5"));
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    } else if path == "/cookie" {
        response.headers_mut().insert("set-cookie", "sid=abc; Path=/".parse().unwrap());
    } else if path == "/banner" {
        response.headers_mut().insert("server", "Apache/2.4.1 (Unix)".parse().unwrap());
        response.headers_mut().insert("x-powered-by", "PHP/5.6".parse().unwrap());
    } else if let Some(n) = path.strip_prefix("/big/") {
        *response.body_mut() = Full::new(Bytes::from(vec![b'x'; n.parse().unwrap_or(0)]));
    }
    Ok(response)
}

impl TestUpstream {
    /// Starts the upstream behind TLS with `cert` (server certificate and key).
    pub async fn start_tls(cert: &crate::certs::Pem) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert.cert.as_bytes()).map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).unwrap();
        let mut config =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        Self::serve_with(TcpListener::bind("127.0.0.1:0").await.unwrap(), Some(acceptor))
    }
}
