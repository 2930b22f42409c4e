//! A sync cycle: read the source, provision everyone through the shared core
//! ([`crate::provision`]), then move the source's watermark and apply Entra's quarantine rules.

pub mod delta;
pub mod report;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use engine::cycle::{Plan, Population};
use engine::quarantine::{self, Counts, Retry};
use store::{CycleCounts, CycleKind, CycleStatus, QuarantineState};

use crate::job::Job;
use crate::provision::{self, Applied, Progress, Records, Run};
use crate::sources;

/// The watermark key of the job's source; a file source keeps the last cycle that completed.
const SOURCE_KEY: &str = "source";
/// The watermark key of the number of people the last completed cycle read from the source.
const SOURCE_PEOPLE_KEY: &str = "source_people";

/// A source read that must not be planned from: it lost more people than a real departure
/// would (a truncated snapshot, a broken Graph read).
#[derive(Debug, thiserror::Error)]
#[error(
    "{reason}; refusing to plan from it, so nobody is deprovisioned by a bad read. If the \
     people really left, run again with --allow-deletes (POST /admin/sync?allow_deletes=true)"
)]
pub struct SourceShrank {
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// Plan and report, send nothing, record nothing.
    pub dry_run: bool,
    /// Release disables and deletes held back by the deletion threshold (this cycle's and
    /// earlier ones').
    pub allow_deletes: bool,
    /// Skip the cycle while the job is quarantined and its next attempt is not due (scheduled
    /// cycles); an admin's `sync --once` runs regardless.
    pub respect_quarantine: bool,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// Read the whole source even where an incremental read is possible: for Graph, ignore the
    /// saved delta links and rebuild the mirror from what is read (after a restore from backup,
    /// or when the mirror is suspected to have drifted).
    pub full_read: bool,
    /// Plan everyone, even the people whose inputs did not change since their last settled
    /// plan (delta planning's safety net, run on its own every `full_plan_interval_secs`).
    pub full_plan: bool,
    /// Counts the actions applied so far, for the admin API's status.
    pub counter: Option<Arc<Progress>>,
    /// Plan, apply and log this many people at a time ([`provision::Run::batch`]); `None`:
    /// the job's `batch_people`. [`WHOLE`] plans everyone at once.
    pub batch: Option<usize>,
}

/// A batch no population reaches: the cycle is planned whole.
pub const WHOLE: usize = usize::MAX;

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// None for a dry run.
    pub cycle_id: Option<i64>,
    pub kind: CycleKind,
    /// The plan, its log completed with the target's answers. Of a cycle planned in batches
    /// ([`CycleOptions::batch`]), only the last part (people gone from the source, what the
    /// deletion threshold held); its summary and memo counts are the whole cycle's.
    pub plan: Plan,
    pub counts: CycleCounts,
    pub status: CycleStatus,
    pub elapsed: std::time::Duration,
    pub source_warnings: Vec<String>,
    pub quarantine: Option<QuarantineState>,
    pub plugin_versions: std::collections::BTreeMap<String, String>,
    /// Whom the cycle planned.
    pub planned: Planned,
    /// Skips and failures by reason, over the whole cycle: `plan` holds only its last part
    /// when the cycle was planned in batches.
    pub reasons: report::Reasons,
}

/// Whom a cycle planned ([`delta`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Everyone in the source, for this reason.
    Everyone { reason: &'static str },
    /// The people whose inputs changed since their last settled plan, of the source's `of`.
    Changed { planned: usize, of: usize },
}

pub async fn run_cycle(job: &Job, options: &CycleOptions) -> anyhow::Result<Option<CycleReport>> {
    run_cycle_with_parts(job, options, None).await
}

