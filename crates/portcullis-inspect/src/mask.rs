//! Response protection against excessive data exposure: fields removed or
//! masked by name or JSON pointer, string values masked by pattern, and a
//! cap on response size.
//!
//! A masked body is written anew from the upstream's text, not from a
//! parsed tree: what the rules do not touch keeps its exact text (a number
//! beyond `f64` precision stays as it was) and members keep their order.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use http::header::CONTENT_TYPE;
use http::response::Parts;
use portcullis_core::{BodyRewriter, Ctx, Deny, Policy};
use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::json_pointer;
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

/// A body that is not JSON.
#[derive(Debug)]
pub struct Unreadable;

impl MaskRules {
    /// `body` with the rules applied, compact, or `None` if no rule matched
    /// (the body is then sent as it came).
    ///
    /// # Errors
    /// `body` is not JSON.
    pub fn apply(&self, body: &str) -> Result<Option<String>, Unreadable> {
        let root: &RawValue = serde_json::from_str(body).map_err(|_| Unreadable)?;
        let mut rewrite =
            Rewrite { rules: self, pointer: String::new(), out: String::with_capacity(body.len()), changed: false };
        rewrite.value(root.get())?;
        Ok(rewrite.changed.then_some(rewrite.out))
    }
}

/// One body being written anew. Every container is read again from its own
/// text, so the work grows with size × depth; serde_json's depth limit
/// (128), which the first read enforces, bounds it.
struct Rewrite<'r> {
    rules: &'r MaskRules,
    /// Where the value being written is, as a JSON pointer.
    pointer: String,
    out: String,
    changed: bool,
}

impl Rewrite<'_> {
    fn value(&mut self, raw: &str) -> Result<(), Unreadable> {
        match raw.as_bytes().first() {
            Some(b'{') => self.object(raw),
            Some(b'[') => self.array(raw),
            Some(b'"') if !self.rules.patterns.is_empty() => self.string(raw),
            // Numbers, literals and strings no pattern can touch: as written.
            _ => {
                self.out.push_str(raw);
                Ok(())
            }
        }
    }

    fn object(&mut self, raw: &str) -> Result<(), Unreadable> {
        let members = serde_json::Deserializer::from_str(raw).deserialize_map(Members).map_err(|_| Unreadable)?;
        self.out.push('{');
        let (len, mut first) = (self.pointer.len(), true);
        for (key, value) in members {
            json_pointer::push_key(&mut self.pointer, &key);
            let named = self.rules.fields.iter().any(|f| f.eq_ignore_ascii_case(&key));
            let matched = named || self.is_pointed();
            if self.kept(matched, &mut first) {
                self.out.push_str(&serde_json::to_string(&key).map_err(|_| Unreadable)?);
                self.out.push(':');
                self.member(matched, value.get())?;
            }
            self.pointer.truncate(len);
        }
        self.out.push('}');
        Ok(())
    }

    fn array(&mut self, raw: &str) -> Result<(), Unreadable> {
        let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|_| Unreadable)?;
        self.out.push('[');
        let (len, mut first) = (self.pointer.len(), true);
        for (i, item) in items.iter().enumerate() {
            json_pointer::push_index(&mut self.pointer, i);
            let matched = self.is_pointed();
            if self.kept(matched, &mut first) {
                self.member(matched, item.get())?;
            }
            self.pointer.truncate(len);
        }
        self.out.push(']');
        Ok(())
    }

    /// A member's or an element's value: masked if a rule named it.
    fn member(&mut self, matched: bool, raw: &str) -> Result<(), Unreadable> {
        if matched {
            self.changed = true;
            self.out.push('"');
            self.out.push_str(MASK);
            self.out.push('"');
            return Ok(());
        }
        self.value(raw)
    }

    /// Whether a member or element is written (after its separator, unless
    /// it is the `first`); a matched one is left out when the rules remove.
    fn kept(&mut self, matched: bool, first: &mut bool) -> bool {
        if matched && self.rules.action == MaskAction::Remove {
            self.changed = true;
            return false;
        }
        if !std::mem::take(first) {
            self.out.push(',');
        }
        true
    }

    fn is_pointed(&self) -> bool {
        self.rules.pointers.contains(&self.pointer)
    }

    /// A string value with every pattern masked in it.
    fn string(&mut self, raw: &str) -> Result<(), Unreadable> {
        let mut text: String = serde_json::from_str(raw).map_err(|_| Unreadable)?;
        let mut masked = false;
        for pattern in &self.rules.patterns {
            if text != MASK && pattern.is_match(&text) {
                text = pattern.replace_all(&text, MASK).into_owned();
                masked = true;
            }
        }
        if !masked {
            self.out.push_str(raw);
            return Ok(());
        }
        self.changed = true;
        self.out.push_str(&serde_json::to_string(&text).map_err(|_| Unreadable)?);
        Ok(())
    }
}

