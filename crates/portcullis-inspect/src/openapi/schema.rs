//! JSON Schema validators, compiled from the document once, at load.
//!
//! The whole (translated) document is one resource of a registry, so a
//! schema's `$ref`s resolve the way they do in the document; each validator
//! is compiled from a reference to its schema's location. Patterns use the
//! `regex` engine: linear time on any input, so a request cannot make a
//! `pattern` backtrack (a lookaround in the document is refused at load).

use jsonschema::{Draft, PatternOptions, Registry, Validator};
use serde_json::{Value, json};

use super::document::follow;
use super::error::{OpenApiError, invalid};

/// The document's URI inside the registry; never fetched.
const DOCUMENT_URI: &str = "urn:portcullis:openapi";

/// Compiles validators for schemas of one document.
pub(super) struct Schemas<'d> {
    root: &'d Value,
    registry: Registry<'d>,
}

impl<'d> Schemas<'d> {
    /// A compiler over `root`, the translated document.
    pub(super) fn new(root: &'d Value) -> Result<Self, OpenApiError> {
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(DOCUMENT_URI, Draft::Draft202012.create_resource_ref(root))
            .and_then(jsonschema::RegistryBuilder::prepare)
            .map_err(|e| invalid("", format!("the schemas cannot be indexed: {e}")))?;
        Ok(Self { root, registry })
    }

    /// The validator for the schema at `pointer`.
    pub(super) fn compile(&self, pointer: &str) -> Result<Validator, OpenApiError> {
        let reference = json!({"$ref": format!("{DOCUMENT_URI}#{}", fragment(pointer))});
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .with_pattern_options(PatternOptions::regex())
            .build(&reference)
            .map_err(|e| invalid(pointer, format!("invalid schema: {e}")))
    }

    /// Follows `value`'s `$ref`s (a subschema found by walking).
    pub(super) fn deref(&self, value: &'d Value) -> &'d Value {
        follow(self.root, "", value).map_or(value, |(_, v)| v)
    }
}

/// A JSON pointer as a URI fragment: characters a fragment may not hold
/// are percent-encoded (RFC 6901 §6).
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_inside_the_document() {
        let doc = json!({"paths": {"/u/{id}": {"x": {"$ref": "#/components/schemas/U"}}},
            "components": {"schemas": {"U": {"type": "object", "additionalProperties": false,
                "properties": {"kid": {"$ref": "#/components/schemas/U"}}}}}});
        let schemas = Schemas::new(&doc).unwrap();
        let v = schemas.compile("/paths/~1u~1{id}/x").unwrap();
        assert!(v.is_valid(&json!({"kid": {"kid": {}}})));
        assert!(!v.is_valid(&json!({"kid": {"is_admin": true}})));
    }

    #[test]
    fn invalid_schemas_and_slow_patterns_are_refused() {
        let doc = json!({"a": {"type": "strin"}, "b": {"pattern": "(?=x)"}, "c": {"type": "string", "format": "uuid"}});
        let schemas = Schemas::new(&doc).unwrap();
        assert!(schemas.compile("/a").is_err());
        assert!(schemas.compile("/b").is_err());
        let uuid = schemas.compile("/c").unwrap();
        assert!(uuid.is_valid(&json!("9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e")));
        assert!(!uuid.is_valid(&json!("nope")));
    }
}
