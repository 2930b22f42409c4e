//! Time as the gateway shows it: `meta` timestamps in RFC 3339 with milliseconds.

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 with milliseconds, UTC.
pub(super) fn timestamp(ms: i64) -> String {
    let secs = store::rfc3339(ms.div_euclid(1000));
    let stem = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{stem}.{:03}Z", ms.rem_euclid(1000))
}
