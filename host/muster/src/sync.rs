//! One sync cycle: read the source, plan with pinned plugins, apply, record.

pub(crate) mod apply;
mod on_demand;
pub mod report;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, bail};
use engine::config::SourceConfig;
use engine::cycle::{CycleInput, Plan, plan_cycle};
use engine::log::{LogEntry, Status, StepType};
use engine::model::ProvisionedRecord;
use engine::plan::{Action, PlannedAction};
use engine::quarantine::{self, Counts, Retry};
use futures::StreamExt;
use store::{
    CycleCounts, CycleKind, CycleStatus, LogRow, QuarantineState, StagedAction, StagedDelete,
};

pub use on_demand::{OnDemand, OnDemandError, provision_one};

use crate::job::Job;
use crate::sources::{self, Directory};
use apply::Applied;

/// The watermark key of the job's source; a file source keeps the last cycle that completed.
const SOURCE_KEY: &str = "source";

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
    /// Counts the actions applied so far, for the admin API's status.
    pub counter: Option<std::sync::Arc<Progress>>,
}

/// A running cycle's progress: actions applied of actions planned.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
}

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// None for a dry run.
    pub cycle_id: Option<i64>,
    pub kind: CycleKind,
    pub plan: Plan,
    pub counts: CycleCounts,
    pub status: CycleStatus,
    pub elapsed: std::time::Duration,
    pub source_warnings: Vec<String>,
    pub quarantine: Option<QuarantineState>,
    pub plugin_versions: std::collections::BTreeMap<String, String>,
}

pub async fn run_cycle(job: &Job, options: &CycleOptions) -> anyhow::Result<Option<CycleReport>> {
    let started = Instant::now();
    let store = &job.store;
    if options.respect_quarantine
        && let Some(q) = store.quarantine()?
        && q.next_attempt > store::now_unix()
    {
        tracing::warn!(reason = %q.reason, next_attempt = q.next_attempt, "job quarantined; cycle skipped");
        return Ok(None);
    }
    let (directory, graph_changes, full_read) = read_source(job, options.full_read).await?;
    let kind = if full_read || store.watermark(SOURCE_KEY)?.is_none() {
        CycleKind::Initial
    } else {
        CycleKind::Incremental
    };
    let (pinned, _snapshot) = job.pin_plugins()?;
    let versions = pinned.versions();
    let records: Vec<ProvisionedRecord> = store.records()?.into_values().collect();

    let cycle_id = if options.dry_run {
        0
    } else {
        for intent in store.pending_intents()? {
            // What landed is found by the look-ups of this cycle's plan (see apply.rs).
            store.fail_intent(
                intent.id,
                "interrupted before its outcome was recorded; superseded by the next plan",
            )?;
        }
        store.start_cycle(kind, &versions)?
    };
    let cycle_label = cycle_id.to_string();
    let plan = tokio::task::block_in_place(|| {
        plan_cycle(&CycleInput {
            cycle_id: &cycle_label,
            people: &directory.people,
            records: &records,
            pipeline: &job.pipeline,
            plugins: &pinned,
        })
    });
    tracing::info!(cycle = cycle_id, ?kind, summary = ?plan.summary, "cycle planned");
    let mut report = CycleReport {
        cycle_id: (!options.dry_run).then_some(cycle_id),
        kind,
        counts: CycleCounts::default(),
        status: CycleStatus::Succeeded,
        elapsed: started.elapsed(),
        source_warnings: directory.warnings,
        quarantine: None,
        plugin_versions: versions,
        plan,
    };
    if options.dry_run {
        return Ok(Some(report));
    }
    let result = apply_plan(job, cycle_id, options, &mut report).await;
    if let Err(e) = &result {
        let _ = store.finish_cycle(cycle_id, CycleStatus::Failed, &report.counts);
        return Err(anyhow::anyhow!("cycle {cycle_id} failed: {e:#}"));
    }
    if let Some(changes) = graph_changes {
        // Only now: the delta links must never run ahead of what was applied (a crash before
        // this line replays the same changes next cycle, harmlessly).
        store.commit_graph_mirror(&changes).with_context(|| {
            format!("cycle {cycle_id} applied, but the Graph mirror was not saved (the next cycle replays the same changes)")
        })?;
    }
    report.elapsed = started.elapsed();
    Ok(Some(report))
}

