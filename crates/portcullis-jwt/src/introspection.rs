//! OAuth 2.0 token introspection (RFC 7662) for opaque bearer tokens: the authorization server is asked, over
//! verified HTTPS with `client_secret_basic`, whether a token is active, and its answer is remembered.
//!
//! An [`Introspector`] POSTs `token=…&token_type_hint=access_token` to one endpoint and reads the JSON answer
//! strictly: `active` must be a boolean, and the members the gateway relies on must have their RFC 7662 types
//! (anything else is a garbage answer, an error, on which the caller fails closed). An active token must not be
//! expired (`exp`), must come from the configured issuer and name a configured audience, when those are set.
//!
//! Answers are remembered under the SHA-256 of the token (never the token itself): active ones for
//! `positive_ttl`, never past the token's `exp`; inactive or refused ones for `negative_ttl`. Failures (endpoint
//! down, timeout, HTTP error, garbage) are not remembered, so the first request after the endpoint recovers
//! succeeds. Concurrent requests with the same token share one call, which runs as its own task (a client that
//! disconnects does not cancel it for the others), and at most `max_concurrent_calls` calls are in flight at a
//! time, so an endpoint that hangs ties up a bounded number of connections.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderValue;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::claims::Claims;
use crate::config::TrustRoots;
use crate::fetch::{FetchError, HttpsClient};
use crate::url::HttpsUrl;

/// Default deadline for one introspection call (waiting for a call slot, connect, TLS, request, body): 2 seconds.
pub const DEFAULT_INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time an active answer is remembered (never past the token's `exp`): 60 seconds.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(60);
/// Default time an inactive (or refused) answer is remembered: 10 seconds.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Default largest number of remembered answers.
pub const DEFAULT_MAX_CACHED_TOKENS: usize = 50_000;
/// Default largest number of calls to the endpoint in flight at once.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;

/// Most top-level members an introspection answer may have.
const MAX_MEMBERS: usize = 256;

/// One introspection endpoint. Build an [`Introspector`] from it with [`Introspector::new`];
/// [`IntrospectionConfig::new`] fills in the defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint (https only).
    pub endpoint: String,
    /// The gateway's client id at the authorization server (`client_secret_basic`, RFC 6749 §2.3.1).
    pub client_id: String,
    /// The gateway's client secret.
    pub client_secret: Vec<u8>,
    /// When set, an active token's `iss` must equal it.
    pub issuer: Option<String>,
    /// When not empty, an active token's `aud` must name at least one of these.
    pub audiences: Vec<String>,
    /// Deadline for one call, including the wait for a call slot. Default 2 s.
    pub timeout: Duration,
    /// How long an active answer is remembered, never past the token's `exp`. Default 60 s; zero: not remembered.
    pub positive_ttl: Duration,
    /// How long an inactive or refused answer is remembered. Default 10 s; zero: not remembered.
    pub negative_ttl: Duration,
    /// Most answers remembered; when full, expired ones are dropped, then all. Default 50 000.
    pub max_cached: usize,
    /// Most calls in flight at once; further calls wait for a slot within their deadline. Default 64.
    pub max_concurrent_calls: usize,
    /// Tokens longer than this are refused without a call. Default 8 KiB.
    pub max_token_bytes: usize,
    /// Which certificate authorities the endpoint's certificate must chain to. Default: the Mozilla roots.
    pub trust: TrustRoots,
}

impl IntrospectionConfig {
    /// A configuration with every optional setting at its default.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, client_id: impl Into<String>, client_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            issuer: None,
            audiences: Vec::new(),
            timeout: DEFAULT_INTROSPECTION_TIMEOUT,
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_cached: DEFAULT_MAX_CACHED_TOKENS,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_token_bytes: crate::config::DEFAULT_MAX_TOKEN_BYTES,
            trust: TrustRoots::WebPki,
        }
    }
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &format_args!("<{} bytes>", self.client_secret.len()))
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("timeout", &self.timeout)
            .field("positive_ttl", &self.positive_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("max_cached", &self.max_cached)
            .field("max_concurrent_calls", &self.max_concurrent_calls)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("trust", &self.trust)
            .finish()
    }
}

