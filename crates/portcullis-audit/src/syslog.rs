//! RFC 5424 formatting of audit events, for forwarding to a central syslog server.

pub use crate::forward::{SEND_TIMEOUT, SyslogForwarder, SyslogTarget};

use crate::event::{Event, Outcome};
use crate::timestamp::rfc3339_millis;

/// Syslog facility `authpriv` (security/authorization messages).
pub const FACILITY_AUTHPRIV: u8 = 10;

/// Structured-data ID. 32473 is the private enterprise number reserved for documentation (RFC 5612).
pub const SD_ID: &str = "portcullis@32473";

const MAX_HOSTNAME: usize = 255;
const MAX_APP_NAME: usize = 48;
const MAX_MSGID: usize = 32;

/// Syslog severity for an outcome: notice (5) for success, warning (4) for failure or denial.
#[must_use]
pub const fn severity(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Success => 5,
        Outcome::Failure | Outcome::Denied => 4,
    }
}

/// Formats one RFC 5424 message, without framing or trailing newline:
///
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [portcullis@32473 seq="…" actor="…" source="…" action="…" target="…"
/// outcome="…"] DETAILS-JSON`
///
/// Header fields are reduced to printable ASCII without spaces (others become `_`), truncated to their RFC length and
/// written as `-` when empty; MSGID is the action. Parameter values escape `"`, `\` and `]` with a backslash
/// (RFC 5424 §6.3.3), and control characters become U+FFFD so a value can never break the line. TIMESTAMP is `-` for a
/// time outside years 0–9999.
#[must_use]
pub fn format_rfc5424(event: &Event, hostname: &str, app_name: &str) -> String {
    let pri = FACILITY_AUTHPRIV * 8 + severity(event.outcome);
    let timestamp = rfc3339_millis(event.at_ms).unwrap_or_else(|| "-".to_owned());
    format!(
        "<{pri}>1 {timestamp} {host} {app} - {msgid} [{SD_ID} seq=\"{seq}\" actor=\"{actor}\" source=\"{source}\" \
         action=\"{action}\" target=\"{target}\" outcome=\"{outcome}\"] {details}",
        host = header_field(hostname, MAX_HOSTNAME),
        app = header_field(app_name, MAX_APP_NAME),
        msgid = header_field(&event.action, MAX_MSGID),
        seq = event.seq,
        actor = param_value(&event.actor),
        source = param_value(&event.source),
        action = param_value(&event.action),
        target = param_value(&event.target),
        outcome = event.outcome,
        details = event.details,
    )
}

/// Printable ASCII except space (33–126), other characters replaced by `_`, at most `max` characters, `-` if empty.
fn header_field(text: &str, max: usize) -> String {
    let field: String = text.chars().take(max).map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    if field.is_empty() { "-".to_owned() } else { field }
}

/// Escapes a structured-data parameter value.
fn param_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::format_rfc5424;
    use crate::event::{NewEvent, Outcome};

    #[test]
    fn formats_a_success() {
        let event = NewEvent::new("alice", "192.0.2.7", "consumer.create", "consumer:42", Outcome::Success)
            .with_details(json!({"after": {"name": "shop"}}))
            .into_event(12, 1_700_000_000_123);
        assert_eq!(
            format_rfc5424(&event, "gw1.example.com", "portcullis"),
            "<85>1 2023-11-14T22:13:20.123Z gw1.example.com portcullis - consumer.create [portcullis@32473 seq=\"12\" \
             actor=\"alice\" source=\"192.0.2.7\" action=\"consumer.create\" target=\"consumer:42\" \
             outcome=\"success\"] {\"after\":{\"name\":\"shop\"}}"
        );
    }

    #[test]
    fn failures_and_denials_are_warnings() {
        for outcome in [Outcome::Failure, Outcome::Denied] {
            let event = NewEvent::new("a", "b", "admin.login", "admin:a", outcome).into_event(1, 0);
            let line = format_rfc5424(&event, "h", "p");
            assert!(line.starts_with("<84>1 1970-01-01T00:00:00.000Z h p - admin.login "), "{line}");
        }
    }

    #[test]
    fn escapes_structured_data() {
        let event = NewEvent::new(r#"ev"il\a]dmin"#, "host", "x", "line\nbreak", Outcome::Success).into_event(1, 0);
        let line = format_rfc5424(&event, "h", "p");
        assert!(line.contains(r#"actor="ev\"il\\a\]dmin""#), "{line}");
        assert!(line.contains("target=\"line\u{fffd}break\""), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn sanitizes_header_fields() {
        let event =
            NewEvent::new("a", "b", "a very long action name with spaces.and.more.parts", "t", Outcome::Success)
                .into_event(1, i64::MIN);
        let line = format_rfc5424(&event, "my host\n", "");
        assert!(line.starts_with("<85>1 - my_host_ - - a_very_long_action_name_with_spa ["), "{line}");
        let event = NewEvent::new("a", "b", "", "t", Outcome::Success).into_event(1, 0);
        assert!(format_rfc5424(&event, "hé", "app").contains(" h_ app - - [portcullis@32473 "));
    }
}
