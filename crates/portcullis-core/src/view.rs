//! Decoded views of a request head, built once per request and shared by
//! every policy that inspects it, so that one decoder decides what a
//! parameter's value is and no two policies read the same request two ways.
//!
//! The view holds the normalized path's segments, the query's pairs, the
//! cookies and the header lines, each decoded and each bounded: at most
//! [`MAX_ENTRIES`] entries per part are kept and the excess is counted, so a
//! hostile request (`?a&a&a&…`) costs at most a fixed amount of memory. What
//! cannot be decoded is counted too, never guessed at: a policy that must
//! see everything checks [`Pairs::is_complete`] and refuses otherwise.
//!
//! Bodies are not part of the view: they arrive after the head, and each
//! body inspector reads the buffered body itself.

use std::sync::Arc;

use http::header::COOKIE;
use http::request::Parts;

use crate::Ctx;
use crate::decode::{Component, percent_decode};
use crate::path::normalize_path;

/// The most entries (segments or pairs) kept for one part of a request.
pub const MAX_ENTRIES: usize = 1000;

/// Strings stored end to end in one buffer: two allocations however many
/// strings there are.
#[derive(Debug, Default)]
struct Strings {
    text: String,
    /// Where each string ends in `text`; each starts where the previous ends.
    ends: Vec<usize>,
}

impl Strings {
    fn with_capacity(bytes: usize, strings: usize) -> Self {
        Self { text: String::with_capacity(bytes), ends: Vec::with_capacity(strings) }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let s = self.text.get(start..end).unwrap_or_default();
            start = end;
            s
        })
    }
}

/// The decoded segments of the normalized request path.
#[derive(Debug, Default)]
pub struct Segments {
    strings: Strings,
    dropped: usize,
}

impl Segments {
    /// Each segment, percent-decoded: `/a/b%20c/` gives `a`, `b c`, `""`.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.strings.iter()
    }

    /// How many segments are kept.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether no segment is kept (never the case for a path that has one).
    pub fn is_empty(&self) -> bool {
        self.strings.len() == 0
    }

    /// How many segments were left out beyond [`MAX_ENTRIES`].
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

/// Decoded `(name, value)` pairs of one part of a request, in request order.
#[derive(Debug, Default)]
pub struct Pairs {
    /// Name, value, name, value, ...
    strings: Strings,
    dropped: usize,
    undecodable: usize,
}

impl Pairs {
    fn with_capacity(bytes: usize, pairs: usize) -> Self {
        Self { strings: Strings::with_capacity(bytes, 2 * pairs.min(MAX_ENTRIES)), ..Self::default() }
    }

    /// Keeps a pair, or counts it when the part is full.
    pub fn push(&mut self, name: &str, value: &str) {
        if self.is_full() {
            self.dropped += 1;
        } else {
            self.strings.push(name);
            self.strings.push(value);
        }
    }

    fn is_full(&self) -> bool {
        self.len() >= MAX_ENTRIES
    }

    /// Every pair, in request order; a name may repeat.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut strings = self.strings.iter();
        std::iter::from_fn(move || Some((strings.next()?, strings.next()?)))
    }

    /// The values of every pair called `name` (compared exactly), in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> {
        self.iter().filter(move |(n, _)| *n == name).map(|(_, value)| value)
    }

    /// How many pairs are kept.
    pub fn len(&self) -> usize {
        self.strings.len() / 2
    }

    /// Whether no pair is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many pairs were left out beyond [`MAX_ENTRIES`].
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// How many pairs (or, for cookies and headers, lines) were left out
    /// because they do not decode: a malformed percent-escape, or bytes
    /// that are not UTF-8.
    pub fn undecodable(&self) -> usize {
        self.undecodable
    }

    /// Whether every pair of the request is here.
    pub fn is_complete(&self) -> bool {
        self.dropped == 0 && self.undecodable == 0
    }
}

/// The decoded request head, shared by the policies of one request.
///
/// ```
/// use portcullis_core::RequestView;
///
/// let req = http::Request::get("/a%20b/c?x=1+2&y=%C3%A9").header("cookie", "sid=42").body(()).unwrap();
/// let view = RequestView::new(&req.into_parts().0);
/// assert_eq!(view.path().unwrap().iter().collect::<Vec<_>>(), ["a b", "c"]);
/// assert_eq!(view.query().iter().collect::<Vec<_>>(), [("x", "1 2"), ("y", "é")]);
/// assert_eq!(view.cookies().get_all("sid").collect::<Vec<_>>(), ["42"]);
/// ```
#[derive(Debug)]
pub struct RequestView {
    path: Option<Segments>,
    query: Pairs,
    cookies: Pairs,
    headers: Pairs,
}