/// Why an [`IntrospectionConfig`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionConfigError {
    /// The endpoint is not a usable https URL.
    #[error("{url}: {reason}")]
    Endpoint {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// `client_id` is empty.
    #[error("client_id is empty")]
    EmptyClientId,
    /// `client_secret` is empty.
    #[error("client_secret is empty")]
    EmptyClientSecret,
    /// `issuer` is set but empty.
    #[error("issuer is empty")]
    EmptyIssuer,
    /// An entry of `audiences` is empty.
    #[error("an audience is empty")]
    EmptyAudience,
    /// The trust roots are unusable.
    #[error("trust roots: {0}")]
    TrustRoots(String),
    /// `timeout`, `max_concurrent_calls` or `max_token_bytes` is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
}

/// Why the endpoint gave no usable answer. Never remembered: the caller fails closed (503) and the next request
/// asks again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The endpoint could not be reached in time, answered a status other than 200 (a refused client
    /// authentication is a 401), or a body over 64 KiB.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The endpoint answered 200 with something that is not a usable RFC 7662 answer.
    #[error("{url}: unusable introspection answer: {detail}")]
    Garbage {
        /// The endpoint.
        url: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// Every call slot stayed busy until the deadline.
    #[error("{url}: too many introspection calls in flight")]
    Busy {
        /// The endpoint.
        url: String,
    },
    /// The call's task ended without an answer (runtime shutting down).
    #[error("introspection aborted")]
    Aborted,
}

impl IntrospectionError {
    /// The stable reason code: `auth.introspection.unavailable`.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        "auth.introspection.unavailable"
    }
}

/// Why a token is not accepted, although the endpoint answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `active` is false, or `exp` has passed.
    Inactive,
    /// `iss` is missing or not the configured issuer.
    Issuer,
    /// `aud` is missing or names none of the configured audiences.
    Audience,
    /// The token is longer than `max_token_bytes`; the endpoint was not asked.
    TooLarge,
}

impl Refusal {
    /// The stable reason code, e.g. `auth.introspection.inactive`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Inactive => "auth.introspection.inactive",
            Self::Issuer => "auth.introspection.issuer",
            Self::Audience => "auth.introspection.audience",
            Self::TooLarge => "auth.introspection.too_large",
        }
    }
}

/// What is known about a token.
#[derive(Debug, Clone)]
pub enum Introspection {
    /// Active, unexpired, and from the configured issuer for a configured audience.
    Active(Arc<ActiveToken>),
    /// Not accepted.
    Refused(Refusal),
}

/// The answer for an active token: every member the endpoint sent, with the ones the gateway reads checked for
/// their RFC 7662 types (`scope`, `client_id`, `username`, `token_type`, `sub`, `iss`, `jti` strings; `exp`,
/// `iat`, `nbf` numbers; `aud` a string or an array of strings; `null` counts as absent).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveToken {
    claims: Claims,
}

/// Every [`Claims`] accessor (`get`, `sub`, `iss`, `jti`, `exp`, `iat`,
/// `audiences`, `claim_as_header_value`, …) reads an answer the same way it
/// reads a token.
impl std::ops::Deref for ActiveToken {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl ActiveToken {
    /// `client_id`, if present.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.get_str("client_id")
    }

    /// `username`, if present.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.get_str("username")
    }

    /// Who the token speaks for: `sub`, else `client_id` (a client-credentials token).
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.sub().or_else(|| self.client_id())
    }

    /// The granted scopes: `scope` split on spaces (RFC 7662 defines no `scp`).
    #[must_use]
    pub fn scopes(&self) -> Vec<&str> {
        self.get_str("scope").map(|s| s.split(' ').filter(|p| !p.is_empty()).collect()).unwrap_or_default()
    }
}

/// What an active answer must satisfy.
#[derive(Debug)]
struct Rules {
    issuer: Option<String>,
    audiences: Vec<String>,
}

/// A parsed answer, and until when it may be remembered (Unix ms; `None`: no bound from the token).
#[derive(Debug)]
struct Answer {
    introspection: Introspection,
    exp_ms: Option<i64>,
}

