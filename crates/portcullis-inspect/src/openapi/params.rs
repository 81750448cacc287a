//! One parameter: how its value is serialized (`style`, `explode`), how the
//! text becomes a JSON value of the schema's type, and the schema check.
//! What the schema says (`enum`, `minimum`, `pattern`, `format`, ...) is
//! checked by the compiled validator, so the rules are the body's rules.

use std::borrow::Cow;
use std::sync::Arc;

use jsonschema::Validator;
use serde_json::{Map, Number, Value};

use super::document::escape;
use super::error::{OpenApiError, invalid};
use super::schema::Schemas;

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum In {
    /// A path template variable.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl In {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "path" => Some(Self::Path),
            "query" => Some(Self::Query),
            "header" => Some(Self::Header),
            "cookie" => Some(Self::Cookie),
            _ => None,
        }
    }

    /// For log lines: `query`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

/// How a value is serialized (OpenAPI 3.1 §4.8.12.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `a,b` (path and header default).
    Simple,
    /// `name=a&name=b` or `name=a,b` (query and cookie default).
    Form,
    /// `name=a%20b`.
    SpaceDelimited,
    /// `name=a|b`.
    PipeDelimited,
    /// `name[key]=value`.
    DeepObject,
}

impl Style {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "simple" => Some(Self::Simple),
            "form" => Some(Self::Form),
            "spaceDelimited" => Some(Self::SpaceDelimited),
            "pipeDelimited" => Some(Self::PipeDelimited),
            "deepObject" => Some(Self::DeepObject),
            _ => None,
        }
    }
}

/// JSON types a text may be read as, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Types(u8);

impl Types {
    const STRING: u8 = 1;
    const INTEGER: u8 = 2;
    const NUMBER: u8 = 4;
    const BOOLEAN: u8 = 8;
    const ARRAY: u8 = 16;
    const OBJECT: u8 = 32;
    const NULL: u8 = 64;

    fn bit(name: &str) -> u8 {
        match name {
            "string" => Self::STRING,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "boolean" => Self::BOOLEAN,
            "array" => Self::ARRAY,
            "object" => Self::OBJECT,
            "null" => Self::NULL,
            _ => 0,
        }
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Only `bit` (and perhaps `null`).
    fn is(self, bit: u8) -> bool {
        self.0 & !Self::NULL == bit
    }

    /// The schema's `type`s, through `$ref`s and `allOf`/`anyOf`/`oneOf`.
    fn of(schemas: &Schemas<'_>, schema: &Value, depth: usize) -> Self {
        let schema = schemas.deref(schema);
        let mut bits = match schema.get("type") {
            Some(Value::String(name)) => Self::bit(name),
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).fold(0, |b, n| b | Self::bit(n)),
            _ => 0,
        };
        if depth < 8 {
            for key in ["allOf", "anyOf", "oneOf"] {
                for member in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                    bits |= Self::of(schemas, member, depth + 1).0;
                }
            }
        }
        Self(bits)
    }

    /// `text` as a JSON value of the first type it reads as; a string
    /// otherwise (which the validator then refuses if strings are not allowed).
    fn read(self, text: &str) -> Value {
        if self.has(Self::INTEGER) {
            if let Ok(n) = text.parse::<i64>() {
                return n.into();
            }
            if let Ok(n) = text.parse::<u64>() {
                return n.into();
            }
        }
        if self.has(Self::NUMBER) {
            let numeric = text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if let Some(n) = text.parse::<f64>().ok().filter(|_| numeric).and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
        if self.has(Self::BOOLEAN) && (text == "true" || text == "false") {
            return Value::Bool(text == "true");
        }
        Value::String(text.to_owned())
    }
}

/// The value's structure, from the schema's type.
#[derive(Debug, Clone)]
enum Shape {
    /// One value.
    Scalar(Types),
    /// A list of values of the item types.
    Array(Types),
    /// Named values with their property types (others read as strings).
    Object(Vec<(String, Types)>),
    /// `content: application/json`: the value is JSON text.
    Json,
}

/// What the request holds for one parameter.
#[derive(Debug, Default)]
pub(super) struct Found<'a> {
    /// Each occurrence (query and cookie) or header line, decoded.
    pub(super) values: Vec<Cow<'a, str>>,
    /// `deepObject` entries: `name[key]=value` as (key, value).
    pub(super) entries: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// A compiled parameter.
