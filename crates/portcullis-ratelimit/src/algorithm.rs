//! The three ways of counting: GCRA, sliding window and calendar quota.
//! Each is a pure function from a key's state and the time to a decision
//! and the next state, so several limits can be checked before any commits.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests.
    pub count: u64,
    /// Per this long.
    pub period: Duration,
}

/// A calendar period of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    /// Resets at local midnight.
    Day,
    /// Resets at local midnight on the first of the month.
    Month,
}

/// A fixed-window quota on the calendar of a time zone.
#[derive(Debug, Clone)]
pub struct Quota {
    /// Requests per period.
    pub limit: u64,
    /// Day or month.
    pub period: QuotaPeriod,
    /// Whose calendar.
    pub time_zone: TimeZone,
}

/// How a limit counts.
#[derive(Debug, Clone)]
pub enum Algorithm {
    /// Generic cell rate algorithm: a smooth `rate` with `burst` requests of headroom.
    Gcra {
        /// The sustained rate.
        rate: Rate,
        /// Requests that may come at once.
        burst: u64,
    },
    /// A sliding window counter: at most `rate.count` in any `rate.period`, estimated.
    SlidingWindow(Rate),
    /// A calendar quota.
    Quota(Quota),
}

/// What the store keeps per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// GCRA's theoretical arrival time, in monotonic nanoseconds.
    Tat(u64),
    /// The current window's start and the counts of it and the one before.
    Window { start: u64, prev: u64, cur: u64 },
    /// The quota period's start (Unix seconds) and its count.
    Quota { start: i64, count: u64 },
}

/// The answers for a request's limits, in their order.
pub(crate) type Decisions = smallvec::SmallVec<[Decision; 4]>;

/// The answer for one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) allowed: bool,
    /// The limit's quota, for the headers.
    pub(crate) quota: u64,
    /// Requests left after this one.
    pub(crate) remaining: u64,
    /// Seconds until the quota is whole again (or the window resets).
    pub(crate) reset: u64,
    /// Seconds until a refused request may succeed.
    pub(crate) retry_after: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

impl Algorithm {
    /// A one-line description, e.g. `gcra 10 per 1s, burst 20`.
    pub fn describe(&self) -> String {
        match self {
            Self::Gcra { rate, burst } => format!("gcra {} per {:?}, burst {burst}", rate.count, rate.period),
            Self::SlidingWindow(rate) => format!("sliding_window {} per {:?}", rate.count, rate.period),
            Self::Quota(q) => {
                format!("quota {} per {:?} ({})", q.limit, q.period, q.time_zone.iana_name().unwrap_or("UTC"))
            }
        }
    }

    /// Whether a key in `state` is back to its full budget at `now` (so it can be forgotten).
    pub(crate) fn is_idle(&self, state: State, now: u64, wall: Timestamp) -> bool {
        match (self, state) {
            (_, State::Tat(tat)) => tat <= now,
            (Self::SlidingWindow(rate), State::Window { start, .. }) => {
                now >= start.saturating_add(2 * nanos(rate.period))
            }
            (Self::Quota(q), State::Quota { start, .. }) => q.period_start(wall).is_some_and(|s| s > start),
            _ => true,
        }
    }

    /// Decides one request at monotonic `now` (nanoseconds) and wall-clock
    /// `wall`; the state is the one to store if every limit allows.
    pub(crate) fn decide(&self, state: Option<State>, now: u64, wall: Timestamp) -> (Decision, State) {
        match self {
            Self::Gcra { rate, burst } => gcra(*rate, *burst, state, now),
            Self::SlidingWindow(rate) => sliding(*rate, state, now),
            Self::Quota(quota) => quota.decide(state, wall),
        }
    }
}

fn gcra(rate: Rate, burst: u64, state: Option<State>, now: u64) -> (Decision, State) {
    let interval = (nanos(rate.period) / rate.count.max(1)).max(1);
    let capacity = interval.saturating_mul(burst.max(1));
    let tat = match state {
        Some(State::Tat(tat)) => tat.max(now),
        _ => now,
    };
    let new_tat = tat.saturating_add(interval);
    let allowed = new_tat - now <= capacity;
    let used = if allowed { new_tat - now } else { tat - now };
    let remaining = capacity.saturating_sub(used) / interval;
    let decision = Decision {
        allowed,
        quota: burst.max(1),
        remaining,
        reset: ceil_secs(used),
        retry_after: if allowed { 0 } else { ceil_secs((new_tat - now).saturating_sub(capacity)).max(1) },
    };
    (decision, State::Tat(if allowed { new_tat } else { tat }))
}

