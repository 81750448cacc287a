//! Where parameter values are in a request, and the check of all of an
//! operation's parameters against it.

use std::borrow::Cow;

use http::request::Parts;
use portcullis_core::decode::{Component, percent_decode};
use portcullis_core::view::{MAX_ENTRIES, Pairs};
use portcullis_core::{Ctx, RequestView};

use super::params::{Found, In, Parameter, Style};

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
    cx: &mut Ctx,
    reject_unknown_query: bool,
) -> Result<(), String> {
    let declares = |location: In| parameters.iter().any(|p| p.location == location);
    let (reads_query, reads_cookies) = (declares(In::Query) || reject_unknown_query, declares(In::Cookie));
    // The shared view is decoded only when a parameter is read from it.
    let view = (reads_query || reads_cookies).then(|| RequestView::of(req, cx));
    let empty = Pairs::default();
    let query = match &view {
        Some(view) if reads_query => complete(view.query(), "the query is not valid percent-encoded UTF-8", "query")?,
        _ => &empty,
    };
    let cookies = match &view {
        Some(view) if reads_cookies => complete(view.cookies(), "a Cookie line is not UTF-8", "cookies")?,
        _ => &empty,
    };
    if reject_unknown_query {
        for (name, _) in query.iter() {
            let known = parameters
                .iter()
                .filter(|p| p.location == In::Query)
                .any(|p| p.name == name || (p.style == Style::DeepObject && deep_key(name, &p.name).is_some()));
            if !known {
                return Err("the query holds an undeclared parameter".into());
            }
        }
    }
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
                for (name, value) in query.iter() {
                    if let Some(key) = deep_key(name, &parameter.name) {
                        found.entries.push((Cow::Borrowed(key), Cow::Borrowed(value)));
                    }
                }
            }
            In::Query => found.values.extend(query.get_all(&parameter.name).map(Cow::Borrowed)),
            In::Header => {
                for line in req.headers.get_all(parameter.name.as_str()) {
                    let text = line.to_str().map_err(|_| describe(parameter, "is not visible ASCII"))?;
                    found.values.push(Cow::Borrowed(text));
                }
            }
            In::Cookie => found.values.extend(cookies.get_all(&parameter.name).map(Cow::Borrowed)),
        }
        parameter.check(&found).map_err(|problem| describe(parameter, &problem))?;
    }
    Ok(())
}

/// `pairs`, if the request holds nothing the view left out: a value that
/// was not decoded, or not kept, cannot be checked, so it is refused.
fn complete<'v>(pairs: &'v Pairs, undecodable: &str, part: &str) -> Result<&'v Pairs, String> {
    if pairs.undecodable() > 0 {
        return Err(undecodable.to_owned());
    }
    if pairs.dropped() > 0 {
        return Err(format!("the {part} holds more than {MAX_ENTRIES} parameters"));
    }
    Ok(pairs)
}

fn describe(parameter: &Parameter, problem: &str) -> String {
    format!("{} parameter {:?} {problem}", parameter.location.as_str(), parameter.name)
}
