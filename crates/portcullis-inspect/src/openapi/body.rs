//! Request bodies: which media types an operation accepts, whether a body
//! is required, and the JSON Schema check of JSON bodies. The `content`
//! map is shared with responses.

use std::sync::Arc;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::request::Parts;
use http::{StatusCode, Version};
use jsonschema::Validator;
use portcullis_core::{BodyInspector, Deny};
use serde_json::Value;

use super::document::escape;
use super::error::{OpenApiError, invalid};
use super::schema::Schemas;
use super::unique_keys;
use crate::media::MediaType;

/// The reason code of every body refusal.
const REASON: &str = "inspect.openapi.body";

/// One `content` entry of a request body or response.
#[derive(Debug)]
pub(super) struct Entry {
    /// The media range as declared (`application/json`, `application/*`).
    range: MediaType,
    /// The schema of JSON bodies of this type.
    pub(super) validator: Option<Arc<Validator>>,
}

/// The `content` map of a request body or response: the media ranges it
/// declares and the compiled schemas of the JSON ones.
#[derive(Debug, Default)]
pub(super) struct Content {
    /// Most specific range first.
    entries: Vec<Entry>,
}

impl Content {
    /// Compiles the `content` of the (already resolved) request body or
    /// response object at `pointer`.
    pub(super) fn compile(schemas: &Schemas<'_>, pointer: &str, object: &Value) -> Result<Self, OpenApiError> {
        let mut entries = Vec::new();
        for (media, entry) in object.get("content").and_then(Value::as_object).into_iter().flatten() {
            let range = MediaType::parse(media)
                .ok_or_else(|| invalid(pointer, format!("{media:?} is not a media type or range")))?;
            let validator = match entry.get("schema") {
                Some(_) if range.is_json() || range.subtype == "*" => {
                    Some(Arc::new(schemas.compile(&format!("{pointer}/content/{}/schema", escape(media)))?))
                }
                _ => None,
            };
            entries.push(Entry { range, validator });
        }
        entries.sort_by_key(|e| std::cmp::Reverse(u8::from(e.range.kind != "*") + u8::from(e.range.subtype != "*")));
        Ok(Self { entries })
    }

    /// The most specific entry that admits `media`.
    pub(super) fn entry(&self, media: &MediaType) -> Option<&Entry> {
        self.entries.iter().find(|e| e.range.admits(media))
    }
}

/// An operation's `requestBody`.
#[derive(Debug)]
pub(super) struct RequestBody {
    required: bool,
    content: Content,
}

impl RequestBody {
    /// Compiles the (already resolved) request body object at `pointer`.
    pub(super) fn compile(schemas: &Schemas<'_>, pointer: &str, object: &Value) -> Result<Self, OpenApiError> {
        let required = object.get("required").and_then(Value::as_bool).unwrap_or(false);
        Ok(Self { required, content: Content::compile(schemas, pointer, object)? })
    }

    fn entry(&self, media: &MediaType) -> Option<&Entry> {
        self.content.entry(media)
    }
}

/// What the head says about the body.
struct Framing {
    /// `Content-Length`, when valid.
    length: Option<u64>,
    /// Chunked or HTTP/2 without a length: only the body itself will tell.
    unknown: bool,
}

impl Framing {
    fn of(req: &Parts) -> Self {
        let length =
            req.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let unknown =
            length.is_none() && (req.headers.contains_key(TRANSFER_ENCODING) || req.version >= Version::HTTP_2);
        Self { length, unknown }
    }

    fn is_empty(&self) -> bool {
        !self.unknown && self.length.unwrap_or(0) == 0
    }
}

fn declared(req: &Parts) -> Option<MediaType> {
    req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(MediaType::parse)
}

/// What may be decided from the head alone, before the body is read.
pub(super) fn check_head(body: Option<&RequestBody>, req: &Parts) -> Result<(), (Deny, &'static str)> {
    let framing = Framing::of(req);
    match body {
        None if framing.length.is_some_and(|n| n > 0) => Err((bad(), "the operation declares no request body")),
        Some(b) if b.required && framing.is_empty() => Err((bad(), "the required request body is missing")),
        Some(b)
            if framing.length.is_some_and(|n| n > 0)
                && declared(req).and_then(|m| b.entry(&m).map(|_| ())).is_none() =>
        {
            Err((unsupported(), "the body's media type is not one the operation declares"))
        }
        _ => Ok(()),
    }
}

fn bad() -> Deny {
    Deny::new(StatusCode::BAD_REQUEST, REASON)
}

fn unsupported() -> Deny {
    Deny::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, REASON)
}

/// What the inspector expects of a non-empty body.
enum Expect {
    /// The operation declares no body: any byte is refused.
    Nothing,
    /// The media type is not declared: refused with 415.
    Undeclared,
    /// A declared type that is not checked further.
    Any,
    /// JSON, valid against the schema.
    Json(Arc<Validator>),
}

/// Checks one request body against its operation.
pub(super) struct Inspector {
    expect: Expect,
    required: bool,
    /// For log lines.
    request_id: Arc<str>,
    operation: Arc<str>,
}

impl Inspector {
    /// The inspector for a request whose head passed [`check_head`]; `None`
    /// when there is nothing left to check.
    pub(super) fn new(
        body: Option<&RequestBody>,
        req: &Parts,
        request_id: Arc<str>,
        operation: Arc<str>,
    ) -> Option<Self> {
        let framing = Framing::of(req);
        if framing.is_empty() {
            return None;
        }
        let (expect, required) = match body {
            None => (Expect::Nothing, false),
            Some(b) => {
                let media = declared(req);
                let expect = match media.as_ref().and_then(|m| b.entry(m).map(|e| (m, e))) {
                    None => Expect::Undeclared,
                    Some((m, Entry { validator: Some(v), .. })) if m.is_json() => Expect::Json(v.clone()),
                    Some(_) => Expect::Any,
                };
                (expect, b.required)
            }
        };
        Some(Self { expect, required, request_id, operation })
    }

    fn refuse(&self, deny: Deny, problem: &str) -> Deny {
        tracing::debug!(
            request_id = %self.request_id,
            operation = %self.operation,
            problem,
            "Request body refused by the OpenAPI document."
        );
        deny
    }

    fn refuse_non_empty(&self) -> Result<(), Deny> {
        match self.expect {
            Expect::Nothing => Err(self.refuse(bad(), "the operation declares no request body")),
            Expect::Undeclared => {
                Err(self.refuse(unsupported(), "the body's media type is not one the operation declares"))
            }
            Expect::Any | Expect::Json(..) => Ok(()),
        }
    }
}

impl BodyInspector for Inspector {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), Deny> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.refuse_non_empty()
    }

    fn finish(&mut self, body: &[u8]) -> Result<(), Deny> {
        if body.is_empty() {
            return if self.required {
                Err(self.refuse(bad(), "the required request body is missing"))
            } else {
                Ok(())
            };
        }
        self.refuse_non_empty()?;
        let Expect::Json(validator) = &self.expect else { return Ok(()) };
        // Duplicate keys are refused: the upstream's parser might keep a
        // different one than the check saw.
        let Some(value) = unique_keys::parse(body) else {
            return Err(self.refuse(bad(), "the body is not JSON, or repeats a key"));
        };
        let result =
            validator.validate(&value).map_err(|e| format!("{} fails {:?}", e.instance_path(), e.kind().keyword()));
        result.map_err(|problem| self.refuse(bad(), &problem))
    }
}
