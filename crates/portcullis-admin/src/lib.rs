//! The management plane's admin API (`/admin/v1`, JSON): consumers, apps,
//! credentials, admin users and roles, automation tokens, revocations, the
//! audit log and the effective configuration, with named accounts,
//! least-privilege roles, TOTP, lockout and short sessions.
//!
//! It does not store anything itself (the store crate does, with an audit
//! event in the same transaction as every change) and it never serves the
//! data plane.
//!
//! The one design decision a reader must know: authentication resolves to a
//! [`principal::Caller`]; only endpoints that fulfil a pending duty (change
//! the password, enrol or present the second factor) accept a `Caller`
//! directly, every other handler takes a [`principal::Principal`], which
//! cannot be built while a duty is pending. Forgetting a check is a type error.

#![forbid(unsafe_code)]

mod error;
mod params;
pub mod principal;
mod routes;
mod server;
pub mod session_cookie;
mod settings;
mod state;
mod strict_json;
mod totp_at_rest;

pub use error::ApiError;
pub use routes::users::is_login_name;
pub use server::{app, serve};
pub use settings::{AdminSettings, AuditSettings, ManagementSettings};
pub use state::{AppState, ConfigView};
