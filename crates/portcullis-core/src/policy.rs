//! The policy trait: one method per phase, each defaulting to "do nothing".

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::request::Parts as RequestHead;
use http::response::Parts as ResponseHead;

use crate::{Ctx, Deny};

/// What a phase decided: an enum, not a bool, so it cannot be read backwards.
#[must_use]
#[derive(Debug)]
pub enum Verdict {
    /// Go on with the next policy.
    Continue,
    /// Stop and answer the client; the upstream never sees the request.
    Deny(Deny),
}

/// Portcullis could not decide (a dependency is down): the request fails closed with 503.
#[derive(Debug, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct PolicyError {
    /// Stable reason code for the log, e.g. `auth.jwks.unavailable`.
    pub reason: &'static str,
    /// Operator-facing detail; never sent to the client.
    pub detail: String,
}

/// `Err` means Portcullis could not decide: the request fails closed.
pub type PolicyResult = Result<Verdict, PolicyError>;

/// The answer of [`Policy::on_request`]: ready now (no allocation), or a future to await.
pub enum Step<'a> {
    /// Decided synchronously.
    Done(PolicyResult),
    /// The policy must wait for IO (an identity provider, a shared counter).
    Wait(Pin<Box<dyn Future<Output = PolicyResult> + Send + 'a>>),
}

impl Step<'_> {
    /// Continue with the next policy.
    pub const CONTINUE: Step<'static> = Step::Done(Ok(Verdict::Continue));

    /// Resolves the step, awaiting only when the policy asked to wait.
    pub async fn resolve(self) -> PolicyResult {
        match self {
            Step::Done(result) => result,
            Step::Wait(future) => future.await,
        }
    }
}

/// One step of a route's policy chain, run in the order the route lists it.
pub trait Policy: fmt::Debug + Send + Sync + 'static {
    /// Stable name for logs, metrics and audit events, e.g. `"ip_filter"`.
    fn name(&self) -> &'static str;

    /// Request head received and routed, body not yet read.
    /// The only phase that may wait for IO.
    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, _cx: &'a mut Ctx) -> Step<'a> {
        Step::CONTINUE
    }

    /// An inspector for this request's body, if this policy inspects it.
    /// Called once per request, after every `on_request`. When any policy
    /// returns one, the gateway buffers the body (within the route's size
    /// limit), feeds every chunk to each inspector as it arrives, and
    /// forwards the body only when all of them accept it.
    fn body_inspector(&self, _req: &RequestHead, _cx: &Ctx) -> Option<Box<dyn BodyInspector>> {
        None
    }

    /// The largest request body this policy allows, in bytes.
    fn max_request_body(&self) -> Option<u64> {
        None
    }

    /// Whether this policy must see this request's whole body before it is
    /// forwarded: the gateway then buffers it (within the route's limit)
    /// and calls [`Policy::on_body`].
    fn wants_body(&self, _req: &RequestHead) -> bool {
        false
    }

    /// The whole request body, after every inspector accepted it. May wait
    /// for IO (a malware scanner); an `Err` fails the request closed.
    fn on_body<'a>(&'a self, _req: &'a RequestHead, _body: &'a Bytes, _cx: &'a mut Ctx) -> Step<'a> {
        Step::CONTINUE
    }

    /// Response head (upstream's or the gateway's own), before the client sees it.
    fn on_response(&self, _resp: &mut ResponseHead, _cx: &Ctx) {}

    /// A rewriter for this response's body, if this policy rewrites it. When
    /// any policy returns one, the gateway buffers the upstream body (within
    /// the route's response limit) and passes it through each in order.
    fn response_rewriter(&self, _resp: &ResponseHead, _cx: &Ctx) -> Option<Box<dyn BodyRewriter>> {
        None
    }

    /// The largest response body this policy allows, in bytes.
    fn max_response_body(&self) -> Option<u64> {
        None
    }
}

/// Checks one request body: chunk by chunk as it streams in (to fail
/// fast), then whole. Created per request by [`Policy::body_inspector`].
pub trait BodyInspector: Send {
    /// One chunk, as it arrives. By default every chunk is accepted: a check
    /// that reads the whole body does its work in [`BodyInspector::finish`].
    ///
    /// # Errors
    /// The denial, as soon as the body is known to be unacceptable.
    fn feed(&mut self, _chunk: &[u8]) -> Result<(), Deny> {
        Ok(())
    }

    /// The whole body, after the last chunk.
    ///
    /// # Errors
    /// The denial, if the complete body is unacceptable.
    fn finish(&mut self, body: &[u8]) -> Result<(), Deny>;
}

/// Rewrites one buffered response body. Created per response by
/// [`Policy::response_rewriter`].
pub trait BodyRewriter: Send {
    /// The new body; `Ok(None)` keeps it unchanged.
    ///
    /// # Errors
    /// The body cannot be made safe (e.g. it does not parse): the response
    /// fails closed with the denial.
    fn rewrite(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Deny>;
}
