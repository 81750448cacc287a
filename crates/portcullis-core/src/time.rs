//! Civil-time formatting without a calendar library: RFC 3339 timestamps for
//! logs and IMF-fixdate (RFC 9110 §5.6.7) for headers.

use std::fmt::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD` into Unix seconds at midnight UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && (1970..=9999).contains(&year);
    let days = days_from_civil(year, month, day);
    // Reject dates like 2026-02-31 that roll over into the next month.
    (valid && civil_from_days(days) == (year, month, day)).then_some(days * 86_400)
}

/// `2026-11-22T06:47:55.123Z` for `unix_millis`.
pub fn rfc3339_millis(unix_millis: i64, out: &mut String) {
    let (secs, millis) = (unix_millis.div_euclid(1000), unix_millis.rem_euclid(1000));
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem / 60 % 60, rem % 60);
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for `unix_secs`.
pub fn http_date(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs.div_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let rem = unix_secs.rem_euclid(86_400);
    let weekday = DAYS.get(usize::try_from(days.rem_euclid(7)).unwrap_or(0)).unwrap_or(&"Thu");
    let month = MONTHS.get(usize::try_from(mo - 1).unwrap_or(0)).unwrap_or(&"Jan");
    format!("{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch at `at`, a recent instant such as a
/// request's arrival ([`crate::Ctx::received`]), without reading the wall
/// clock on every call: the offset between the two clocks is measured at
/// most once a second and reused in between, so a step of the wall clock is
/// followed within a second.
pub fn unix_millis_at(at: Instant) -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    /// Wall-clock minus monotonic milliseconds, as last measured.
    static OFFSET: AtomicI64 = AtomicI64::new(0);
    /// Monotonic milliseconds when `OFFSET` was measured (`i64::MIN`: never).
    static MEASURED: AtomicI64 = AtomicI64::new(i64::MIN);
    let start = *START.get_or_init(Instant::now);
    let mono = |at: Instant| i64::try_from(at.saturating_duration_since(start).as_millis()).unwrap_or(i64::MAX);
    let at = mono(at);
    // Acquire pairs with the Release below: a reader that sees a new
    // measurement time sees its offset too.
    if at.saturating_sub(MEASURED.load(Ordering::Acquire)) >= 1000 {
        let now = mono(Instant::now());
        OFFSET.store(now_unix_millis().saturating_sub(now), Ordering::Relaxed);
        MEASURED.store(now, Ordering::Release);
    }
    at.saturating_add(OFFSET.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_at_an_instant_follows_the_wall_clock() {
        // Each reading may round its two clocks apart by a millisecond.
        let within = |a: i64, b: i64| a - 2 <= b;
        let before = now_unix_millis();
        let first = unix_millis_at(Instant::now());
        let again = unix_millis_at(Instant::now());
        let after = now_unix_millis();
        assert!(
            within(before, first) && within(first, again) && within(again, after),
            "{before} {first} {again} {after}"
        );
        let ahead = unix_millis_at(Instant::now() + std::time::Duration::from_secs(5));
        assert!((ahead - (after + 5000)).abs() < 100, "an instant 5 s ahead reads 5 s ahead: {ahead} vs {after}");
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        let mut s = String::new();
        rfc3339_millis(1_795_000_000_123, &mut s);
        assert_eq!(s, "2026-11-18T11:06:40.123Z");
        for (millis, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_007, "2000-02-29T00:00:00.007Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            s.clear();
            rfc3339_millis(millis, &mut s);
            assert_eq!(s, text);
        }
    }

    #[test]
    fn parses_dates_strictly() {
        assert_eq!(parse_date("1994-11-06"), Some(784_080_000));
        assert_eq!(parse_date("2026-02-31"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }
}
