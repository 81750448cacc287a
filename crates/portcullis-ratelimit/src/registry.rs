//! The limits in force, by route and name, so that operators can read a
//! key's state and reset it (the admin API). Policies register their limits
//! when compiled; an entry lives as long as its policy does, and the newest
//! live entry of a name wins, so after a reload the new limits answer.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use http::{HeaderName, HeaderValue, Method};
use portcullis_core::{Ctx, Identity};

use crate::key::LimitSeed;
use crate::policy::{Counting, Limit};
use crate::store::Store;

type Entries = Vec<(Weak<Limit>, Counting)>;

fn entries() -> &'static Mutex<Entries> {
    static ENTRIES: Mutex<Entries> = Mutex::new(Vec::new());
    &ENTRIES
}

/// Records a compiled limit.
pub(crate) fn register(limit: &Arc<Limit>, counting: &Counting) {
    let mut all = entries().lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(weak, _)| weak.strong_count() > 0);
    all.push((Arc::downgrade(limit), counting.clone()));
}

/// A limit in force and where it counts.
#[derive(Debug, Clone)]
pub struct LimitInForce {
    limit: Arc<Limit>,
    counting: Counting,
}

/// The values that make a key: whichever parts the limit counts by.
#[derive(Debug, Default, Clone)]
pub struct KeyValues {
    /// The client address.
    pub client_ip: Option<IpAddr>,
    /// The consumer id.
    pub consumer: Option<String>,
    /// The app id.
    pub app: Option<String>,
    /// The subject.
    pub subject: Option<String>,
    /// The method.
    pub method: Option<Method>,
    /// Header values.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A key's state: what a request would meet now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    /// The limit's quota (burst for GCRA).
    pub quota: u64,
    /// Requests admissible now.
    pub remaining: u64,
    /// Seconds until the budget is whole again.
    pub reset: u64,
    /// Seconds until a request is admitted, when none is now.
    pub retry_after: u64,
}

/// The shared counters did not answer.
#[derive(Debug, thiserror::Error)]
#[error("the shared rate-limit counters are unreachable")]
pub struct CountersUnavailable;

/// Every limit in force, newest last.
pub fn limits_in_force() -> Vec<LimitInForce> {
    let all = entries().lock().unwrap_or_else(PoisonError::into_inner);
    let mut live: Vec<LimitInForce> = Vec::new();
    for (weak, counting) in all.iter().rev() {
        let Some(limit) = weak.upgrade() else { continue };
        if !live.iter().any(|l| l.limit.id == limit.id) {
            live.push(LimitInForce { limit, counting: counting.clone() });
        }
    }
    live.reverse();
    live
}

/// The limit `name` of route `route`, if in force.
pub fn limit_in_force(route: &str, name: &str) -> Option<LimitInForce> {
    limits_in_force().into_iter().find(|l| l.limit.route == route && l.limit.name == name)
}

impl LimitInForce {
    /// The limit.
    pub fn limit(&self) -> &Limit {
        &self.limit
    }

    /// Whether it counts in shared counters.
    pub fn is_shared(&self) -> bool {
        matches!(self.counting, Counting::Shared(_))
    }

    /// The request head and context a request with `values` would have.
    fn request(&self, values: &KeyValues) -> (http::request::Parts, Ctx) {
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = values.method.clone().unwrap_or(Method::GET);
        for (name, value) in &values.headers {
            parts.headers.append(name.clone(), value.clone());
        }
        let ip = values.client_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let mut cx = Ctx::new(Arc::from("admin"), ip, ip, false);
        cx.route = Some(Arc::from(self.limit.route.as_str()));
        if values.consumer.is_some() || values.app.is_some() || values.subject.is_some() {
            cx.identity = Some(Arc::new(Identity {
                method: "admin",
                subject: values.subject.as_deref().or(values.consumer.as_deref()).unwrap_or("").into(),
                consumer: values.consumer.as_deref().map(Into::into),
                consumer_name: None,
                app: values.app.as_deref().map(Into::into),
                groups: Arc::from([]),
                scopes: Arc::from([]),
                claims: None,
                headers: portcullis_core::HeaderCache::default(),
            }));
        }
        (parts, cx)
    }

