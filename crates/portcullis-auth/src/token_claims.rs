//! A token's claims (a verified JWT's payload, or an introspection answer)
//! behind [`portcullis_core::Claims`], for authorization bindings and
//! header mapping.

use std::sync::Arc;

use portcullis_core::Claims as ClaimsView;
use portcullis_jwt::{ActiveToken, Claims};
use serde_json::Value;

/// Whatever holds a claim set.
pub(crate) trait ClaimSource: std::fmt::Debug + Send + Sync {
    /// The claims.
    fn claims(&self) -> &Claims;
}

impl ClaimSource for Claims {
    fn claims(&self) -> &Claims {
        self
    }
}

impl ClaimSource for Arc<ActiveToken> {
    fn claims(&self) -> &Claims {
        self
    }
}

/// Claims seen through [`portcullis_core::Claims`].
#[derive(Debug)]
pub(crate) struct TokenClaims<T>(pub(crate) T);

impl<T: ClaimSource> ClaimsView for TokenClaims<T> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.claims().claim_as_header_value(name)
    }

    fn set(&self, name: &str) -> Vec<String> {
        match self.0.claims().get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Some(Value::String(text)) => text.split_ascii_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }
}
