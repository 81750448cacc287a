//! Report-only response validation: an operation's declared responses, the
//! one that applies to a status, and the check of a JSON body against its
//! schema, which logs what does not match and changes nothing.

use std::sync::Arc;

use http::StatusCode;
use jsonschema::Validator;
use portcullis_core::{BodyRewriter, Deny};
use serde_json::Value;

use super::body::Content;
use super::document::{Document, escape};
use super::error::{OpenApiError, invalid};
use super::schema::Schemas;
use super::unique_keys;
use crate::media::MediaType;

/// Which statuses a `responses` key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statuses {
    /// `200`.
    Exact(u16),
    /// `2XX`: the hundreds digit.
    Range(u16),
    /// `default`: any status not declared otherwise.
    Default,
}

impl Statuses {
    fn parse(key: &str) -> Option<Self> {
        if key == "default" {
            return Some(Self::Default);
        }
        let bytes = key.as_bytes();
        match bytes {
            // OpenAPI writes ranges `2XX`; `2xx` is accepted too.
            [digit @ b'1'..=b'5', x, y] if x.eq_ignore_ascii_case(&b'X') && y.eq_ignore_ascii_case(&b'X') => {
                Some(Self::Range(u16::from(digit - b'0')))
            }
            [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => key.parse().ok().map(Self::Exact),
            _ => None,
        }
    }

    /// Higher is more specific (OpenAPI 3.1 §4.8.16.2: an explicit code
    /// takes precedence over the range definition for that code).
    fn rank(self, status: StatusCode) -> Option<u8> {
        match self {
            Self::Exact(code) if code == status.as_u16() => Some(2),
            Self::Range(hundreds) if hundreds == status.as_u16() / 100 => Some(1),
            Self::Default => Some(0),
            Self::Exact(_) | Self::Range(_) => None,
        }
    }
}

/// An operation's declared responses.
#[derive(Debug, Default)]
pub(super) struct Responses {
    entries: Vec<(Statuses, Content)>,
}

impl Responses {
    /// Compiles the `responses` of the operation object at `pointer`:
    /// response objects are resolved in `document`, their schemas compiled
    /// by `schemas` (the document translated for responses).
    pub(super) fn compile(
        document: &Document,
        schemas: &Schemas<'_>,
        pointer: &str,
        operation: &Value,
    ) -> Result<Self, OpenApiError> {
        let at = format!("{pointer}/responses");
        let mut entries = Vec::new();
        for (key, response) in operation.get("responses").and_then(Value::as_object).into_iter().flatten() {
            if key.starts_with("x-") {
                continue;
            }
            let statuses = Statuses::parse(key).ok_or_else(|| {
                invalid(&at, format!("{key:?} is not a status code, a range such as \"2XX\", or \"default\""))
            })?;
            let (response_at, response) = document.resolve(&format!("{at}/{}", escape(key)), response)?;
            entries.push((statuses, Content::compile(schemas, &response_at, response)?));
        }
        Ok(Self { entries })
    }

    /// The schema a JSON body of `media` answered with `status` must match,
    /// if the document declares one.
    pub(super) fn validator(&self, status: StatusCode, media: &MediaType) -> Option<&Arc<Validator>> {
        let (_, content) = self
            .entries
            .iter()
            .filter_map(|(statuses, content)| Some((statuses.rank(status)?, content)))
            .max_by_key(|(rank, _)| *rank)?;
        content.entry(media)?.validator.as_ref()
    }
}

/// Checks one JSON response body and logs a mismatch; never changes or
/// refuses the response.
pub(super) struct Check {
    pub(super) validator: Arc<Validator>,
    /// For the log line.
    pub(super) request_id: Arc<str>,
    pub(super) operation: Arc<str>,
    pub(super) status: StatusCode,
}

impl Check {
    fn report(&self, instance_path: &str, problem: &str) {
        tracing::warn!(
            request_id = %self.request_id,
            operation = %self.operation,
            status = self.status.as_u16(),
            instance_path,
            problem,
            "Response does not match the OpenAPI document."
        );
    }
}

/// Where and how `body` fails `validator`, if it does: the first error
/// only, named by its place and keyword, never by the value. A repeated key
/// fails like a syntax error: a client's parser might read either value.
fn mismatch(validator: &Validator, body: &[u8]) -> Option<(String, String)> {
    let Some(value) = unique_keys::parse(body) else {
        return Some((String::new(), "the body is not JSON, or repeats a key".to_owned()));
    };
    let error = validator.validate(&value).err()?;
    Some((error.instance_path().to_string(), format!("fails {:?}", error.kind().keyword())))
}

impl BodyRewriter for Check {
    fn rewrite(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Deny> {
        if let Some((at, problem)) = mismatch(&self.validator, body) {
            self.report(&at, &problem);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys() {
        assert_eq!(Statuses::parse("200"), Some(Statuses::Exact(200)));
        assert_eq!(Statuses::parse("4XX"), Some(Statuses::Range(4)));
        assert_eq!(Statuses::parse("5xx"), Some(Statuses::Range(5)));
        assert_eq!(Statuses::parse("default"), Some(Statuses::Default));
        for bad in ["20", "2000", "600", "099", "XX2", "6XX", "ok", ""] {
            assert_eq!(Statuses::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_mismatch_is_named_by_place_and_keyword() {
        let schema = serde_json::json!({"type": "object", "properties": {"id": {"type": "integer"}}});
        let validator = jsonschema::validator_for(&schema).unwrap();
        let problem = |body: &str| mismatch(&validator, body.as_bytes());
        assert_eq!(problem(r#"{"id":1}"#), None);
        assert_eq!(problem(r#"{"id":"x"}"#), Some(("/id".to_owned(), "fails \"type\"".to_owned())));
        let unreadable = Some((String::new(), "the body is not JSON, or repeats a key".to_owned()));
        assert_eq!(problem(r#"{"id":1,"id":"x"}"#), unreadable, "a repeated key");
        assert_eq!(problem("not json"), unreadable);
    }

    #[test]
    fn the_most_specific_key_wins() {
        let ok = StatusCode::OK;
        assert_eq!(Statuses::Exact(200).rank(ok), Some(2));
        assert_eq!(Statuses::Range(2).rank(ok), Some(1));
        assert_eq!(Statuses::Default.rank(ok), Some(0));
        assert_eq!(Statuses::Exact(201).rank(ok), None);
        assert_eq!(Statuses::Range(4).rank(ok), None);
    }
}
