//! Brute-force protection shared by every authentication policy: failures
//! are counted per client address (and per user name for basic) in the
//! process-wide [`Lockouts`] table, under the rule the configuration gives
//! (`brute_force`). A locked caller is refused before any credential is
//! checked, with the policy's ordinary 401.

use http::StatusCode;
use portcullis_core::{Ctx, PolicyResult, Verdict};
use portcullis_ratelimit::{LockoutRule, Lockouts};

/// The lockout rule an authentication policy applies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BruteForce(pub(crate) LockoutRule);

/// The lockout key of the caller's address.
pub(crate) fn address_key(cx: &Ctx) -> String {
    format!("ip:{}", cx.client_ip)
}

impl BruteForce {
    /// Whether `key` is locked now (one atomic load while nothing is locked).
    pub(crate) fn is_locked(self, key: impl FnOnce() -> String) -> bool {
        let table = Lockouts::process();
        table.any_locked() && table.is_locked(&key())
    }

    /// Whether the caller's address is locked now.
    pub(crate) fn address_locked(self, cx: &Ctx) -> bool {
        self.is_locked(|| address_key(cx))
    }

    /// Counts a failure of `key`.
    pub(crate) fn fail(self, key: &str) {
        Lockouts::process().fail(key, self.0);
    }

    /// Counts a 401 among `result` against the caller's address, and passes
    /// the result on.
    pub(crate) fn counted(self, result: PolicyResult, cx: &Ctx) -> PolicyResult {
        if let Ok(Verdict::Deny(deny)) = &result
            && deny.status == StatusCode::UNAUTHORIZED
        {
            self.fail(&address_key(cx));
        }
        result
    }
}
