//! The data plane of Portcullis: listeners, TLS termination, the per-request
//! pipeline (hygiene, normalization, routing, policies), upstream pools,
//! response hardening, the access log and metrics.
//!
//! It reads one immutable [`Snapshot`] per request from an `ArcSwap`, and
//! knows no configuration file format: `portcullis-config` builds the
//! snapshot. Nothing on the request path takes a lock; the access log and
//! metrics are handed off or counted atomically.

#![forbid(unsafe_code)]

pub mod access_log;
mod activity;
mod body;
mod connection;
mod forward;
mod hygiene;
pub mod identity_headers;
pub mod metrics;
pub mod ops;
mod pipeline;
pub mod policy;
mod pool;
mod request_body;
mod server;
mod shared;
mod snapshot;
pub mod upstream;

pub use body::ResponseBody;
pub use server::{Server, bind};
pub use shared::Shared;
pub use snapshot::{HttpLimits, ListenerSettings, Live, Snapshot};