    /// The state of the key made of `values`, counting nothing.
    pub async fn state(&self, values: &KeyValues) -> Result<KeyState, CountersUnavailable> {
        let (parts, cx) = self.request(values);
        let l = &self.limit;
        let decision = match &self.counting {
            Counting::Local(store) => {
                store.peek(l.key.hash(&LimitSeed::new(&l.id, &store.hasher), &parts, &cx), &l.algorithm)
            }
            Counting::Shared(shared) => {
                shared.peek(l.key.shared(&l.id, &parts, &cx), &l.algorithm).await.map_err(|_| CountersUnavailable)?
            }
        };
        Ok(KeyState {
            quota: decision.quota,
            remaining: if decision.allowed { decision.remaining + 1 } else { 0 },
            reset: decision.reset,
            retry_after: decision.retry_after,
        })
    }

    /// Resets the key made of `values` to a full budget; whether it was counting anything.
    pub async fn reset(&self, values: &KeyValues) -> Result<bool, CountersUnavailable> {
        let (parts, cx) = self.request(values);
        let l = &self.limit;
        match &self.counting {
            Counting::Local(store) => Ok(store.forget(l.key.hash(&LimitSeed::new(&l.id, &store.hasher), &parts, &cx))),
            Counting::Shared(shared) => {
                let key = l.key.shared(&l.id, &parts, &cx);
                // The fallback counts of this gateway go too.
                let store = Store::global();
                let local = store.forget(key.local(&store.hasher));
                Ok(shared.forget(key).await.map_err(|_| CountersUnavailable)? || local)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_core::Policy;

    use super::*;
    use crate::{Algorithm, HeaderStyle, KeyPart, KeySpec, OnBackendFailure, OnLimit, Rate, RateLimitPolicy};

    #[tokio::test]
    async fn a_local_key_can_be_read_and_reset_and_dropped_policies_leave() {
        let store: &'static Store = Box::leak(Box::new(Store::new(100)));
        let key = KeySpec { parts: vec![KeyPart::ClientIp], ipv4_prefix: 32, ipv6_prefix: 64 };
        let alg = Algorithm::Gcra { rate: Rate { count: 2, period: Duration::from_secs(60) }, burst: 2 };
        let limit = Limit::new("registry-test", "per-ip", key, alg, OnBackendFailure::Local);
        let policy = RateLimitPolicy::new(vec![limit], OnLimit::Reject, HeaderStyle::None, Counting::Local(store));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let values = KeyValues { client_ip: Some(ip), ..KeyValues::default() };
        let found = limit_in_force("registry-test", "per-ip").unwrap();
        assert_eq!(found.state(&values).await.unwrap().remaining, 2);
        for _ in 0..3 {
            let mut parts = http::Request::new(()).into_parts().0;
            let mut cx = Ctx::new(Arc::from("t"), ip, ip, false);
            cx.route = Some(Arc::from("registry-test"));
            let _ = policy.on_request(&mut parts, &mut cx).resolve().await;
        }
        let state = found.state(&values).await.unwrap();
        assert_eq!((state.remaining, state.quota), (0, 2));
        assert!(found.reset(&values).await.unwrap());
        assert_eq!(found.state(&values).await.unwrap().remaining, 2);
        let other = KeyValues { client_ip: Some("192.0.2.8".parse().unwrap()), ..KeyValues::default() };
        assert!(!found.reset(&other).await.unwrap(), "nothing was counted for another client");
        drop((found, policy));
        assert!(limit_in_force("registry-test", "per-ip").is_none(), "a dropped policy's limits are not in force");
    }
}
