//! Loading a document: JSON or YAML text into a JSON value, the version
//! check, and local `$ref`s (checked once at load, followed on demand).

use serde_json::Value;

use super::error::{OpenApiError, invalid};
use portcullis_core::decode::{Component, percent_decode};

/// The OpenAPI versions understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    /// 3.0.x: schemas are an extended subset of JSON Schema draft 4
    /// (`nullable`, boolean `exclusiveMinimum`).
    V3_0,
    /// 3.1.x: schemas are JSON Schema 2020-12.
    V3_1,
}

/// A parsed document whose `$ref`s all point inside it, at existing parts.
#[derive(Debug)]
pub(super) struct Document {
    /// The whole document.
    pub(super) root: Value,
    /// Its OpenAPI version.
    pub(super) version: Version,
}

/// How many `$ref`s in a row are followed before calling it a cycle.
const MAX_REF_HOPS: usize = 32;

/// Keywords whose values are example or instance data, never references.
const DATA_KEYS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

impl Document {
    /// Parses `text` (a JSON object or YAML) and checks that it is an
    /// OpenAPI 3.0/3.1 document with paths and only local references.
    pub(super) fn parse(text: &str) -> Result<Self, OpenApiError> {
        let root: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| OpenApiError::Syntax(e.to_string()))?
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| OpenApiError::Syntax(e.to_string().lines().next().unwrap_or("invalid YAML").to_owned()))?
        };
        let version = version(&root)?;
        match root.get("paths") {
            Some(Value::Object(paths)) if !paths.is_empty() => {}
            Some(Value::Object(_)) | None => return Err(invalid("/paths", "the document declares no paths")),
            Some(_) => return Err(invalid("/paths", "must be an object")),
        }
        check_refs(&root, &root, &mut String::new())?;
        Ok(Self { root, version })
    }

    /// Follows `$ref`s from `value` (found at `pointer`) to the object they
    /// name: for parameters, request bodies and path items, which may be
    /// references to `components`.
    pub(super) fn resolve<'a>(&'a self, pointer: &str, value: &'a Value) -> Result<(String, &'a Value), OpenApiError> {
        follow(&self.root, pointer, value)
    }
}

/// [`Document::resolve`] over any root.
pub(super) fn follow<'a>(
    root: &'a Value,
    pointer: &str,
    value: &'a Value,
) -> Result<(String, &'a Value), OpenApiError> {
    let (mut pointer, mut value) = (pointer.to_owned(), value);
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else { return Ok((pointer, value)) };
        let target = local_pointer(reference)
            .ok_or_else(|| invalid(&pointer, format!("{reference:?} is not a JSON pointer")))?;
        value = root.pointer(&target).ok_or_else(|| invalid(&pointer, format!("{reference:?} points at nothing")))?;
        pointer = target;
    }
    Err(invalid(&pointer, "the references form a cycle"))
}

/// The JSON pointer of a local reference: `#/components/schemas/A%20B` →
/// `/components/schemas/A B`. `None` for a remote reference or an anchor.
pub(super) fn local_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    let pointer = percent_decode(fragment, Component::Path)?;
    (pointer.is_empty() || pointer.starts_with('/')).then(|| pointer.into_owned())
}

/// `segment` escaped for a JSON pointer (RFC 6901 §3).
pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn version(root: &Value) -> Result<Version, OpenApiError> {
    let refuse = |message: String| Err(OpenApiError::Version(message));
    if !root.is_object() {
        return refuse("the document is not an object, so it is not an OpenAPI document".into());
    }
    if let Some(swagger) = root.get("swagger") {
        return refuse(format!("Swagger {swagger} documents are not supported; convert it to OpenAPI 3.0 or 3.1"));
    }
    let is = |text: &str, minor: &str| {
        text.strip_prefix(minor)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|patch| patch.bytes().next().is_some_and(|b| b.is_ascii_digit()))
    };
    match root.get("openapi") {
        None => refuse("the document has no `openapi` field: it is not an OpenAPI 3.0 or 3.1 document".into()),
        Some(Value::String(text)) if is(text, "3.0") => Ok(Version::V3_0),
        Some(Value::String(text)) if is(text, "3.1") => Ok(Version::V3_1),
        Some(Value::String(text)) => refuse(format!("OpenAPI {text:?} is not supported; only 3.0.x and 3.1.x are")),
        Some(other) => refuse(format!("`openapi` must be a version string such as \"3.1.0\", not {other}")),
    }
}

/// Every `$ref` must be local and name an existing part of the document.
fn check_refs(root: &Value, value: &Value, at: &mut String) -> Result<(), OpenApiError> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                if !reference.starts_with('#') {
                    return Err(OpenApiError::RemoteRef { at: at.clone(), reference: reference.clone() });
                }
                // Anchors (`#name`) are left to the schema compiler.
                if let Some(pointer) = local_pointer(reference)
                    && root.pointer(&pointer).is_none()
                {
                    return Err(invalid(at, format!("{reference:?} points at nothing")));
                }
            }
            for (key, child) in map {
                if DATA_KEYS.contains(&key.as_str()) || key.starts_with("x-") {
                    continue;
                }
                let len = at.len();
                at.push('/');
                at.push_str(&escape(key));
                check_refs(root, child, at)?;
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                check_refs(root, child, at)?;
                at.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}
