//! Deprovisioning, accidental-deletion prevention and quarantine thresholds.

use serde::{Deserialize, Serialize};

use super::Errors;

/// What to do with a provisioned person in each situation. Entra's defaults: disable when
/// disabled in the source or out of scope, delete when hard-deleted in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisioningConfig {
    /// The person is disabled (`accountEnabled` false) or soft-deleted in the source.
    #[serde(default = "disable")]
    pub on_source_disable: DeprovisionAction,
    /// The person is no longer assigned or no longer passes the scoping filters.
    #[serde(default = "disable")]
    pub on_out_of_scope: DeprovisionAction,
    /// The person is gone from the source (hard-deleted).
    #[serde(default = "delete")]
    pub on_source_delete: DeprovisionAction,
    /// Leave people who go out of scope alone in the target (Entra's `SkipOutOfScopeDeletions`).
    #[serde(default)]
    pub skip_out_of_scope_deletions: bool,
}

impl Default for DeprovisioningConfig {
    fn default() -> Self {
        DeprovisioningConfig {
            on_source_disable: DeprovisionAction::Disable,
            on_out_of_scope: DeprovisionAction::Disable,
            on_source_delete: DeprovisionAction::Delete,
            skip_out_of_scope_deletions: false,
        }
    }
}

fn disable() -> DeprovisionAction {
    DeprovisionAction::Disable
}

fn delete() -> DeprovisionAction {
    DeprovisionAction::Delete
}

/// A deprovisioning action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionAction {
    /// Set `active` to false; the account and its data stay in the target.
    Disable,
    /// `DELETE` the user in the target.
    Delete,
}

/// Accidental-deletion prevention (Entra's "deletion threshold"; Microsoft Learn, "Enable
/// accidental deletions prevention").
///
/// A license downgrade counts as deprovisioning: losing a paid license to a bad source read is
/// as costly to undo as losing the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionThresholdConfig {
    /// Hold back a cycle's disables, deletes and license downgrades when there are more than
    /// `max` of them, or more than `max_percent` of the people provisioned.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The most disables, deletes and downgrades one cycle may carry out. 500 is the commonly
    /// cited Entra default.
    #[serde(default = "default_max")]
    pub max: u32,
    /// The same as a share of the people provisioned before the cycle (0–100); unset, only
    /// `max` applies.
    #[serde(default)]
    pub max_percent: Option<f64>,
    /// Plans that count as losing a license when a person moves to one from another plan
    /// (Zoom's free `basic`). Losing an add-on always counts.
    #[serde(default = "default_downgrade_plans")]
    pub downgrade_plans: Vec<String>,
    /// Refuse to plan from a source whose people shrank by more than this share (0–100) since
    /// the last cycle, or that is empty while people are provisioned: a truncated snapshot or
    /// a broken read, not a real departure. `--allow-deletes` plans anyway.
    #[serde(default = "default_max_source_shrink")]
    pub max_source_shrink_percent: f64,
}

impl Default for DeletionThresholdConfig {
    fn default() -> Self {
        DeletionThresholdConfig {
            enabled: true,
            max: default_max(),
            max_percent: None,
            downgrade_plans: default_downgrade_plans(),
            max_source_shrink_percent: default_max_source_shrink(),
        }
    }
}

fn default_downgrade_plans() -> Vec<String> {
    vec!["basic".to_string()]
}

fn default_max_source_shrink() -> f64 {
    50.0
}

fn yes() -> bool {
    true
}

fn default_max() -> u32 {
    500
}

/// When a job is quarantined for failures (Entra's escrow logic; Microsoft Learn, "Application
/// provisioning in quarantine status").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// Failures (reference failures excluded) before the ratio and count are looked at.
    #[serde(default = "default_min_failures")]
    pub min_failures: u64,
    /// Quarantine when more than this share of events fail (0–1).
    #[serde(default = "default_ratio")]
    pub failure_ratio: f64,
    /// Quarantine when more than this many events fail (reference failures excluded).
    #[serde(default = "default_max_failures")]
    pub max_failures: u64,
    /// Quarantine when more than this many events fail, reference failures included.
    #[serde(default = "default_absolute_cap")]
    pub absolute_cap: u64,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig {
            min_failures: default_min_failures(),
            failure_ratio: default_ratio(),
            max_failures: default_max_failures(),
            absolute_cap: default_absolute_cap(),
        }
    }
}

fn default_min_failures() -> u64 {
    5_000
}

fn default_ratio() -> f64 {
    0.4
}

fn default_max_failures() -> u64 {
    40_000
}

fn default_absolute_cap() -> u64 {
    60_000
}

