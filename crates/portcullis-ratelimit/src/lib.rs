//! Rate limiting for Portcullis: GCRA (smooth rate with burst), sliding
//! window counters and calendar quotas, keyed by any combination of client
//! IP (or its network), route, method and header values, checked together
//! so that a request is admitted only when every limit admits it and a
//! refused request consumes nothing.
//!
//! Counters live in a sharded in-process store with a bound on the number
//! of keys (idle keys are evicted first). Rates run on the monotonic clock,
//! so a wall-clock jump grants no budget; quotas follow the calendar of
//! their time zone and never reset backwards.

#![forbid(unsafe_code)]

mod algorithm;
mod concurrency;
mod key;
mod lockout;
mod policy;
mod registry;
mod shared;
mod store;

pub use algorithm::{Algorithm, Quota, QuotaPeriod, Rate};
pub use concurrency::ConcurrencyPolicy;
pub use key::{KeyPart, KeySpec, SharedKey};
pub use lockout::{Locked, LockoutRule, Lockouts};
pub use policy::{Counting, HeaderStyle, Limit, OnBackendFailure, OnLimit, RateLimitPolicy};
pub use registry::{CountersUnavailable, KeyState, KeyValues, LimitInForce, limit_in_force, limits_in_force};
pub use shared::{SharedCounters, SharedSettings, is_redis_url};
pub use store::Store;
