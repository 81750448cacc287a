//! Identity policies: `api_key`, `mtls_identity` and `authorize`.

use http::{HeaderName, Method};
use portcullis_auth::{ApiKeyPolicy, AuthorizePolicy, Binding, CredentialSource, ListRule};
use portcullis_proxy::identity_headers::IDENTITY_HEADERS;
use serde_saphyr::Location;

use super::Compiler;
use crate::spec::{AllowDenySpec, ApiKeySpec, AuthorizeSpec, PolicySpec};

/// Whether `spec` authenticates the caller.
pub(super) fn authenticates(spec: &PolicySpec) -> bool {
    matches!(spec, PolicySpec::ApiKey(_) | PolicySpec::Basic(_) | PolicySpec::MtlsIdentity(_))
}

fn list(spec: &AllowDenySpec) -> ListRule {
    ListRule { allow: spec.allow.clone(), deny: spec.deny.clone() }
}

/// The names of a path template's parameters: `/users/{id}` → `id`.
fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

impl Compiler<'_> {
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
                "authorize needs an authentication policy (api_key, basic, mtls_identity) before it",
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
