//! Route policies for request content: media types, body size, and the
//! JSON and XML threat limits.

use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, StatusCode, Version};
use portcullis_core::{BodyInspector, Ctx, Deny, Policy, Step, Verdict};

use crate::json::{JsonError, JsonLimits, scan as scan_json};
use crate::media::{MediaType, accepted};
use crate::xml::{XmlError, XmlLimits, scan as scan_xml};

/// Whether the request carries (or may carry) a body. In HTTP/1.1 a body
/// is announced by `Content-Length` or `Transfer-Encoding`, else there is
/// none (RFC 9112 §6.3); an HTTP/2 request without `content-length` may
/// still send data.
fn has_body(req: &Parts) -> bool {
    let declared = req.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) => n > 0,
        None => {
            req.headers.contains_key(TRANSFER_ENCODING)
                || req.version >= Version::HTTP_2 && matches!(req.method, Method::POST | Method::PUT | Method::PATCH)
        }
    }
}

/// The declared media type of a request that has a body.
fn declared_body(req: &Parts) -> Option<MediaType> {
    if has_body(req) { declared(req) } else { None }
}

/// The declared media type of the body, if any and well-formed.
fn declared(req: &Parts) -> Option<MediaType> {
    req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(MediaType::parse)
}

fn deny(status: StatusCode, reason: &'static str) -> Step<'static> {
    Step::Done(Ok(Verdict::Deny(Deny::new(status, reason))))
}

/// Which syntax checks the content-type policy runs itself (those not
/// already covered by a threat policy on the same route).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyntaxChecks {
    /// Check that bodies declared as JSON are JSON.
    pub json: bool,
    /// Check that bodies declared as XML are XML.
    pub xml: bool,
}

/// Media-type rules: bodies must declare one of `request` (415), `Accept`
/// must admit one of `response` (406), and a body must parse as what it
/// declares (400).
#[derive(Debug)]
pub struct ContentTypePolicy {
    request: Vec<MediaType>,
    response: Vec<MediaType>,
    syntax: SyntaxChecks,
}

impl ContentTypePolicy {
    /// A policy admitting the `request` ranges and producing the `response` types.
    pub fn new(request: Vec<MediaType>, response: Vec<MediaType>, syntax: SyntaxChecks) -> Self {
        Self { request, response, syntax }
    }
}

impl Policy for ContentTypePolicy {
    fn name(&self) -> &'static str {
        "content_type"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, _cx: &'a mut Ctx) -> Step<'a> {
        if !self.request.is_empty() && has_body(req) {
            match declared(req) {
                Some(media) if self.request.iter().any(|r| r.admits(&media)) => {}
                _ => return deny(StatusCode::UNSUPPORTED_MEDIA_TYPE, "inspect.content_type.unsupported"),
            }
        }
        if !self.response.is_empty() {
            let acceptable =
                req.headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).try_fold(false, |any, v| {
                    let ranges: Vec<MediaType> = accepted(v).collect();
                    Some(any || ranges.iter().any(|range| self.response.iter().any(|t| range.admits(t))))
                });
            let has_accept = req.headers.contains_key(ACCEPT);
            if has_accept && acceptable != Some(true) {
                return deny(StatusCode::NOT_ACCEPTABLE, "inspect.accept.unacceptable");
            }
        }
        Step::CONTINUE
    }

    fn body_inspector(&self, req: &Parts, _cx: &Ctx) -> Option<Box<dyn BodyInspector>> {
        let media = declared_body(req)?;
        if self.syntax.json && media.is_json() {
            return Some(Box::new(LimitsCheck::Json(JsonLimits::syntax_only())));
        }
        if self.syntax.xml && media.is_xml() {
            return Some(Box::new(LimitsCheck::Xml(XmlLimits::syntax_only())));
        }
        None
    }
}

/// A request body size limit: 413 from `Content-Length` up front, or while streaming.
#[derive(Debug)]
pub struct BodySizePolicy {
    max: u64,
}

impl BodySizePolicy {
    /// A limit of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self { max }
    }
}

impl Policy for BodySizePolicy {
    fn name(&self) -> &'static str {
        "body_size"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, _cx: &'a mut Ctx) -> Step<'a> {
        let declared =
            req.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max) {
            return deny(StatusCode::PAYLOAD_TOO_LARGE, "inspect.body.too_large");
        }
        Step::CONTINUE
    }

    fn max_request_body(&self) -> Option<u64> {
        Some(self.max)
    }
}

/// JSON threat limits for bodies declared as JSON.
#[derive(Debug)]
pub struct JsonThreatPolicy {
    limits: JsonLimits,
}

impl JsonThreatPolicy {
    /// A policy enforcing `limits`.
    pub fn new(limits: JsonLimits) -> Self {
        Self { limits }
    }
}

impl Policy for JsonThreatPolicy {
    fn name(&self) -> &'static str {
        "json_threat"
    }

    fn body_inspector(&self, req: &Parts, _cx: &Ctx) -> Option<Box<dyn BodyInspector>> {
        declared_body(req)
            .filter(MediaType::is_json)
            .map(|_| Box::new(LimitsCheck::Json(self.limits)) as Box<dyn BodyInspector>)
    }
}

/// XML threat limits for bodies declared as XML.
#[derive(Debug)]
pub struct XmlThreatPolicy {
    limits: XmlLimits,
}

impl XmlThreatPolicy {
    /// A policy enforcing `limits`.
    pub fn new(limits: XmlLimits) -> Self {
        Self { limits }
    }
}

impl Policy for XmlThreatPolicy {
    fn name(&self) -> &'static str {
        "xml_threat"
    }

    fn body_inspector(&self, req: &Parts, _cx: &Ctx) -> Option<Box<dyn BodyInspector>> {
        declared_body(req)
            .filter(MediaType::is_xml)
            .map(|_| Box::new(LimitsCheck::Xml(self.limits)) as Box<dyn BodyInspector>)
    }
}

/// Checks the whole body against JSON or XML limits once it is in.
enum LimitsCheck {
    Json(JsonLimits),
    Xml(XmlLimits),
}

impl BodyInspector for LimitsCheck {
    fn finish(&mut self, body: &[u8]) -> Result<(), Deny> {
        let refused = match self {
            Self::Json(limits) => scan_json(body, *limits).map_err(JsonError::reason),
            Self::Xml(limits) => scan_xml(body, limits).map_err(XmlError::reason),
        };
        refused.map_err(|reason| Deny::new(StatusCode::BAD_REQUEST, reason))
    }
}
