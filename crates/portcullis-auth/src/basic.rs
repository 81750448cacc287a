//! HTTP basic authentication against the store's `basic` credentials
//! (argon2id, or imported PBKDF2). Verifying a password is deliberately
//! slow, so the cost an attacker can cause is bounded three ways:
//!
//! * at most as many verifications run at once as there are cores; a
//!   request that cannot get a slot within a second fails closed (503);
//! * a user name or client address with too many recent failures is
//!   refused without verifying (same 401) while the process-wide lockout
//!   table ([`portcullis_ratelimit::Lockouts`]) holds it locked;
//! * a successful verification is remembered for a short time under a
//!   keyed hash of (credential, stored hash, password) — never the password —
//!   so a legitimate client does not pay argon2 on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header;
use http::request::Parts;
use portcullis_core::{Ctx, Policy, PolicyError, PolicyResult, Step, Verdict};
use portcullis_credentials::PasswordHasher;
use portcullis_store::{CredentialKind, IndexedCredential};
use sha2::Sha256;
use tokio::sync::Semaphore;

use portcullis_ratelimit::{LockoutRule, Lockouts};

use crate::brute_force::{BruteForce, address_key};
use crate::challenge::{strip, unauthorized, unavailable};
use crate::fingerprint;
use crate::source::CredentialSource;

const CHALLENGE: &str = "Basic realm=\"portcullis\", charset=\"UTF-8\"";

/// How long a successful verification is remembered.
const REMEMBER: Duration = Duration::from_secs(300);
/// The most remembered verifications and tracked user names.
const MAX_ENTRIES: usize = 10_000;
/// How long a request waits for a verification slot.
const SLOT_WAIT: Duration = Duration::from_secs(1);

/// Authenticates with `Authorization: Basic`.
pub struct BasicPolicy {
    brute_force: BruteForce,
    source: CredentialSource,
    forward: bool,
    hasher: Arc<PasswordHasher>,
    slots: Arc<Semaphore>,
    /// Keyed-hash key for the cache, random per process.
    cache_key: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
}

impl std::fmt::Debug for BasicPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicPolicy").field("forward", &self.forward).finish_non_exhaustive()
    }
}

impl BasicPolicy {
    /// Checks credentials from `source`; removes `Authorization` before
    /// proxying unless `forward`.
    ///
    /// # Panics
    /// When the operating system's random source fails.
    #[must_use]
    pub fn new(source: CredentialSource, forward: bool) -> Self {
        let mut cache_key = [0u8; 32];
        getrandom::fill(&mut cache_key).expect("the operating system's random source failed");
        Self {
            brute_force: BruteForce::default(),
            source,
            forward,
            hasher: Arc::new(PasswordHasher::default()),
            slots: process_slots(),
            cache_key,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// Locks user names and addresses that fail too often under `rule`.
    #[must_use]
    pub fn with_brute_force(self, rule: LockoutRule) -> Self {
        Self { brute_force: BruteForce(rule), ..self }
    }

    fn fingerprint(&self, credential: &IndexedCredential, phc: &str, password: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.cache_key).expect("HMAC takes any key length");
        for part in [credential.id.as_bytes(), phc.as_bytes(), password.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        let map = self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).is_some_and(|at| at.elapsed() < REMEMBER)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut map = self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, at| at.elapsed() < REMEMBER);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, Instant::now());
    }

    /// Runs one password verification in a bounded slot, off the async threads.
    async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, PolicyError> {
        let overloaded = || PolicyError { reason: "auth.basic.overloaded", detail: "no verification slot".into() };
        let permit = tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| overloaded())?
            .map_err(|_| overloaded())?;
        let hasher = self.hasher.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match phc {
                Some(phc) => hasher.verify(&password, &phc),
                None => {
                    hasher.verify_dummy(&password);
                    false
                }
            }
        })
        .await;
        outcome.map_err(|_| overloaded())
    }

    async fn check(&self, req: &mut Parts, cx: &mut Ctx) -> PolicyResult {
        let deny = |reason| Ok(Verdict::Deny(unauthorized(reason, CHALLENGE)));
        let Some((user, password)) = credentials(req) else {
            let reason = if req.headers.contains_key(header::AUTHORIZATION) {
                "auth.basic.malformed"
            } else {
                "auth.basic.missing"
            };
            return deny(reason);
        };
        let Some(index) = self.source.get() else { return Err(unavailable("basic")) };
        let now = portcullis_core::time::unix_millis_at(cx.received);
        let credential = index.lookup(CredentialKind::Basic, &user, now);
        let phc = credential.as_ref().and_then(|c| c.password_phc()).map(str::to_owned);
        let key = match (&credential, &phc) {
            (Some(credential), Some(phc)) => Some(self.fingerprint(credential, phc, &password)),
            _ => None,
        };
        // Locked first: a guess that happens to be right must not pass a
        // lock because an earlier success was remembered.
        let (user_key, ip_key) = (format!("basic:{user}"), address_key(cx));
        if self.brute_force.is_locked(|| user_key.clone()) || self.brute_force.is_locked(|| ip_key.clone()) {
            return deny("auth.basic.locked");
        }
        if !key.as_ref().is_some_and(|key| self.remembered(key)) {
            if !self.verify(password, phc).await? {
                self.brute_force.fail(&user_key);
                self.brute_force.fail(&ip_key);
                return deny("auth.basic.invalid");
            }
            if let Some(key) = key {
                self.remember(key);
            }
            Lockouts::process().succeed(&user_key);
        }
        let Some(credential) = credential else { return deny("auth.basic.invalid") };
        cx.identity = Some(credential.identity.clone());
        if !self.forward {
            strip(&mut req.headers, &header::AUTHORIZATION);
        }
        Ok(Verdict::Continue)
    }
}

/// Verification slots shared by every route and reload: one per core.
fn process_slots() -> Arc<Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// The user name and password of a well-formed `Authorization: Basic` header.
fn credentials(req: &Parts) -> Option<(String, String)> {
    let mut values = req.headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return None };
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty() || user.chars().any(char::is_control) {
        return None;
    }
    Some((user.to_owned(), password.to_owned()))
}

impl Policy for BasicPolicy {
    fn name(&self) -> &'static str {
        "basic"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        Step::Wait(Box::pin(async move {
            let result = self.check(req, cx).await;
            // Only the user name: anything derived from the password could
            // be searched offline. A header that does not parse names nobody.
            fingerprint::on_refusal(result, cx, || credentials(req).map(|(user, _)| fingerprint::user(&user)))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(value: &str) -> Parts {
        http::Request::builder().header("authorization", value).body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_well_formed_basic_headers_parse() {
        let ok = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        assert_eq!(credentials(&head(&format!("Basic {ok}"))), Some(("alice".into(), "s3cret:with:colons".into())));
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic YWxpY2U=", "Basic OnBhc3N3b3Jk"] {
            assert_eq!(credentials(&head(bad)), None, "{bad}");
        }
    }
}
