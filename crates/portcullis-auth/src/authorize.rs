//! Authorization after authentication: required scopes and groups, consumer
//! and app allow/deny lists, and object-level binding — a path parameter
//! (`{user_id}`) must equal, or belong to, a value of the caller's identity,
//! so one caller cannot reach another's object by changing an id (BOLA).
//! Rules can be limited to some methods (function-level authorization:
//! `DELETE` only for the `admins` group).

use http::Method;
use http::request::Parts;
use portcullis_core::{Ctx, Policy, Step, Verdict};

use crate::challenge::{forbidden, unauthorized};

/// Allow and deny lists of ids.
#[derive(Debug, Clone, Default)]
pub struct ListRule {
    /// When non-empty, only these may pass.
    pub allow: Vec<String>,
    /// These never pass.
    pub deny: Vec<String>,
}

impl ListRule {
    fn admits(&self, id: Option<&str>) -> bool {
        let Some(id) = id else { return self.allow.is_empty() };
        !self.deny.iter().any(|d| d == id) && (self.allow.is_empty() || self.allow.iter().any(|a| a == id))
    }
}

/// `param` (a route template parameter) must equal the identity's `value`
/// (`sub`, `consumer`, `app`, a claim) or be one of its `values` set.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The template parameter, e.g. `user_id` for `/users/{user_id}`.
    pub param: String,
    /// The identity value or set it must match.
    pub claim: String,
}

/// Authorization rules for a route.
#[derive(Debug, Default)]
pub struct AuthorizePolicy {
    /// Only for these methods (empty: all).
    pub methods: Vec<Method>,
    /// Every one of these scopes is required.
    pub scopes: Vec<String>,
    /// At least one of these groups is required (empty: none needed).
    pub groups: Vec<String>,
    /// Which consumers may pass.
    pub consumers: ListRule,
    /// Which apps may pass.
    pub apps: ListRule,
    /// Object-level bindings, all required.
    pub bind: Vec<Binding>,
}

impl Policy for AuthorizePolicy {
    fn name(&self) -> &'static str {
        "authorize"
    }

    fn on_request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        Step::Done(Ok(self.decide(&req.method, cx)))
    }
}

impl AuthorizePolicy {
    fn decide(&self, method: &Method, cx: &Ctx) -> Verdict {
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return Verdict::Continue;
        }
        let Some(identity) = cx.identity.as_deref() else {
            // Authorization without authentication is a configuration the
            // compiler refuses; answer as unauthenticated if it happens.
            return Verdict::Deny(unauthorized("auth.required", "Bearer realm=\"portcullis\""));
        };
        if !self.scopes.iter().all(|s| identity.scopes.iter().any(|g| g == s)) {
            return Verdict::Deny(forbidden("authz.scope"));
        }
        if !self.groups.is_empty() && !self.groups.iter().any(|g| identity.groups.iter().any(|h| h == g)) {
            return Verdict::Deny(forbidden("authz.group"));
        }
        if !self.consumers.admits(identity.consumer.as_deref()) {
            return Verdict::Deny(forbidden("authz.consumer"));
        }
        if !self.apps.admits(identity.app.as_deref()) {
            return Verdict::Deny(forbidden("authz.app"));
        }
        for binding in &self.bind {
            let Some(value) = cx.path_params.iter().find(|(k, _)| **k == *binding.param).map(|(_, v)| &**v) else {
                return Verdict::Deny(forbidden("authz.object"));
            };
            let bound = identity.value(&binding.claim).is_some_and(|own| own == value)
                || identity.values(&binding.claim).iter().any(|own| own == value);
            if !bound {
                return Verdict::Deny(forbidden("authz.object"));
            }
        }
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use portcullis_core::Identity;

    use super::*;

    fn cx(identity: Option<Identity>, params: &[(&str, &str)]) -> Ctx {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut cx = Ctx::new(Arc::from("t"), ip, ip, false);
        cx.identity = identity.map(Arc::new);
        cx.path_params = params.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        cx
    }

    fn alice() -> Identity {
        Identity {
            method: "api_key",
            subject: "con_alice".into(),
            consumer: Some("con_alice".into()),
            consumer_name: Some("alice".into()),
            app: Some("app_1".into()),
            groups: Arc::from(["readers".to_owned()]),
            scopes: Arc::from(["orders:read".to_owned()]),
            claims: None,
            headers: portcullis_core::HeaderCache::default(),
        }
    }

    fn reason(verdict: &Verdict) -> Option<&'static str> {
        match verdict {
            Verdict::Continue => None,
            Verdict::Deny(deny) => Some(deny.reason),
        }
    }

    #[test]
    fn a_path_id_must_be_the_callers_own() {
        let policy = AuthorizePolicy {
            bind: vec![Binding { param: "consumer_id".into(), claim: "consumer".into() }],
            ..AuthorizePolicy::default()
        };
        let own = cx(Some(alice()), &[("consumer_id", "con_alice")]);
        assert_eq!(reason(&policy.decide(&Method::GET, &own)), None);
        let other = cx(Some(alice()), &[("consumer_id", "con_bob")]);
        assert_eq!(reason(&policy.decide(&Method::GET, &other)), Some("authz.object"));
        let missing = cx(Some(alice()), &[]);
        assert_eq!(reason(&policy.decide(&Method::GET, &missing)), Some("authz.object"));
    }

    #[test]
    fn scopes_groups_and_lists() {
        let scoped = AuthorizePolicy { scopes: vec!["orders:write".into()], ..AuthorizePolicy::default() };
        assert_eq!(reason(&scoped.decide(&Method::GET, &cx(Some(alice()), &[]))), Some("authz.scope"));
        let grouped = AuthorizePolicy {
            groups: vec!["admins".into()],
            methods: vec![Method::DELETE],
            ..AuthorizePolicy::default()
        };
        assert_eq!(reason(&grouped.decide(&Method::GET, &cx(Some(alice()), &[]))), None, "rule is DELETE-only");
        assert_eq!(reason(&grouped.decide(&Method::DELETE, &cx(Some(alice()), &[]))), Some("authz.group"));
        let denied = AuthorizePolicy {
            consumers: ListRule { allow: vec![], deny: vec!["con_alice".into()] },
            ..AuthorizePolicy::default()
        };
        assert_eq!(reason(&denied.decide(&Method::GET, &cx(Some(alice()), &[]))), Some("authz.consumer"));
        let apps = AuthorizePolicy {
            apps: ListRule { allow: vec!["app_2".into()], deny: vec![] },
            ..AuthorizePolicy::default()
        };
        assert_eq!(reason(&apps.decide(&Method::GET, &cx(Some(alice()), &[]))), Some("authz.app"));
        assert_eq!(reason(&AuthorizePolicy::default().decide(&Method::GET, &cx(None, &[]))), Some("auth.required"));
    }
}
