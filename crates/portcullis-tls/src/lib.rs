//! TLS for Portcullis, on rustls: server configurations (TLS 1.2 and 1.3
//! only, ECDHE + AEAD suites only, server preference, rotating session
//! tickets, SNI, optional mutual TLS) and upstream client configurations
//! (verified by default).
//!
//! It deliberately has no knob for TLS 1.0/1.1, CBC or static-RSA suites:
//! rustls has none of them, and the suite list below is explicit.
//! Certificates are checked at load (key matches, within validity), so a bad
//! file fails `check` and reload rather than the first handshake.

#![forbid(unsafe_code)]

mod client;
mod identity;
mod server;

pub use client::{UpstreamTls, client_config};
pub use identity::{CertificateFiles, LoadedCertificate, client_cert_info, load_certificate};
pub use server::{ClientAuth, ServerTls, server_config};

/// Why a TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file holds nothing usable.
    #[error("{what}: {detail}")]
    Pem {
        /// Which input, e.g. `certificate server.pem`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key does not match certificate {0}")]
    KeyMismatch(String),
    /// The certificate has expired or is not yet valid.
    #[error("certificate {what} is {state}")]
    Validity {
        /// Which certificate.
        what: String,
        /// `expired since <date>` or `not valid before <date>`.
        state: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A client CA bundle cannot verify client certificates.
    #[error("client CA bundle: {0}")]
    Verifier(String),
}

/// The crypto provider: ring, with the suite list pinned to ECDHE + AEAD.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::{cipher_suite as cs, default_provider};
    std::sync::Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..default_provider()
    })
}

/// TLS 1.3 and 1.2, nothing older.
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
