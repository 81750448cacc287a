//! Identity from the verified client certificate (the listener's mutual
//! TLS): its SHA-256 fingerprint is looked up among the store's `mtls`
//! credentials first; when none is registered, the configured
//! [`CertRule`]s are tried in order (subject fields and SANs, e.g. SPIFFE
//! IDs), and the first that matches names the consumer.

use std::sync::Arc;

use http::request::Parts;
use portcullis_core::{Ctx, Policy, Step, Verdict};
use portcullis_store::CredentialKind;

use crate::cert_rules::CertRule;
use crate::challenge::{unauthorized, unavailable};
use crate::fingerprint;
use crate::source::CredentialSource;

const CHALLENGE: &str = "Mutual realm=\"portcullis\"";

/// Maps the client certificate to a consumer.
#[derive(Debug)]
pub struct MtlsIdentityPolicy {
    source: CredentialSource,
    rules: Vec<CertRule>,
}

impl MtlsIdentityPolicy {
    /// A policy reading `source`, without rules.
    #[must_use]
    pub fn new(source: CredentialSource) -> Self {
        Self { source, rules: Vec::new() }
    }

    /// Tries `rules`, in order, for certificates the store does not know.
    #[must_use]
    pub fn with_rules(self, rules: Vec<CertRule>) -> Self {
        Self { rules, ..self }
    }
}

impl Policy for MtlsIdentityPolicy {
    fn name(&self) -> &'static str {
        "mtls_identity"
    }

    fn on_request<'a>(&'a self, _req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let Some(cert) = cx.client_cert.clone() else {
            return Step::Done(Ok(Verdict::Deny(unauthorized("auth.mtls.missing", CHALLENGE))));
        };
        let Some(index) = self.source.get() else { return Step::Done(Err(unavailable(self.name()))) };
        let now = portcullis_core::time::unix_millis_at(cx.received);
        let identity = match index.lookup(CredentialKind::Mtls, &cert.fingerprint_sha256, now) {
            Some(credential) => Some(credential.identity.clone()),
            None => self.rules.iter().find_map(|rule| rule.identity_of(&cert)).map(Arc::clone),
        };
        let Some(identity) = identity else {
            cx.credential = Some(fingerprint::certificate(&cert));
            return Step::Done(Ok(Verdict::Deny(unauthorized("auth.mtls.unknown", CHALLENGE))));
        };
        cx.identity = Some(identity);
        Step::CONTINUE
    }
}
