//! Path templates (`/users/{id}`, `/files/{name}.{ext}`) and the table that
//! finds which one a request path names: concrete segments win over
//! templated ones, left to right (OpenAPI 3.1 §4.8.8.2: "concrete paths are
//! matched before their templated counterparts").

use std::collections::HashMap;

use http::{HeaderValue, Method};
use regex::Regex;

/// One `/`-separated piece of a template.
#[derive(Debug)]
enum Segment {
    /// Matched exactly.
    Literal(String),
    /// `{name}`: any non-empty segment.
    Variable(String),
    /// Text and variables mixed, such as `{name}.{ext}` or `v{version}`.
    Mixed { regex: Regex, names: Vec<String>, shape: String },
}

impl Segment {
    /// Higher is more concrete.
    fn rank(&self) -> u8 {
        match self {
            Self::Literal(_) => 2,
            Self::Mixed { .. } => 1,
            Self::Variable(_) => 0,
        }
    }

    /// The segment with variable names blanked: equal shapes match the same paths.
    fn shape(&self) -> &str {
        match self {
            Self::Literal(text) | Self::Mixed { shape: text, .. } => text,
            Self::Variable(_) => "{}",
        }
    }
}

/// A parsed path template.
#[derive(Debug)]
pub(super) struct Template {
    /// As written in the document.
    pub(super) text: String,
    segments: Vec<Segment>,
    /// The variable names, in order.
    variables: Vec<String>,
}

impl Template {
    /// Parses `/a/{b}/c{d}`.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix('/').ok_or("a path must start with /")?;
        let segments = rest.split('/').map(segment).collect::<Result<Vec<_>, _>>()?;
        let mut variables: Vec<String> = Vec::new();
        for name in segments.iter().flat_map(|segment| match segment {
            Segment::Literal(_) => &[][..],
            Segment::Variable(name) => std::slice::from_ref(name),
            Segment::Mixed { names, .. } => names.as_slice(),
        }) {
            if variables.contains(name) {
                return Err(format!("the template names {{{name}}} twice"));
            }
            variables.push(name.clone());
        }
        Ok(Self { text: text.to_owned(), segments, variables })
    }

    /// The variable names, in order.
    pub(super) fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(String::as_str)
    }

    /// Matches the path's segments; fills `values` with the variables' raw
    /// (still percent-encoded) values, in [`Template::variables`] order.
    fn matches<'p>(&self, segments: &[&'p str], values: &mut Vec<&'p str>) -> bool {
        values.clear();
        if segments.len() != self.segments.len() {
            return false;
        }
        for (pattern, &text) in self.segments.iter().zip(segments) {
            match pattern {
                Segment::Literal(literal) if literal == text => {}
                Segment::Variable(_) if !text.is_empty() => values.push(text),
                Segment::Mixed { regex, .. } => match regex.captures(text) {
                    Some(captures) => values.extend(captures.iter().skip(1).flatten().map(|m| m.as_str())),
                    None => return false,
                },
                _ => return false,
            }
        }
        true
    }

    fn ranks(&self) -> Vec<u8> {
        self.segments.iter().map(Segment::rank).collect()
    }

    fn shape(&self) -> Vec<&str> {
        self.segments.iter().map(Segment::shape).collect()
    }
}

fn segment(text: &str) -> Result<Segment, String> {
    if !text.contains(['{', '}']) {
        return Ok(Segment::Literal(text.to_owned()));
    }
    let mut names = Vec::new();
    let (mut pattern, mut shape) = (String::from("^"), String::new());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (literal, after) = rest.split_at(open);
        let close = after.find('}').ok_or_else(|| format!("unclosed {{ in {text:?}"))?;
        let name = &after[1..close];
        if literal.contains('}') || name.is_empty() || name.contains('{') {
            return Err(format!("malformed template segment {text:?}"));
        }
        pattern.push_str(&regex::escape(literal));
        pattern.push_str("(.+?)");
        shape.push_str(literal);
        shape.push_str("{}");
        names.push(name.to_owned());
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("malformed template segment {text:?}"));
    }
    if names.len() == 1 && pattern == "^(.+?)" && rest.is_empty() {
        return Ok(Segment::Variable(names.remove(0)));
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    shape.push_str(rest);
    let regex = Regex::new(&pattern).map_err(|e| format!("template segment {text:?}: {e}"))?;
    Ok(Segment::Mixed { regex, names, shape })
}

/// The methods an OpenAPI path item may declare, in `Allow` order. TRACE
/// is left out: the gateway never serves it.
pub(super) const METHODS: [(&str, Method); 7] = [
    ("get", Method::GET),
    ("head", Method::HEAD),
    ("post", Method::POST),
    ("put", Method::PUT),
    ("patch", Method::PATCH),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
];

/// One path of the document: its template and its operations by method.
#[derive(Debug)]
pub(super) struct PathEntry {
    template: Template,
    /// Operation index for each of [`METHODS`].
    operations: [Option<usize>; METHODS.len()],
    allow: HeaderValue,
}

