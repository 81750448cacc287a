//! Identity policies: `api_key`, `mtls_identity` and `authorize`.

use http::{HeaderName, Method};
use portcullis_auth::{ApiKeyPolicy, AuthorizePolicy, Binding, CredentialSource, ListRule};
use portcullis_proxy::identity_headers::IDENTITY_HEADERS;
use serde_saphyr::Location;

use super::Compiler;
use crate::spec::{AllowDenySpec, ApiKeySpec, AuthorizeSpec, JwtSpec, PolicySpec};

/// Whether `spec` authenticates the caller.
pub(super) fn authenticates(spec: &PolicySpec) -> bool {
    matches!(spec, PolicySpec::ApiKey(_) | PolicySpec::Basic(_) | PolicySpec::Jwt(_) | PolicySpec::MtlsIdentity(_))
}

fn list(spec: &AllowDenySpec) -> ListRule {
    ListRule { allow: spec.allow.clone(), deny: spec.deny.clone() }
}

/// The names of a path template's parameters: `/users/{id}` → `id`.
fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

impl Compiler<'_> {
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
        let mut claims_to_headers = Vec::new();
        for (claim, header) in &spec.claims_to_headers {
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
        let mapping = portcullis_auth::JwtMapping {
            groups_claim: spec.groups_claim.clone(),
            claims_to_headers,
            forward: spec.forward_credentials,
        };
        Some(portcullis_auth::JwtPolicy::new(issuer, mapping, CredentialSource::process()))
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
        Some(ApiKeyPolicy::new(header, spec.forward_credentials, CredentialSource::process()))
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
                "authorize needs an authentication policy (api_key, basic, jwt, mtls_identity) before it",
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