/// Reads an endpoint's answer at time `now_ms`.
fn parse_answer(body: &[u8], now_ms: i64, rules: &Rules) -> Result<Answer, &'static str> {
    let claims = Claims::parse(body).map_err(|_| "not a JSON object with unique member names")?;
    let members = claims.as_map();
    let refused = |refusal| Ok(Answer { introspection: Introspection::Refused(refusal), exp_ms: None });
    match members.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return refused(Refusal::Inactive),
        _ => return Err("active is missing or not a boolean"),
    }
    if members.len() > MAX_MEMBERS {
        return Err("too many members");
    }
    for name in ["scope", "client_id", "username", "token_type", "sub", "iss", "jti"] {
        if !matches!(members.get(name), None | Some(Value::Null | Value::String(_))) {
            return Err("a string member has another type");
        }
    }
    for name in ["exp", "iat", "nbf"] {
        if !matches!(members.get(name), None | Some(Value::Null | Value::Number(_))) {
            return Err("a time member is not a number");
        }
    }
    match members.get("aud") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => return Err("aud is neither a string nor an array of strings"),
    }
    let token = ActiveToken { claims };
    let exp_ms = token.exp().map(|exp| exp.saturating_mul(1000));
    if exp_ms.is_some_and(|exp| exp <= now_ms) {
        return refused(Refusal::Inactive);
    }
    if let Some(issuer) = &rules.issuer
        && token.iss() != Some(issuer.as_str())
    {
        return refused(Refusal::Issuer);
    }
    if !rules.audiences.is_empty() && !token.audiences().iter().any(|a| rules.audiences.iter().any(|c| c == a)) {
        return refused(Refusal::Audience);
    }
    Ok(Answer { introspection: Introspection::Active(Arc::new(token)), exp_ms })
}

/// Appends `bytes` as `application/x-www-form-urlencoded` (the WHATWG serializer: alphanumerics and `*-._`
/// kept, space as `+`, everything else percent-encoded).
fn form_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// `Authorization: Basic …` for `client_secret_basic`: both parts form-encoded first (RFC 6749 §2.3.1).
fn basic_authorization(client_id: &str, client_secret: &[u8]) -> HeaderValue {
    let mut credentials = String::new();
    form_encode(client_id.as_bytes(), &mut credentials);
    credentials.push(':');
    form_encode(client_secret, &mut credentials);
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes());
    // Base64 is always a valid header value.
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

type Key = [u8; 32];
type Outcome = Result<Introspection, IntrospectionError>;

fn key_of(token: &str) -> Key {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

fn now_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A remembered answer.
#[derive(Debug)]
struct Entry {
    introspection: Introspection,
    until: Instant,
}

/// Asks one introspection endpoint about tokens, remembering the answers. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    url: HttpsUrl,
    client: HttpsClient,
    authorization: HeaderValue,
    rules: Rules,
    timeout: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_cached: usize,
    max_token_bytes: usize,
    cache: Mutex<HashMap<Key, Entry>>,
    /// Calls under way, by token hash; every caller for that token waits on the same channel.
    in_flight: Mutex<HashMap<Key, watch::Receiver<Option<Outcome>>>>,
    slots: Semaphore,
    calls: AtomicU64,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector").field("endpoint", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl Introspector {
    /// Checks `config` and builds the introspector. Nothing is fetched until the first token.
    ///
    /// # Errors
    ///
    /// [`IntrospectionConfigError`]: an endpoint that is not https, an empty client id, secret, issuer or
    /// audience, bad trust roots, or a zero limit.
    pub fn new(config: IntrospectionConfig) -> Result<Self, IntrospectionConfigError> {
        let url = HttpsUrl::parse(&config.endpoint)
            .map_err(|reason| IntrospectionConfigError::Endpoint { url: config.endpoint.clone(), reason })?;
        if config.client_id.is_empty() {
            return Err(IntrospectionConfigError::EmptyClientId);
        }
        if config.client_secret.is_empty() {
            return Err(IntrospectionConfigError::EmptyClientSecret);
        }
        if config.issuer.as_deref().is_some_and(str::is_empty) {
            return Err(IntrospectionConfigError::EmptyIssuer);
        }
        if config.audiences.iter().any(String::is_empty) {
            return Err(IntrospectionConfigError::EmptyAudience);
        }
        for (zero, what) in [
            (config.timeout.is_zero(), "timeout"),
            (config.max_concurrent_calls == 0, "max_concurrent_calls"),
            (config.max_token_bytes == 0, "max_token_bytes"),
        ] {
            if zero {
                return Err(IntrospectionConfigError::Zero(what));
            }
        }
        let client = HttpsClient::new(&config.trust, config.timeout).map_err(IntrospectionConfigError::TrustRoots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                client,
                authorization: basic_authorization(&config.client_id, &config.client_secret),
                rules: Rules { issuer: config.issuer, audiences: config.audiences },
                timeout: config.timeout,
                positive_ttl: config.positive_ttl,
                negative_ttl: config.negative_ttl,
                max_cached: config.max_cached,
                max_token_bytes: config.max_token_bytes,
                cache: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
                slots: Semaphore::new(config.max_concurrent_calls.min(Semaphore::MAX_PERMITS)),
                calls: AtomicU64::new(0),
            }),
        })
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.inner.url.as_str()
    }

    /// The configured issuer, if any.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.rules.issuer.as_deref()
    }

    /// How many calls were made to the endpoint so far (for metrics and tests).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// What is known about `token` without asking the endpoint: a remembered answer (or the refusal of a token
    /// that is too long), else `None`. Never waits.
    #[must_use]
    pub fn cached(&self, token: &str) -> Option<Introspection> {
        if token.len() > self.inner.max_token_bytes {
            return Some(Introspection::Refused(Refusal::TooLarge));
        }
        self.inner.lookup(&key_of(token), Instant::now())
    }

    /// What the endpoint says about `token` (without the `Bearer ` prefix): a remembered answer, else one call,
    /// shared with every concurrent caller for the same token.
    ///
    /// Must be called within a tokio runtime (the call is its own task).
    ///
    /// # Errors
    ///
    /// [`IntrospectionError`] when the endpoint gave no usable answer by the deadline; not remembered.
    pub async fn introspect(&self, token: &str) -> Outcome {
        if token.len() > self.inner.max_token_bytes {
            return Ok(Introspection::Refused(Refusal::TooLarge));
        }
        let key = key_of(token);
        if let Some(hit) = self.inner.lookup(&key, Instant::now()) {
            return Ok(hit);
        }
        let mut answer = {
            let mut in_flight = lock(&self.inner.in_flight);
            // Again under the lock: a call finishing meanwhile is remembered before it leaves `in_flight`.
            if let Some(hit) = self.inner.lookup(&key, Instant::now()) {
                return Ok(hit);
            }
            if let Some(answer) = in_flight.get(&key) {
                answer.clone()
            } else {
                let (tx, rx) = watch::channel(None);
                in_flight.insert(key, rx.clone());
                let inner = Arc::clone(&self.inner);
                let token = token.to_owned();
                tokio::spawn(async move { inner.call_and_publish(key, token, tx).await });
                rx
            }
        };
        match answer.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(IntrospectionError::Aborted)),
            Err(_) => Err(IntrospectionError::Aborted),
        }
    }
}

