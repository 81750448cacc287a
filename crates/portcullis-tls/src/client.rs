//! Client-side TLS for upstream connections: verified by default.

use rustls::{ClientConfig, RootCertStore};

use crate::identity::{CertificateFiles, load_certificate, parse_certs};
use crate::{TlsError, VERSIONS, provider};

/// How to trust an upstream and, optionally, authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// PEM CA bundle; `None` trusts the public web PKI roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate for mutual TLS to the upstream.
    pub client_certificate: Option<CertificateFiles>,
}

/// Builds the client configuration for one upstream. Certificate
/// verification cannot be switched off.
///
/// # Errors
/// An unreadable CA bundle or client certificate.
/// ALPN is left empty: the HTTP connector sets it from the versions it enables.
pub fn client_config(tls: &UpstreamTls, now_unix: i64) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_pem {
        Some(pem) => {
            for cert in parse_certs("upstream CA bundle", pem)? {
                roots.add(cert).map_err(|e| TlsError::Verifier(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder =
        ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?.with_root_certificates(roots);
    Ok(match &tls.client_certificate {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let loaded = load_certificate(files, now_unix)?;
            builder.with_client_auth_cert(loaded.chain, loaded.private_key)?
        }
    })
}
