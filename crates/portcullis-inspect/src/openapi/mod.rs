//! OpenAPI 3.0/3.1 request validation: a route policy that lets through
//! only the operations a document declares, with the parameters and
//! bodies it declares, and optionally reports responses that do not match.
//!
//! * No declared path: 404 `inspect.openapi.path`; a declared path without
//!   the method: 405 `inspect.openapi.method` with `Allow`.
//! * Path, query, header and cookie parameters: presence, type, `enum`,
//!   bounds, lengths, `pattern`, `format`: 400 `inspect.openapi.parameter`.
//!   A parameter given twice where one value is declared is refused too
//!   (parameter pollution).
//! * JSON request bodies against the operation's schema, honouring
//!   `additionalProperties: false` (no mass assignment); a missing required
//!   body, or a body the operation does not declare: 400
//!   `inspect.openapi.body`; an undeclared media type: 415
//!   `inspect.openapi.body`.
//! * Query and cookie values come from the request's shared
//!   [`RequestView`](portcullis_core::RequestView); a query or `Cookie`
//!   line that does not decode, or that holds more pairs than the view
//!   keeps, is refused (400): what was not read cannot have been checked.
//! * Optionally (`validate_responses`), JSON responses against the schema
//!   the operation declares for their status, report-only: a mismatch is
//!   logged as a warning and the response is sent unchanged.
//!
//! Everything is compiled when the configuration loads: the document is
//! parsed, its `$ref`s checked (local only), its schemas rewritten into JSON
//! Schema 2020-12 and compiled into validators. A request only matches and
//! validates.

mod body;
mod compile;
mod dialect;
mod document;
mod error;
mod locations;
mod operations;
mod params;
mod response;
mod schema;
#[cfg(test)]
mod tests;
mod unique_keys;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::request::Parts;
use http::response::Parts as ResponseParts;
use http::{Method, StatusCode};
use portcullis_core::{BodyInspector, BodyRewriter, Ctx, Deny, Policy, Step, Verdict, normalize_path};

use self::compile::{Compiled, Operation};
pub use self::error::OpenApiError;
use crate::media::MediaType;

/// How a document is applied to a route.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// A prefix removed from the request path before it is matched against
    /// the document's paths, e.g. `/v1` when the document's paths start
    /// after it. Requests outside the prefix get 404.
    pub base_path: Option<String>,
    /// Refuse query parameters the operation does not declare (default:
    /// allowed).
    pub reject_unknown_query: bool,
    /// Check JSON responses against the schema the operation declares for
    /// their status, and log a warning when one does not match; the
    /// response is never changed or refused (default: off). The document's
    /// response schemas are compiled only when this is on.
    pub validate_responses: bool,
}

/// The operation a request matched, left in [`Ctx::extensions`] by
/// `on_request` for the response check.
#[derive(Debug, Clone, Copy)]
struct OperationMatch {
    /// The [`OpenApiPolicy::id`] of the policy that matched: with several
    /// `open_api` policies on a route, each reads only its own.
    policy: u64,
    /// Index into the policy's operations.
    index: usize,
    /// A HEAD request: its response has no body to check.
    bodiless: bool,
}

/// Gives every compiled policy its own [`OpenApiPolicy::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A refusal and why, for the debug log. Boxed: refusals are rare and
/// large, and the success path should stay small.
struct Refusal {
    deny: Deny,
    operation: Option<Arc<str>>,
    problem: Cow<'static, str>,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str, problem: impl Into<Cow<'static, str>>) -> Box<Self> {
        Box::new(Self { deny: Deny::new(status, reason), operation: None, problem: problem.into() })
    }
}

/// The operation a request names, and the raw values of its path's variables.
struct Matched<'s, 'p> {
    index: usize,
    operation: &'s Operation,
    variables: Vec<(&'s str, &'p str)>,
}

/// Validates requests against an OpenAPI 3.0 or 3.1 document.
///
/// ```
/// use portcullis_inspect::openapi::{OpenApiOptions, OpenApiPolicy};
///
/// let document = r#"
/// openapi: 3.1.0
/// info: { title: users, version: "1" }
/// paths:
///   /users/{id}:
///     get:
///       parameters:
///         - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
/// "#;
/// let policy = OpenApiPolicy::compile(document, OpenApiOptions::default()).unwrap();
/// # let _ = policy;
/// ```
#[derive(Debug)]
pub struct OpenApiPolicy {
    /// Tells this policy's [`OperationMatch`] from another's.
    id: u64,
    base_path: Option<String>,
    reject_unknown_query: bool,
    validate_responses: bool,
    compiled: Compiled,
}

