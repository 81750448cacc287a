//! A minimal HTTPS client for key material and token introspection: a GET or a form POST over verified TLS, one
//! request per connection, a deadline, a body cap, and no redirects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::TrustRoots;
use crate::url::HttpsUrl;

/// Largest response body read, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why fetching an issuer's keys failed. The previously loaded keys, if any, stay in use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The fetch did not finish within `fetch_timeout`.
    #[error("{url}: timed out")]
    Timeout {
        /// The URL fetched.
        url: String,
    },
    /// TCP connect, TLS handshake (including certificate verification) or HTTP exchange failed.
    #[error("{url}: {detail}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The server answered with a status other than 200; redirects are not followed.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The response body is larger than 64 KiB.
    #[error("{url}: response larger than {MAX_BODY_BYTES} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
    },
    /// The discovery document is unusable: not JSON, wrong `issuer`, or a `jwks_uri` that is not https.
    #[error("{url}: discovery document: {detail}")]
    Discovery {
        /// The discovery URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// The fetch task ended without a result (runtime shutting down).
    #[error("key fetch aborted")]
    Aborted,
    /// The JWKS is unusable: not a key set, too many keys, or no usable signature key.
    #[error("{url}: {detail}")]
    Jwks {
        /// The JWKS URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

/// An HTTPS client for one issuer's key URLs, or for one introspection endpoint.
#[derive(Clone)]
pub(crate) struct HttpsClient {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client trusting `trust`, with ring as the TLS crypto provider and HTTP/1.1 only.
    ///
    /// # Errors
    ///
    /// A CA PEM without any usable certificate, or a rustls configuration error.
    pub(crate) fn new(trust: &TrustRoots, timeout: Duration) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        match trust {
            TrustRoots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            TrustRoots::CaPem(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| format!("CA PEM: {e}"))?;
                    roots.add(cert).map_err(|e| format!("CA PEM: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("CA PEM holds no certificate".to_owned());
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { tls: TlsConnector::from(Arc::new(config)), timeout })
    }

    /// GETs `url` and returns the body of a 200 response, within the timeout and body cap.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub(crate) async fn get(&self, url: &HttpsUrl) -> Result<Bytes, FetchError> {
        let request = Request::get(url.path_and_query.as_str()).body(Empty::<Bytes>::new());
        self.send_by(url, request, tokio::time::Instant::now() + self.timeout).await
    }

    /// POSTs `form` (already `application/x-www-form-urlencoded`) to `url` with the given `Authorization`, and
    /// returns the body of a 200 response, by `deadline` and within the body cap.
    ///
    /// # Errors
    ///
    /// See [`FetchError`]; [`FetchError::Timeout`] once `deadline` passes.
    pub(crate) async fn post_form_by(
        &self,
        url: &HttpsUrl,
        authorization: &HeaderValue,
        form: String,
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, FetchError> {
        let request = Request::post(url.path_and_query.as_str())
            .header(header::AUTHORIZATION, authorization.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)));
        self.send_by(url, request, deadline).await
    }

    /// Sends `request` (method, path and body set; `Host`, `Accept` and `User-Agent` added here) to `url`.
    async fn send_by<B>(
        &self,
        url: &HttpsUrl,
        request: Result<Request<B>, http::Error>,
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, FetchError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let transport = |detail: String| FetchError::Transport { url: url.as_str().to_owned(), detail };
        let mut request = request.map_err(|e| transport(format!("request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&url.authority).map_err(|e| transport(format!("request: {e}")))?,
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("portcullis-jwt"));
        match tokio::time::timeout_at(deadline, self.send_without_deadline(url, request)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.as_str().to_owned() }),
        }
    }

    async fn send_without_deadline<B>(&self, url: &HttpsUrl, request: Request<B>) -> Result<Bytes, FetchError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let transport = |detail: String| FetchError::Transport { url: url.as_str().to_owned(), detail };
        let tcp =
            TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| transport(format!("connect: {e}")))?;
        // Latency only; failure to set it changes nothing else.
        let _ = tcp.set_nodelay(true);
        let tls = self.tls.connect(url.server_name.clone(), tcp).await.map_err(|e| transport(format!("tls: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| transport(format!("http: {e}")))?;

        let exchange = async {
            let response = sender.send_request(request).await.map_err(|e| transport(format!("http: {e}")))?;
            let status = response.status();
            if status != StatusCode::OK {
                return Err(FetchError::Status { url: url.as_str().to_owned(), status: status.as_u16() });
            }
            let too_large = || FetchError::TooLarge { url: url.as_str().to_owned() };
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
                return Err(too_large());
            }
            let mut body = response.into_body();
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| transport(format!("body: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                    out.extend_from_slice(&data);
                }
            }
            Ok(Bytes::from(out))
        };
        // The connection is driven alongside the exchange, in this task, so nothing outlives the deadline.
        let drive = async {
            let _ = connection.await;
            std::future::pending::<Infallible>().await
        };
        tokio::select! {
            result = exchange => result,
            never = drive => match never {},
        }
    }
}
