//! A configured issuer: verifies tokens synchronously against its current keys, and refreshes those keys.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::base64url;
use crate::claims::Claims;
use crate::config::{ConfigError, IssuerConfig, KeySource, StaticKey};
use crate::error::JwtError;
use crate::fetch::{FetchError, HttpsClient};
use crate::header::{Header, typ_matches};
use crate::jwk::{self, Parsed};
use crate::key::{Key, KeyMaterial};
use crate::keyset::KeySet;
use crate::pem;
use crate::refresh::{RefreshGate, RefreshOutcome, RefresherHandle, retry_delay};
use crate::remote::Remote;
use crate::url::HttpsUrl;
use crate::validate::ClaimRules;

/// A trusted issuer, ready to verify its tokens. Cheap to clone (shared state).
///
/// [`Issuer::verify`] is synchronous and never waits for a fetch: it reads the current key set through an
/// atomic pointer. Keys from a URL are loaded by [`Issuer::refresh`] or [`Issuer::spawn_refresher`]; until the
/// first successful load, verification fails with [`JwtError::KeysUnavailable`].
#[derive(Debug, Clone)]
pub struct Issuer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    algorithms: AlgorithmSet,
    typ: Option<String>,
    max_token_bytes: usize,
    rules: ClaimRules,
    keys: ArcSwapOption<KeySet>,
    /// Bumped whenever `keys` is replaced, so callers can drop what they
    /// cached under the previous keys.
    generation: std::sync::atomic::AtomicU64,
    remote: Option<Remote>,
    gate: RefreshGate,
    refresh_interval: std::time::Duration,
    min_refresh_interval: std::time::Duration,
}

impl Issuer {
    /// Checks `config` and builds the issuer; static keys and secrets are parsed now, URL keys on first refresh.
    ///
    /// # Errors
    ///
    /// [`ConfigError`]: an empty issuer, audience or algorithm list; an HS* algorithm with public keys or a URL
    /// (or a non-HMAC algorithm with a secret); a secret shorter than an allowed HS* hash; a key URL that is not
    /// https; an unusable static key; bad trust roots; a zero limit.
    pub fn new(config: IssuerConfig) -> Result<Self, ConfigError> {
        if config.issuer.is_empty() {
            return Err(ConfigError::EmptyIssuer);
        }
        if config.audiences.is_empty() {
            return Err(ConfigError::NoAudience);
        }
        let algorithms: AlgorithmSet = config.algorithms.iter().copied().collect();
        if algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        for (value, what) in [
            (config.max_token_bytes == 0, "max_token_bytes"),
            (config.refresh_interval.is_zero(), "refresh_interval"),
            (config.fetch_timeout.is_zero(), "fetch_timeout"),
        ] {
            if value {
                return Err(ConfigError::Zero(what));
            }
        }
        let is_secret = matches!(config.keys, KeySource::Secret(_));
        for alg in algorithms.iter() {
            match (alg.is_hmac(), is_secret) {
                (true, false) => return Err(ConfigError::HmacWithPublicKeys(alg)),
                (false, true) => return Err(ConfigError::AsymmetricWithSecret(alg)),
                _ => {}
            }
        }

        let client = || HttpsClient::new(&config.trust, config.fetch_timeout).map_err(ConfigError::TrustRoots);
        let url =
            |text: &str| HttpsUrl::parse(text).map_err(|reason| ConfigError::Url { url: text.to_owned(), reason });
        let (keys, remote) = match &config.keys {
            KeySource::Discovery(u) => (None, Some(Remote::discovery(url(u)?, client()?, config.issuer.clone()))),
            KeySource::Jwks(u) => (None, Some(Remote::jwks(url(u)?, client()?, config.issuer.clone()))),
            KeySource::Static(list) => (Some(static_keys(list, algorithms)?), None),
            KeySource::Secret(secret) => (Some(secret_key(secret, algorithms)?), None),
        };

        Ok(Self {
            inner: Arc::new(Inner {
                algorithms,
                typ: config.typ,
                max_token_bytes: config.max_token_bytes,
                rules: ClaimRules {
                    issuer: config.issuer,
                    audiences: config.audiences,
                    leeway: config.leeway,
                    max_age: config.max_age,
                    required: config.required_claims,
                },
                keys: ArcSwapOption::new(keys.map(Arc::new)),
                generation: std::sync::atomic::AtomicU64::new(0),
                remote,
                gate: RefreshGate::new(config.min_refresh_interval),
                refresh_interval: config.refresh_interval,
                min_refresh_interval: config.min_refresh_interval,
            }),
        })
    }