impl DeletionThresholdConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if self.enabled && self.max == 0 {
            errors.push(
                format!("{at}.max"),
                "must be at least 1 (or set `enabled = false`)",
            );
        }
        if let Some(p) = self.max_percent
            && !(p > 0.0 && p <= 100.0)
        {
            errors.push(
                format!("{at}.max_percent"),
                "must be greater than 0 and at most 100",
            );
        }
        let shrink = self.max_source_shrink_percent;
        if !(shrink > 0.0 && shrink <= 100.0) {
            errors.push(
                format!("{at}.max_source_shrink_percent"),
                "must be greater than 0 and at most 100 (100 turns the check off)",
            );
        }
    }

    /// Why a source of `now` people must not be planned from, after one of `before` (the last
    /// cycle's) with `provisioned` people provisioned; `None` when it may.
    pub fn source_shrink(&self, before: usize, now: usize, provisioned: usize) -> Option<String> {
        if !self.enabled {
            return None;
        }
        if now == 0 && provisioned > 0 {
            return Some(format!(
                "the source has no people while {provisioned} are provisioned"
            ));
        }
        let limit = self.max_source_shrink_percent;
        if before == 0 || limit >= 100.0 {
            return None;
        }
        let shrunk = (before.saturating_sub(now)) as f64 * 100.0 / before as f64;
        (shrunk > limit).then(|| {
            format!(
                "the source shrank from {before} to {now} people ({shrunk:.0} %, more than the \
                 {limit} % of [deletion_threshold] max_source_shrink_percent)"
            )
        })
    }
}

impl QuarantineConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            errors.push(
                format!("{at}.failure_ratio"),
                "must be greater than 0 and at most 1",
            );
        }
        if self.max_failures > self.absolute_cap {
            errors.push(
                format!("{at}.max_failures"),
                "must not be above `absolute_cap`",
            );
        }
    }
}

/// How long the state keeps what only explains the past (provisioning logs, finished cycles,
/// settled intents, dropped gateway changes), and how large it may grow. What the next cycle
/// needs (records, pending intents and outbox rows, staged deletes) is never pruned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days of provisioning logs and history to keep (Entra keeps 30).
    #[serde(default = "default_logs_days")]
    pub logs_days: u32,
    /// The most the live data may take, in MiB; the oldest logs go first beyond it. Freed pages
    /// are reused, so the file stops growing there (`VACUUM`, offline, gives them back).
    #[serde(default = "default_max_db_mb")]
    pub max_db_mb: u64,
    /// Seconds between two prunes while `muster serve` runs.
    #[serde(default = "default_prune_interval")]
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            logs_days: default_logs_days(),
            max_db_mb: default_max_db_mb(),
            interval_secs: default_prune_interval(),
        }
    }
}

fn default_logs_days() -> u32 {
    30
}

fn default_max_db_mb() -> u64 {
    1024
}

fn default_prune_interval() -> u64 {
    3600
}

impl RetentionConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if self.logs_days == 0 {
            errors.push(format!("{at}.logs_days"), "must be at least 1");
        }
        if self.max_db_mb < 16 {
            errors.push(format!("{at}.max_db_mb"), "must be at least 16");
        }
        if self.interval_secs == 0 {
            errors.push(format!("{at}.interval_secs"), "must be at least 1");
        }
    }
}

/// Bounds on compiling a plugin component: a pathological component must not take the host's
/// memory or hold a core for good. Compilation runs in a child process (`muster plugin compile`)
/// with an address-space limit, killed at the timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileConfig {
    /// Seconds one compilation may take (a 15 MB JavaScript component takes 10-30 s).
    #[serde(default = "default_compile_timeout")]
    pub timeout_secs: u64,
    /// MiB of address space the compiling process may use.
    #[serde(default = "default_compile_memory")]
    pub memory_mb: u64,
    /// MiB of compiled code kept on disk; the least recently used entries go first beyond it.
    #[serde(default = "default_cache_max_mb")]
    pub cache_max_mb: u64,
}

impl Default for CompileConfig {
    fn default() -> Self {
        CompileConfig {
            timeout_secs: default_compile_timeout(),
            memory_mb: default_compile_memory(),
            cache_max_mb: default_cache_max_mb(),
        }
    }
}

fn default_compile_timeout() -> u64 {
    120
}

fn default_compile_memory() -> u64 {
    4096
}

fn default_cache_max_mb() -> u64 {
    1024
}

impl CompileConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if self.timeout_secs == 0 {
            errors.push(format!("{at}.timeout_secs"), "must be at least 1");
        }
        if self.memory_mb < 512 {
            errors.push(
                format!("{at}.memory_mb"),
                "must be at least 512 (the compiler's own threads and code need most of that)",
            );
        }
    }
}
