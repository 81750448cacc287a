//! The data-plane vocabulary of Portcullis: the [`Policy`] trait and its
//! [`Verdict`], the per-request [`Ctx`], the generic client-facing error,
//! path normalization, the decoded [`RequestView`] policies share, and the
//! route table.
//!
//! This crate does no IO and knows no file format. The one design decision a
//! reader must know: everything here is compiled once (at configuration load)
//! into immutable values that the hot path only reads; a policy phase that
//! does not need to wait answers synchronously, without allocating a future.

#![forbid(unsafe_code)]

mod counters;
mod ctx;
pub mod decode;
mod deny;
mod identity;
pub mod ip;
mod lifecycle;
mod path;
mod policy;
pub mod prehashed;
mod request_id;
mod route;
pub mod time;
pub mod view;

pub use counters::{Counter, counters, render_counters};
pub use ctx::{ClientCert, Ctx};
pub use deny::{Deny, error_body, error_word};
pub use identity::{Claims, HeaderCache, Identity};
pub use lifecycle::Lifecycle;
pub use path::{PathError, normalize_path};
pub use policy::{BodyInspector, BodyRewriter, Policy, PolicyError, PolicyResult, Step, Verdict};
pub use request_id::RequestIds;
pub use route::{Lookup, MatchKind, MethodSet, Route, RouteTable, RouteTableBuilder, RouteTableError};
pub use view::{Pairs, RequestView, form_pairs};