    /// The configured `iss`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.rules.issuer
    }

    /// A number that changes whenever the key set is replaced: whatever was
    /// verified under an earlier generation must be verified again (a key may
    /// have been retired).
    #[must_use]
    pub fn key_generation(&self) -> u64 {
        self.inner.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a key set is loaded (always true for static keys and secrets).
    #[must_use]
    pub fn has_keys(&self) -> bool {
        self.inner.keys.load().is_some()
    }

    /// Verifies a compact JWS `token` (without the `Bearer ` prefix) at time `now`, and returns its claims.
    ///
    /// In order: length, three segments, header (`alg` allowed and not `none`, no `crit`, `typ` when
    /// configured), key selection by `kid` and key type, signature, then the payload and its claims (`iss`,
    /// `aud`, `exp`, `nbf`, `iat`, required claims). `jku`, `x5u`, `jwk` and `x5c` headers are ignored. The
    /// payload is parsed only after its signature verified.
    ///
    /// # Errors
    ///
    /// The [`JwtError`] of the first failed check. [`JwtError::UnknownKey`] and
    /// [`JwtError::KeysUnavailable`] may resolve after [`Issuer::refresh_for_unknown_kid`];
    /// [`Issuer::verify_or_refresh`] does that.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, JwtError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(JwtError::TooLarge { limit: inner.max_token_bytes });
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated segments"));
        };
        let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];

        base64url::with_decoded(header_b64.as_bytes(), |header_bytes| {
            let header = Header::parse(header_bytes)?;
            if !inner.algorithms.contains(header.alg) {
                return Err(JwtError::Algorithm("alg not allowed for this issuer"));
            }
            if let Some(expected) = &inner.typ
                && !header.typ.as_deref().is_some_and(|actual| typ_matches(expected, actual))
            {
                return Err(JwtError::Typ);
            }
            let keys = inner.keys.load();
            let keys = keys.as_deref().ok_or(JwtError::KeysUnavailable)?;
            let key = keys.select(header.kid.as_deref(), header.alg)?;
            let verified = base64url::with_decoded(signature_b64.as_bytes(), |signature| {
                key.verify(header.alg, signing_input, signature)
            })
            .ok_or(JwtError::Malformed("signature is not base64url"))?;
            if verified { Ok(()) } else { Err(JwtError::Signature) }
        })
        .ok_or(JwtError::Malformed("header is not base64url"))??;

        let claims = base64url::with_decoded(payload_b64.as_bytes(), Claims::parse)
            .ok_or(JwtError::Malformed("payload is not base64url"))??;
        inner.rules.check(&claims, now)?;
        Ok(claims)
    }

    /// [`Issuer::verify`], and when the key may be missing from a stale set ([`JwtError::keys_may_be_stale`]),
    /// [`Issuer::refresh_for_unknown_kid`] and one more [`Issuer::verify`].
    ///
    /// # Errors
    ///
    /// As [`Issuer::verify`], from the second attempt when there is one.
    pub async fn verify_or_refresh(&self, token: &str, now: SystemTime) -> Result<Claims, JwtError> {
        match self.verify(token, now) {
            Err(e) if e.keys_may_be_stale() && self.inner.remote.is_some() => {
                // Retried whatever the outcome: even when rate-limited, a concurrent fetch may just have
                // brought the key. A retry that fails again costs one header parse, no signature check.
                let _ = self.refresh_for_unknown_kid().await;
                self.verify(token, now)
            }
            result => result,
        }
    }

    /// Fetches the keys because a token named an unknown `kid`, at most once per `min_refresh_interval`;
    /// concurrent callers wait for one fetch. The fetch runs to completion even if the caller is dropped.
    ///
    /// Must be called within a tokio runtime (the fetch is its own task).
    pub async fn refresh_for_unknown_kid(&self) -> RefreshOutcome {
        if self.inner.remote.is_none() {
            return RefreshOutcome::NotRemote;
        }
        let inner = Arc::clone(&self.inner);
        self.inner.gate.on_demand(async move { inner.fetch_and_swap().await }).await
    }

    /// Fetches the keys now (after any fetch in progress), whatever the rate limit; a no-op for static keys.
    ///
    /// # Errors
    ///
    /// [`FetchError`] when the fetch fails; the previous keys, if any, stay in use.
    pub async fn refresh(&self) -> Result<(), FetchError> {
        if self.inner.remote.is_none() {
            return Ok(());
        }
        self.inner.gate.now(self.inner.fetch_and_swap()).await
    }

    /// Starts a tokio task that fetches the keys now and then every `refresh_interval`; after a failure it retries
    /// sooner (from `min_refresh_interval`, at least 1 s, doubling up to `refresh_interval`). Stale keys stay in
    /// use while fetches fail. The task ends when the handle is dropped or every [`Issuer`] clone is gone.
    ///
    /// Must be called within a tokio runtime. For static keys the task ends at once.
    pub fn spawn_refresher(&self) -> RefresherHandle {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        RefresherHandle(tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if inner.remote.is_none() {
                    return;
                }
                let delay = match inner.gate.now(inner.fetch_and_swap()).await {
                    Ok(()) => {
                        failures = 0;
                        inner.refresh_interval
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(issuer = %inner.rules.issuer, %error, failures, "JWT key refresh failed; keeping the previous keys");
                        retry_delay(inner.min_refresh_interval, inner.refresh_interval, failures)
                    }
                };
                drop(inner);
                tokio::time::sleep(delay).await;
            }
        }))
    }
}

