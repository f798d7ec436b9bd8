//! When a failed delivery is tried again: after growing delays (api.md's
//! "about 5 s, 30 s, 2 min, 10 min, 30 min, then hourly"), until the event
//! has been failing for a day; then the webhook is disabled.

use std::time::Duration;

/// The delays between attempts and how long an event may keep failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay after the n-th failure; the last one repeats.
    pub delays: Vec<Duration>,
    /// How long after its first failure an event is given up on.
    pub give_up_after: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        Self { delays: vec![Duration::from_secs(5), Duration::from_secs(30), m(2), m(10), m(30), m(60)], give_up_after: m(24 * 60) }
    }
}

impl RetrySchedule {
    /// The wait before the next attempt after `failures` failed ones (1 or
    /// more), or `None` when the event has been failing for `failing_for`
    /// and must be given up on.
    pub fn next_delay(&self, failures: u32, failing_for: Duration) -> Option<Duration> {
        if failing_for >= self.give_up_after {
            return None;
        }
        let index = usize::try_from(failures.saturating_sub(1)).unwrap_or(usize::MAX);
        let delay = self.delays.get(index).or(self.delays.last()).copied().unwrap_or(Duration::from_secs(5));
        Some(delay)
    }

    /// Parses `5s,30s,2m` delays (units `ms`, `s`, `m`, `h`).
    pub fn parse_delays(text: &str) -> Result<Vec<Duration>, String> {
        let delays: Vec<Duration> = text.split(',').map(str::trim).map(parse_duration).collect::<Result<_, _>>()?;
        if delays.is_empty() { Err("no delays".into()) } else { Ok(delays) }
    }
}

/// `250ms`, `5s`, `2m`, `24h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 5s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: the unit is one of ms, s, m, h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_repeat_until_a_day_has_passed() {
        let s = RetrySchedule::default();
        let at = |n, failing| s.next_delay(n, Duration::from_secs(failing));
        assert_eq!(at(1, 0), Some(Duration::from_secs(5)));
        assert_eq!(at(2, 5), Some(Duration::from_secs(30)));
        assert_eq!(at(6, 3000), Some(Duration::from_secs(3600)));
        assert_eq!(at(30, 80_000), Some(Duration::from_secs(3600)));
        assert_eq!(at(31, 86_400), None);
    }

    #[test]
    fn schedules_parse_from_settings() {
        assert_eq!(
            RetrySchedule::parse_delays("100ms, 2s,1m"),
            Ok(vec![Duration::from_millis(100), Duration::from_secs(2), Duration::from_secs(60)])
        );
        assert!(RetrySchedule::parse_delays("5x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
    }
}
