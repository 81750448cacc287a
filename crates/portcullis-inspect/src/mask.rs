//! Response protection against excessive data exposure: fields removed or
//! masked by name or JSON pointer, string values masked by pattern, and a
//! cap on response size.

use std::sync::Arc;

use http::StatusCode;
use http::header::CONTENT_TYPE;
use http::response::Parts;
use portcullis_core::{BodyRewriter, Ctx, Deny, Policy};
use regex::Regex;
use serde_json::Value;

use crate::media::MediaType;

const MASK: &str = "***";

/// What happens to a matching field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskAction {
    /// Its value becomes `"***"`.
    Mask,
    /// It is removed.
    Remove,
}

/// The rules of one policy.
#[derive(Debug)]
pub struct MaskRules {
    /// Field names, matched case-insensitively at any depth.
    pub fields: Vec<String>,
    /// JSON pointers (RFC 6901) to fields.
    pub pointers: Vec<String>,
    /// Patterns masked inside every string value.
    pub patterns: Vec<Regex>,
    /// Mask or remove matching fields.
    pub action: MaskAction,
}

impl MaskRules {
    /// Applies the rules; returns whether anything changed.
    pub fn apply(&self, value: &mut Value) -> bool {
        let mut changed = false;
        for pointer in &self.pointers {
            changed |= self.apply_pointer(value, pointer);
        }
        self.walk(value, &mut changed);
        changed
    }

    fn apply_pointer(&self, value: &mut Value, pointer: &str) -> bool {
        match self.action {
            MaskAction::Mask => value.pointer_mut(pointer).map(|v| *v = Value::String(MASK.into())).is_some(),
            MaskAction::Remove => {
                let Some((parent, last)) = pointer.rsplit_once('/') else { return false };
                let key = last.replace("~1", "/").replace("~0", "~");
                match value.pointer_mut(parent) {
                    Some(Value::Object(map)) => map.remove(&key).is_some(),
                    Some(Value::Array(items)) => {
                        key.parse::<usize>().ok().filter(|&i| i < items.len()).map(|i| items.remove(i)).is_some()
                    }
                    _ => false,
                }
            }
        }
    }

    fn walk(&self, value: &mut Value, changed: &mut bool) {
        match value {
            Value::Object(map) => {
                let matching: Vec<String> =
                    map.keys().filter(|k| self.fields.iter().any(|f| f.eq_ignore_ascii_case(k))).cloned().collect();
                for key in matching {
                    *changed = true;
                    match self.action {
                        MaskAction::Mask => {
                            map.insert(key, Value::String(MASK.into()));
                        }
                        MaskAction::Remove => {
                            map.remove(&key);
                        }
                    }
                }
                for child in map.values_mut() {
                    self.walk(child, changed);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|child| self.walk(child, changed)),
            Value::String(text) if text != MASK => {
                for pattern in &self.patterns {
                    if pattern.is_match(text) {
                        *text = pattern.replace_all(text, MASK).into_owned();
                        *changed = true;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Masks or removes sensitive fields of JSON responses before the client
/// sees them. A response declared as JSON that does not parse fails closed
/// with 502: what cannot be read cannot be checked.
#[derive(Debug)]
pub struct ResponseMaskPolicy {
    rules: Arc<MaskRules>,
}

impl ResponseMaskPolicy {
    /// A policy applying `rules`.
    pub fn new(rules: MaskRules) -> Self {
        Self { rules: Arc::new(rules) }
    }
}

impl Policy for ResponseMaskPolicy {
    fn name(&self) -> &'static str {
        "response_mask"
    }

    fn response_rewriter(&self, resp: &Parts, _cx: &Ctx) -> Option<Box<dyn BodyRewriter>> {
        let media = resp.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(MediaType::parse)?;
        media.is_json().then(|| Box::new(MaskRewriter(self.rules.clone())) as Box<dyn BodyRewriter>)
    }
}

struct MaskRewriter(Arc<MaskRules>);

impl BodyRewriter for MaskRewriter {
    fn rewrite(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, Deny> {
        if body.is_empty() {
            return Ok(None);
        }
        let mut value: Value = serde_json::from_slice(body)
            .map_err(|_| Deny::new(StatusCode::BAD_GATEWAY, "upstream.response.unreadable"))?;
        if !self.0.apply(&mut value) {
            return Ok(None);
        }
        serde_json::to_vec(&value)
            .map(Some)
            .map_err(|_| Deny::new(StatusCode::BAD_GATEWAY, "upstream.response.unreadable"))
    }
}

/// Caps response bodies: larger ones are refused (502) or cut mid-stream.
#[derive(Debug)]
pub struct ResponseSizePolicy {
    max: u64,
}

impl ResponseSizePolicy {
    /// A cap of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self { max }
    }
}

impl Policy for ResponseSizePolicy {
    fn name(&self) -> &'static str {
        "response_size"
    }

    fn max_response_body(&self) -> Option<u64> {
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(action: MaskAction) -> MaskRules {
        MaskRules {
            fields: vec!["password".into(), "ssn".into()],
            pointers: vec!["/account/iban".into()],
            patterns: vec![Regex::new(r"\b\d{4}(?:[ -]?\d{4}){3}\b").unwrap()],
            action,
        }
    }

    #[test]
    fn fields_pointers_and_patterns_are_masked() {
        let mut v: Value = serde_json::json!({
            "user": {"name": "a", "Password": "x", "cards": ["4111 1111 1111 1111"]},
            "account": {"iban": "DE00"},
            "items": [{"ssn": "123"}]
        });
        assert!(rules(MaskAction::Mask).apply(&mut v));
        assert_eq!(v["user"]["Password"], "***");
        assert_eq!(v["user"]["cards"][0], "***");
        assert_eq!(v["account"]["iban"], "***");
        assert_eq!(v["items"][0]["ssn"], "***");
        assert_eq!(v["user"]["name"], "a");
    }

    #[test]
    fn fields_can_be_removed() {
        let mut v: Value = serde_json::json!({"password": "x", "account": {"iban": "DE00", "id": 1}});
        assert!(rules(MaskAction::Remove).apply(&mut v));
        assert_eq!(v, serde_json::json!({"account": {"id": 1}}));
        let mut clean: Value = serde_json::json!({"id": 1});
        assert!(!rules(MaskAction::Remove).apply(&mut clean));
    }
}
