//! When to try a request again and how long to wait first.
//!
//! Retried: 429 (after `Retry-After` when given, after the jittered backoff when not: Zoom has
//! been seen throttling without the header), 408, 5xx but 501/505, timeouts, and lost
//! connections. Never: any other 4xx, which would fail the same way again.
//!
//! POST is special: it is not idempotent, so a POST that may have reached the server is not
//! retried unless the caller asks, because a second create could duplicate the user. It is
//! retried after a failure to connect (nothing was sent) and after a 429 (the server refused to
//! process it). Other failures surface with [`ClientError::outcome_unknown`] set, and the engine
//! resolves them by looking the person up before creating again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::auth::SignInFailure;
use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::request::Method;

/// The backoff between attempts: exponential from `min_backoff` to `max_backoff`, each delay
/// plus up to 100 % jitter, for `max_attempts - 1` retries.
pub(crate) fn backoff(config: &ClientConfig) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(config.min_backoff)
        .with_max_delay(config.max_backoff)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}

/// The delay before retry number `attempt` (0 for the first): exponential from `min` to `max`,
/// plus up to 100 % jitter, so that callers that failed together do not all come back together.
/// muster's one backoff: the SCIM client between its attempts (through [`backoff`]), the Graph
/// source, and the gateway outbox, whose attempts are counted in the state store.
pub fn backoff_delay(min: Duration, max: Duration, attempt: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_max_times(usize::MAX)
        .with_jitter()
        .build()
        .nth(attempt.min(64) as usize)
        .unwrap_or(max)
}

/// Whether `error` from a `method` request is worth another attempt.
pub(crate) fn retryable(error: &ClientError, method: Method, retry_post: bool) -> bool {
    let transient = match error {
        ClientError::Status { status, .. } => {
            matches!(status, 408 | 429) || (*status >= 500 && !matches!(status, 501 | 505))
        }
        ClientError::Transport { .. } => true,
        // The request itself was not sent, so even a POST may go again.
        ClientError::SignIn { kind, .. } => return *kind != SignInFailure::Refused,
        _ => false,
    };
    if !transient || method != Method::Post || retry_post {
        return transient;
    }
    match error {
        ClientError::Transport { kind, .. } => !kind.request_may_have_arrived(),
        ClientError::Status { status, .. } => *status == 429,
        _ => false,
    }
}

/// The wait before the next attempt, or `None` to give up. `backoff` is the policy's next delay
/// (`None` once attempts are spent). A `Retry-After` is obeyed, never shortened; the backoff
/// still applies when it is shorter, so clients told "0" do not retry in lockstep.
pub(crate) fn next_delay(
    error: &ClientError,
    backoff: Option<Duration>,
    max_retry_after: Duration,
) -> Option<Duration> {
    let backoff = backoff?;
    match error.retry_after() {
        Some(wait) if wait > max_retry_after => None,
        Some(wait) => Some(wait.max(backoff)),
        None => Some(backoff),
    }
}

/// Parses a `Retry-After` value into a wait from `now`: delay-seconds (RFC 9110), an HTTP date,
/// or an ISO-8601 timestamp (Zoom's daily limit sends `2020-05-31T00:00:00Z`). A time in the
/// past means no wait. Unparsable values give `None`, and the caller backs off as if the header
/// were missing.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(1e9)));
    }
    let at = httpdate::parse_http_date(value)
        .ok()
        .or_else(|| parse_iso8601(value))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An ISO 8601 timestamp: RFC 3339 (`2020-05-31T00:00:00Z`), with a space for the `T`, an
