//! The document compiled into a path table and operations, once, at load.

use std::sync::Arc;

use serde_json::Value;

use super::body::RequestBody;
use super::dialect::{self, Direction};
use super::document::{Document, escape};
use super::error::{OpenApiError, invalid};
use super::operations::{METHODS, PathEntry, PathTable, Template};
use super::params::{In, Parameter};
use super::response::Responses;
use super::schema::Schemas;

/// One compiled operation.
#[derive(Debug)]
pub(super) struct Operation {
    /// `GET /users/{id}`, for log lines.
    pub(super) label: Arc<str>,
    /// Path-item and operation parameters, the operation's overriding.
    pub(super) parameters: Vec<Parameter>,
    /// The request body, if the operation declares one.
    pub(super) body: Option<RequestBody>,
    /// The declared responses; empty unless responses are validated.
    pub(super) responses: Responses,
}

/// The compiled document.
#[derive(Debug)]
pub(super) struct Compiled {
    /// Every path, for matching.
    pub(super) paths: PathTable,
    /// Every operation, indexed by the path table.
    pub(super) operations: Vec<Operation>,
}

/// Parses, translates and compiles the document; the responses' schemas
/// only when `with_responses`, so that a document whose responses are not
/// validated is not refused for them.
pub(super) fn compile(text: &str, with_responses: bool) -> Result<Compiled, OpenApiError> {
    let mut document = Document::parse(text)?;
    // The same schema may be applied both ways, with different `required`
    // properties (see `dialect`): responses get their own translation.
    let response_root = with_responses.then(|| {
        let mut root = document.root.clone();
        dialect::translate(&mut root, document.version, Direction::Response);
        root
    });
    dialect::translate(&mut document.root, document.version, Direction::Request);
    let schemas = Schemas::new(&document.root)?;
    let response_schemas = response_root.as_ref().map(Schemas::new).transpose()?;
    let mut operations = Vec::new();
    let mut entries = Vec::new();
    for (text, item) in document.root.get("paths").and_then(Value::as_object).into_iter().flatten() {
        let at = format!("/paths/{}", escape(text));
        let template = Template::parse(text).map_err(|message| invalid(&at, message))?;
        let (item_at, item) = document.resolve(&at, item)?;
        let shared = parameters(&document, &schemas, &item_at, item)?;
        let mut indices = [None; METHODS.len()];
        for (slot, (name, method)) in indices.iter_mut().zip(&METHODS) {
            let Some(operation) = item.get(*name) else { continue };
            let op_at = format!("{item_at}/{name}");
            let own = parameters(&document, &schemas, &op_at, operation)?;
            let overridden = |p: &&Parameter| own.iter().any(|o| o.name == p.name && o.location == p.location);
            let mut merged: Vec<Parameter> = shared.iter().filter(|p| !overridden(p)).cloned().collect();
            merged.extend(own);
            for parameter in merged.iter().filter(|p| p.location == In::Path) {
                if !template.variables().any(|v| v == parameter.name) {
                    let message = format!("path parameter {:?} is not in the template {text:?}", parameter.name);
                    return Err(invalid(&op_at, message));
                }
            }
            let body = match operation.get("requestBody") {
                Some(body) => {
                    let (body_at, body) = document.resolve(&format!("{op_at}/requestBody"), body)?;
                    Some(RequestBody::compile(&schemas, &body_at, body)?)
                }
                None => None,
            };
            let responses = match &response_schemas {
                Some(schemas) => Responses::compile(&document, schemas, &op_at, operation)?,
                None => Responses::default(),
            };
            *slot = Some(operations.len());
            let label = format!("{method} {text}").into();
            operations.push(Operation { label, parameters: merged, body, responses });
        }
        entries.push(PathEntry::new(template, indices));
    }
    let paths = PathTable::new(entries).map_err(|message| invalid("/paths", message))?;
    Ok(Compiled { paths, operations })
}

/// The `parameters` of a path item or operation at `at`.
fn parameters(
    document: &Document,
    schemas: &Schemas<'_>,
    at: &str,
    object: &Value,
) -> Result<Vec<Parameter>, OpenApiError> {
    let mut out: Vec<Parameter> = Vec::new();
    let list = match object.get("parameters") {
        None => return Ok(out),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid(&format!("{at}/parameters"), "must be a list")),
    };
    for (i, parameter) in list.iter().enumerate() {
        let (param_at, parameter) = document.resolve(&format!("{at}/parameters/{i}"), parameter)?;
        let Some(parameter) = Parameter::compile(schemas, &param_at, parameter)? else { continue };
        if out.iter().any(|p| p.name == parameter.name && p.location == parameter.location) {
            let message = format!("parameter {:?} is declared twice", parameter.name);
            return Err(invalid(&format!("{at}/parameters/{i}"), message));
        }
        out.push(parameter);
    }
    Ok(out)
}
