//! Identity policies: `api_key`, `jwt`, `introspection`, `mtls_identity` and `authorize`.

use http::{HeaderName, Method};
use portcullis_auth::{ApiKeyPolicy, AuthorizePolicy, Binding, CredentialSource, ListRule};
use portcullis_proxy::identity_headers::IDENTITY_HEADERS;
use serde_saphyr::Location;

use super::Compiler;
use crate::spec::{
    AllowDenySpec, ApiKeySpec, AuthorizeSpec, CertMatchSpec, CertificateBoundSpec, IntrospectionSpec, JwtSpec,
    MtlsIdentitySpec, PolicySpec,
};

/// Whether `spec` authenticates the caller.
pub(super) fn authenticates(spec: &PolicySpec) -> bool {
    matches!(
        spec,
        PolicySpec::AnyOf(_)
            | PolicySpec::ApiKey(_)
            | PolicySpec::Basic(_)
            | PolicySpec::Jwt(_)
            | PolicySpec::Introspection(_)
            | PolicySpec::MtlsIdentity(_)
    )
}

fn list(spec: &AllowDenySpec) -> ListRule {
    ListRule { allow: spec.allow.clone(), deny: spec.deny.clone() }
}

/// The names of a path template's parameters: `/users/{id}` → `id`.
fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// Why a policy that needs the client's certificate cannot work.
const NO_CLIENT_CERTIFICATES: &str = "needs a listener that asks clients for a certificate (tls.client_auth); \
     no listener does, so every request would be refused";

/// The patterns a rule's `match` gives, by field.
fn cert_patterns(spec: &CertMatchSpec) -> impl Iterator<Item = (portcullis_auth::CertField, &str)> {
    use portcullis_auth::CertField as F;
    [
        (F::SubjectCn, &spec.subject_cn),
        (F::SubjectO, &spec.subject_o),
        (F::SubjectOu, &spec.subject_ou),
        (F::SanDns, &spec.san_dns),
        (F::SanUri, &spec.san_uri),
        (F::SanEmail, &spec.san_email),
    ]
    .into_iter()
    .filter_map(|(field, text)| Some((field, text.as_deref()?)))
}