/// offset without its colon (`-0500`), or no offset, which is taken as UTC as Zoom means it.
fn parse_iso8601(value: &str) -> Option<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let value = match value.get(10..11) {
        Some(" ") => format!("{}T{}", &value[..10], &value[11..]),
        _ => value.to_string(),
    };
    let compact_offset = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    let no_offset = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let at = time::OffsetDateTime::parse(&value, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&value, compact_offset))
        .ok()
        .or_else(|| {
            time::PrimitiveDateTime::parse(&value, no_offset)
                .ok()
                .map(time::PrimitiveDateTime::assume_utc)
        })?;
    let seconds = u64::try_from(at.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::new(seconds, at.nanosecond()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, TransportKind};

    /// 2020-05-30T23:59:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_590_883_140)
    }

    #[test]
    fn retry_after_forms() {
        let cases = [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("1.5", Some(1)),
            ("-3", None),
            ("Sun, 31 May 2020 00:00:00 GMT", Some(60)),
            ("2020-05-31T00:00:00Z", Some(60)),
            ("2020-05-31T00:00:00", Some(60)),
            ("2020-05-31 00:00:00.250Z", Some(60)),
            ("2020-05-31T02:00:00+02:00", Some(60)),
            ("2020-05-30T19:00:00-0500", Some(60)),
            ("2020-05-30T00:00:00Z", Some(0)),
            ("Sat, 30 May 2020 00:00:00 GMT", Some(0)),
            ("soon", None),
            ("2020-13-01T00:00:00Z", None),
            ("2020-05-31T00:00:00+2", None),
            ("", None),
        ];
        for (value, seconds) in cases {
            let parsed = parse_retry_after(value, now()).map(|d| d.as_secs());
            assert_eq!(parsed, seconds, "{value:?}");
        }
        let fraction = parse_retry_after("2020-05-31T00:00:00.250Z", now());
        assert_eq!(fraction, Some(Duration::from_millis(60_250)));
    }

    fn status(status: u16) -> ClientError {
        ClientError::Status {
            method: Method::Get,
            path: "/Users".into(),
            status,
            scim_type: None,
            detail: String::new(),
            code: ErrorCode::from_status(status, None, false),
            retry_after: None,
        }
    }

    fn transport(kind: TransportKind) -> ClientError {
        ClientError::Transport {
            method: Method::Post,
            path: "/Users".into(),
            kind,
            message: String::new(),
        }
    }

    #[test]
    fn the_backoff_doubles_to_its_cap_with_jitter_on_top() {
        let (min, max) = (Duration::from_millis(500), Duration::from_millis(6_000));
        for (attempt, base) in [
            (0, 500),
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (4, 6_000),
            (40, 6_000),
        ] {
            let base = Duration::from_millis(base);
            for _ in 0..20 {
                let delay = backoff_delay(min, max, attempt);
                assert!(
                    delay >= base && delay < base * 2,
                    "attempt {attempt}: {delay:?} outside [{base:?}, {:?})",
                    base * 2
                );
            }
        }
    }

    #[test]
    fn what_is_retried() {
        for (code, expected) in [
            (429, true),
            (408, true),
            (500, true),
            (503, true),
            (501, false),
            (400, false),
            (401, false),
            (404, false),
            (409, false),
        ] {
            assert_eq!(
                retryable(&status(code), Method::Get, false),
                expected,
                "GET {code}"
            );
        }
        // POST: only when nothing can have been created, or when the caller says so.
        for (code, expected) in [
            (429, true),
            (500, false),
            (503, false),
            (408, false),
            (400, false),
        ] {
            assert_eq!(
                retryable(&status(code), Method::Post, false),
                expected,
                "POST {code}"
            );
            assert_eq!(
                retryable(&status(code), Method::Post, true),
                code != 400,
                "POST {code} with flag"
            );
        }
        assert!(retryable(
            &transport(TransportKind::ConnectionRefused),
            Method::Post,
            false
        ));
        assert!(retryable(
            &transport(TransportKind::ConnectTimeout),
            Method::Post,
            false
        ));
        assert!(!retryable(
            &transport(TransportKind::Timeout),
            Method::Post,
            false
        ));
        assert!(!retryable(
            &transport(TransportKind::ConnectionReset),
            Method::Post,
            false
        ));
        assert!(retryable(
            &transport(TransportKind::ConnectionReset),
            Method::Patch,
            false
        ));
    }

    #[test]
    fn delays() {
        let ms = Duration::from_millis;
        let mut throttled = status(429);
        assert_eq!(next_delay(&throttled, Some(ms(10)), ms(1000)), Some(ms(10)));
        assert_eq!(next_delay(&throttled, None, ms(1000)), None);
        if let ClientError::Status { retry_after, .. } = &mut throttled {
            *retry_after = Some(ms(500));
        }
        assert_eq!(
            next_delay(&throttled, Some(ms(10)), ms(1000)),
            Some(ms(500))
        );
        assert_eq!(
            next_delay(&throttled, Some(ms(800)), ms(1000)),
            Some(ms(800))
        );
        assert_eq!(
            next_delay(&throttled, Some(ms(10)), ms(100)),
            None,
            "longer than we wait in a call"
        );
    }
}