/// [`run_cycle`]; a dry run planned in batches hands each batch's part of the plan to `parts`
/// ([`provision::Run::parts`]) instead of holding it.
pub async fn run_cycle_with_parts(
    job: &Job,
    options: &CycleOptions,
    parts: Option<&mut (dyn FnMut(Plan) -> anyhow::Result<()> + Send + Sync)>,
) -> anyhow::Result<Option<CycleReport>> {
    let started = Instant::now();
    let store = &job.store;
    if options.respect_quarantine
        && let Some(paused) = store.paused()?
    {
        tracing::info!(by = %paused.by, reason = %paused.reason, "job paused; cycle skipped");
        return Ok(None);
    }
    if options.respect_quarantine
        && let Some(q) = store.quarantine()?
        && q.next_attempt > store::now_unix()
    {
        tracing::warn!(reason = %q.reason, next_attempt = q.next_attempt, "job quarantined; cycle skipped");
        return Ok(None);
    }
    let mut read = sources::read(job, options.full_read).await?;
    if !options.allow_deletes {
        let people = read.directory.people.len();
        let before = store
            .watermark(SOURCE_PEOPLE_KEY)?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let provisioned = store.record_count()?;
        let guard = &job.config.deletion_threshold;
        if let Some(reason) = guard.source_shrink(before, people, provisioned) {
            if !options.dry_run {
                return Err(SourceShrank { reason }.into());
            }
            // A dry run sends nothing: show the plan, with the warning first.
            read.directory
                .warnings
                .insert(0, format!("{reason}; a real cycle would refuse to run"));
        }
    }
    let kind = if read.full || store.watermark(SOURCE_KEY)?.is_none() {
        CycleKind::Initial
    } else {
        CycleKind::Incremental
    };
    let (pinned, _snapshot) = job.pin_plugins()?;
    let people = &read.directory.people;
    let planning = tokio::task::block_in_place(|| {
        delta::prepare(job, &pinned, people, options.full_plan || read.full)
    })?;
    match (&planning.changed, planning.full_reason) {
        (Some(changed), _) => tracing::info!(
            planned = changed.len(),
            unchanged = planning.unplanned(people.len()),
            "delta plan: only the people whose inputs changed since their last settled plan"
        ),
        (None, reason) => tracing::info!(people = people.len(), reason, "planning everyone"),
    }
    let provisioned = provision::provision(
        job,
        Run {
            kind,
            plugins: &pinned,
            people,
            records: planning
                .changed
                .as_ref()
                .map_or(Records::All, Records::Changed),
            population: planning
                .changed
                .as_ref()
                .map_or(Population::Everyone, Population::Changed),
            unplanned: planning.unplanned(people.len()),
            settle: (!options.dry_run).then_some(provision::Settle {
                fingerprint: planning.fingerprint,
                full: planning.changed.is_none(),
                hashes: &planning.hashes,
            }),
            deletion_threshold: true,
            release_staged: options.allow_deletes,
            deprovision_budget: None,
            supersede_pending_intents: true,
            failure_fails_run: false,
            dry_run: options.dry_run,
            progress: options.counter.as_deref(),
            progress_bar: options.progress,
            count_licenses: true,
            batch: Some(options.batch.unwrap_or(job.config.batch_people)),
            // Re-borrowed for the run's shorter lifetime (an `Option` does not coerce).
            parts: match parts {
                Some(parts) => Some(parts),
                None => None,
            },
        },
    )
    .await?;
    let mut report = CycleReport {
        cycle_id: provisioned.cycle_id,
        kind,
        counts: provisioned.counts,
        status: provisioned.status,
        elapsed: started.elapsed(),
        source_warnings: read.directory.warnings,
        quarantine: None,
        plugin_versions: pinned.versions(),
        planned: match (&planning.changed, planning.full_reason) {
            (Some(changed), _) => Planned::Changed {
                planned: changed.len(),
                of: people.len(),
            },
            (None, reason) => Planned::Everyone {
                reason: reason.unwrap_or_default(),
            },
        },
        plan: provisioned.plan,
        reasons: provisioned.reasons,
    };
    let Some(cycle_id) = report.cycle_id else {
        return Ok(Some(report));
    };
    let people = read.directory.people.len().to_string();
    let finished = store
        .set_watermark(SOURCE_KEY, &cycle_id.to_string())
        .and_then(|()| store.set_watermark(SOURCE_PEOPLE_KEY, &people))
        .map_err(anyhow::Error::from)
        .and_then(|()| update_quarantine(job, &report, &provisioned.outcomes));
    match finished {
        Ok(quarantine) => report.quarantine = quarantine,
        Err(e) => {
            let _ = store.finish_cycle(cycle_id, CycleStatus::Failed, &report.counts);
            return Err(e.context(format!("cycle {cycle_id} failed")));
        }
    }
    if let Some(changes) = read.graph_changes {
        // Only now: the delta links must never run ahead of what was applied (a crash before
        // this line replays the same changes next cycle, harmlessly).
        store.commit_graph_mirror(&changes).with_context(|| {
            format!("cycle {cycle_id} applied, but the Graph mirror was not saved (the next cycle replays the same changes)")
        })?;
    }
    report.elapsed = started.elapsed();
    Ok(Some(report))
}

/// Entra's escrow rules over this cycle's outcomes; any success lifts a quarantine.
fn update_quarantine(
    job: &Job,
    report: &CycleReport,
    outcomes: &[(String, Applied)],
) -> anyhow::Result<Option<QuarantineState>> {
    let failures = || {
        outcomes.iter().filter_map(|(_, o)| match o {
            Applied::Failed(failure) => Some(failure),
            Applied::Done { .. } | Applied::Superseded | Applied::Held => None,
        })
    };
    let failed = failures().count() as u64;
    // From the counts: a batched cycle's outcomes leave its successes out.
    let c = &report.counts;
    let succeeded = c.created + c.updated + c.disabled + c.deleted;
    let credentials_rejected =
        failed > 0 && succeeded == 0 && failures().all(|f| f.code.is_credential_failure());
    let counts = Counts {
        succeeded,
        failed,
        reference_failed: 0,
        credentials_rejected,
        deletion_threshold_exceeded: report.counts.staged > 0,
    };
    let store = &job.store;
    match quarantine::evaluate(&counts, &job.config.quarantine) {
        Some(reason) => {
            let now = store::now_unix();
            let since = store.quarantine()?.map_or(now, |q| q.since);
            let elapsed = std::time::Duration::from_secs((now - since).max(0) as u64);
            let next_attempt = match quarantine::next_retry(elapsed) {
                Retry::At(after) => since + after.as_secs() as i64,
                Retry::Disable => i64::MAX,
            };
            let state = QuarantineState {
                reason: format!("{reason:?}"),
                since,
                next_attempt,
            };
            store.set_quarantine(&state)?;
            tracing::error!(reason = %state.reason, "job quarantined");
            Ok(Some(state))
        }
        None => {
            if succeeded > 0 || failed == 0 {
                store.clear_quarantine()?;
            }
            Ok(None)
        }
    }
}
