//! Keeps the state file bounded: `[retention]` applied to the store, after every `sync --once`
//! and `sync` cycle and every `[retention] interval_secs` while `muster serve` runs.

use engine::config::RetentionConfig;
use store::Store;

use crate::job::Job;

/// Prunes what `[retention]` no longer keeps (see `store::Store::prune`).
pub fn prune(job: &Job) -> anyhow::Result<store::Pruned> {
    prune_store(&job.store, &job.config.retention)
}

/// [`prune`] of any store (the state-size benchmark prunes the one it fills).
pub fn prune_store(store: &Store, retention: &RetentionConfig) -> anyhow::Result<store::Pruned> {
    let cutoff = store::now_unix() - i64::from(retention.logs_days) * 86_400;
    let max_bytes = retention.max_db_mb.saturating_mul(1024 * 1024);
    let pruned = store.prune(cutoff, max_bytes)?;
    metrics::gauge!(crate::meters::STATE_LIVE_BYTES).set(pruned.live_bytes as f64);
    if pruned.logs + pruned.cycles + pruned.intents + pruned.dropped_changes > 0 {
        tracing::info!(
            logs = pruned.logs,
            cycles = pruned.cycles,
            intents = pruned.intents,
            dropped_changes = pruned.dropped_changes,
            live_bytes = pruned.live_bytes,
            "pruned the state"
        );
    }
    Ok(pruned)
}

/// [`prune`], logged rather than returned: a prune that fails leaves the history in place,
/// which costs space but no provisioning.
pub fn prune_or_warn(job: &Job) {
    if let Err(e) = prune(job) {
        tracing::warn!(
            error = format!("{e:#}"),
            "pruning the state failed; retrying later"
        );
    }
}
