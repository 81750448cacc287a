//! Identity from the verified client certificate (the listener's mutual
//! TLS): its SHA-256 fingerprint is looked up among the store's `mtls`
//! credentials.

use http::request::Parts;
use portcullis_core::{Ctx, Policy, Step, Verdict};
use portcullis_store::CredentialKind;

use crate::challenge::{unauthorized, unavailable};
use crate::source::CredentialSource;

const CHALLENGE: &str = "Mutual realm=\"portcullis\"";

/// Maps the client certificate to a consumer.
#[derive(Debug)]
pub struct MtlsIdentityPolicy {
    source: CredentialSource,
}

impl MtlsIdentityPolicy {
    /// A policy reading `source`.
    #[must_use]
    pub fn new(source: CredentialSource) -> Self {
        Self { source }
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
        let now = portcullis_core::time::now_unix_millis();
        let Some(credential) = index.lookup(CredentialKind::Mtls, &cert.fingerprint_sha256, now) else {
            return Step::Done(Ok(Verdict::Deny(unauthorized("auth.mtls.unknown", CHALLENGE))));
        };
        cx.identity = Some(credential.identity.clone());
        Step::CONTINUE
    }
}
