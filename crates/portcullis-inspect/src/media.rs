//! Media types as they appear in `Content-Type` and `Accept` (RFC 9110 §8.3, §12.5.1).

/// A media type or range, lower-cased, without parameters: `application/json`, `application/*`, `*/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `application`, or `*`.
    pub kind: String,
    /// `json`, `vnd.api+json`, or `*`.
    pub subtype: String,
}

impl MediaType {
    /// Parses `type/subtype[; params]`.
    pub fn parse(text: &str) -> Option<Self> {
        let essence = text.split(';').next()?.trim();
        let (kind, subtype) = essence.split_once('/')?;
        let token =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-*".contains(&b));
        (token(kind) && token(subtype))
            .then(|| Self { kind: kind.to_ascii_lowercase(), subtype: subtype.to_ascii_lowercase() })
    }

    /// Whether `self` (a range) admits `other` (a concrete type).
    pub fn admits(&self, other: &MediaType) -> bool {
        (self.kind == "*" || self.kind == other.kind)
            && (self.subtype == "*"
                || self.subtype == other.subtype
                || self.subtype.strip_prefix("*+").is_some_and(|suffix| other.subtype.ends_with(&format!("+{suffix}"))))
    }

    /// JSON: `application/json` or any `+json` type.
    pub fn is_json(&self) -> bool {
        self.kind == "application" && (self.subtype == "json" || self.subtype.ends_with("+json"))
    }

    /// XML: `application/xml`, `text/xml` or any `+xml` type.
    pub fn is_xml(&self) -> bool {
        (self.kind == "application" || self.kind == "text") && (self.subtype == "xml" || self.subtype.ends_with("+xml"))
    }
}

/// The media ranges of an `Accept` header with a non-zero quality.
pub fn accepted(header: &str) -> impl Iterator<Item = MediaType> + '_ {
    header.split(',').filter_map(|item| {
        let zero = item
            .split(';')
            .skip(1)
            .any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)));
        if zero { None } else { MediaType::parse(item) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let json = MediaType::parse("Application/JSON; charset=utf-8").unwrap();
        assert!(json.is_json());
        assert!(MediaType::parse("application/*").unwrap().admits(&json));
        assert!(MediaType::parse("*/*").unwrap().admits(&json));
        assert!(!MediaType::parse("text/*").unwrap().admits(&json));
        let problem = MediaType::parse("application/problem+json").unwrap();
        assert!(problem.is_json());
        assert!(MediaType::parse("application/*+json").unwrap().admits(&problem));
        assert!(MediaType::parse("text/xml").unwrap().is_xml());
        assert!(MediaType::parse("json").is_none());
        assert!(MediaType::parse("").is_none());
        let ranges: Vec<_> = accepted("text/html, application/json;q=0, */*;q=0.1").collect();
        assert_eq!(ranges.len(), 2);
    }
}
