//! Schema objects rewritten into the one dialect the validators are
//! compiled for, JSON Schema 2020-12 (what OpenAPI 3.1 uses), as they will
//! be applied to requests.
//!
//! * 3.0 only: `nullable: true` becomes a `"null"` type (and a `null` enum
//!   member); boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric
//!   bounds; siblings of `$ref` are dropped, since 3.0 ignores them.
//! * Both: `format: int32`/`int64` add their range, which JSON Schema's
//!   format checker does not know; a `required` property that is `readOnly`
//!   is not required of requests, nor a `writeOnly` one of responses
//!   (OpenAPI 3.0.3 §4.7.24: "the required will take effect on the response
//!   only", and on the request only).

use serde_json::{Map, Value, json};

use super::document::{Version, follow};

/// Nesting deeper than this is left as written (the JSON parser already
/// limits nesting; this bounds the walk on any input).
const MAX_DEPTH: usize = 256;

/// OpenAPI fields whose values are maps from names to OpenAPI objects (not
/// schemas), so that a name such as `schema` is not taken for a keyword.
const NAMED_MAPS: [&str; 12] = [
    "paths",
    "webhooks",
    "pathItems",
    "headers",
    "content",
    "responses",
    "callbacks",
    "links",
    "encoding",
    "requestBodies",
    "securitySchemes",
    "parameters",
];

/// Subschema keywords whose value is one schema.
const ONE: [&str; 11] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
];
/// Subschema keywords whose value is a list of schemas.
const LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Subschema keywords whose value maps names to schemas.
const MAP: [&str; 5] = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];

/// Which messages the schemas will be applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Requests: `readOnly` properties are not required.
    Request,
    /// Responses: `writeOnly` properties are not required.
    Response,
}

impl Direction {
    /// The flag of properties not required in this direction.
    fn exempt(self) -> &'static str {
        match self {
            Self::Request => "readOnly",
            Self::Response => "writeOnly",
        }
    }
}

struct Walk<'a> {
    version: Version,
    direction: Direction,
    /// The document before rewriting, to follow `$ref`s of properties.
    original: &'a Value,
}

/// Rewrites every schema of the document in place, for `direction`.
pub(super) fn translate(root: &mut Value, version: Version, direction: Direction) {
    let original = root.clone();
    let walk = Walk { version, direction, original: &original };
    walk.openapi(root, 0);
}

impl Walk<'_> {
    fn openapi(&self, value: &mut Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match key.as_str() {
                        "schema" => self.schema(child, depth + 1),
                        "schemas" => child.as_object_mut().into_iter().flat_map(|m| m.values_mut()).for_each(|s| {
                            self.schema(s, depth + 2);
                        }),
                        k if NAMED_MAPS.contains(&k) && child.is_object() => {
                            child.as_object_mut().into_iter().flat_map(|m| m.values_mut()).for_each(|item| {
                                self.openapi(item, depth + 2);
                            });
                        }
                        k if k.starts_with("x-") || k == "example" || k == "examples" => {}
                        _ => self.openapi(child, depth + 1),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.openapi(item, depth + 1)),
            _ => {}
        }
    }

    fn schema(&self, value: &mut Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Value::Object(map) = value else { return };
        if self.version == Version::V3_0 && map.contains_key("$ref") {
            map.retain(|key, _| key == "$ref");
            return;
        }
        self.relax_required(map);
        for (key, child) in map.iter_mut() {
            let key = key.as_str();
            if ONE.contains(&key) {
                match child {
                    // Draft 4 tuple form, in case a 3.0 document uses it.
                    Value::Array(items) => items.iter_mut().for_each(|s| self.schema(s, depth + 1)),
                    _ => self.schema(child, depth + 1),
                }
            } else if LIST.contains(&key) {
                child.as_array_mut().into_iter().flatten().for_each(|s| self.schema(s, depth + 1));
            } else if MAP.contains(&key) {
                child.as_object_mut().into_iter().flat_map(|m| m.values_mut()).for_each(|s| self.schema(s, depth + 1));
            }
        }
        integer_range(map);
        if self.version == Version::V3_0 {
            exclusive_bound(map, "exclusiveMinimum", "minimum");
            exclusive_bound(map, "exclusiveMaximum", "maximum");
            if map.remove("nullable") == Some(Value::Bool(true)) {
                nullable(value);
            }
        }
    }

    /// Drops the properties exempt in this direction from `required`.
    fn relax_required(&self, map: &mut Map<String, Value>) {
        let Some(Value::Object(properties)) = map.get("properties") else { return };
        let exempt: Vec<String> =
            properties.iter().filter(|(_, schema)| self.is_exempt(schema)).map(|(name, _)| name.clone()).collect();
        if exempt.is_empty() {
            return;
        }
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|name| name.as_str().is_none_or(|n| !exempt.iter().any(|r| r == n)));
        }
    }

    fn is_exempt(&self, schema: &Value) -> bool {
        let flag = |s: &Value| s.get(self.direction.exempt()) == Some(&Value::Bool(true));
        flag(schema) || follow(self.original, "", schema).is_ok_and(|(_, target)| flag(target))
    }
}

