//! Time as the store keeps it: unix seconds (sortable, compact), shown as RFC 3339 UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the unix epoch; a clock set before 1970 reads as negative, not as a panic.
/// With the `simulated-clock` feature, the time [`simulate_now`] set, if it set one.
/// Now in unix milliseconds (the real clock: leases are not simulated).
pub(crate) fn now_unix_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub fn now_unix() -> i64 {
    #[cfg(feature = "simulated-clock")]
    if let Some(now) = simulated::now() {
        return now;
    }
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Makes [`now_unix`] read `unix` (`None`: the system clock again), for the whole process:
/// what a benchmark needs to simulate weeks of cycles, with their timestamps and the pruning by
/// age, in minutes. Only with the `simulated-clock` feature; nothing in muster calls it.
#[cfg(feature = "simulated-clock")]
pub fn simulate_now(unix: Option<i64>) {
    simulated::set(unix);
}

#[cfg(feature = "simulated-clock")]
mod simulated {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// The simulated time; `i64::MIN` when none is set.
    static NOW: AtomicI64 = AtomicI64::new(i64::MIN);

    pub(super) fn now() -> Option<i64> {
        let now = NOW.load(Ordering::Relaxed);
        (now != i64::MIN).then_some(now)
    }

    pub(super) fn set(unix: Option<i64>) {
        NOW.store(unix.unwrap_or(i64::MIN), Ordering::Relaxed);
    }
}

/// `2024-05-01T12:00:00Z` for unix seconds; a second count outside the years -9999 to 9999
/// shows as the number itself.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds of an RFC 3339 time (`2026-12-01T08:00:00Z`, any offset) or of a date
/// (`2026-12-01`, at midnight UTC); `None` for anything else.
pub fn parse_time(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_dates() {
        assert_eq!(parse_time("2024-05-01T12:00:00Z"), Some(1_714_564_800));
        assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Some(1_714_564_800));
        assert_eq!(parse_time("2024-05-01"), Some(1_714_521_600));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-13-01"), None);
    }

    #[test]
    fn formats_known_instants() {
        for (unix, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_714_564_800, "2024-05-01T12:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(unix), text, "{unix}");
        }
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_unix() > 1_704_067_200);
    }
}