/// Removes a call from `in_flight` when it ends, however it ends.
struct Flight<'a> {
    inner: &'a Inner,
    key: Key,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.key);
    }
}

impl Inner {
    fn lookup(&self, key: &Key, now: Instant) -> Option<Introspection> {
        let cache = lock(&self.cache);
        cache.get(key).filter(|e| e.until > now).map(|e| e.introspection.clone())
    }

    fn remember(&self, key: Key, introspection: Introspection, ttl: Duration) {
        if ttl.is_zero() || self.max_cached == 0 {
            return;
        }
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        if cache.len() >= self.max_cached && !cache.contains_key(&key) {
            cache.retain(|_, e| e.until > now);
            if cache.len() >= self.max_cached {
                cache.clear();
            }
        }
        cache.insert(key, Entry { introspection, until: now + ttl });
    }

    /// Makes the call for `token`, remembers a usable answer, then hands the outcome to every waiter.
    async fn call_and_publish(&self, key: Key, token: String, answer: watch::Sender<Option<Outcome>>) {
        let flight = Flight { inner: self, key };
        let outcome = self.call(&token).await;
        if let Ok(parsed) = &outcome {
            let ttl = match (&parsed.introspection, parsed.exp_ms) {
                (Introspection::Active(_), Some(exp_ms)) => {
                    let left = u64::try_from(exp_ms.saturating_sub(now_unix_ms())).unwrap_or(0);
                    self.positive_ttl.min(Duration::from_millis(left))
                }
                (Introspection::Active(_), None) => self.positive_ttl,
                (Introspection::Refused(_), _) => self.negative_ttl,
            };
            self.remember(key, parsed.introspection.clone(), ttl);
        }
        drop(flight);
        let _ = answer.send(Some(outcome.map(|parsed| parsed.introspection)));
    }

    async fn call(&self, token: &str) -> Result<Answer, IntrospectionError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let url = || self.url.as_str().to_owned();
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| IntrospectionError::Busy { url: url() })?
            .map_err(|_| IntrospectionError::Aborted)?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut form = String::with_capacity(token.len() + 40);
        form.push_str("token=");
        form_encode(token.as_bytes(), &mut form);
        form.push_str("&token_type_hint=access_token");
        let body = self.client.post_form_by(&self.url, &self.authorization, form, deadline).await?;
        parse_answer(&body, now_unix_ms(), &self.rules)
            .map_err(|detail| IntrospectionError::Garbage { url: url(), detail })
    }
}

#[cfg(test)]
mod tests;
