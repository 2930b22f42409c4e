//! On-demand provisioning of one person, as Entra's "Provision on demand": the person goes
//! through the whole pipeline now, against every record (so matching, adoption and conflicts
//! are decided exactly as in a cycle), and only that person's action is sent. The answer is the
//! person's log entry: its steps and the action taken.
//!
//! Unlike a cycle it leaves the source watermark, the staged deletes and the quarantine alone,
//! and the deletion threshold does not apply (one person is never a mass deletion).

use std::time::Instant;

use engine::cycle::{CycleInput, plan_cycle};
use engine::log::LogEntry;
use engine::model::{Person, ProvisionedRecord};
use serde::Serialize;
use store::{CycleKind, CycleStatus};

use super::{CycleReport, apply, log_row, matching_path, read_source, record_outcomes};
use crate::job::Job;

/// What on-demand provisioning did for one person.
#[derive(Debug, Clone, Serialize)]
pub struct OnDemand {
    /// The run's id in the cycle history (kind `on_demand`) and the provisioning log.
    pub cycle_id: i64,
    pub person_id: String,
    /// `create`, `update`, `disable`, `delete`, `other` (nothing to do), ...
    pub action: String,
    /// `success`, `failure`, `skipped`, ...
    pub status: String,
    pub elapsed_ms: u64,
    /// The provisioning log entry: steps, modified properties, status and reason.
    pub entry: LogEntry,
}

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error("no person with id or userName {0:?} in the source")]
    NotFound(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Provisions the person whose source id is `who`, or whose matching attribute (the userName,
/// usually the UPN) equals `who` ignoring case.
pub async fn provision_one(job: &Job, who: &str) -> Result<OnDemand, OnDemandError> {
    let started = Instant::now();
    let store = &job.store;
    let person = if job.config.is_gateway() {
        // What Entra last sent; the outbox worker may forward the same person at the same time,
        // which the look-up before create and minimal PATCHes make harmless.
        crate::gateway::stored_person(store, who).map_err(anyhow::Error::from)?
    } else {
        // A Graph source's delta changes are not committed here: the next cycle reads them
        // again.
        let (directory, _changes, _full) = read_source(job, false).await?;
        find(job, &directory.people, who).cloned()
    }
    .ok_or_else(|| OnDemandError::NotFound(who.to_string()))?;
    let (pinned, _snapshot) = job.pin_plugins()?;
    let versions = pinned.versions();
    let records: Vec<ProvisionedRecord> = store
        .records()
        .map_err(anyhow::Error::from)?
        .into_values()
        .collect();
    let mut pipeline = job.pipeline.clone();
    pipeline.deletion_threshold.enabled = false;
    let cycle_id = store
        .start_cycle(CycleKind::OnDemand, &versions)
        .map_err(anyhow::Error::from)?;
    let label = cycle_id.to_string();
    let people = [person];
    let mut plan = tokio::task::block_in_place(|| {
        plan_cycle(&CycleInput {
            cycle_id: &label,
            people: &people,
            records: &records,
            pipeline: &pipeline,
            plugins: &pinned,
        })
    });
    // Everyone else is absent from this one-person input and so planned as gone; drop them.
    let id = &people[0].id;
    plan.actions.retain(|a| &a.source_id == id);
    plan.staged.clear();
    plan.log.retain(|e| &e.source_identity.id == id);
    let mut report = CycleReport {
        cycle_id: Some(cycle_id),
        kind: CycleKind::OnDemand,
        counts: Default::default(),
        status: CycleStatus::Succeeded,
        elapsed: started.elapsed(),
        source_warnings: Vec::new(),
        quarantine: None,
        plugin_versions: versions,
        plan,
    };
    let result = send_and_record(job, cycle_id, &mut report).await;
    if let Err(e) = result {
        let _ = store.finish_cycle(cycle_id, CycleStatus::Failed, &report.counts);
        return Err(OnDemandError::Failed(e));
    }
    let entry = report
        .plan
        .log
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the plan has no log entry for {id}"))?;
    let row = log_row(&entry)?;
    Ok(OnDemand {
        cycle_id,
        person_id: id.clone(),
        action: row.action,
        status: row.status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        entry,
    })
}

async fn send_and_record(job: &Job, cycle_id: i64, report: &mut CycleReport) -> anyhow::Result<()> {
    let store = &job.store;
    let mut outcomes = Vec::new();
    for planned in report.plan.actions.clone() {
        let path = matching_path(job, &planned);
        let target = apply::TargetPaths {
            matching: &path,
            managed: &job.managed_paths,
        };
        let outcome = apply::apply(store, &job.client, cycle_id, &target, &planned).await;
        outcomes.push((planned, outcome));
    }
    // The summary counted everyone planned as gone; this run's counts are the one entry's.
    report.plan.summary = Default::default();
    record_outcomes(report, &outcomes, false);
    for entry in &report.plan.log {
        use engine::log::Status;
        let info = &entry.provisioning_status_info;
        match info.status {
            Status::Failure if outcomes.is_empty() => report.counts.failed += 1,
            Status::Skipped if info.reason.as_deref() == Some(engine::cycle::NO_CHANGES) => {
                report.counts.unchanged += 1
            }
            Status::Skipped => report.counts.skipped += 1,
            _ => {}
        }
    }
    let rows = report
        .plan
        .log
        .iter()
        .map(log_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    store.append_logs(cycle_id, &rows)?;
    store.finish_cycle(cycle_id, CycleStatus::Succeeded, &report.counts)?;
    Ok(())
}

fn find<'a>(job: &Job, people: &'a [Person], who: &str) -> Option<&'a Person> {
    if let Some(p) = people.iter().find(|p| p.id == who) {
        return Some(p);
    }
    // The source attributes behind the matching mappings and the userName mapping.
    let sources: Vec<&str> = job
        .pipeline
        .matching
        .iter()
        .chain(
            job.pipeline
                .mappings
                .iter()
                .filter(|m| m.target == "userName"),
        )
        .filter_map(|m| m.source.as_deref())
        .collect();
    people.iter().find(|p| {
        sources.iter().any(|s| {
            p.attributes
                .get(s)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.eq_ignore_ascii_case(who))
        })
    })
}