impl OpenApiPolicy {
    /// Compiles `document_text` (JSON or YAML).
    ///
    /// # Errors
    /// The document does not parse, is not OpenAPI 3.0.x or 3.1.x, has a
    /// remote or dangling `$ref`, an invalid schema or path template, a
    /// parameter serialization that is not supported, `base_path` is not
    /// an absolute path, or (with `validate_responses`) a `responses` key
    /// is not a status, a range or `default`. The message names the
    /// offending part.
    pub fn compile(document_text: &str, options: OpenApiOptions) -> Result<Self, OpenApiError> {
        let OpenApiOptions { base_path, reject_unknown_query, validate_responses } = options;
        let base_path = match base_path.as_deref().map(|p| p.trim_end_matches('/')) {
            None | Some("") => None,
            Some(path) if path.starts_with('/') => Some(path.to_owned()),
            Some(path) => return Err(error::invalid("base_path", format!("{path:?} must start with /"))),
        };
        let compiled = compile::compile(document_text, validate_responses)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Self { id, base_path, reject_unknown_query, validate_responses, compiled })
    }

    /// The request path relative to the base path.
    fn relative<'p>(&self, path: &'p str) -> Option<&'p str> {
        let Some(base) = &self.base_path else { return Some(path) };
        match path.strip_prefix(base.as_str())? {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }

    /// The operation a request names, with its path's variables.
    fn operation<'p>(&self, req: &Parts, path: &'p str) -> Result<Matched<'_, 'p>, Box<Refusal>> {
        let not_found = || Refusal::new(StatusCode::NOT_FOUND, "inspect.openapi.path", "no declared path matches");
        let relative = self.relative(path).ok_or_else(not_found)?;
        let (entry, values) = self.compiled.paths.find(relative).ok_or_else(not_found)?;
        let Some(index) = entry.operation(&req.method) else {
            let mut refusal =
                Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "inspect.openapi.method", "the method is not declared");
            refusal.deny.allow = Some(entry.allow().clone());
            return Err(refusal);
        };
        let operation = self.compiled.operations.get(index).ok_or_else(not_found)?;
        Ok(Matched { index, operation, variables: entry.template().variables().zip(values).collect() })
    }

    /// Checks the head; the index of the operation it names when accepted.
    fn check(&self, req: &Parts, cx: &mut Ctx) -> Result<usize, Box<Refusal>> {
        // The gateway routes and forwards the normalized path; so is it matched here.
        let path = normalize_path(req.uri.path())
            .map_err(|_| Refusal::new(StatusCode::NOT_FOUND, "inspect.openapi.path", "the path does not normalize"))?;
        let Matched { index, operation, variables } = self.operation(req, &path)?;
        let with_operation = |mut refusal: Box<Refusal>| {
            refusal.operation = Some(operation.label.clone());
            refusal
        };
        locations::check(&operation.parameters, &variables, req, cx, self.reject_unknown_query).map_err(|problem| {
            with_operation(Refusal::new(StatusCode::BAD_REQUEST, "inspect.openapi.parameter", problem))
        })?;
        body::check_head(operation.body.as_ref(), req).map_err(|(deny, problem)| {
            with_operation(Box::new(Refusal { deny, operation: None, problem: problem.into() }))
        })?;
        Ok(index)
    }
}

impl Policy for OpenApiPolicy {
    fn name(&self) -> &'static str {
        "open_api"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        match self.check(req, cx) {
            Ok(index) => {
                // Only the response check reads it: no allocation otherwise.
                if self.validate_responses {
                    let bodiless = req.method == Method::HEAD;
                    cx.extensions.insert(OperationMatch { policy: self.id, index, bodiless });
                }
                Step::CONTINUE
            }
            Err(refusal) => {
                tracing::debug!(
                    request_id = %cx.request_id,
                    operation = refusal.operation.as_deref().unwrap_or("-"),
                    problem = %refusal.problem,
                    "Request refused by the OpenAPI document."
                );
                Step::Done(Ok(Verdict::Deny(refusal.deny)))
            }
        }
    }

    fn body_inspector(&self, req: &Parts, cx: &Ctx) -> Option<Box<dyn BodyInspector>> {
        let path = normalize_path(req.uri.path()).ok()?;
        let operation = self.operation(req, &path).ok()?.operation;
        let inspector =
            body::Inspector::new(operation.body.as_ref(), req, cx.request_id.clone(), operation.label.clone())?;
        Some(Box::new(inspector))
    }

    fn response_rewriter(&self, resp: &ResponseParts, cx: &Ctx) -> Option<Box<dyn BodyRewriter>> {
        if !self.validate_responses {
            return None;
        }
        let matched = cx.extensions.get::<OperationMatch>().filter(|m| m.policy == self.id)?;
        // RFC 9110 §6.4.1: these responses have no content.
        let status = resp.status;
        if matched.bodiless
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return None;
        }
        // The gateway asks for identity encoding; a coded body cannot be read.
        if resp.headers.get(CONTENT_ENCODING).is_some_and(|coding| coding != "identity") {
            tracing::debug!(request_id = %cx.request_id, "Response not validated: it has a content coding.");
            return None;
        }
        let media = resp.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(MediaType::parse)?;
        if !media.is_json() {
            return None;
        }
        let operation = self.compiled.operations.get(matched.index)?;
        let validator = operation.responses.validator(status, &media)?;
        Some(Box::new(response::Check {
            validator: validator.clone(),
            request_id: cx.request_id.clone(),
            operation: operation.label.clone(),
            status,
        }))
    }
}
