//! Client IP allow and deny lists (CIDR).

use http::StatusCode;
use http::request::Parts;
use portcullis_core::ip::IpSet;
use portcullis_core::{Ctx, Deny, Policy, Step, Verdict};

/// Denies clients by address: the deny list first, then, if an allow list is
/// set, everything not on it. The address is the client's as the gateway
/// established it (a trusted proxy's report, never a forged header).
#[derive(Debug)]
pub struct IpFilterPolicy {
    allow: IpSet,
    deny: IpSet,
}

impl IpFilterPolicy {
    /// A filter with the given lists.
    pub fn new(allow: IpSet, deny: IpSet) -> Self {
        Self { allow, deny }
    }
}

impl Policy for IpFilterPolicy {
    fn name(&self) -> &'static str {
        "ip_filter"
    }

    fn on_request<'a>(&'a self, _req: &'a mut Parts, cx: &'a mut Ctx) -> Step<'a> {
        let reason = if self.deny.contains(cx.client_ip) {
            "ip.denied"
        } else if !self.allow.is_empty() && !self.allow.contains(cx.client_ip) {
            "ip.not_allowed"
        } else {
            return Step::CONTINUE;
        };
        Step::Done(Ok(Verdict::Deny(Deny::new(StatusCode::FORBIDDEN, reason))))
    }
}