impl Inner {
    async fn fetch_and_swap(&self) -> Result<(), FetchError> {
        let Some(remote) = &self.remote else { return Ok(()) };
        let set = remote.fetch().await?;
        tracing::info!(issuer = %self.rules.issuer, keys = set.len(), "JWT keys loaded");
        self.keys.store(Some(Arc::new(set)));
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// Parses configured public keys; each must be valid and fit at least one allowed algorithm.
fn static_keys(list: &[StaticKey], algorithms: AlgorithmSet) -> Result<KeySet, ConfigError> {
    let bad = |index: usize, reason: String| ConfigError::StaticKey { index, reason };
    let mut keys = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let parsed: Vec<Key> = match item {
            StaticKey::Jwk(json) => {
                let value = serde_json::from_str(json).map_err(|e| bad(index, format!("not JSON: {e}")))?;
                match jwk::parse_jwk(value).map_err(|r| bad(index, r.to_owned()))? {
                    Parsed::Key(key) => vec![key],
                    Parsed::NotForVerification => return Err(bad(index, "not a signature key".to_owned())),
                }
            }
            StaticKey::Jwks(json) => jwk::parse_jwks(json.as_bytes()).map_err(|r| bad(index, r))?,
            StaticKey::Pem { pem, kid } => {
                let material = pem::parse_public_key(pem).map_err(|r| bad(index, r.to_owned()))?;
                vec![Key { kid: kid.as_deref().map(Into::into), alg: None, material }]
            }
        };
        for key in &parsed {
            if !algorithms.iter().any(|a| key.accepts(a)) {
                return Err(bad(index, format!("a {:?} key fits none of the allowed algorithms", key.material)));
            }
        }
        keys.extend(parsed);
    }
    if keys.is_empty() {
        return Err(ConfigError::NoStaticKeys);
    }
    Ok(KeySet::new(keys))
}

/// The shared secret, long enough for every allowed HS* algorithm (RFC 7518 §3.2).
fn secret_key(secret: &[u8], algorithms: AlgorithmSet) -> Result<KeySet, ConfigError> {
    for alg in algorithms.iter() {
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            _ => 64,
        };
        if secret.len() < min {
            return Err(ConfigError::SecretTooShort { alg, min });
        }
    }
    Ok(KeySet::new(vec![Key { kid: None, alg: None, material: KeyMaterial::hmac(secret) }]))
}
