//! Quarantine (Microsoft Learn, "Application provisioning in quarantine status"): when a job
//! fails too much, stop running it on the normal schedule and retry on a slowing one until it
//! succeeds or four weeks pass.
//!
//! Entra's escrow logic: nothing is decided below 5,000 failures; then more than 40 % failed
//! events, or more than 40,000 failures, quarantine (reference failures excluded from both);
//! more than 60,000 failures of any kind always quarantine. Credential failures and a held-back
//! deletion quarantine at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::QuarantineConfig;

/// A cycle's (or a window's) outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub succeeded: u64,
    /// Failures other than reference resolution.
    pub failed: u64,
    /// Reference failures (manager, group member), kept apart as Entra does.
    pub reference_failed: u64,
    /// The target refused the credentials (401/403 on every call).
    pub credentials_rejected: bool,
    /// The deletion threshold held back this cycle's disables and deletes.
    pub deletion_threshold_exceeded: bool,
}

/// Entra's quarantine reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuarantineReason {
    /// Invalid credentials.
    EncounteredQuarantineException,
    /// More than the failure ratio of events failed.
    EncounteredEscrowProportionThreshold,
    /// More than `max_failures` (or the absolute cap) failed.
    EncounteredTotalEscrowThreshold,
    /// The deletion threshold was exceeded.
    DeletionThresholdExceeded,
}

/// Whether to quarantine, and why.
pub fn evaluate(counts: &Counts, config: &QuarantineConfig) -> Option<QuarantineReason> {
    if counts.credentials_rejected {
        return Some(QuarantineReason::EncounteredQuarantineException);
    }
    if counts.deletion_threshold_exceeded {
        return Some(QuarantineReason::DeletionThresholdExceeded);
    }
    if counts.failed.saturating_add(counts.reference_failed) > config.absolute_cap {
        return Some(QuarantineReason::EncounteredTotalEscrowThreshold);
    }
    if counts.failed < config.min_failures {
        return None;
    }
    if counts.failed > config.max_failures {
        return Some(QuarantineReason::EncounteredTotalEscrowThreshold);
    }
    let total = counts.failed.saturating_add(counts.succeeded) as f64;
    (counts.failed as f64 / total > config.failure_ratio)
        .then_some(QuarantineReason::EncounteredEscrowProportionThreshold)
}

/// How long a job stays quarantined before it is disabled (Entra: four weeks).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(28 * 24 * 3600);

/// The next step of a quarantined job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Retry {
    /// Try again this long after the first failure.
    At(Duration),
    /// Four weeks have passed: disable the job.
    Disable,
}

/// Entra's schedule: 6 h, 12 h, 24 h after the first failure, then every 24 h until 28 days.
/// `elapsed` is the time since the first failure; the answer is the next retry after it.
pub fn next_retry(elapsed: Duration) -> Retry {
    const HOUR: u64 = 3600;
    let elapsed_s = elapsed.as_secs();
    let next = match elapsed_s {
        s if s < 6 * HOUR => 6 * HOUR,
        s if s < 12 * HOUR => 12 * HOUR,
        s => (s / (24 * HOUR) + 1) * 24 * HOUR,
    };
    if Duration::from_secs(next) > GIVE_UP_AFTER || elapsed >= GIVE_UP_AFTER {
        Retry::Disable
    } else {
        Retry::At(Duration::from_secs(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escrow_thresholds() {
        let c = |succeeded, failed, reference_failed| Counts {
            succeeded,
            failed,
            reference_failed,
            ..Counts::default()
        };
        use QuarantineReason::*;
        // (counts, expected) — the first two are Entra's worked examples.
        let cases = [
            (
                c(5_000, 30_000, 0),
                Some(EncounteredEscrowProportionThreshold),
            ),
            (c(100_000, 20_000, 0), None),
            (c(0, 4_999, 0), None),
            (c(100, 5_000, 0), Some(EncounteredEscrowProportionThreshold)),
            (c(10_000, 5_000, 0), None),
            (c(7_500, 5_000, 0), None),
            (
                c(7_499, 5_000, 0),
                Some(EncounteredEscrowProportionThreshold),
            ),
            (
                c(1_000_000, 40_001, 0),
                Some(EncounteredTotalEscrowThreshold),
            ),
            (
                c(1_000_000, 30_000, 30_001),
                Some(EncounteredTotalEscrowThreshold),
            ),
            (c(1_000, 1_000, 50_000), None),
            (
                Counts {
                    credentials_rejected: true,
                    ..c(10, 0, 0)
                },
                Some(EncounteredQuarantineException),
            ),
            (
                Counts {
                    deletion_threshold_exceeded: true,
                    ..c(10, 0, 0)
                },
                Some(DeletionThresholdExceeded),
            ),
        ];
        for (i, (counts, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                evaluate(&counts, &QuarantineConfig::default()),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn retry_schedule() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        let cases = [
            (h(0), Retry::At(h(6))),
            (h(5), Retry::At(h(6))),
            (h(6), Retry::At(h(12))),
            (h(12), Retry::At(h(24))),
            (h(24), Retry::At(h(48))),
            (h(50), Retry::At(h(72))),
            (h(26 * 24 + 1), Retry::At(h(27 * 24))),
            (h(27 * 24), Retry::At(h(28 * 24))),
            (h(28 * 24), Retry::Disable),
        ];
        for (elapsed, expected) in cases {
            assert_eq!(next_retry(elapsed), expected, "{elapsed:?}");
        }
    }
}
