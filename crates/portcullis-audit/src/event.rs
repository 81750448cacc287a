//! The audit event data model: who did what to which object, from where, and how it ended.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AuditError;
use crate::mask::mask_details;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action was performed.
    Success,
    /// The action was attempted and failed (bad input, conflict, internal error).
    Failure,
    /// The action was refused: bad credentials, missing permission, locked account.
    Denied,
}

impl Outcome {
    /// The lowercase name used in storage, hashes, exports and syslog.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    /// Parses the lowercase name produced by [`Outcome::as_str`].
    ///
    /// # Errors
    ///
    /// [`AuditError::UnknownOutcome`] for anything else (matching is exact and case-sensitive).
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        match text {
            "success" => Ok(Self::Success),
            "failure" => Ok(Self::Failure),
            "denied" => Ok(Self::Denied),
            other => Err(AuditError::UnknownOutcome(other.chars().take(64).collect())),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = AuditError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// One recorded audit event, as stored and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log; the first event is 1 and sequence numbers are contiguous.
    pub seq: i64,
    /// When it happened, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
    /// Who: an admin user name, `system`, or `cli:<user>`.
    pub actor: String,
    /// From where: the client IP address, or `host` for local actions.
    pub source: String,
    /// What, as a dotted name such as `consumer.create` or `admin.login`.
    pub action: String,
    /// On which object, such as `consumer:42`.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Action-specific data (before/after values, reasons), already masked.
    pub details: Value,
}

/// An event that has not been assigned a sequence number or time yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who: an admin user name, `system`, or `cli:<user>`.
    pub actor: String,
    /// From where: the client IP address, or `host` for local actions.
    pub source: String,
    /// What, as a dotted name such as `consumer.create`.
    pub action: String,
    /// On which object, such as `consumer:42`.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Action-specific data; masked by [`NewEvent::into_event`].
    pub details: Value,
}

impl NewEvent {
    /// Creates an event with empty (`{}`) details.
    #[must_use]
    pub fn new(
        actor: impl Into<String>,
        source: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            actor: actor.into(),
            source: source.into(),
            action: action.into(),
            target: target.into(),
            outcome,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// Replaces the details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Masks secrets and personal data in the details, then assigns the position and time.
    ///
    /// Masking happens here, before anything is hashed or stored, so a secret never reaches the log.
    #[must_use]
    pub fn into_event(self, seq: i64, at_ms: i64) -> Event {
        let mut details = self.details;
        mask_details(&mut details);
        Event {
            seq,
            at_ms,
            actor: self.actor,
            source: self.source,
            action: self.action,
            target: self.target,
            outcome: self.outcome,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{NewEvent, Outcome};
    use crate::error::AuditError;

    #[test]
    fn outcome_round_trips_as_lowercase() {
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
            assert_eq!(Outcome::parse(outcome.as_str()), Ok(outcome));
            assert_eq!(serde_json::to_value(outcome).ok(), Some(json!(outcome.as_str())));
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
        }
        assert_eq!(Outcome::parse("Success"), Err(AuditError::UnknownOutcome("Success".into())));
        assert!(serde_json::from_value::<Outcome>(json!("SUCCESS")).is_err());
    }

    #[test]
    fn into_event_masks_details_and_assigns_position() {
        let event = NewEvent::new("alice", "192.0.2.7", "admin.password_change", "admin:alice", Outcome::Success)
            .with_details(json!({"password": "hunter2", "reason": "rotation"}))
            .into_event(7, 1_700_000_000_000);
        assert_eq!(event.seq, 7);
        assert_eq!(event.at_ms, 1_700_000_000_000);
        assert_eq!(event.actor, "alice");
        assert_eq!(event.action, "admin.password_change");
        assert_eq!(event.details, json!({"password": "***", "reason": "rotation"}));
    }

    #[test]
    fn new_event_defaults_to_empty_object() {
        let event = NewEvent::new("system", "host", "config.reload", "config", Outcome::Failure);
        assert_eq!(event.details, json!({}));
    }
}
