//! The runtime-data store of Portcullis: consumers, apps, credentials,
//! admin users and roles, sessions, API tokens, revocations and the
//! tamper-evident audit log, on SQLite (the embedded default) or PostgreSQL.
//!
//! It does not hash passwords or decide policy (the admin plane does), and
//! the data plane never queries it per request: it authenticates against a
//! [`CredentialIndex`] in memory, fed by [`Store::credential_changes_since`]
//! whenever [`Store::subscribe`] reports a change (on PostgreSQL, from any
//! node).
//!
//! The one design decision a reader must know: every change goes through an
//! audited write that appends its event to the hash chain **in the same
//! transaction**, so no change exists without its event. The SQL is portable
//! and runs on both backends through sqlx's `Any` driver, so there is one
//! implementation with the same semantics on both.

#![forbid(unsafe_code)]

mod actor;
mod admins;
mod apps;
mod audit_log;
mod changes;
mod clock;
mod consumers;
mod credentials;
mod error;
mod index;
mod logins;
mod migrate;
mod open;
mod page;
mod record;
mod retention;
mod revocation_index;
mod revocations;
mod roles;
mod sessions;
mod tokens;
mod write;

pub use actor::Actor;
pub use admins::{AdminLogin, AdminUser};
pub use apps::App;
pub use audit_log::{AuditHead, AuditQuery};
pub use clock::now_ms;
pub use consumers::{Consumer, ConsumerFields};
pub use credentials::{Credential, CredentialKind, ResolvedCredential};
pub use error::StoreError;
pub use index::{CredentialIndex, IndexedCredential};
pub use logins::{FailureOutcome, LockoutPolicy};
pub use open::{Backend, Store};
pub use page::{ListQuery, MAX_PAGE, Page};
pub use retention::{Retention, RetentionReport};
pub use revocation_index::RevocationIndex;
pub use revocations::{RevokedToken, SubjectRevocation};
pub use roles::{PERMISSIONS, Role};
pub use sessions::Session;
pub use tokens::ApiToken;
pub use write::CHANGE_CHANNEL;
