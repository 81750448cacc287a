//! The bearer token of a request (RFC 6750 §2.1): one `Authorization: Bearer` header, never the query string.

use http::header;
use http::request::Parts;
use portcullis_core::Verdict;

use portcullis_core::{Ctx, PolicyResult};

use crate::challenge::unauthorized;
use crate::fingerprint;

/// The challenge when a token was given but refused.
pub(crate) const CHALLENGE: &str = "Bearer realm=\"portcullis\", error=\"invalid_token\"";
/// The challenge when no token was given.
pub(crate) const CHALLENGE_MISSING: &str = "Bearer realm=\"portcullis\"";

/// The reason codes a bearer policy logs when it cannot find a usable token.
#[derive(Debug)]
pub(crate) struct BearerReasons {
    /// No `Authorization` header.
    pub(crate) missing: &'static str,
    /// Not one `Bearer` header with a token.
    pub(crate) malformed: &'static str,
    /// An `access_token` query parameter (RFC 6750 §2.3, refused: URLs end up in logs).
    pub(crate) in_url: &'static str,
}

/// The bearer token of the request, or the denial.
pub(crate) fn token(req: &Parts, reasons: &BearerReasons) -> Result<String, Verdict> {
    let deny = |reason| Verdict::Deny(unauthorized(reason, CHALLENGE));
    if req.uri.query().is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token="))) {
        return Err(deny(reasons.in_url));
    }
    let mut values = req.headers.get_all(header::AUTHORIZATION).iter();
    let token = match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok().and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
        }),
        (None, _) => return Err(Verdict::Deny(unauthorized(reasons.missing, CHALLENGE_MISSING))),
        _ => None,
    };
    token.filter(|t| !t.is_empty()).ok_or_else(|| deny(reasons.malformed))
}

/// The fingerprint of the bearer credential the request presented: the
/// token, else the whole `Authorization` value (not a bearer one), else an
/// `access_token` query value; `None` when there is none.
pub(crate) fn presented(req: &Parts) -> Option<Box<str>> {
    if let Some(value) = req.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().as_bytes());
        return Some(fingerprint::digest(token.unwrap_or(value.as_bytes())));
    }
    let in_url = req.uri.query()?.split('&').find_map(|p| p.strip_prefix("access_token="))?;
    Some(fingerprint::digest(in_url.as_bytes()))
}

/// `result`, with the presented token's fingerprint noted on `cx` when it
/// is a 401.
pub(crate) fn noted(result: PolicyResult, cx: &mut Ctx, req: &Parts) -> PolicyResult {
    fingerprint::on_refusal(result, cx, || presented(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASONS: BearerReasons = BearerReasons { missing: "t.missing", malformed: "t.malformed", in_url: "t.in_url" };

    fn head(uri: &str, authorization: &[&str]) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for value in authorization {
            builder = builder.header(header::AUTHORIZATION, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn refusal(req: &Parts) -> (&'static str, String) {
        match token(req, &REASONS) {
            Err(Verdict::Deny(deny)) => {
                let challenge = deny.headers[0].1.to_str().unwrap().to_owned();
                (deny.reason, challenge)
            }
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn one_bearer_header_carries_the_token() {
        assert_eq!(token(&head("/", &["Bearer abc.def"]), &REASONS).unwrap(), "abc.def");
        assert_eq!(token(&head("/", &["bearer  opaque "]), &REASONS).unwrap(), "opaque");
        assert_eq!(refusal(&head("/", &[])), ("t.missing", CHALLENGE_MISSING.to_owned()));
        for bad in [&["Basic abc"][..], &["Bearer"], &["Bearer "], &["Bearer a", "Bearer b"]] {
            assert_eq!(refusal(&head("/", bad)), ("t.malformed", CHALLENGE.to_owned()), "{bad:?}");
        }
        assert_eq!(refusal(&head("/x?a=1&access_token=abc", &["Bearer abc"])).0, "t.in_url");
        assert_eq!(token(&head("/x?my_access_token=1", &["Bearer abc"]), &REASONS).unwrap(), "abc");
    }

    #[test]
    fn the_presented_token_is_known_only_by_a_short_digest() {
        let abc = Some(fingerprint::digest(b"abc"));
        assert_eq!(presented(&head("/", &["Bearer abc"])), abc);
        assert_eq!(presented(&head("/", &["bearer  abc "])), abc);
        assert_eq!(presented(&head("/x?access_token=abc", &[])), abc);
        assert_eq!(presented(&head("/", &["Basic abc"])), Some(fingerprint::digest(b"Basic abc")));
        assert_eq!(presented(&head("/", &[])), None);
    }
}