/// The directory, and for Graph the mirror changes to commit after the cycle and whether the
/// read was a full one (first cycle, or a refused delta token).
async fn read_source(
    job: &Job,
    full_read: bool,
) -> anyhow::Result<(Directory, Option<store::MirrorChanges>, bool)> {
    match &job.config.source {
        SourceConfig::File { path } => {
            let directory =
                sources::file::read(&job.source_path(path), job.config.scope.nested_groups)?;
            Ok((directory, None, false))
        }
        SourceConfig::Gateway => bail!(
            "people come from the SCIM gateway (`[source] kind = \"gateway\"`); \
             run `muster serve`, which forwards what Entra sends as it arrives"
        ),
        SourceConfig::Graph(_) => {
            let Some(graph) = &job.graph else {
                bail!("the job was built without its Graph source")
            };
            let mut read = graph
                .read(&job.store, full_read)
                .await
                .context("reading Microsoft Graph")?;
            let full = read.full_reason.is_some();
            if let Some(reason) = read.full_reason.take() {
                read.directory.warnings.insert(0, reason);
            }
            Ok((read.directory, Some(read.changes), full))
        }
    }
}

async fn apply_plan(
    job: &Job,
    cycle_id: i64,
    options: &CycleOptions,
    report: &mut CycleReport,
) -> anyhow::Result<()> {
    let store = &job.store;
    let mut actions: Vec<PlannedAction> = report.plan.actions.clone();
    if options.allow_deletes {
        actions.extend(report.plan.staged.iter().cloned());
        store.clear_staged()?;
    } else if !report.plan.staged.is_empty() {
        store.clear_staged()?;
        store.stage_deletes(cycle_id, &staged_rows(&report.plan))?;
    }
    let writes_before = job.client.stats().snapshot().total();
    let progress = progress_bar(options.progress, actions.len());
    let counter = options.counter.as_deref();
    if let Some(c) = counter {
        c.total
            .store(actions.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let concurrency = (job.config.target.concurrency.max(1) as usize) * 2;
    let outcomes: Vec<(PlannedAction, Applied)> = futures::stream::iter(actions)
        .map(|planned| {
            let progress = progress.clone();
            async move {
                let path = matching_path(job, &planned);
                let target = apply::TargetPaths {
                    matching: &path,
                    managed: &job.managed_paths,
                };
                let outcome = apply::apply(store, &job.client, cycle_id, &target, &planned).await;
                if let Some(p) = &progress {
                    p.inc(1);
                }
                if let Some(c) = counter {
                    c.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (planned, outcome)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(p) = &progress {
        p.finish_and_clear();
    }

    let released = options.allow_deletes && !report.plan.staged.is_empty();
    record_outcomes(report, &outcomes, released);
    report.counts.writes = job
        .client
        .stats()
        .snapshot()
        .total()
        .saturating_sub(writes_before);
    let rows: Vec<LogRow> = report
        .plan
        .log
        .iter()
        .map(log_row)
        .collect::<Result<_, _>>()?;
    store.append_logs(cycle_id, &rows)?;

    report.status = if report.counts.staged > 0 {
        CycleStatus::Staged
    } else {
        CycleStatus::Succeeded
    };
    store.finish_cycle(cycle_id, report.status, &report.counts)?;
    store.set_watermark(SOURCE_KEY, &cycle_id.to_string())?;
    report.quarantine = update_quarantine(job, report, &outcomes)?;
    Ok(())
}

/// Fills in the counts and turns each entry's export step into what the target answered.
fn record_outcomes(
    report: &mut CycleReport,
    outcomes: &[(PlannedAction, Applied)],
    released: bool,
) {
    let index: HashMap<String, usize> = report
        .plan
        .log
        .iter()
        .enumerate()
        .map(|(i, e)| (e.source_identity.id.clone(), i))
        .collect();
    let counts = &mut report.counts;
    let summary = &report.plan.summary;
    counts.unchanged = summary.unchanged as u64;
    counts.skipped = summary.skipped as u64;
    counts.failed = summary.failed as u64;
    counts.staged = if released { 0 } else { summary.staged as u64 };
    for (planned, outcome) in outcomes {
        let entry = index
            .get(&planned.source_id)
            .and_then(|&i| report.plan.log.get_mut(i));
        match outcome {
            Applied::Done { target_id, adopted } => {
                match planned.action {
                    Action::Create { .. } => counts.created += 1,
                    Action::Update { .. } => counts.updated += 1,
                    Action::Disable { .. } => counts.disabled += 1,
                    Action::Delete { .. } => counts.deleted += 1,
                }
                if let Some(entry) = entry {
                    mark_done(entry, target_id, *adopted);
                }
            }
            Applied::Failed { code, message } => {
                counts.failed += 1;
                if let Some(entry) = entry {
                    mark_failed(entry, code, message);
                }
            }
        }
    }
}

pub(crate) fn mark_done(entry: &mut LogEntry, target_id: &str, adopted: bool) {
    let identity = entry
        .target_identity
        .get_or_insert_with(|| engine::log::Identity {
            id: String::new(),
            display_name: None,
        });
    identity.id = target_id.to_string();
    if let Some(step) = export_step(entry) {
        step.details.insert("targetId", target_id.to_string());
        if adopted {
            step.details.insert(
                "adopted",
                "an existing target user matched and was linked instead of created",
            );
        }
    }
}

pub(crate) fn mark_failed(entry: &mut LogEntry, code: &str, message: &str) {
    entry.provisioning_status_info.status = Status::Failure;
    entry.provisioning_status_info.error_code = Some(code.to_string());
    entry.provisioning_status_info.reason = Some(message.to_string());
    if let Some(step) = export_step(entry) {
        step.status = Status::Failure;
        step.description = format!("{}: {message}", step.description).into();
    }
}

fn export_step(entry: &mut LogEntry) -> Option<&mut engine::log::Step> {
    entry
        .provisioning_steps
        .iter_mut()
        .rev()
        .find(|s| s.provisioning_step_type == StepType::Export)
}

/// The SCIM path to look a person up by before a create: the matching mapping (by precedence)
/// whose value is the record's matching value.
pub(crate) fn matching_path(job: &Job, planned: &PlannedAction) -> String {
    let matching = &job.pipeline.matching;
    let value = planned
        .record_after
        .as_ref()
        .map(|r| r.matching_value.as_str());
    let by_value = match &planned.action {
        Action::Create { attributes } => matching
            .iter()
            .find(|m| attributes.get(&m.target).and_then(|v| v.as_str()) == value)
            .map(|m| m.target.to_string()),
        _ => None,
    };
    by_value
        .or_else(|| matching.first().map(|m| m.target.to_string()))
        .unwrap_or_else(|| "userName".into())
}

fn staged_rows(plan: &Plan) -> Vec<StagedDelete> {
    plan.staged
        .iter()
        .filter_map(|s| {
            let (target_id, action) = match &s.action {
                Action::Disable { target_id, .. } => (target_id, StagedAction::Disable),
                Action::Delete { target_id } => (target_id, StagedAction::Delete),
                _ => return None,
            };
            let reason = plan
                .log
                .iter()
                .find(|e| e.source_identity.id == s.source_id)
                .and_then(|e| e.provisioning_status_info.reason.clone())
                .unwrap_or_default();
            Some(StagedDelete {
                source_id: s.source_id.clone(),
                target_id: target_id.clone(),
                action,
                reason,
            })
        })
        .collect()
}

pub(crate) fn log_row(entry: &LogEntry) -> anyhow::Result<LogRow> {
    let lower = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Ok(LogRow {
        person_id: entry.source_identity.id.clone(),
        identity: entry
            .source_identity
            .display_name
            .clone()
            .unwrap_or_else(|| entry.source_identity.id.clone()),
        action: lower(serde_json::to_value(entry.provisioning_action)?),
        status: lower(serde_json::to_value(entry.provisioning_status_info.status)?),
        detail: serde_json::to_value(entry).context("serialising a log entry")?,
    })
}

/// Entra's escrow rules over this cycle's outcomes; any success lifts a quarantine.
fn update_quarantine(
    job: &Job,
    report: &CycleReport,
    outcomes: &[(PlannedAction, Applied)],
) -> anyhow::Result<Option<QuarantineState>> {
    let failed = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Applied::Failed { .. }))
        .count() as u64;
    let succeeded = outcomes.len() as u64 - failed;
    let credentials_rejected = failed > 0
        && succeeded == 0
        && outcomes.iter().all(|(_, o)| {
            matches!(o, Applied::Failed { code, .. } if code == "Unauthorized" || code == "InsufficientRights")
        });
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

fn progress_bar(enabled: bool, len: usize) -> Option<indicatif::ProgressBar> {
    if !enabled || len < 50 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} people  {per_sec}  ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
