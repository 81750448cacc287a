//! Identity rules for client certificates: a rule names a consumer for every
//! verified certificate whose subject fields and subject alternative names
//! match its patterns (all of them), like Envoy's SAN matchers or Kong's
//! `mtls-auth` subject names, without regular expressions.
//!
//! A pattern is an exact value, or a prefix ending at a separator (`/`, `.`,
//! `:` or `@`) followed by one trailing `*` that stands for exactly one
//! non-empty segment: `spiffe://example.org/ns/payments/sa/*` matches
//! `…/sa/api` but neither `…/sa/` nor `…/sa/api/extra` nor `…/sa/..`.
//!
//! Subject fields (CN, O, OU) match only a certificate that carries exactly
//! one value of that field (a second CN is a way to smuggle a name past a
//! CA's checks of the first); SAN patterns match when any SAN of that kind
//! does (certificates legitimately carry several). DNS names compare
//! without regard to case, everything else exactly.
//!
//! A rule is only as strong as the client CA's issuing policy: the
//! listener's `client_auth.ca` must issue these names only to their owners.

use std::fmt;
use std::sync::Arc;

use portcullis_core::{ClientCert, Identity};

/// The separators a trailing `*` may follow.
const SEPARATORS: [char; 4] = ['/', '.', ':', '@'];

/// Characters a `*` never stands for, beyond its own separator: path,
/// query and fragment delimiters and percent escapes (which could hide them).
const NEVER_IN_SEGMENT: [char; 4] = ['/', '?', '#', '%'];

/// The attribute of a client certificate a pattern reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertField {
    /// The subject's common name (`subject_cn`).
    SubjectCn,
    /// The subject's organization (`subject_o`).
    SubjectO,
    /// The subject's organizational unit (`subject_ou`).
    SubjectOu,
    /// A DNS subject alternative name (`san_dns`).
    SanDns,
    /// A URI subject alternative name, e.g. a SPIFFE ID (`san_uri`).
    SanUri,
    /// An e-mail subject alternative name (`san_email`).
    SanEmail,
}

impl CertField {
    /// The configuration key naming the field.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::SubjectCn => "subject_cn",
            Self::SubjectO => "subject_o",
            Self::SubjectOu => "subject_ou",
            Self::SanDns => "san_dns",
            Self::SanUri => "san_uri",
            Self::SanEmail => "san_email",
        }
    }

    fn values(self, cert: &ClientCert) -> &[String] {
        match self {
            Self::SubjectCn => &cert.subject_cn,
            Self::SubjectO => &cert.subject_o,
            Self::SubjectOu => &cert.subject_ou,
            Self::SanDns => &cert.san_dns,
            Self::SanUri => &cert.san_uri,
            Self::SanEmail => &cert.san_email,
        }
    }

    fn is_subject(self) -> bool {
        matches!(self, Self::SubjectCn | Self::SubjectO | Self::SubjectOu)
    }

    /// Whether `pattern` matches the certificate's values of this field.
    fn matches(self, pattern: &CertPattern, cert: &ClientCert) -> bool {
        match self.values(cert) {
            [one] if self.is_subject() => pattern.matches(one),
            _ if self.is_subject() => false,
            values => values.iter().any(|value| pattern.matches(value)),
        }
    }
}

/// Why a pattern or rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRuleError {
    /// An empty pattern.
    EmptyPattern,
    /// A `*` that is not one trailing segment after a separator.
    Wildcard(String),
    /// A rule without any pattern would match every certificate.
    NoPattern,
    /// A rule must name a consumer id.
    Consumer(String),
}

impl fmt::Display for CertRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPattern => f.write_str("a pattern must not be empty"),
            Self::Wildcard(text) => write!(
                f,
                "{text:?}: `*` may only be the last character, right after `/`, `.`, `:` or `@` (one whole segment)"
            ),
            Self::NoPattern => f.write_str(
                "match needs at least one of subject_cn, subject_o, subject_ou, san_dns, san_uri, san_email",
            ),
            Self::Consumer(text) => write!(f, "{text:?} is not a consumer id (con_…)"),
        }
    }
}

impl std::error::Error for CertRuleError {}

/// An exact value, or a prefix and one wildcard segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPattern {
    /// The exact value, or the prefix up to and including the separator.
    text: Box<str>,
    /// The separator before a trailing `*`.
    wildcard: Option<char>,
}

impl CertPattern {
    /// Parses a pattern for `field` (DNS patterns are lower-cased).
    ///
    /// # Errors
    /// An empty pattern, or a `*` anywhere but as the last character right
    /// after a separator.
    pub fn parse(field: CertField, text: &str) -> Result<Self, CertRuleError> {
        if text.is_empty() {
            return Err(CertRuleError::EmptyPattern);
        }
        let text = if field == CertField::SanDns { text.to_ascii_lowercase() } else { text.to_owned() };
        let bad = || CertRuleError::Wildcard(text.clone());
        let (body, wildcard) = match text.strip_suffix('*') {
            Some(prefix) => {
                let separator = prefix.chars().last().filter(|c| SEPARATORS.contains(c)).ok_or_else(bad)?;
                (prefix, Some(separator))
            }
            None => (text.as_str(), None),
        };
        if body.contains('*') {
            return Err(bad());
        }
        Ok(Self { text: body.into(), wildcard })
    }

    /// Whether `value` is the exact value, or the prefix and one segment.
    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        let Some(separator) = self.wildcard else { return *value == *self.text };
        let Some(segment) = value.strip_prefix(&*self.text) else { return false };
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && !segment.contains(|c: char| c == separator || NEVER_IN_SEGMENT.contains(&c) || c.is_control())
    }
}