#[derive(Debug, Clone)]
pub(super) struct Parameter {
    /// Its name; lower-case for headers.
    pub(super) name: String,
    /// Where it is.
    pub(super) location: In,
    /// Must be present.
    required: bool,
    /// `allowEmptyValue`: an empty query value is accepted as it is.
    allow_empty: bool,
    /// Serialization.
    pub(super) style: Style,
    explode: bool,
    shape: Shape,
    /// The schema; `None` when the document gives none.
    validator: Option<Arc<Validator>>,
}

/// Headers OpenAPI says to ignore as parameters (3.1 §4.8.12.1).
const IGNORED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

impl Parameter {
    /// Compiles the (already resolved) parameter object at `pointer`.
    /// `None` for a header parameter OpenAPI says to ignore.
    pub(super) fn compile(schemas: &Schemas<'_>, pointer: &str, object: &Value) -> Result<Option<Self>, OpenApiError> {
        let field = |name: &str| object.get(name);
        let name = field("name").and_then(Value::as_str).ok_or_else(|| invalid(pointer, "a parameter needs a name"))?;
        let location = field("in").and_then(Value::as_str).and_then(In::parse).ok_or_else(|| {
            invalid(pointer, format!("parameter {name:?}: `in` must be path, query, header or cookie"))
        })?;
        if location == In::Header && IGNORED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Ok(None);
        }
        if location == In::Header && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(pointer, format!("parameter {name:?} is not a header name")));
        }
        let flag = |name: &str| field(name).and_then(Value::as_bool).unwrap_or(false);
        let style = match field("style").and_then(Value::as_str) {
            None if matches!(location, In::Path | In::Header) => Style::Simple,
            None => Style::Form,
            Some(text) => Style::parse(text)
                .ok_or_else(|| invalid(pointer, format!("parameter {name:?}: style {text:?} is not supported")))?,
        };
        let explode = field("explode").and_then(Value::as_bool).unwrap_or(style == Style::Form);
        let (shape, validator) = match (field("schema"), field("content").and_then(Value::as_object)) {
            (Some(schema), _) => {
                let at = format!("{pointer}/schema");
                (shape(schemas, schema), Some(Arc::new(schemas.compile(&at)?)))
            }
            (None, Some(content)) => {
                let mut entries = content.iter();
                let (Some((media, entry)), None) = (entries.next(), entries.next()) else {
                    return Err(invalid(pointer, format!("parameter {name:?}: `content` must have exactly one entry")));
                };
                let json = crate::media::MediaType::parse(media).is_some_and(|m| m.is_json());
                let at = format!("{pointer}/content/{}/schema", escape(media));
                match (json, entry.get("schema")) {
                    (true, Some(_)) => (Shape::Json, Some(Arc::new(schemas.compile(&at)?))),
                    (true, None) => (Shape::Json, None),
                    (false, _) => (Shape::Scalar(Types::default()), None),
                }
            }
            (None, None) => (Shape::Scalar(Types::default()), None),
        };
        let parameter = Self {
            name: if location == In::Header { name.to_ascii_lowercase() } else { name.to_owned() },
            location,
            required: location == In::Path || flag("required"),
            allow_empty: location == In::Query && flag("allowEmptyValue"),
            style,
            explode,
            shape,
            validator,
        };
        parameter.check_style().map_err(|message| invalid(pointer, format!("parameter {name:?}: {message}")))?;
        Ok(Some(parameter))
    }

    /// Refuses serializations that are not supported (rather than
    /// validating them wrongly).
    fn check_style(&self) -> Result<(), String> {
        let allowed = match self.location {
            In::Path | In::Header => self.style == Style::Simple,
            In::Query => self.style != Style::Simple,
            In::Cookie => self.style == Style::Form,
        };
        if !allowed {
            return Err(format!("style {:?} is not supported for {} parameters", self.style, self.location.as_str()));
        }
        match (&self.shape, self.style) {
            (Shape::Object(_), Style::Form) if self.explode => {
                Err("an exploded form object (its properties as separate query parameters) is not supported".into())
            }
            (Shape::Object(_), Style::DeepObject | Style::Simple | Style::Form)
            | (Shape::Array(_), Style::Simple | Style::Form | Style::SpaceDelimited | Style::PipeDelimited)
            | (Shape::Scalar(_) | Shape::Json, Style::Simple | Style::Form) => Ok(()),
            (_, style) => Err(format!("style {style:?} does not fit the schema's type")),
        }
    }

    /// Checks what the request holds for this parameter; the problem, in
    /// words for the log, otherwise (never the value: it may be a secret).
    pub(super) fn check(&self, found: &Found<'_>) -> Result<(), String> {
        let Some(value) = self.value(found)? else {
            return if self.required { Err("is required but missing".into()) } else { Ok(()) };
        };
        if self.allow_empty && value == Value::String(String::new()) {
            return Ok(());
        }
        match &self.validator {
            Some(validator) => validator.validate(&value).map_err(|e| format!("fails {:?}", e.kind().keyword())),
            None => Ok(()),
        }
    }

    /// The JSON value the request gives; `None` when absent.
    fn value(&self, found: &Found<'_>) -> Result<Option<Value>, String> {
        let values = &found.values;
        if let Shape::Object(properties) = &self.shape
            && self.style == Style::DeepObject
        {
            if found.entries.is_empty() {
                return Ok(None);
            }
            return Ok(Some(object(properties, found.entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?));
        }
        if values.is_empty() {
            return Ok(None);
        }
        if let (Shape::Array(items), Style::Form) = (&self.shape, self.style)
            && self.explode
        {
            return Ok(Some(Value::Array(values.iter().map(|v| items.read(v)).collect())));
        }
        let text: Cow<'_, str> = match (values.as_slice(), self.location) {
            ([one], _) => Cow::Borrowed(one.as_ref()),
            // RFC 9110 §5.3: header lines may be combined with commas.
            (lines, In::Header) if !matches!(self.shape, Shape::Scalar(_) | Shape::Json) => Cow::Owned(lines.join(",")),
            _ => return Err("is given more than once".into()),
        };
        let trim = |item: &str| if self.location == In::Header { item.trim().to_owned() } else { item.to_owned() };
        Ok(Some(match &self.shape {
            Shape::Scalar(types) => types.read(&trim(&text)),
            Shape::Json => serde_json::from_str(&text).map_err(|_| "is not JSON".to_owned())?,
            Shape::Array(_) if text.is_empty() => Value::Array(Vec::new()),
            Shape::Array(items) => {
                let separator = match self.style {
                    Style::SpaceDelimited => ' ',
                    Style::PipeDelimited => '|',
                    _ => ',',
                };
                Value::Array(text.split(separator).map(|item| items.read(&trim(item))).collect())
            }
            Shape::Object(properties) => {
                let parts: Vec<String> = text.split(',').map(trim).collect();
                let pairs: Vec<(&str, &str)> = if self.explode {
                    parts.iter().map(|p| p.split_once('=').unwrap_or((p, ""))).collect()
                } else if parts.len().is_multiple_of(2) {
                    parts.chunks(2).filter_map(|kv| Some((kv.first()?.as_str(), kv.get(1)?.as_str()))).collect()
                } else {
                    return Err("is not a list of keys and values".into());
                };
                object(properties, pairs.into_iter())?
            }
        }))
    }
}

