//! Opaque bearer tokens checked by OAuth 2.0 token introspection (RFC 7662,
//! `portcullis-jwt`'s [`Introspector`]). The authorization server is asked
//! once per token and TTL (the introspector remembers its answers under the
//! token's SHA-256, shares one call among concurrent requests, and never
//! remembers a failure); a remembered answer is admitted without waiting.
//! When the endpoint cannot answer, the request fails closed (503).
//! Revocation (by `jti` or subject) and the RFC 8705 certificate binding
//! are checked on every request, remembered or not; revocation under the
//! configured issuer (else the token's `iss`, else the endpoint URL).

use std::sync::Arc;

use http::HeaderValue;
use http::header;
use http::request::Parts;
use portcullis_core::{Claims as ClaimsView, Ctx, Identity, Policy, PolicyError, PolicyResult, Step, Verdict};
use portcullis_jwt::{ActiveToken, Introspection, Introspector};
use portcullis_ratelimit::LockoutRule;

use crate::bearer::{self, BearerReasons, CHALLENGE};
use crate::brute_force::BruteForce;
use crate::cert_binding::{Binding, BindingReasons, CertificateBound};
use crate::challenge::{unauthorized, unavailable};
use crate::jwt::JwtMapping;
use crate::source::CredentialSource;
use crate::token_claims::TokenClaims;

const REASONS: BearerReasons = BearerReasons {
    missing: "auth.introspection.missing",
    malformed: "auth.introspection.malformed",
    in_url: "auth.introspection.in_url",
};

const BINDING: BindingReasons = BindingReasons {
    missing: "auth.introspection.cnf_missing",
    no_certificate: "auth.introspection.cnf_no_certificate",
    mismatch: "auth.introspection.cnf_mismatch",
};

/// Authenticates `Authorization: Bearer` opaque tokens by asking one
/// introspection endpoint. The identity's method is `introspection`, its
/// subject `sub` (else `client_id`), its scopes `scope`; the token maps to
/// the request as a JWT does ([`JwtMapping`]).
pub struct IntrospectionPolicy {
    brute_force: BruteForce,
    certificate_bound: CertificateBound,
    introspector: Introspector,
    mapping: JwtMapping,
    source: CredentialSource,
}

impl std::fmt::Debug for IntrospectionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionPolicy").field("endpoint", &self.introspector.endpoint()).finish_non_exhaustive()
    }
}

impl IntrospectionPolicy {
    /// A policy asking `introspector`.
    #[must_use]
    pub fn new(introspector: Introspector, mapping: JwtMapping, source: CredentialSource) -> Self {
        Self {
            introspector,
            mapping,
            source,
            brute_force: BruteForce::default(),
            certificate_bound: CertificateBound::Off,
        }
    }

    /// Enforces RFC 8705 certificate binding (`cnf.x5t#S256` of the
    /// answer, RFC 8705 §3.2) as `mode` says.
    #[must_use]
    pub fn with_certificate_binding(self, mode: CertificateBound) -> Self {
        Self { certificate_bound: mode, ..self }
    }

    /// Locks addresses that present too many refused tokens under `rule`.
    #[must_use]
    pub fn with_brute_force(self, rule: LockoutRule) -> Self {
        Self { brute_force: BruteForce(rule), ..self }
    }

    /// The identity an active token proves.
    fn identity(&self, token: &Arc<ActiveToken>) -> Identity {
        let view = TokenClaims(token.clone());
        let groups: Arc<[String]> =
            self.mapping.groups_claim.as_deref().map(|name| view.set(name)).unwrap_or_default().into();
        Identity {
            method: "introspection",
            subject: token.subject().unwrap_or_default().into(),
            consumer: None,
            consumer_name: None,
            app: None,
            groups,
            scopes: token.scopes().into_iter().map(str::to_owned).collect(),
            claims: Some(Arc::new(view)),
            headers: portcullis_core::HeaderCache::default(),
        }
    }

    /// Admits an active, unrevoked token and maps it onto the request; refuses the rest.
    fn admit(&self, introspection: Introspection, req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        let token = match introspection {
            Introspection::Active(token) => token,
            Introspection::Refused(refusal) => return Ok(Verdict::Deny(unauthorized(refusal.reason(), CHALLENGE))),
        };
        let binding = Binding::of(&token);
        if let Err(reason) = self.certificate_bound.check(binding, cx.client_cert.as_deref(), &BINDING) {
            return Ok(Verdict::Deny(unauthorized(reason, CHALLENGE)));
        }
        let Some(revocations) = self.source.revocations() else { return Err(unavailable("introspection")) };
        let issuer = self.introspector.issuer().or_else(|| token.iss()).unwrap_or_else(|| self.introspector.endpoint());
        let issued_ms = token.iat().map(|iat| iat.saturating_mul(1000));
        if revocations.is_revoked(issuer, token.jti(), Some(token.subject().unwrap_or_default()), issued_ms) {
            return Ok(Verdict::Deny(unauthorized("auth.introspection.revoked", CHALLENGE)));
        }
        for (name, _) in &self.mapping.claims_to_headers {
            req.headers.remove(name);
        }
        for (claim, name) in &self.mapping.claims_to_headers {
            if let Some(value) = token.claim_as_header_value(claim).and_then(|v| HeaderValue::from_str(&v).ok()) {
                req.headers.insert(name.clone(), value);
            }
        }
        if !self.mapping.forward {
            req.headers.remove(header::AUTHORIZATION);
        }
        cx.identity = Some(Arc::new(self.identity(&token)));
        Ok(Verdict::Continue)
    }

    /// Asks the endpoint about a token not remembered, then admits or refuses it.
    async fn introspect_then_admit(&self, token: String, req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        match self.introspector.introspect(&token).await {
            Ok(introspection) => self.admit(introspection, req, cx),
            Err(err) => Err(PolicyError { reason: err.reason(), detail: err.to_string() }),
        }
    }
}

impl Policy for IntrospectionPolicy {
    fn name(&self) -> &'static str {
        "introspection"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let token = match bearer::token(req, &REASONS) {
            Ok(token) => token,
            Err(verdict) => return Step::Done(bearer::noted(Ok(verdict), cx, req)),
        };
        if self.brute_force.address_locked(cx) {
            let locked = Ok(Verdict::Deny(unauthorized("auth.introspection.locked", CHALLENGE)));
            return Step::Done(bearer::noted(locked, cx, req));
        }
        // The common case, a token asked about recently: no await.
        if let Some(known) = self.introspector.cached(&token) {
            let result = self.brute_force.counted(self.admit(known, req, cx), cx);
            return Step::Done(bearer::noted(result, cx, req));
        }
        Step::Wait(Box::pin(async move {
            let result = self.introspect_then_admit(token, req, &mut *cx).await;
            let result = self.brute_force.counted(result, cx);
            bearer::noted(result, cx, req)
        }))
    }
}
