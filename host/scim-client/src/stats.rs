//! Counters for metrics and tests: requests by method and status, retries, throttling.
//!
//! Plain atomics, one per (method, status) pair, so counting never takes a lock on the request
//! path; the `/metrics` endpoint and tests read a [`StatsSnapshot`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::request::{Method, RequestKind};

/// Status codes are counted exactly from 100 to 599; slot 0 counts requests that got no response.
const STATUS_SLOTS: usize = 600;

/// Live counters of one client. Shared as `Arc<Stats>` by [`ScimClient::stats`](crate::ScimClient::stats).
pub struct Stats {
    requests: Box<[AtomicU64]>,
    retries: AtomicU64,
    throttled: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: (0..Method::ALL.len() * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

impl Stats {
    /// Counts one attempt; `status` is `None` when no response came back.
    pub(crate) fn record(&self, method: Method, status: Option<u16>) {
        let slot = status.map_or(0, usize::from);
        let slot = if slot < STATUS_SLOTS { slot } else { 0 };
        self.requests[method.index() * STATUS_SLOTS + slot].fetch_add(1, Ordering::Relaxed);
        if status == Some(429) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let mut requests = BTreeMap::new();
        for method in Method::ALL {
            for slot in 0..STATUS_SLOTS {
                let count =
                    self.requests[method.index() * STATUS_SLOTS + slot].load(Ordering::Relaxed);
                if count > 0 {
                    let status = u16::try_from(slot).ok().filter(|s| *s > 0);
                    requests.insert((method, status), count);
                }
            }
        }
        StatsSnapshot {
            requests,
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Attempts by method and status (`None`: no response, e.g. refused or timed out).
    pub requests: BTreeMap<(Method, Option<u16>), u64>,
    /// Attempts made after a failed one.
    pub retries: u64,
    /// 429 responses.
    pub throttled: u64,
}

impl StatsSnapshot {
    pub fn count(&self, method: Method, status: Option<u16>) -> u64 {
        self.requests.get(&(method, status)).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// One request class's rate ([`ScimClient::rate_classes`](crate::ScimClient::rate_classes)).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRate {
    /// The class's name in the configuration, or `default` for the requests no class names.
    pub name: String,
    pub requests: Vec<RequestKind>,
    /// Requests per second it started at, and the most it goes to.
    pub configured: f64,
    /// Requests per second now: lower than `configured` after 429s, rising again after quiet
    /// periods.
    pub current: f64,
    /// 429s its requests met.
    pub throttled: u64,
}

/// Reports one attempt through the `metrics` facade (a no-op unless the binary installed a
/// recorder): `muster_target_requests_total{method,status}`, `muster_target_throttled_total`
/// and `muster_target_request_duration_seconds{method}`.
pub(crate) fn observe(method: Method, status: Option<u16>, elapsed: std::time::Duration) {
    let status_label = status.map_or_else(|| "none".to_string(), |s| s.to_string());
    metrics::counter!("muster_target_requests_total", "method" => method.as_str(), "status" => status_label)
        .increment(1);
    if status == Some(429) {
        metrics::counter!("muster_target_throttled_total").increment(1);
    }
    metrics::histogram!("muster_target_request_duration_seconds", "method" => method.as_str())
        .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_status() {
        let stats = Stats::default();
        stats.record(Method::Get, Some(200));
        stats.record(Method::Get, Some(429));
        stats.record(Method::Get, Some(200));
        stats.record(Method::Post, None);
        stats.record_retry();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.count(Method::Get, Some(200)), 2);
        assert_eq!(snapshot.count(Method::Post, None), 1);
        assert_eq!(snapshot.total(), 4);
        assert_eq!((snapshot.retries, snapshot.throttled), (1, 1));
    }
}
