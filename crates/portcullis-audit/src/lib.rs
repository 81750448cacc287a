//! Tamper-evident audit log for Portcullis: the event data model and its cryptography.
//!
//! What it does:
//! - defines audit [`Event`]s (who, from where, what, on which object, outcome, details) and masks secrets and
//!   personal data in their details before anything is hashed ([`mask_details`]);
//! - chains events with SHA-256 over a canonical encoding ([`link`]), so changing, deleting or reordering an event
//!   breaks every later hash;
//! - signs and checks Ed25519 checkpoints over the chain hash ([`AuditSigner`], [`PublicKey`]);
//! - verifies a stored log as a stream ([`Verifier`]) and names the first broken or missing event ([`Problem`]);
//! - exports events as JSON Lines ([`to_json_line`]) and formats/forwards them as RFC 5424 syslog
//!   ([`format_rfc5424`], [`SyslogForwarder`]).
//!
//! What it does not do: store anything. The store crate writes each event in the same database transaction as the
//! change it records and calls [`link`] to compute its hash; the CLI reads events back and feeds a [`Verifier`].
//! Nor does it keep the signing key: whoever embeds it decides where the secret lives.
//!
//! The design decision: the hash chain alone only proves internal consistency; anyone who can write the database
//! can rewrite history and recompute every hash. Trust comes from checkpoints signed with a key kept outside the
//! database. Events after the last checkpoint can still be truncated undetected, so the store signs often and
//! [`Report::unsigned_tail`] reports that window.
#![forbid(unsafe_code)]

pub mod chain;
pub mod error;
pub mod event;
pub mod export;
pub mod forward;
pub mod hex;
pub mod mask;
pub mod signer;
pub mod syslog;
mod timestamp;
pub mod verify;

pub use chain::{Digest, GENESIS, canonical_bytes, link};
pub use error::AuditError;
pub use event::{Event, NewEvent, Outcome};
pub use export::to_json_line;
pub use forward::{SyslogForwarder, SyslogTarget};
pub use mask::mask_details;
pub use signer::{AuditSigner, Checkpoint, PublicKey};
pub use syslog::format_rfc5424;
pub use verify::{Problem, Report, StoredEvent, Verifier};
pub use zeroize::Zeroizing;
