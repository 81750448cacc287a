//! A TLS client for tests: pick versions, SNI, ALPN and a client certificate,
//! and see what was negotiated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::certs::Pem;
use crate::raw::{RawResponse, parse_responses};

/// What a TLS exchange negotiated and received.
#[derive(Debug)]
pub struct TlsOutcome {
    /// `TLSv1_2` or `TLSv1_3`.
    pub version: String,
    /// The cipher suite name.
    pub suite: String,
    /// The ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The server's leaf certificate, DER.
    pub server_cert: Vec<u8>,
    /// The first response.
    pub response: Option<RawResponse>,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// Trusted CA, PEM.
    pub ca_pem: String,
    /// Server name for SNI and verification.
    pub server_name: String,
    /// Offer only TLS 1.2.
    pub tls12_only: bool,
    /// Client certificate.
    pub client_cert: Option<Pem>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
}

impl TlsClient {
    /// A client trusting `ca_pem` for `server_name`.
    pub fn new(ca_pem: &str, server_name: &str) -> Self {
        Self {
            ca_pem: ca_pem.to_owned(),
            server_name: server_name.to_owned(),
            tls12_only: false,
            client_cert: None,
            alpn: vec![b"http/1.1".to_vec()],
        }
    }

    fn config(&self) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile_certs(&self.ca_pem) {
            roots.add(cert).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
                builder.with_client_auth_cert(rustls_pemfile_certs(&pem.cert), key).unwrap()
            }
        };
        config.alpn_protocols.clone_from(&self.alpn);
        config
    }

    /// Connects and completes the handshake.
    ///
    /// # Errors
    /// The handshake failed (the text of the error).
    pub async fn connect(&self, addr: SocketAddr) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(self.server_name.clone()).unwrap();
        TlsConnector::from(Arc::new(self.config())).connect(name, tcp).await.map_err(|e| e.to_string())
    }

    /// Connects, sends `request` (if any) and reads the answer.
    ///
    /// # Errors
    /// The handshake failed (the text of the error).
    pub async fn exchange(&self, addr: SocketAddr, request: Option<&str>) -> Result<TlsOutcome, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(self.server_name.clone()).unwrap();
        let mut tls =
            TlsConnector::from(Arc::new(self.config())).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let mut response = None;
        if let Some(request) = request {
            tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            loop {
                match tokio::time::timeout(Duration::from_secs(3), tls.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) if bytes.is_empty() => return Err(e.to_string()),
                    _ => break,
                }
            }
            response = parse_responses(&bytes).into_iter().next();
        }
        let (_, session) = tls.get_ref();
        Ok(TlsOutcome {
            version: format!("{:?}", session.protocol_version().unwrap()),
            suite: format!("{:?}", session.negotiated_cipher_suite().unwrap().suite()),
            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
            server_cert: session.peer_certificates().unwrap()[0].to_vec(),
            response,
        })
    }
}

fn rustls_pemfile_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes()).map(Result::unwrap).collect()
}

use rustls::pki_types::pem::PemObject as _;