impl RequestView {
    /// This request's view: the one an earlier policy built, or a new one,
    /// which is then kept in `cx.extensions` for the policies after.
    ///
    /// The view is the head as the first policy to ask saw it. A policy
    /// that changes the head in `on_request` must remove the kept view
    /// (`cx.extensions.remove::<Arc<RequestView>>()`) so that later
    /// policies do not inspect what is no longer sent.
    pub fn of(req: &Parts, cx: &mut Ctx) -> Arc<Self> {
        if let Some(view) = cx.extensions.get::<Arc<Self>>() {
            return Arc::clone(view);
        }
        let view = Arc::new(Self::new(req));
        cx.extensions.insert(Arc::clone(&view));
        view
    }

    /// Decodes `req`'s head, without keeping it: policies use
    /// [`RequestView::of`].
    pub fn new(req: &Parts) -> Self {
        Self {
            path: segments(req.uri.path()),
            query: query(req.uri.query()),
            cookies: cookies(req),
            headers: headers(req),
        }
    }

    /// The normalized path's segments; `None` when the path does not
    /// normalize (see [`normalize_path`]) or a segment is not UTF-8 once
    /// decoded.
    pub fn path(&self) -> Option<&Segments> {
        self.path.as_ref()
    }

    /// The query's `name=value` pairs, percent-decoded with `+` as a space
    /// (what form-encoding clients send). A pair without `=` has an empty
    /// value; empty pairs (`a&&b`) are skipped.
    pub fn query(&self) -> &Pairs {
        &self.query
    }

    /// The cookies of every `Cookie` line (RFC 6265 §5.4), names and values
    /// trimmed and otherwise as sent: cookie values have no standard
    /// encoding, so none is undone. A pair without `=` is skipped (RFC 6265
    /// §5.2); a line that is not UTF-8 counts as one undecodable pair.
    pub fn cookies(&self) -> &Pairs {
        &self.cookies
    }

    /// Every header line as (lower-case name, value); a value that is not
    /// UTF-8 counts as undecodable.
    pub fn headers(&self) -> &Pairs {
        &self.headers
    }
}

fn segments(raw: &str) -> Option<Segments> {
    let path = normalize_path(raw).ok()?;
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let count = rest.bytes().filter(|&b| b == b'/').count() + 1;
    let mut out = Segments { strings: Strings::with_capacity(rest.len(), count.min(MAX_ENTRIES)), dropped: 0 };
    for segment in rest.split('/') {
        if out.strings.len() >= MAX_ENTRIES {
            out.dropped += 1;
        } else {
            out.strings.push(&percent_decode(segment, Component::Path)?);
        }
    }
    Some(out)
}

/// The pairs of an `application/x-www-form-urlencoded` text (a query, or a
/// form body), decoded and bounded like the query.
pub fn form_pairs(raw: &str) -> Pairs {
    query(Some(raw))
}

fn query(raw: Option<&str>) -> Pairs {
    let Some(raw) = raw.filter(|q| !q.is_empty()) else { return Pairs::default() };
    let mut out = Pairs::with_capacity(raw.len(), raw.bytes().filter(|&b| b == b'&').count() + 1);
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        if out.is_full() {
            // Not decoded: the excess is only counted.
            out.dropped += 1;
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (percent_decode(name, Component::Query), percent_decode(value, Component::Query)) {
            (Some(name), Some(value)) => out.push(&name, &value),
            _ => out.undecodable += 1,
        }
    }
    out
}

fn cookies(req: &Parts) -> Pairs {
    let lines = req.headers.get_all(COOKIE);
    let (mut bytes, mut pairs) = (0, 0);
    for line in &lines {
        bytes += line.len();
        pairs += line.as_bytes().iter().filter(|&&b| b == b';').count() + 1;
    }
    let mut out = Pairs::with_capacity(bytes, pairs);
    for line in &lines {
        let Ok(line) = std::str::from_utf8(line.as_bytes()) else {
            out.undecodable += 1;
            continue;
        };
        for (name, value) in line.split(';').filter_map(|pair| pair.split_once('=')) {
            out.push(name.trim(), value.trim());
        }
    }
    out
}

