//! Identity at the gateway: route policies that prove who is calling (API
//! keys, basic credentials, JWT bearer tokens, opaque bearer tokens by OAuth
//! 2.0 token introspection, client certificates) and decide what they may do (scopes, groups,
//! consumer and app lists, object-level binding of path parameters).
//!
//! It does not manage credentials (the store and admin API do) and never
//! queries the store per request: it reads the in-memory
//! [`portcullis_store::CredentialIndex`], reached through a
//! [`CredentialSource`] that the process fills once the store is open.
//!
//! The one design decision a reader must know: every failure answers with
//! the same generic 401 (or 403 for authorization) whatever the cause; only
//! the reason code in the log tells them apart.

#![forbid(unsafe_code)]

mod any_of;
mod api_key;
mod authorize;
mod basic;
mod bearer;
mod brute_force;
mod cert_binding;
mod cert_rules;
mod challenge;
mod fingerprint;
mod introspection;
mod jwt;
mod mtls;
mod source;
mod token_claims;

pub use any_of::AnyOfPolicy;
pub use api_key::ApiKeyPolicy;
pub use authorize::{AuthorizePolicy, Binding, ListRule};
pub use basic::BasicPolicy;
pub use cert_binding::CertificateBound;
pub use cert_rules::{CertField, CertPattern, CertRule, CertRuleError};
pub use introspection::IntrospectionPolicy;
pub use jwt::{JwtMapping, JwtPolicy};
pub use mtls::MtlsIdentityPolicy;
pub use source::CredentialSource;
