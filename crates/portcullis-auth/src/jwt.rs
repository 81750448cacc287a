//! JWT bearer authentication (RFC 6750 / RFC 7519, RFC 8725 rules in
//! `portcullis-jwt`). Signature checks cost tens of microseconds (RS256),
//! more than the rest of a request, so a verified token is remembered until
//! it expires, under the SHA-256 of the whole token: a client reusing its
//! token (the normal case) pays one hash per request. A remembered token is
//! verified again whenever the issuer's key set is replaced (a key may have
//! been retired). Revocation (by `jti` or subject) and the RFC 8705
//! certificate binding are checked on every request, cached or not.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use http::header;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use portcullis_core::{Claims as ClaimsView, Ctx, Identity, Policy, PolicyError, PolicyResult, Step, Verdict};
use portcullis_jwt::{Claims, Issuer, JwtError, RefresherHandle};
use portcullis_ratelimit::LockoutRule;
use sha2::{Digest as _, Sha256};

use crate::bearer::{self, BearerReasons, CHALLENGE};
use crate::brute_force::BruteForce;
use crate::cert_binding::{Binding, BindingReasons, CertificateBound};
use crate::challenge::{unauthorized, unavailable};
use crate::source::CredentialSource;
use crate::token_claims::TokenClaims;

const BINDING: BindingReasons = BindingReasons {
    missing: "auth.jwt.cnf_missing",
    no_certificate: "auth.jwt.cnf_no_certificate",
    mismatch: "auth.jwt.cnf_mismatch",
};

/// The most verified tokens remembered.
const MAX_REMEMBERED: usize = 50_000;

/// How a verified token maps to the request.
#[derive(Debug, Clone, Default)]
pub struct JwtMapping {
    /// The claim holding groups (an array or space-separated string).
    pub groups_claim: Option<String>,
    /// Claims copied to upstream headers (the client's values of those
    /// headers are always removed).
    pub claims_to_headers: Vec<(String, HeaderName)>,
    /// Pass `Authorization` on to the upstream.
    pub forward: bool,
}

/// A token that verified, as far as later requests need it.
#[derive(Debug)]
struct Verified {
    identity: Arc<Identity>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Unix ms after which the token is no longer accepted.
    expires_ms: i64,
    issued_ms: Option<i64>,
    jti: Option<String>,
    /// The client certificate it is bound to (`cnf.x5t#S256`).
    binding: Binding,
    /// The issuer's key generation it was verified under.
    generation: u64,
}

/// Authenticates `Authorization: Bearer` JWTs of one issuer.
pub struct JwtPolicy {
    brute_force: BruteForce,
    certificate_bound: CertificateBound,
    issuer: Issuer,
    mapping: JwtMapping,
    source: CredentialSource,
    remembered: Mutex<HashMap<[u8; 32], Arc<Verified>>>,
    refresher: OnceLock<RefresherHandle>,
}

impl std::fmt::Debug for JwtPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtPolicy").field("issuer", &self.issuer.issuer()).finish_non_exhaustive()
    }
}

impl JwtPolicy {
    /// A policy for `issuer`.
    #[must_use]
    pub fn new(issuer: Issuer, mapping: JwtMapping, source: CredentialSource) -> Self {
        Self {
            issuer,
            mapping,
            source,
            remembered: Mutex::new(HashMap::new()),
            refresher: OnceLock::new(),
            brute_force: BruteForce::default(),
            certificate_bound: CertificateBound::Off,
        }
    }

    /// Enforces RFC 8705 certificate binding as `mode` says.
    #[must_use]
    pub fn with_certificate_binding(self, mode: CertificateBound) -> Self {
        Self { certificate_bound: mode, ..self }
    }

