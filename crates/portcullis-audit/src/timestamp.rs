//! RFC 3339 UTC timestamps with millisecond precision, without a date library.

/// `0000-01-01T00:00:00.000Z` in milliseconds since the Unix epoch.
const MIN_MS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in milliseconds since the Unix epoch.
const MAX_MS: i64 = 253_402_300_799_999;

const MS_PER_DAY: i64 = 86_400_000;

/// Formats `at_ms` (milliseconds since the Unix epoch) as `YYYY-MM-DDTHH:MM:SS.mmmZ`, or `None` outside years 0–9999.
pub(crate) fn rfc3339_millis(at_ms: i64) -> Option<String> {
    if !(MIN_MS..=MAX_MS).contains(&at_ms) {
        return None;
    }
    let days = at_ms.div_euclid(MS_PER_DAY);
    let in_day = at_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1_000 % 60, in_day % 1_000);
    Some(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z"))
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{MAX_MS, MIN_MS, rfc3339_millis};

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(rfc3339_millis(1_700_000_000_123).as_deref(), Some("2023-11-14T22:13:20.123Z"));
        assert_eq!(rfc3339_millis(951_782_400_000).as_deref(), Some("2000-02-29T00:00:00.000Z"));
        assert_eq!(rfc3339_millis(-1).as_deref(), Some("1969-12-31T23:59:59.999Z"));
        assert_eq!(rfc3339_millis(MIN_MS).as_deref(), Some("0000-01-01T00:00:00.000Z"));
        assert_eq!(rfc3339_millis(MAX_MS).as_deref(), Some("9999-12-31T23:59:59.999Z"));
    }

    #[test]
    fn out_of_range_is_none() {
        for at in [MIN_MS - 1, MAX_MS + 1, i64::MIN, i64::MAX] {
            assert_eq!(rfc3339_millis(at), None);
        }
    }
}
