//! Certificates and keys: loading, checking, and naming.

use std::sync::Arc;

use portcullis_core::ClientCert;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::TlsError;

/// A certificate chain and its private key, as PEM bytes.
#[derive(Clone)]
pub struct CertificateFiles {
    /// Label for messages, e.g. the certificate's path.
    pub label: String,
    /// PEM certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for CertificateFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateFiles").field("label", &self.label).field("key_pem", &"<redacted>").finish()
    }
}

/// A checked certificate, ready for a resolver.
#[derive(Debug)]
pub struct LoadedCertificate {
    /// Chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// DNS names it serves (SAN DNS names, else the subject CN), lower-cased.
    pub names: Vec<String>,
    /// The chain, for building client configurations.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key, for building client configurations.
    pub private_key: PrivateKeyDer<'static>,
}

pub(crate) fn parse_certs(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { what: what.to_owned(), detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { what: what.to_owned(), detail: "no PEM certificate found".into() });
    }
    Ok(certs)
}

/// Loads and checks a certificate and key: the key must match the
/// certificate, and the leaf must be valid at `now_unix`.
///
/// # Errors
/// Unreadable PEM, a missing key, a key for another certificate, or a
/// certificate outside its validity period.
pub fn load_certificate(files: &CertificateFiles, now_unix: i64) -> Result<LoadedCertificate, TlsError> {
    let what = format!("certificate {}", files.label);
    let chain = parse_certs(&what, &files.cert_pem)?;
    let private_key = rustls_pemfile::private_key(&mut &files.key_pem[..])
        .map_err(|e| TlsError::Pem { what: format!("key for {}", files.label), detail: e.to_string() })?
        .ok_or_else(|| TlsError::Pem {
            what: format!("key for {}", files.label),
            detail: "no PEM private key found".into(),
        })?;
    let provider = crate::provider();
    let signing_key = provider
        .key_provider
        .load_private_key(private_key.clone_key())
        .map_err(|e| TlsError::Pem { what: format!("key for {}", files.label), detail: e.to_string() })?;
    let key = CertifiedKey::new(chain.clone(), signing_key);
    key.keys_match().map_err(|_| TlsError::KeyMismatch(files.label.clone()))?;

    let leaf = chain.first().map(|c| c.as_ref()).unwrap_or_default();
    let (_, cert) =
        X509Certificate::from_der(leaf).map_err(|e| TlsError::Pem { what: what.clone(), detail: e.to_string() })?;
    let validity = cert.validity();
    if validity.not_after.timestamp() < now_unix {
        return Err(TlsError::Validity {
            what: files.label.clone(),
            state: format!("expired since {}", validity.not_after),
        });
    }
    if validity.not_before.timestamp() > now_unix {
        return Err(TlsError::Validity {
            what: files.label.clone(),
            state: format!("not valid before {}", validity.not_before),
        });
    }
    Ok(LoadedCertificate { key: Arc::new(key), names: dns_names(&cert), chain, private_key })
}

fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase));
    }
    names
}

/// What identity rules and certificate-bound tokens read of a verified
/// client certificate: its subject (DN, CN, O, OU), its DNS, URI and e-mail
/// subject alternative names, and its SHA-256. Parsed once per handshake.
/// A certificate x509-parser cannot read keeps only its fingerprint (the
/// handshake verified it, so this does not happen in practice).
pub fn client_cert_info(der: &[u8]) -> ClientCert {
    let sha256: [u8; 32] = Sha256::digest(der).into();
    let fingerprint_sha256 = sha256.iter().map(|b| format!("{b:02x}")).collect();
    let mut info = ClientCert { fingerprint_sha256, sha256, ..ClientCert::default() };
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return info };
    let subject = cert.subject();
    info.subject = subject.to_string();
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| attr.as_str().ok().map(str::to_owned);
    info.subject_cn = subject.iter_common_name().filter_map(text).collect();
    info.subject_o = subject.iter_organization().filter_map(text).collect();
    info.subject_ou = subject.iter_organizational_unit().filter_map(text).collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => info.san_dns.push(d.to_ascii_lowercase()),
                GeneralName::URI(u) => info.san_uri.push((*u).to_owned()),
                GeneralName::RFC822Name(e) => info.san_email.push((*e).to_owned()),
                _ => {}
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    use super::*;

    #[test]
    fn client_cert_info_reads_the_subject_and_every_kind_of_san() {
        let mut params = CertificateParams::new(vec!["Billing.Internal".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "billing.internal");
        params.distinguished_name.push(DnType::OrganizationName, "Example");
        params.distinguished_name.push(DnType::OrganizationalUnitName, "Payments");
        params.subject_alt_names.push(SanType::URI("spiffe://example.org/ns/payments/sa/api".try_into().unwrap()));
        params.subject_alt_names.push(SanType::Rfc822Name("ops@example.org".try_into().unwrap()));
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let info = client_cert_info(cert.der());
        assert_eq!(info.subject_cn, ["billing.internal"]);
        assert_eq!(info.subject_o, ["Example"]);
        assert_eq!(info.subject_ou, ["Payments"]);
        assert_eq!(info.san_dns, ["billing.internal"], "DNS names are lower-cased");
        assert_eq!(info.san_uri, ["spiffe://example.org/ns/payments/sa/api"]);
        assert_eq!(info.san_email, ["ops@example.org"]);
        let digest: [u8; 32] = Sha256::digest(cert.der()).into();
        assert_eq!(info.sha256, digest);
        assert_eq!(info.fingerprint_sha256, digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
        assert!(info.subject.contains("CN=billing.internal"), "{}", info.subject);
    }

    #[test]
    fn unreadable_der_keeps_only_the_fingerprint() {
        let info = client_cert_info(b"not a certificate");
        assert!(info.subject.is_empty() && info.subject_cn.is_empty() && info.san_uri.is_empty());
        assert_eq!(info.fingerprint_sha256.len(), 64);
    }
}