/// `format: int32`/`int64`: the range joins the schema's `allOf`.
fn integer_range(map: &mut Map<String, Value>) {
    let range = match map.get("format").and_then(Value::as_str) {
        Some("int32") => json!({"minimum": i32::MIN, "maximum": i32::MAX}),
        Some("int64") => json!({"minimum": i64::MIN, "maximum": i64::MAX}),
        _ => return,
    };
    match map.get_mut("allOf") {
        Some(Value::Array(all)) => all.push(range),
        _ => {
            map.insert("allOf".into(), Value::Array(vec![range]));
        }
    }
}

/// Draft 4's `exclusiveMinimum: true` beside `minimum: m` is 2020-12's
/// `exclusiveMinimum: m`.
fn exclusive_bound(map: &mut Map<String, Value>, exclusive: &str, bound: &str) {
    if !map.get(exclusive).is_some_and(Value::is_boolean) {
        return;
    }
    if map.remove(exclusive) == Some(Value::Bool(true))
        && let Some(limit) = map.remove(bound)
    {
        map.insert(exclusive.into(), limit);
    }
}

/// 3.0 `nullable: true`: `null` is also a valid instance.
fn nullable(value: &mut Value) {
    let Value::Object(map) = value else { return };
    if let Some(Value::Array(members)) = map.get_mut("enum")
        && !members.contains(&Value::Null)
    {
        members.push(Value::Null);
    }
    match map.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            map.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push("null".into());
            }
        }
        _ => {
            let inner = std::mem::take(value);
            *value = json!({"anyOf": [inner, {"type": "null"}]});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(version: Version, schema: Value) -> Value {
        let mut doc = json!({"components": {"schemas": {}}});
        doc["components"]["schemas"]["S"] = schema;
        translate(&mut doc, version, Direction::Request);
        doc["components"]["schemas"]["S"].take()
    }

    #[test]
    fn nullable_becomes_a_null_type() {
        let s = translated(Version::V3_0, json!({"type": "string", "enum": ["a"], "nullable": true}));
        assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
        let s = translated(Version::V3_0, json!({"allOf": [{"type": "integer"}], "nullable": true}));
        assert_eq!(s, json!({"anyOf": [{"allOf": [{"type": "integer"}]}, {"type": "null"}]}));
        // 3.1 has no `nullable`: left for the validator to ignore.
        let s = translated(Version::V3_1, json!({"type": "string", "nullable": true}));
        assert_eq!(s, json!({"type": "string", "nullable": true}));
    }

    #[test]
    fn draft4_bounds_and_ref_siblings() {
        let s = translated(
            Version::V3_0,
            json!({"type": "object", "properties": {
                "n": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false},
                "r": {"$ref": "#/components/schemas/X", "description": "ignored"}
            }}),
        );
        assert_eq!(s["properties"]["n"], json!({"type": "number", "exclusiveMinimum": 0, "maximum": 9}));
        assert_eq!(s["properties"]["r"], json!({"$ref": "#/components/schemas/X"}));
    }

    #[test]
    fn integer_formats_get_their_range() {
        let s = translated(Version::V3_1, json!({"type": "integer", "format": "int32", "allOf": [{"minimum": 1}]}));
        assert_eq!(s["allOf"][1], json!({"minimum": i32::MIN, "maximum": i32::MAX}));
    }

    #[test]
    fn read_only_properties_are_not_required_of_requests() {
        let mut doc = json!({"components": {"schemas": {
            "Id": {"type": "string", "readOnly": true},
            "U": {"type": "object", "required": ["id", "ref", "name"], "properties": {
                "id": {"type": "string", "readOnly": true},
                "ref": {"$ref": "#/components/schemas/Id"},
                "name": {"type": "string"}
            }}
        }}});
        translate(&mut doc, Version::V3_0, Direction::Request);
        assert_eq!(doc["components"]["schemas"]["U"]["required"], json!(["name"]));
    }

    #[test]
    fn write_only_properties_are_not_required_of_responses() {
        let doc = json!({"components": {"schemas": {
            "U": {"type": "object", "required": ["id", "password"], "properties": {
                "id": {"type": "string", "readOnly": true},
                "password": {"type": "string", "writeOnly": true}
            }}
        }}});
        let (mut requests, mut responses) = (doc.clone(), doc);
        translate(&mut requests, Version::V3_1, Direction::Request);
        translate(&mut responses, Version::V3_1, Direction::Response);
        assert_eq!(requests["components"]["schemas"]["U"]["required"], json!(["password"]));
        assert_eq!(responses["components"]["schemas"]["U"]["required"], json!(["id"]));
    }
}