/// An object from (key, text) pairs, each read as its property's type.
fn object<'a>(
    properties: &[(String, Types)],
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Value, String> {
    let mut map = Map::new();
    for (key, text) in pairs {
        let types = properties.iter().find(|(name, _)| name == key).map_or(Types::default(), |(_, t)| *t);
        if map.insert(key.to_owned(), types.read(text)).is_some() {
            return Err("repeats a key".into());
        }
    }
    Ok(Value::Object(map))
}

/// The shape of values of `schema`.
fn shape(schemas: &Schemas<'_>, schema: &Value) -> Shape {
    let types = Types::of(schemas, schema, 0);
    let schema = schemas.deref(schema);
    if types.is(Types::ARRAY) {
        let items = schema.get("items").map_or(Types::default(), |items| Types::of(schemas, items, 0));
        return Shape::Array(items);
    }
    if types.is(Types::OBJECT) {
        let mut properties = Vec::new();
        let members = schema.get("allOf").and_then(Value::as_array).into_iter().flatten().map(|m| schemas.deref(m));
        for source in std::iter::once(schema).chain(members) {
            for (name, property) in source.get("properties").and_then(Value::as_object).into_iter().flatten() {
                properties.push((name.clone(), Types::of(schemas, property, 0)));
            }
        }
        return Shape::Object(properties);
    }
    Shape::Scalar(types)
}
