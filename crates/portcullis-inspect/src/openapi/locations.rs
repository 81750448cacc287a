//! Where parameter values are in a request, and the check of all of an
//! operation's parameters against it.

use std::borrow::Cow;

use http::header::COOKIE;
use http::request::Parts;

use super::params::{Found, In, Parameter, Style};
use portcullis_core::decode::{Component, percent_decode};

/// A decoded `name=value` pair of a query string.
type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The decoded pairs of a query string.
fn query_pairs(query: &str) -> Result<Vec<Pair<'_>>, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (percent_decode(name, Component::Query), percent_decode(value, Component::Query)) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err("the query is not valid percent-encoded UTF-8".to_owned()),
            }
        })
        .collect()
}

/// `name[key]` → `key`, for a `deepObject` parameter called `name`.
fn deep_key<'a>(pair_name: &'a str, name: &str) -> Option<&'a str> {
    pair_name.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')
}

/// Checks `parameters` against the request: `variables` are the path
/// template's (name, raw value) pairs. The problem, for the log, otherwise.
pub(super) fn check(
    parameters: &[Parameter],
    variables: &[(&str, &str)],
    req: &Parts,
    reject_unknown_query: bool,
) -> Result<(), String> {
    let declares_query = parameters.iter().any(|p| p.location == In::Query);
    let query = match req.uri.query() {
        Some(text) if declares_query || reject_unknown_query => query_pairs(text)?,
        _ => Vec::new(),
    };
    if reject_unknown_query {
        for (name, _) in &query {
            let known = parameters
                .iter()
                .filter(|p| p.location == In::Query)
                .any(|p| p.name == *name || (p.style == Style::DeepObject && deep_key(name, &p.name).is_some()));
            if !known {
                return Err("the query holds an undeclared parameter".into());
            }
        }
    }
    let mut cookies: Option<Vec<(&str, &str)>> = None;
    for parameter in parameters {
        let mut found = Found::default();
        match parameter.location {
            In::Path => {
                if let Some((_, raw)) = variables.iter().find(|(name, _)| *name == parameter.name) {
                    let value = percent_decode(raw, Component::Path)
                        .ok_or_else(|| describe(parameter, "is not valid percent-encoded UTF-8"))?;
                    found.values.push(value);
                }
            }
            In::Query if parameter.style == Style::DeepObject => {
                for (name, value) in &query {
                    if let Some(key) = deep_key(name, &parameter.name) {
                        found.entries.push((Cow::Borrowed(key), Cow::Borrowed(value.as_ref())));
                    }
                }
            }
            In::Query => {
                let values = query.iter().filter(|(name, _)| *name == parameter.name);
                found.values.extend(values.map(|(_, value)| Cow::Borrowed(value.as_ref())));
            }
            In::Header => {
                for line in req.headers.get_all(parameter.name.as_str()) {
                    let text = line.to_str().map_err(|_| describe(parameter, "is not visible ASCII"))?;
                    found.values.push(Cow::Borrowed(text));
                }
            }
            In::Cookie => {
                let cookies = cookies.get_or_insert_with(|| request_cookies(req));
                let values = cookies.iter().filter(|(name, _)| *name == parameter.name);
                found.values.extend(values.map(|(_, value)| Cow::Borrowed(*value)));
            }
        }
        parameter.check(&found).map_err(|problem| describe(parameter, &problem))?;
    }
    Ok(())
}

/// Every `name=value` of the `Cookie` header lines (RFC 6265 §5.4).
fn request_cookies(req: &Parts) -> Vec<(&str, &str)> {
    req.headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .collect()
}

fn describe(parameter: &Parameter, problem: &str) -> String {
    format!("{} parameter {:?} {problem}", parameter.location.as_str(), parameter.name)
}
