//! Export of stored events as JSON Lines, for archiving or feeding a SIEM.

use serde::Serialize;
use serde_json::Value;

use crate::event::Outcome;
use crate::hex::to_hex;
use crate::timestamp::rfc3339_millis;
use crate::verify::StoredEvent;

#[derive(Serialize)]
struct Line<'a> {
    seq: i64,
    at: Option<String>,
    actor: &'a str,
    source: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: Outcome,
    details: &'a Value,
    hash: String,
}

/// One JSON object, without a trailing newline:
/// `{"seq":…,"at":"2024-05-01T12:00:00.000Z","actor":…,"source":…,"action":…,"target":…,"outcome":…,"details":…,"hash":"<hex>"}`.
///
/// `at` is RFC 3339 UTC with milliseconds, or `null` for a time outside years 0–9999.
#[must_use]
pub fn to_json_line(stored: &StoredEvent) -> String {
    let event = &stored.event;
    let line = Line {
        seq: event.seq,
        at: rfc3339_millis(event.at_ms),
        actor: &event.actor,
        source: &event.source,
        action: &event.action,
        target: &event.target,
        outcome: event.outcome,
        details: &event.details,
        hash: to_hex(&stored.hash),
    };
    // Cannot fail: every field is a string, integer or `Value`, and `Value` maps only have string keys.
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::to_json_line;
    use crate::event::{NewEvent, Outcome};
    use crate::verify::StoredEvent;

    #[test]
    fn exports_one_line_with_every_field() {
        let event = NewEvent::new("alice", "192.0.2.9", "consumer.delete", "consumer:42", Outcome::Denied)
            .with_details(json!({"reason": "line\nbreak", "token": "t"}))
            .into_event(42, 1_714_564_800_007);
        let line = to_json_line(&StoredEvent { event, hash: [0xab; 32] });
        assert!(!line.contains('\n'));
        assert!(line.starts_with(r#"{"seq":42,"at":"2024-05-01T12:00:00.007Z","actor":"alice""#), "{line}");
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        assert_eq!(
            parsed,
            json!({
                "seq": 42, "at": "2024-05-01T12:00:00.007Z", "actor": "alice", "source": "192.0.2.9",
                "action": "consumer.delete", "target": "consumer:42", "outcome": "denied",
                "details": {"reason": "line\nbreak", "token": "***"}, "hash": "ab".repeat(32)
            })
        );
    }

    #[test]
    fn out_of_range_time_is_null() {
        let event = NewEvent::new("a", "b", "c", "d", Outcome::Success).into_event(1, i64::MAX);
        let parsed: Value =
            serde_json::from_str(&to_json_line(&StoredEvent { event, hash: [0; 32] })).unwrap_or(Value::Null);
        assert_eq!(parsed["at"], Value::Null);
        assert_eq!(parsed["seq"], json!(1));
    }
}