fn sliding(rate: Rate, state: Option<State>, now: u64) -> (Decision, State) {
    let window = nanos(rate.period).max(1);
    let start = now - now % window;
    let (prev, cur) = match state {
        Some(State::Window { start: s, prev, cur }) if s == start => (prev, cur),
        Some(State::Window { start: s, cur, .. }) if s + window == start => (cur, 0),
        _ => (0, 0),
    };
    let elapsed = now - start;
    // The previous window's count, weighted by how much of it still overlaps.
    let weighted =
        u64::try_from(u128::from(prev) * u128::from(window - elapsed) / u128::from(window)).unwrap_or(u64::MAX);
    let estimate = weighted + cur;
    let allowed = estimate < rate.count;
    let next = State::Window { start, prev, cur: if allowed { cur + 1 } else { cur } };
    let decision = Decision {
        allowed,
        quota: rate.count,
        remaining: rate.count.saturating_sub(estimate + u64::from(allowed)),
        reset: ceil_secs(window - elapsed),
        retry_after: if allowed { 0 } else { ceil_secs(window - elapsed).max(1) },
    };
    (decision, next)
}

impl Quota {
    /// The start of the period holding `wall`, in Unix seconds.
    pub(crate) fn period_start(&self, wall: Timestamp) -> Option<i64> {
        let local = wall.to_zoned(self.time_zone.clone());
        let day = local.start_of_day().ok()?;
        let start = match self.period {
            QuotaPeriod::Day => day,
            QuotaPeriod::Month => day.first_of_month().ok()?,
        };
        Some(start.timestamp().as_second())
    }

    pub(crate) fn period_end(&self, start: i64) -> Option<i64> {
        let start = Timestamp::from_second(start).ok()?.to_zoned(self.time_zone.clone());
        let end = match self.period {
            QuotaPeriod::Day => start.checked_add(1.day()).ok()?,
            QuotaPeriod::Month => start.checked_add(1.month()).ok()?,
        };
        Some(end.timestamp().as_second())
    }

    fn decide(&self, state: Option<State>, wall: Timestamp) -> (Decision, State) {
        let current = self.period_start(wall).unwrap_or(0);
        // Never reset backwards: a wall clock set back stays in the stored period.
        let (start, count) = match state {
            Some(State::Quota { start, count }) if start >= current => (start, count),
            _ => (current, 0),
        };
        let allowed = count < self.limit;
        let reset = self.period_end(start).map_or(0, |end| u64::try_from(end - wall.as_second()).unwrap_or(0));
        let decision = Decision {
            allowed,
            quota: self.limit,
            remaining: self.limit.saturating_sub(count + u64::from(allowed)),
            reset,
            retry_after: if allowed { 0 } else { reset.max(1) },
        };
        (decision, State::Quota { start, count: if allowed { count + 1 } else { count } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn run(alg: &Algorithm, times: &[u64]) -> Vec<bool> {
        let wall = Timestamp::UNIX_EPOCH;
        let mut state = None;
        times
            .iter()
            .map(|&t| {
                let (d, next) = alg.decide(state, t, wall);
                if d.allowed {
                    state = Some(next);
                }
                d.allowed
            })
            .collect()
    }

    #[test]
    fn gcra_allows_the_burst_then_the_rate() {
        let alg = Algorithm::Gcra { rate: Rate { count: 10, period: Duration::from_secs(1) }, burst: 3 };
        assert_eq!(run(&alg, &[S, S, S, S]), [true, true, true, false]);
        // After 100 ms one more cell is free.
        assert_eq!(run(&alg, &[S, S, S, S + S / 10]), [true, true, true, true]);
        let (d, _) = alg.decide(Some(State::Tat(S + 3 * S / 10)), S, Timestamp::UNIX_EPOCH);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 1);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn sliding_window_counts_the_overlap() {
        let alg = Algorithm::SlidingWindow(Rate { count: 4, period: Duration::from_secs(10) });
        // Four at the end of one window; halfway through the next, half of them still count.
        let t = 10 * S - 1;
        let halfway = 15 * S;
        assert_eq!(
            run(&alg, &[t, t, t, t, t, halfway, halfway, halfway]),
            [true, true, true, true, false, true, true, false]
        );
    }

    #[test]
    fn quotas_follow_the_calendar_and_never_reset_backwards() {
        let quota = Quota { limit: 2, period: QuotaPeriod::Day, time_zone: TimeZone::get("Europe/Berlin").unwrap() };
        let late: Timestamp = "2026-11-22T22:30:00Z".parse().unwrap(); // 23:30 in Berlin
        let after_midnight: Timestamp = "2026-11-22T23:30:00Z".parse().unwrap(); // 00:30 next day
        let (a, a_next) = quota.decide(None, late);
        let (b, b_next) = quota.decide(Some(a_next), late);
        let (c, _) = quota.decide(Some(b_next), late);
        assert!(a.allowed && b.allowed && !c.allowed);
        assert_eq!(c.retry_after, 30 * 60);
        assert!(quota.decide(Some(b_next), after_midnight).0.allowed, "a new Berlin day");
        let earlier: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        assert!(!quota.decide(Some(b_next), earlier).0.allowed, "setting the clock back grants nothing");
    }
}