/// An object's members in order, repeated keys included, values as written.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = entries.next_entry()? {
            members.push(member);
        }
        Ok(members)
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
        let unreadable = || Deny::new(StatusCode::BAD_GATEWAY, "upstream.response.unreadable");
        let text = std::str::from_utf8(body).map_err(|_| unreadable())?;
        Ok(self.0.apply(text).map_err(|Unreadable| unreadable())?.map(String::into_bytes))
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

    fn applied(action: MaskAction, body: &str) -> Option<String> {
        rules(action).apply(body).unwrap()
    }

    #[test]
    fn fields_pointers_and_patterns_are_masked() {
        let body = r#"{"user":{"name":"a","Password":"x","cards":["4111 1111 1111 1111"]},
            "account":{"iban":"DE00"},"items":[{"ssn":"123"}]}"#;
        assert_eq!(
            applied(MaskAction::Mask, body).unwrap(),
            r#"{"user":{"name":"a","Password":"***","cards":["***"]},"account":{"iban":"***"},"items":[{"ssn":"***"}]}"#
        );
    }

    #[test]
    fn fields_can_be_removed() {
        let body = r#"{"password":"x","account":{"iban":"DE00","id":1},"ssn":[1],"z":0}"#;
        assert_eq!(applied(MaskAction::Remove, body).unwrap(), r#"{"account":{"id":1},"z":0}"#);
        assert_eq!(applied(MaskAction::Remove, r#"{"id":1}"#), None, "nothing matched: the body goes as it came");
    }

    #[test]
    fn what_no_rule_touches_keeps_its_exact_text_and_order() {
        let body = r#"{ "z": 1.000000000000000000001, "big": 123456789012345678901234567890,
            "a": "caf\u00e9", "ssn": "1", "e": 1E2, "ssn": "2" }"#;
        assert_eq!(
            applied(MaskAction::Mask, body).unwrap(),
            r#"{"z":1.000000000000000000001,"big":123456789012345678901234567890,"a":"caf\u00e9","ssn":"***","e":1E2,"ssn":"***"}"#,
            "every value of a repeated key is masked"
        );
    }

    #[test]
    fn array_elements_are_masked_or_removed_by_pointer() {
        let rules = MaskRules { pointers: vec!["/items/1".into()], ..rules(MaskAction::Remove) };
        assert_eq!(rules.apply(r#"{"items":[0,1,2]}"#).unwrap().unwrap(), r#"{"items":[0,2]}"#);
        let rules = MaskRules { action: MaskAction::Mask, ..rules };
        assert_eq!(rules.apply(r#"{"items":[0,1,2]}"#).unwrap().unwrap(), r#"{"items":[0,"***",2]}"#);
    }

    #[test]
    fn what_is_not_json_is_unreadable() {
        for bad in [r#"{"a":1"#, r#"{"a":1} x"#, "[01]", r#"{"a":"\x"}"#, ""] {
            assert!(rules(MaskAction::Mask).apply(bad).is_err(), "{bad}");
        }
    }
}
