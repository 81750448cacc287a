//! Server-side TLS: the listener's rustls configuration and SNI resolver.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::identity::{CertificateFiles, load_certificate, parse_certs};
use crate::{TlsError, VERSIONS, provider};

/// Whether a mutual-TLS listener insists on a client certificate.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// PEM bundle of the CAs that issue client certificates.
    pub ca_pem: Vec<u8>,
    /// `true`: no certificate, no connection. `false`: a certificate is
    /// verified when offered, and later policies decide.
    pub required: bool,
}

/// Everything a TLS listener needs.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificates; the first is the default for clients without SNI.
    pub certificates: Vec<CertificateFiles>,
    /// Mutual TLS, if any.
    pub client_auth: Option<ClientAuth>,
    /// Offer HTTP/2 by ALPN.
    pub http2: bool,
    /// Refuse TLS 1.2 too.
    pub tls13_only: bool,
}

/// Chooses a certificate by SNI: exact name, then `*.` wildcard, then default.
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        let found = self.exact.get(&name).or_else(|| {
            let (_, parent) = name.split_once('.')?;
            self.wildcard.get(parent)
        });
        Some(found.unwrap_or(&self.default).clone())
    }
}

/// Builds a listener's TLS configuration, checking every certificate.
///
/// # Errors
/// Any certificate that [`load_certificate`] refuses, an unusable client CA
/// bundle, or no certificate at all.
pub fn server_config(tls: &ServerTls, now_unix: i64) -> Result<Arc<ServerConfig>, TlsError> {
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut default = None;
    for files in &tls.certificates {
        let loaded = load_certificate(files, now_unix)?;
        for name in &loaded.names {
            match name.strip_prefix("*.") {
                Some(parent) => wildcard.entry(parent.to_owned()).or_insert_with(|| loaded.key.clone()),
                None => exact.entry(name.clone()).or_insert_with(|| loaded.key.clone()),
            };
        }
        default.get_or_insert(loaded.key);
    }
    let default = default
        .ok_or_else(|| TlsError::Pem { what: "tls.certificates".into(), detail: "at least one is required".into() })?;
    let resolver = Arc::new(SniResolver { exact, wildcard, default });

    let versions: &[&rustls::SupportedProtocolVersion] = if tls.tls13_only { &VERSIONS[..1] } else { VERSIONS };
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let mut roots = RootCertStore::empty();
            for cert in parse_certs("client CA bundle", &auth.ca_pem)? {
                roots.add(cert).map_err(|e| TlsError::Verifier(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth.required { verifier } else { verifier.allow_unauthenticated() };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Verifier(e.to_string()))?)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.ignore_client_order = true;
    // Ticket keys rotate every six hours; old ones stay valid for one more period.
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.alpn_protocols =
        if tls.http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(Arc::new(config))
}