/// A rule: every pattern must match; then the certificate is `identity`.
#[derive(Debug, Clone)]
pub struct CertRule {
    patterns: Vec<(CertField, CertPattern)>,
    identity: Arc<Identity>,
}

impl CertRule {
    /// A rule naming consumer `consumer` (an id, `con_…`) with `groups`
    /// for certificates that match all of `patterns`. The store is not
    /// consulted: the identity carries the consumer id and these groups,
    /// no name and no app.
    ///
    /// # Errors
    /// A consumer that is not an id, or no pattern.
    pub fn new(
        patterns: Vec<(CertField, CertPattern)>,
        consumer: &str,
        groups: Vec<String>,
    ) -> Result<Self, CertRuleError> {
        let is_id = consumer
            .strip_prefix("con_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !is_id {
            return Err(CertRuleError::Consumer(consumer.to_owned()));
        }
        if patterns.is_empty() {
            return Err(CertRuleError::NoPattern);
        }
        let consumer: Arc<str> = consumer.into();
        let identity = Identity {
            method: "mtls",
            subject: consumer.clone(),
            consumer: Some(consumer),
            consumer_name: None,
            app: None,
            groups: groups.into(),
            scopes: Arc::from([]),
            claims: None,
            headers: portcullis_core::HeaderCache::default(),
        };
        Ok(Self { patterns, identity: Arc::new(identity) })
    }

    /// The identity when every pattern matches `cert`.
    #[must_use]
    pub fn identity_of(&self, cert: &ClientCert) -> Option<&Arc<Identity>> {
        self.patterns.iter().all(|(field, pattern)| field.matches(pattern, cert)).then_some(&self.identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(field: CertField, text: &str) -> CertPattern {
        CertPattern::parse(field, text).unwrap()
    }

    #[test]
    fn a_trailing_wildcard_stands_for_exactly_one_segment() {
        let spiffe = pattern(CertField::SanUri, "spiffe://example.org/ns/payments/sa/*");
        assert!(spiffe.matches("spiffe://example.org/ns/payments/sa/api"));
        for value in [
            "spiffe://example.org/ns/payments/sa/",
            "spiffe://example.org/ns/payments/sa/api/extra",
            "spiffe://example.org/ns/payments/sa/..",
            "spiffe://example.org/ns/payments/sa/.",
            "spiffe://example.org/ns/payments/sa/a%2Fb",
            "spiffe://example.org/ns/payments/sa/a?b",
            "spiffe://example.org/ns/payments/sa/a#b",
            "spiffe://example.org/ns/payments/saa/api",
            "spiffe://example.org/ns/payments/sa",
            "spiffe://evil.org/ns/payments/sa/api",
        ] {
            assert!(!spiffe.matches(value), "{value}");
        }
        let dns = pattern(CertField::SanDns, "API.Example.*");
        assert!(dns.matches("api.example.org"));
        assert!(!dns.matches("api.example.org.evil"));
        let exact = pattern(CertField::SubjectCn, "billing.internal");
        assert!(exact.matches("billing.internal"));
        assert!(!exact.matches("billing.internal.evil") && !exact.matches("Billing.internal"));
    }

    #[test]
    fn wildcards_anywhere_else_are_refused() {
        for text in ["*", "*.example.org", "spiffe://x/*/sa", "api*", "a**", "spiffe://x/sa/a*", "ab-*"] {
            assert_eq!(
                CertPattern::parse(CertField::SanUri, text),
                Err(CertRuleError::Wildcard(text.to_owned())),
                "{text}"
            );
        }
        assert_eq!(CertPattern::parse(CertField::SubjectCn, ""), Err(CertRuleError::EmptyPattern));
    }

    fn cert() -> ClientCert {
        ClientCert {
            subject_cn: vec!["billing.internal".into()],
            subject_o: vec!["Example".into()],
            san_dns: vec!["a.example.org".into(), "billing.example.org".into()],
            san_uri: vec!["spiffe://example.org/ns/payments/sa/api".into()],
            ..ClientCert::default()
        }
    }

    #[test]
    fn every_pattern_of_a_rule_must_match() {
        let rule = CertRule::new(
            vec![
                (CertField::SubjectCn, pattern(CertField::SubjectCn, "billing.internal")),
                (CertField::SubjectO, pattern(CertField::SubjectO, "Example")),
                (CertField::SanDns, pattern(CertField::SanDns, "billing.example.org")),
            ],
            "con_abc123",
            vec!["billing".into()],
        )
        .unwrap();
        let identity = rule.identity_of(&cert()).unwrap();
        assert_eq!((identity.method, identity.consumer.as_deref()), ("mtls", Some("con_abc123")));
        assert_eq!(&*identity.subject, "con_abc123");
        assert_eq!(&*identity.groups, ["billing".to_owned()]);
        let other_org = ClientCert { subject_o: vec!["Evil".into()], ..cert() };
        assert!(rule.identity_of(&other_org).is_none());
        let two_names = ClientCert { subject_cn: vec!["billing.internal".into(), "x".into()], ..cert() };
        assert!(rule.identity_of(&two_names).is_none(), "a second CN never matches a subject rule");
        assert!(rule.identity_of(&ClientCert::default()).is_none());
    }

    #[test]
    fn rules_need_a_pattern_and_a_consumer_id() {
        assert_eq!(CertRule::new(Vec::new(), "con_a", Vec::new()).err(), Some(CertRuleError::NoPattern));
        let one = || vec![(CertField::SanUri, pattern(CertField::SanUri, "spiffe://x/a"))];
        for bad in ["", "con_", "alice", "con_a/b"] {
            assert_eq!(CertRule::new(one(), bad, Vec::new()).err(), Some(CertRuleError::Consumer(bad.to_owned())));
        }
    }
}
