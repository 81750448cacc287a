//! `any_of`: several ways to authenticate on one route (an API key *or* a
//! JWT). The first method that admits the caller wins; when all refuse,
//! the answer is one 401 carrying every method's challenge. When none
//! admits and one could not decide (its identity provider is down), the
//! route fails closed with that method's 503.

use http::header;
use http::request::Parts;
use portcullis_core::{Ctx, Deny, Policy, PolicyResult, Step, Verdict};
use std::sync::Arc;

/// Admits the caller when any one of its authentication policies does.
#[derive(Debug)]
pub struct AnyOfPolicy {
    policies: Vec<Arc<dyn Policy>>,
}

impl AnyOfPolicy {
    /// Tries `policies` in order.
    #[must_use]
    pub fn new(policies: Vec<Arc<dyn Policy>>) -> Self {
        Self { policies }
    }

    async fn check(&self, req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        let mut refusal: Option<Deny> = None;
        let mut challenges = Vec::new();
        let mut failure = None;
        for policy in &self.policies {
            match policy.on_request(req, cx).resolve().await {
                Ok(Verdict::Continue) => {
                    // An earlier method's refusal is not this request's.
                    cx.credential = None;
                    return Ok(Verdict::Continue);
                }
                Ok(Verdict::Deny(deny)) => {
                    challenges.extend(deny.headers.iter().filter(|(n, _)| n == header::WWW_AUTHENTICATE).cloned());
                    refusal.get_or_insert(deny);
                }
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        let mut deny = refusal.unwrap_or_else(|| Deny::new(http::StatusCode::UNAUTHORIZED, "auth.required"));
        deny.headers.retain(|(n, _)| n != header::WWW_AUTHENTICATE);
        deny.headers.extend(challenges);
        Ok(Verdict::Deny(deny))
    }
}

impl Policy for AnyOfPolicy {
    fn name(&self) -> &'static str {
        "any_of"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        Step::Wait(Box::pin(self.check(req, cx)))
    }
}