impl Compiler<'_> {
    /// The `brute_force` section as a lockout rule.
    pub(super) fn lockout_rule(&mut self, spec: &crate::spec::BruteForceSpec) -> portcullis_ratelimit::LockoutRule {
        let defaults = portcullis_ratelimit::LockoutRule::default();
        let rule = portcullis_ratelimit::LockoutRule {
            max_failures: spec.max_failures.unwrap_or(defaults.max_failures),
            window: spec.window.map_or(defaults.window, |d| d.0),
            lock_for: spec.lock_for.map_or(defaults.lock_for, |d| d.0),
            max_lock: spec.max_lock.map_or(defaults.max_lock, |d| d.0),
        };
        if rule.max_failures > 0 && (rule.window.is_zero() || rule.lock_for.is_zero() || rule.max_lock < rule.lock_for)
        {
            self.error(None, "brute_force", "window and lock_for must be positive and max_lock at least lock_for");
        }
        rule
    }

    pub(super) fn jwt(
        &mut self,
        at: Option<Location>,
        path: &str,
        spec: &JwtSpec,
    ) -> Option<portcullis_auth::JwtPolicy> {
        use portcullis_jwt::{Algorithm, IssuerConfig, KeySource, StaticKey, TrustRoots};
        let mut algorithms = Vec::new();
        for text in &spec.algorithms {
            match text.parse::<Algorithm>() {
                Ok(alg) => algorithms.push(alg),
                Err(_) => {
                    self.error(at, format!("{path}.algorithms"), format!("{text:?} is not a supported algorithm"))
                }
            }
        }
        let sources = usize::from(spec.jwks_uri.is_some())
            + usize::from(!spec.keys.is_empty())
            + usize::from(spec.secret.is_some());
        if sources > 1 {
            self.error(at, path.to_owned(), "give only one of jwks_uri, keys or secret");
            return None;
        }
        let keys = if let Some(uri) = &spec.jwks_uri {
            KeySource::Jwks(uri.clone())
        } else if !spec.keys.is_empty() {
            let mut keys = Vec::new();
            for (i, file) in spec.keys.iter().enumerate() {
                let text = String::from_utf8(self.read(at, &format!("{path}.keys[{i}]"), file)?).ok()?;
                keys.push(if text.trim_start().starts_with('{') {
                    StaticKey::Jwks(text)
                } else {
                    StaticKey::Pem { pem: text, kid: None }
                });
            }
            KeySource::Static(keys)
        } else if let Some(secret) = &spec.secret {
            KeySource::Secret(self.secret(at, &format!("{path}.secret"), secret)?)
        } else {
            KeySource::oidc_discovery(&spec.issuer)
        };
        let mut config = IssuerConfig::new(spec.issuer.clone(), spec.audiences.clone(), algorithms, keys);
        if let Some(ca) = &spec.ca {
            config.trust = TrustRoots::CaPem(String::from_utf8(self.read(at, &format!("{path}.ca"), ca)?).ok()?);
        }
        if let Some(leeway) = spec.leeway {
            config.leeway = leeway.0;
        }
        config.required_claims.clone_from(&spec.required_claims);
        config.typ.clone_from(&spec.typ);
        if let Some(size) = spec.max_token_size {
            config.max_token_bytes = usize::try_from(size.0).unwrap_or(usize::MAX);
        }
        if let Some(every) = spec.refresh_interval {
            config.refresh_interval = every.0;
        }
        if let Some(every) = spec.min_refresh_interval {
            config.min_refresh_interval = every.0;
        }
        let issuer =
            portcullis_jwt::Issuer::new(config).map_err(|err| self.error(at, path.to_owned(), err.to_string())).ok()?;
        let mapping = portcullis_auth::JwtMapping {
            groups_claim: spec.groups_claim.clone(),
            claims_to_headers: self.claims_to_headers(at, path, &spec.claims_to_headers),
            forward: spec.forward_credentials,
        };
        Some(
            portcullis_auth::JwtPolicy::new(issuer, mapping, CredentialSource::process())
                .with_brute_force(self.brute_force)
                .with_certificate_binding(self.certificate_bound(at, path, spec.certificate_bound)),
        )
    }

    /// Token claims (or introspection members) to upstream headers; never
    /// an identity header or `Authorization`.
    fn claims_to_headers(
        &mut self,
        at: Option<Location>,
        path: &str,
        map: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(String, HeaderName)> {
        let mut claims_to_headers = Vec::new();
        for (claim, header) in map {
            match HeaderName::try_from(header.as_str()) {
                Ok(name) if !IDENTITY_HEADERS.contains(&name) && name != http::header::AUTHORIZATION => {
                    claims_to_headers.push((claim.clone(), name));
                }
                _ => self.error(
                    at,
                    format!("{path}.claims_to_headers.{claim}"),
                    format!("{header:?} is not a header name the gateway lets tokens set"),
                ),
            }
        }
        claims_to_headers
    }

    pub(super) fn introspection(
        &mut self,
        at: Option<Location>,
        path: &str,
        spec: &IntrospectionSpec,
    ) -> Option<portcullis_auth::IntrospectionPolicy> {
        use portcullis_jwt::{IntrospectionConfig, IntrospectionConfigError as E, Introspector, TrustRoots};
        let mut secret = self.secret(at, &format!("{path}.client_secret"), &spec.client_secret)?;
        // A secret file usually ends with a newline that is not part of the secret.
        if secret.ends_with(b"\n") {
            secret.pop();
            if secret.ends_with(b"\r") {
                secret.pop();
            }
        }
        let mut config = IntrospectionConfig::new(spec.endpoint.clone(), spec.client_id.clone(), secret);
        config.issuer.clone_from(&spec.issuer);
        config.audiences.clone_from(&spec.audiences);
        if let Some(ca) = &spec.ca {
            config.trust = TrustRoots::CaPem(String::from_utf8(self.read(at, &format!("{path}.ca"), ca)?).ok()?);
        }
        config.timeout = Self::duration(spec.timeout, config.timeout);
        config.positive_ttl = Self::duration(spec.positive_ttl, config.positive_ttl);
        config.negative_ttl = Self::duration(spec.negative_ttl, config.negative_ttl);
        let claims_to_headers = self.claims_to_headers(at, path, &spec.claims_to_headers);
        let introspector = Introspector::new(config)
            .map_err(|err| {
                let key = match &err {
                    E::Endpoint { .. } => "endpoint",
                    E::EmptyClientId => "client_id",
                    E::EmptyClientSecret => "client_secret",
                    E::EmptyIssuer => "issuer",
                    E::EmptyAudience => "audiences",
                    E::TrustRoots(_) => "ca",
                    E::Zero(what) => *what,
                    _ => "",
                };
                let here = if key.is_empty() { path.to_owned() } else { format!("{path}.{key}") };
                self.error(at, here, err.to_string());
            })
            .ok()?;
        let mapping = portcullis_auth::JwtMapping {
            groups_claim: spec.groups_claim.clone(),
            claims_to_headers,
            forward: spec.forward_credentials,
        };
        Some(
            portcullis_auth::IntrospectionPolicy::new(introspector, mapping, CredentialSource::process())
                .with_brute_force(self.brute_force)
                .with_certificate_binding(self.certificate_bound(at, path, spec.certificate_bound)),
        )
    }

    /// A token policy's `certificate_bound` (RFC 8705); `required` needs
    /// client certificates on some listener.
    fn certificate_bound(
        &mut self,
        at: Option<Location>,
        path: &str,
        spec: CertificateBoundSpec,
    ) -> portcullis_auth::CertificateBound {
        match spec {
            CertificateBoundSpec::Off => portcullis_auth::CertificateBound::Off,
            CertificateBoundSpec::Optional => portcullis_auth::CertificateBound::Optional,
            CertificateBoundSpec::Required => {
                if !self.client_certificates {
                    self.error(at, format!("{path}.certificate_bound"), format!("required {NO_CLIENT_CERTIFICATES}"));
                }
                portcullis_auth::CertificateBound::Required
            }
        }
    }

    pub(super) fn mtls_identity(
        &mut self,
        at: Option<Location>,
        path: &str,
        spec: &MtlsIdentitySpec,
    ) -> portcullis_auth::MtlsIdentityPolicy {
        use portcullis_auth::{CertPattern, CertRule, CertRuleError};
        if !self.client_certificates {
            self.error(at, path, format!("mtls_identity {NO_CLIENT_CERTIFICATES}"));
        }
        let mut rules = Vec::new();
        for (i, rule) in spec.rules.iter().enumerate() {
            let here = format!("{path}.rules[{i}]");
            let (mut patterns, mut broken) = (Vec::new(), false);
            for (field, text) in cert_patterns(&rule.matches) {
                match CertPattern::parse(field, text) {
                    Ok(pattern) => patterns.push((field, pattern)),
                    Err(err) => {
                        broken = true;
                        self.error(at, format!("{here}.match.{}", field.key()), err.to_string());
                    }
                }
            }
            match CertRule::new(patterns, &rule.consumer, rule.groups.clone()) {
                Ok(compiled) if !broken => rules.push(compiled),
                Err(err @ CertRuleError::Consumer(_)) => self.error(at, format!("{here}.consumer"), err.to_string()),
                Err(err) if !broken => self.error(at, format!("{here}.match"), err.to_string()),
                // A pattern did not parse: reported above.
                Ok(_) | Err(_) => {}
            }
        }
        portcullis_auth::MtlsIdentityPolicy::new(CredentialSource::process()).with_rules(rules)
    }

    pub(super) fn api_key(&mut self, at: Option<Location>, path: &str, spec: &ApiKeySpec) -> Option<ApiKeyPolicy> {
        let text = spec.header.as_deref().unwrap_or("x-api-key");
        let header = HeaderName::try_from(text)
            .map_err(|_| self.error(at, format!("{path}.header"), format!("{text:?} is not a header name")))
            .ok()?;
        let reserved = IDENTITY_HEADERS.contains(&header)
            || [http::header::HOST, http::header::COOKIE, http::header::CONNECTION].contains(&header);
        if reserved {
            self.error(at, format!("{path}.header"), format!("{text:?} is reserved; choose another header"));
            return None;
        }
        Some(
            ApiKeyPolicy::new(header, spec.forward_credentials, CredentialSource::process())
                .with_brute_force(self.brute_force),
        )
    }

    pub(super) fn authorize(
        &mut self,
        at: Option<Location>,
        path: &str,
        template: &str,
        authenticated: bool,
        spec: &AuthorizeSpec,
    ) -> Option<AuthorizePolicy> {
        if !authenticated {
            self.error(
                at,
                path.to_owned(),
                "authorize needs an authentication policy (api_key, basic, jwt, introspection, mtls_identity) before it",
            );
        }
        let mut methods = Vec::new();
        for text in &spec.methods {
            match Method::from_bytes(text.as_bytes()) {
                Ok(method) => methods.push(method),
                Err(_) => self.error(at, format!("{path}.methods"), format!("{text:?} is not a method")),
            }
        }
        for (i, binding) in spec.bind.iter().enumerate() {
            if !template_params(template).any(|p| p == binding.param) {
                self.error(
                    at,
                    format!("{path}.bind[{i}].param"),
                    format!("the route path has no {{{}}} parameter", binding.param),
                );
            }
        }
        Some(AuthorizePolicy {
            methods,
            scopes: spec.scopes.clone(),
            groups: spec.groups.clone(),
            consumers: list(&spec.consumers),
            apps: list(&spec.apps),
            bind: spec.bind.iter().map(|b| Binding { param: b.param.clone(), claim: b.claim.clone() }).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use portcullis_proxy::metrics::Metrics;

    use crate::ConfigError;

    /// A private directory holding a client secret file, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("portcullis-introspection-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            portcullis_secrets::create_private_dir(&path).unwrap();
            portcullis_secrets::write_private(&path.join("client.secret"), b"s3cret\n").unwrap();
            // The listener's certificate, also its client CA.
            let key = rcgen::generate_simple_self_signed(vec!["api.internal".to_owned()]).unwrap();
            std::fs::write(path.join("cert.pem"), key.cert.pem()).unwrap();
            portcullis_secrets::write_private(&path.join("key.pem"), key.signing_key.serialize_pem().as_bytes())
                .unwrap();
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A TLS listener that asks clients for certificates.
    const MTLS: &str = "{ name: web, listen: 127.0.0.1:8443, tls: { certificates: [{ cert: cert.pem, key: key.pem }], \
                        client_auth: { ca: cert.pem, required: false } } }";

    /// One route with `policies` (YAML list items indented by 6) behind a
    /// listener with client certificates.
    fn load(dir: &Dir, policies: &str) -> Result<crate::Loaded, Vec<ConfigError>> {
        load_behind(dir, MTLS, policies)
    }

    /// One route with `policies` behind `listener`.
    fn load_behind(dir: &Dir, listener: &str, policies: &str) -> Result<crate::Loaded, Vec<ConfigError>> {
        let text = format!(
            "listeners: [{listener}]
upstream_allowlist: [127.0.0.1]
upstreams: [{{ name: app, targets: [http://127.0.0.1:9000] }}]
routes:
  - name: api
    prefix: /
    upstream: app
    policies:
{policies}"
        );
        crate::parse(&text, &dir.0, 1, &Metrics::default())
    }

    const GOOD: &str = "      - type: introspection
        endpoint: https://as.example/introspect
        client_id: gateway
        client_secret: file:client.secret
";

    #[track_caller]
    fn expect_error(dir: &Dir, policies: &str, path: &str, message: &str) {
        let errors = load(dir, policies).err().unwrap_or_else(|| panic!("accepted:\n{policies}"));
        let found = errors.iter().find(|e| e.path == path && e.message.contains(message));
        let found = found.unwrap_or_else(|| panic!("no {path}: {message} in {errors:#?}"));
        assert!(found.position.is_some(), "{path} has no position");
    }

    #[test]
    fn an_introspection_policy_compiles_with_every_key() {
        let dir = Dir::new("every-key");
        let full = format!(
            "{GOOD}        issuer: https://as.example
        audiences: [api]
        timeout: 500ms
        positive_ttl: 30s
        negative_ttl: 0s
        groups_claim: groups
        claims_to_headers: {{ tenant: X-Tenant }}
        forward_credentials: true
        certificate_bound: required
      - type: authorize
        scopes: [orders:read]
"
        );
        load(&dir, &full).unwrap();
    }

    #[test]
    fn refusals_name_their_key_and_position() {
        let dir = Dir::new("refusals");
        let at = "routes[0].policies[0]";
        let http = GOOD.replace("https://as.example", "http://as.example");
        expect_error(&dir, &http, &format!("{at}.endpoint"), "only https");
        let missing = GOOD.replace("file:client.secret", "file:absent.secret");
        expect_error(&dir, &missing, &format!("{at}.client_secret"), "cannot read");
        let unset = GOOD.replace("file:client.secret", "env:PORTCULLIS_SURELY_UNSET_SECRET");
        expect_error(&dir, &unset, &format!("{at}.client_secret"), "not set");
        let no_id = GOOD.replace("client_id: gateway", "client_id: \"\"");
        expect_error(&dir, &no_id, &format!("{at}.client_id"), "empty");
        expect_error(&dir, &format!("{GOOD}        timeout: 0s\n"), &format!("{at}.timeout"), "zero");
        expect_error(&dir, &format!("{GOOD}        ca: absent.pem\n"), &format!("{at}.ca"), "cannot read");
        expect_error(
            &dir,
            &format!("{GOOD}        claims_to_headers: {{ sub: X-Subject }}\n"),
            &format!("{at}.claims_to_headers.sub"),
            "header name",
        );
        let without_secret = GOOD.replace("        client_secret: file:client.secret\n", "");
        let errors = load(&dir, &without_secret).err().unwrap();
        assert!(errors.iter().any(|e| e.message.contains("client_secret")), "{errors:#?}");
    }

    fn mtls_rules(rules: &str) -> String {
        format!("      - type: mtls_identity\n        rules:\n{rules}")
    }

    #[test]
    fn mtls_identity_rules_compile_and_bad_ones_are_named() {
        let dir = Dir::new("mtls-rules");
        let good = mtls_rules(
            "          - match: { san_uri: \"spiffe://example.org/ns/payments/sa/*\" }
            consumer: con_abc
          - match: { subject_cn: billing.internal, subject_o: Example, san_dns: \"*.x\" }
            consumer: con_def
            groups: [billing]
",
        );
        let errors = load(&dir, &good).err().unwrap();
        let at = "routes[0].policies[0].rules";
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, format!("{at}[1].match.san_dns"));
        load(&dir, &good.replace("\"*.x\"", "x.example.org")).unwrap();
        let rule = |m: &str, consumer: &str| {
            mtls_rules(&format!("          - match: {m}\n            consumer: {consumer}\n"))
        };
        expect_error(&dir, &rule("{}", "con_a"), &format!("{at}[0].match"), "at least one of subject_cn");
        expect_error(&dir, &rule("{ san_uri: \"spiffe://x/*/a\" }", "con_a"), &format!("{at}[0].match.san_uri"), "`*`");
        expect_error(&dir, &rule("{ subject_cn: \"\" }", "con_a"), &format!("{at}[0].match.subject_cn"), "empty");
        expect_error(&dir, &rule("{ subject_cn: a }", "alice"), &format!("{at}[0].consumer"), "not a consumer id");
        assert!(load(&dir, &rule("{ san_ip: 10.0.0.1 }", "con_a")).is_err(), "unknown match keys are refused");
    }

    #[test]
    fn certificate_bound_is_off_optional_or_required() {
        let dir = Dir::new("certificate-bound");
        for mode in ["off", "\"off\"", "optional", "required"] {
            load(&dir, &format!("{GOOD}        certificate_bound: {mode}\n")).unwrap();
        }
        let errors = load(&dir, &format!("{GOOD}        certificate_bound: sometimes\n")).err().unwrap();
        assert!(errors.iter().any(|e| e.message.contains("off, optional or required")), "{errors:#?}");
    }

    #[test]
    fn policies_that_need_client_certificates_need_a_listener_that_asks_for_them() {
        let dir = Dir::new("no-client-certificates");
        let plain = "{ name: web, listen: 127.0.0.1:8080 }";
        let tls_only =
            "{ name: web, listen: 127.0.0.1:8443, tls: { certificates: [{ cert: cert.pem, key: key.pem }] } }";
        let bound = format!("{GOOD}        certificate_bound: required\n");
        let mtls = mtls_rules("          - { match: { subject_cn: billing.internal }, consumer: con_abc }\n");
        for listener in [plain, tls_only] {
            let errors = load_behind(&dir, listener, &bound).err().unwrap();
            let error = errors.iter().find(|e| e.path == "routes[0].policies[0].certificate_bound");
            let error = error.unwrap_or_else(|| panic!("{errors:#?}"));
            assert!(error.message.contains("tls.client_auth") && error.position.is_some(), "{error:#?}");
            let errors = load_behind(&dir, listener, &mtls).err().unwrap();
            assert!(
                errors.iter().any(|e| e.path == "routes[0].policies[0]" && e.message.contains("tls.client_auth")),
                "{errors:#?}"
            );
            // Optional binding works without certificates: unbound tokens pass.
            load_behind(&dir, listener, &format!("{GOOD}        certificate_bound: optional\n")).unwrap();
        }
        load_behind(&dir, MTLS, &bound).unwrap();
        load_behind(&dir, MTLS, &mtls).unwrap();
    }
}