impl PathEntry {
    /// A path whose operations are `operations` (indexed like [`METHODS`]).
    /// A path with GET also answers HEAD with it, as the gateway's routes do.
    pub(super) fn new(template: Template, mut operations: [Option<usize>; METHODS.len()]) -> Self {
        if operations[1].is_none() {
            operations[1] = operations[0];
        }
        let names: Vec<&str> =
            METHODS.iter().zip(&operations).filter(|(_, op)| op.is_some()).map(|((_, m), _)| m.as_str()).collect();
        let allow = HeaderValue::try_from(names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""));
        Self { template, operations, allow }
    }

    /// The operation for `method`, if declared.
    pub(super) fn operation(&self, method: &Method) -> Option<usize> {
        METHODS.iter().position(|(_, m)| m == method).and_then(|i| self.operations.get(i).copied().flatten())
    }

    /// The `Allow` header value: the declared methods.
    pub(super) fn allow(&self) -> &HeaderValue {
        &self.allow
    }

    /// The template.
    pub(super) fn template(&self) -> &Template {
        &self.template
    }
}

/// All paths, grouped by segment count, most concrete first.
#[derive(Debug, Default)]
pub(super) struct PathTable {
    paths: Vec<PathEntry>,
    by_length: HashMap<usize, Vec<usize>>,
}

impl PathTable {
    /// Builds the table.
    ///
    /// Two templates that differ only in variable names match the same
    /// paths, which OpenAPI calls ambiguous: refused, naming both.
    pub(super) fn new(paths: Vec<PathEntry>) -> Result<Self, String> {
        let mut by_length: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut shapes: HashMap<Vec<&str>, &str> = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            if let Some(other) = shapes.insert(path.template.shape(), &path.template.text) {
                return Err(format!(
                    "paths {other:?} and {:?} are identical apart from parameter names",
                    path.template.text
                ));
            }
            by_length.entry(path.template.segments.len()).or_default().push(i);
        }
        drop(shapes);
        for candidates in by_length.values_mut() {
            candidates.sort_by_key(|&i| std::cmp::Reverse(paths[i].template.ranks()));
        }
        Ok(Self { paths, by_length })
    }

    /// The path entry for a request path (no query), with its variables'
    /// raw values.
    pub(super) fn find<'p>(&self, path: &'p str) -> Option<(&PathEntry, Vec<&'p str>)> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let mut values = Vec::new();
        self.by_length.get(&segments.len())?.iter().find_map(|&i| {
            let entry = self.paths.get(i)?;
            entry.template.matches(&segments, &mut values).then(|| (entry, std::mem::take(&mut values)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(paths: &[&str]) -> PathTable {
        let entries = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut ops = [None; METHODS.len()];
                ops[0] = Some(i);
                PathEntry::new(Template::parse(p).unwrap(), ops)
            })
            .collect();
        PathTable::new(entries).unwrap()
    }

    fn found<'p>(t: &PathTable, path: &'p str) -> Option<(String, Vec<&'p str>)> {
        t.find(path).map(|(e, v)| (e.template.text.clone(), v))
    }

    #[test]
    fn concrete_segments_win_over_templated_ones() {
        let t = table(&["/users/{id}", "/users/me", "/users/{id}/keys", "/{any}/keys", "/files/{name}.{ext}"]);
        assert_eq!(found(&t, "/users/me"), Some(("/users/me".into(), vec![])));
        assert_eq!(found(&t, "/users/42"), Some(("/users/{id}".into(), vec!["42"])));
        assert_eq!(found(&t, "/users/42/keys").unwrap().0, "/users/{id}/keys");
        assert_eq!(found(&t, "/groups/keys").unwrap().0, "/{any}/keys");
        assert_eq!(found(&t, "/files/report.tar.gz"), Some(("/files/{name}.{ext}".into(), vec!["report", "tar.gz"])));
        assert_eq!(found(&t, "/files/report"), None);
        assert_eq!(found(&t, "/users/"), None, "a variable is never empty");
        assert_eq!(found(&t, "/users"), None);
        assert_eq!(found(&t, "/users/42/keys/1"), None);
    }

    #[test]
    fn get_implies_head_and_allow_lists_methods() {
        let mut ops = [None; METHODS.len()];
        ops[0] = Some(0);
        ops[3] = Some(1);
        let entry = PathEntry::new(Template::parse("/a").unwrap(), ops);
        assert_eq!(entry.operation(&Method::HEAD), Some(0));
        assert_eq!(entry.operation(&Method::PUT), Some(1));
        assert_eq!(entry.operation(&Method::DELETE), None);
        assert_eq!(entry.allow(), "GET, HEAD, PUT");
    }

    #[test]
    fn malformed_and_ambiguous_templates_are_refused() {
        for bad in ["users", "/users/{id", "/users/{}", "/a/{x}/{x}", "/a/b}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        let entries = ["/users/{id}", "/users/{name}"]
            .iter()
            .map(|p| PathEntry::new(Template::parse(p).unwrap(), [None; METHODS.len()]))
            .collect();
        assert!(PathTable::new(entries).unwrap_err().contains("identical"));
    }
}
