//! Who a request is from, once an authentication policy has proved it, and
//! what later phases (authorization, rate limits, identity headers) read.

use std::sync::{Arc, OnceLock};

use http::HeaderValue;

/// Claims an identity carries beyond its fixed fields (a token's payload).
pub trait Claims: std::fmt::Debug + Send + Sync {
    /// The claim `name` as text, when it is a string or a number.
    fn text(&self, name: &str) -> Option<String>;
    /// The claim `name` as a set of strings (an array of strings, or a
    /// space-separated string), empty when absent.
    fn set(&self, name: &str) -> Vec<String>;
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// How it was proved: `api_key`, `basic`, `jwt`, `introspection`, `mtls`.
    pub method: &'static str,
    /// The subject: the consumer's id for store credentials, `sub` for tokens.
    pub subject: Arc<str>,
    /// The consumer, when the credential belongs to one in the store.
    pub consumer: Option<Arc<str>>,
    /// The consumer's name.
    pub consumer_name: Option<Arc<str>>,
    /// The app, when the credential belongs to one.
    pub app: Option<Arc<str>>,
    /// Groups (the consumer's, or a token's group claim).
    pub groups: Arc<[String]>,
    /// Granted scopes (a token's `scope`/`scp`).
    pub scopes: Arc<[String]>,
    /// A token's other claims.
    pub claims: Option<Arc<dyn Claims>>,
    /// The identity's headers to the upstream, built on first use and reused
    /// by every request the same (shared) identity proves.
    pub headers: HeaderCache,
}

/// Headers derived from an [`Identity`] once, as `(name, value)` where the
/// name is the builder's own number for it: the builder turns numbers into
/// its constant names, which costs less than cloning a stored custom
/// [`http::HeaderName`]. A clone starts empty, since a copy may be changed
/// before its headers are read.
#[derive(Debug, Default)]
pub struct HeaderCache(OnceLock<Box<[(u8, HeaderValue)]>>);

impl Clone for HeaderCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Identity {
    /// The headers `build` derives from this identity, built on the first call.
    pub fn headers_with(&self, build: impl FnOnce(&Self) -> Vec<(u8, HeaderValue)>) -> &[(u8, HeaderValue)] {
        self.headers.0.get_or_init(|| build(self).into_boxed_slice())
    }

    /// The value a binding or header mapping names: `sub`, `consumer`,
    /// `consumer_name`, `app`, or any claim of a token.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "sub" => Some(self.subject.to_string()),
            "consumer" => self.consumer.as_deref().map(str::to_owned),
            "consumer_name" => self.consumer_name.as_deref().map(str::to_owned),
            "app" => self.app.as_deref().map(str::to_owned),
            _ => self.claims.as_ref().and_then(|c| c.text(name)),
        }
    }

    /// The set a binding names: `groups`, `scopes`, or a token's claim.
    #[must_use]
    pub fn values(&self, name: &str) -> Vec<String> {
        match name {
            "groups" => self.groups.to_vec(),
            "scopes" => self.scopes.to_vec(),
            _ => self.claims.as_ref().map(|c| c.set(name)).unwrap_or_default(),
        }
    }
}