    /// Locks addresses that present too many bad tokens under `rule`.
    #[must_use]
    pub fn with_brute_force(self, rule: LockoutRule) -> Self {
        Self { brute_force: BruteForce(rule), ..self }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        let map = self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).cloned()
    }

    fn remember(&self, key: [u8; 32], verified: Arc<Verified>, now_ms: i64) {
        let mut map = self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, v| v.expires_ms > now_ms);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(key, verified);
    }

    fn verified(&self, claims: Claims, generation: u64) -> Verified {
        let subject: Arc<str> = claims.sub().unwrap_or_default().into();
        let scopes: Arc<[String]> = claims.scopes().into_iter().map(str::to_owned).collect();
        let view = TokenClaims(claims);
        let groups: Arc<[String]> =
            self.mapping.groups_claim.as_deref().map(|name| view.set(name)).unwrap_or_default().into();
        let headers = self
            .mapping
            .claims_to_headers
            .iter()
            .filter_map(|(claim, name)| {
                let value = view.0.claim_as_header_value(claim)?;
                Some((name.clone(), HeaderValue::from_str(&value).ok()?))
            })
            .collect();
        let expires_ms = view.0.exp().map_or(0, |exp| exp.saturating_mul(1000));
        let issued_ms = view.0.iat().map(|iat| iat.saturating_mul(1000));
        let jti = view.0.jti().map(str::to_owned);
        let binding = Binding::of(&view.0);
        let identity = Identity {
            method: "jwt",
            subject,
            consumer: None,
            consumer_name: None,
            app: None,
            groups,
            scopes,
            claims: Some(Arc::new(view)),
            headers: portcullis_core::HeaderCache::default(),
        };
        Verified { identity: Arc::new(identity), headers, expires_ms, issued_ms, jti, binding, generation }
    }

    /// The bearer token of the request, or the denial.
    fn token(req: &Parts) -> Result<String, Verdict> {
        bearer::token(
            req,
            &BearerReasons { missing: "auth.jwt.missing", malformed: "auth.jwt.malformed", in_url: "auth.jwt.in_url" },
        )
    }

    /// Admits a verified token unless it was revoked or belongs to another
    /// client certificate, and maps it onto the request.
    fn admit(&self, verified: &Verified, req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        if let Err(reason) = self.certificate_bound.check(verified.binding, cx.client_cert.as_deref(), &BINDING) {
            return Ok(Verdict::Deny(unauthorized(reason, CHALLENGE)));
        }
        let Some(revocations) = self.source.revocations() else { return Err(unavailable("jwt")) };
        let identity = &verified.identity;
        let (issuer, jti) = (self.issuer.issuer(), verified.jti.as_deref());
        if revocations.is_revoked(issuer, jti, Some(&identity.subject), verified.issued_ms) {
            return Ok(Verdict::Deny(unauthorized("auth.jwt.revoked", CHALLENGE)));
        }
        for (name, _) in &self.mapping.claims_to_headers {
            req.headers.remove(name);
        }
        for (name, value) in &verified.headers {
            req.headers.insert(name.clone(), value.clone());
        }
        if !self.mapping.forward {
            req.headers.remove(header::AUTHORIZATION);
        }
        cx.identity = Some(identity.clone());
        Ok(Verdict::Continue)
    }

    /// Verifies a token not seen before (possibly fetching keys), then admits it.
    async fn verify_then_admit(&self, token: String, key: [u8; 32], req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        match self.issuer.verify_or_refresh(&token, SystemTime::now()).await {
            Ok(claims) => {
                // The generation the check most likely ran under (a refresh
                // may have happened inside verify_or_refresh).
                let verified = Arc::new(self.verified(claims, self.issuer.key_generation()));
                self.remember(key, verified.clone(), portcullis_core::time::now_unix_millis());
                self.admit(&verified, req, cx)
            }
            Err(JwtError::KeysUnavailable) => Err(PolicyError {
                reason: "auth.jwt.keys_unavailable",
                detail: format!("no signing keys for {}", self.issuer.issuer()),
            }),
            Err(err) => Ok(Verdict::Deny(unauthorized(err.reason(), CHALLENGE))),
        }
    }
}

impl Policy for JwtPolicy {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        match self.decide_now(req, cx) {
            ControlFlow::Break(result) => Step::Done(bearer::noted(result, cx, req)),
            ControlFlow::Continue((token, key)) => Step::Wait(Box::pin(async move {
                let result = self.verify_then_admit(token, key, req, &mut *cx).await;
                let result = self.brute_force.counted(result, cx);
                bearer::noted(result, cx, req)
            })),
        }
    }
}

impl JwtPolicy {
    /// Decides without waiting when it can (no token, a locked address, a
    /// remembered token); otherwise the token to verify and its cache key.
    fn decide_now(&self, req: &mut Parts, cx: &mut Ctx) -> ControlFlow<PolicyResult, (String, [u8; 32])> {
        let token = match Self::token(req) {
            Ok(token) => token,
            Err(verdict) => return ControlFlow::Break(Ok(verdict)),
        };
        if self.brute_force.address_locked(cx) {
            return ControlFlow::Break(Ok(Verdict::Deny(unauthorized("auth.jwt.locked", CHALLENGE))));
        }
        if self.refresher.get().is_none() {
            // Started on the first request, inside a worker's runtime; it
            // ends when this policy (its issuer) is dropped by a reload.
            let _ = self.refresher.set(self.issuer.spawn_refresher());
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now_ms = portcullis_core::time::now_unix_millis();
        // The common case, a token seen before: no await, no allocation
        // beyond the token text.
        let generation = self.issuer.key_generation();
        if let Some(verified) = self.cached(&key).filter(|v| v.expires_ms > now_ms && v.generation == generation) {
            return ControlFlow::Break(self.brute_force.counted(self.admit(&verified, req, cx), cx));
        }
        ControlFlow::Continue((token, key))
    }
}