fn headers(req: &Parts) -> Pairs {
    let bytes = req.headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    let mut out = Pairs::with_capacity(bytes, req.headers.len());
    for (name, value) in &req.headers {
        // `HeaderName` is lower-case already.
        match std::str::from_utf8(value.as_bytes()) {
            Ok(value) => out.push(name.as_str(), value),
            Err(_) => out.undecodable += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn head(uri: &str, headers: &[(&str, &[u8])]) -> Parts {
        let mut builder = http::Request::get(uri);
        for (name, value) in headers {
            builder = builder.header(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn cx() -> Ctx {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Ctx::new("test".into(), ip, ip, false)
    }

    fn pairs(pairs: &Pairs) -> Vec<(&str, &str)> {
        pairs.iter().collect()
    }

    #[test]
    fn the_path_is_normalized_then_decoded() {
        let view = RequestView::new(&head("/a/./b/../%7Euser/x%20y/", &[]));
        let path = view.path().unwrap();
        assert_eq!(path.iter().collect::<Vec<_>>(), ["a", "~user", "x y", ""]);
        assert_eq!((path.len(), path.dropped()), (4, 0));
        assert_eq!(RequestView::new(&head("/", &[])).path().unwrap().iter().collect::<Vec<_>>(), [""]);
        assert!(RequestView::new(&head("/a/%2F", &[])).path().is_none(), "an encoded separator");
        assert!(RequestView::new(&head("/../etc", &[])).path().is_none(), "traversal");
        assert!(RequestView::new(&head("/a%FF", &[])).path().is_none(), "not UTF-8");
    }

    #[test]
    fn query_pairs_are_decoded_with_plus_as_space() {
        let view = RequestView::new(&head("/?a=1+2&b=%26%3D&&flag&c=&a=3&%C3%A9=%E2%9C%93", &[]));
        let query = view.query();
        assert_eq!(pairs(query), [("a", "1 2"), ("b", "&="), ("flag", ""), ("c", ""), ("a", "3"), ("é", "✓")]);
        assert_eq!(query.get_all("a").collect::<Vec<_>>(), ["1 2", "3"]);
        assert!(query.is_complete());
        assert!(RequestView::new(&head("/", &[])).query().is_empty());
        assert!(RequestView::new(&head("/?", &[])).query().is_empty());
    }

    #[test]
    fn undecodable_query_pairs_are_counted_not_guessed() {
        let view = RequestView::new(&head("/?a=%ZZ&b=2&%FF=x&c=%4", &[]));
        assert_eq!(pairs(view.query()), [("b", "2")]);
        assert_eq!(view.query().undecodable(), 3);
        assert!(!view.query().is_complete());
    }

    #[test]
    fn cookies_come_from_every_line() {
        let req = head(
            "/",
            &[
                ("cookie", b"a=1; b = two ;c"),
                ("cookie", b"d=x=y;e=\"q\""),
                ("cookie", b"f=\xff"),
                ("cookie", b"g=caf\xc3\xa9"),
            ],
        );
        let view = RequestView::new(&req);
        assert_eq!(pairs(view.cookies()), [("a", "1"), ("b", "two"), ("d", "x=y"), ("e", "\"q\""), ("g", "café")]);
        assert_eq!(view.cookies().undecodable(), 1, "the line that is not UTF-8");
        assert_eq!(view.cookies().get_all("b").collect::<Vec<_>>(), ["two"]);
    }

    #[test]
    fn headers_are_lower_case_pairs() {
        let view = RequestView::new(&head(
            "/",
            &[("X-Tenant", b"7"), ("Accept", b"*/*"), ("x-tenant", b"8"), ("x-bin", b"\xff")],
        ));
        let headers = pairs(view.headers());
        assert!(headers.contains(&("accept", "*/*")));
        assert_eq!(view.headers().get_all("x-tenant").collect::<Vec<_>>(), ["7", "8"]);
        assert_eq!(view.headers().undecodable(), 1);
        assert_eq!(view.headers().len(), 3);
    }

    #[test]
    fn every_part_is_capped_and_the_excess_counted() {
        let query = format!("/?{}", vec!["k=v"; MAX_ENTRIES + 5].join("&"));
        let view = RequestView::new(&head(&query, &[]));
        assert_eq!((view.query().len(), view.query().dropped()), (MAX_ENTRIES, 5));
        assert!(!view.query().is_complete());

        let line = vec!["c=1"; MAX_ENTRIES + 2].join("; ");
        let view = RequestView::new(&head("/", &[("cookie", line.as_bytes())]));
        assert_eq!((view.cookies().len(), view.cookies().dropped()), (MAX_ENTRIES, 2));

        let path = "/s".repeat(MAX_ENTRIES + 3);
        let view = RequestView::new(&head(&path, &[]));
        let segments = view.path().unwrap();
        assert_eq!((segments.len(), segments.dropped()), (MAX_ENTRIES, 3));
    }

    #[test]
    fn the_view_is_built_once_per_request() {
        let mut cx = cx();
        let first = RequestView::of(&head("/?a=1", &[]), &mut cx);
        // The cached view is returned even for another head: one request, one view.
        let second = RequestView::of(&head("/?a=2", &[]), &mut cx);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(pairs(second.query()), [("a", "1")]);
        cx.extensions.remove::<Arc<RequestView>>();
        let rebuilt = RequestView::of(&head("/?a=2", &[]), &mut cx);
        assert_eq!(pairs(rebuilt.query()), [("a", "2")]);
    }
}
