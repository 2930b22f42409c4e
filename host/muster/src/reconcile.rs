//! Reconciliation against the live target (`muster reconcile`, `POST /admin/reconcile`): every
//! target user is read and compared with what muster last applied
//! ([`engine::reconcile`]: drift, orphans, missing), and with `fix` the differences go out
//! through the shared core ([`crate::provision`]) as one run, with intents, records and
//! provisioning log entries like any other. The run is recorded with the kind `on_demand` (a
//! few people, at an admin's request): a kind of its own needs the `cycles` table rebuilt, as
//! its CHECK constraint lists the kinds.
//!
//! How a fix is planned: each drifted record is rewritten as the target holds it
//! ([`engine::reconcile::corrected`]) and a missing user's record is left out, then the people
//! concerned are planned as in a cycle. So the planner sends the minimal PATCH that puts the
//! drifted paths back, creates the missing again (after its look-up by the matching
//! attribute), and, for the people `adopt_orphans` names, finds the orphan by that look-up and
//! adopts it. People the next cycle would deprovision are left to it (a reconcile never
//! disables or deletes by itself), and orphans are never touched otherwise.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use engine::cycle::{CycleInput, Plan, Population, plan_cycle};
use engine::matching::MatchKey;
use engine::model::{Key, ProvisionedRecord};
use engine::plan::Action;
use engine::reconcile::{AttributeDrift, Drifted, Ignored, Missing, Report, TargetUser};
use futures::StreamExt;
use scim::resource::ResourceKind;
use scim_client::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::job::Job;
use crate::provision::{Applied, Records, Run, provision};
use crate::sources;

/// Users per list page. Zoom documents `count` on its list without a maximum; 100 is a page
/// most SCIM servers serve whole.
pub const PAGE_SIZE: usize = 100;

/// What to do besides reporting.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
pub struct ReconcileOptions {
    /// Put drifted attributes back and create missing users again.
    #[serde(default)]
    pub fix: bool,
    /// With `fix`: adopt the orphans that match a person in scope who has no record.
    #[serde(default)]
    pub adopt_orphans: bool,
    /// Users per list page ([`PAGE_SIZE`] when 0).
    #[serde(default, skip)]
    pub page_size: usize,
}

/// The report, and what the fix did.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fixed>,
}

/// What `fix` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fixed {
    /// The cycle (kind `on_demand`) whose log holds the fixes; none when nothing was sent.
    pub cycle_id: Option<i64>,
    pub people: Vec<FixOutcome>,
    /// Drifted or missing people left to the next cycle, with why.
    pub left: Vec<FixOutcome>,
}

/// One person's fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixOutcome {
    pub source_id: String,
    /// `updated`, `created`, `adopted`, `disabled`, `failed`, `unchanged`, `left`, ...
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Reconciled {
    /// Nothing drifted or missing is left: in sync, or every difference fixed.
    pub fn settled(&self) -> bool {
        match &self.fix {
            None => self.report.in_sync(),
            Some(fix) => {
                fix.left.is_empty()
                    && fix
                        .people
                        .iter()
                        .all(|p| p.outcome != "failed" && p.outcome != "left")
            }
        }
    }

    /// Some fix the target refused or the store could not record.
    pub fn fix_failed(&self) -> bool {
        self.fix
            .as_ref()
            .is_some_and(|f| f.people.iter().any(|p| p.outcome == "failed"))
    }
}

/// Reads the source and the target, reports, and fixes when asked. The caller keeps cycles
/// out meanwhile (the state file's lock for the CLI, the runner's turn for `serve`).
pub async fn reconcile(job: &Job, options: ReconcileOptions) -> anyhow::Result<Reconciled> {
    anyhow::ensure!(
        !job.config.is_gateway(),
        "reconcile compares the target with a sync job's source; a gateway job's people come \
         from Entra, which reconciles them itself"
    );
    let read = sources::read(job, false).await?;
    let (pinned, _snapshot) = job.pin_plugins()?;
    let records: Vec<ProvisionedRecord> = job.store.records()?.into_values().collect();
    // What a cycle would do now, sent nowhere: the matching keys of people without a record,
    // and who is about to be deprovisioned.
    let input = CycleInput {
        deletion_threshold: false,
        ..CycleInput::everyone(
            "reconcile",
            &read.directory.people,
            &records,
            &job.pipeline,
            &pinned,
        )
    };
    let plan = tokio::task::block_in_place(|| plan_cycle(&input));
    let page_size = if options.page_size == 0 {
        PAGE_SIZE
    } else {
        options.page_size
    };
    let users = job
        .client
        .list_all(ResourceKind::User, page_size)
        .await
        .context("listing the target's users")?;
    let report = compare(job, &records, &users, &unprovisioned(&plan)).await?;
    tracing::info!(
        target_users = report.target_users,
        in_sync = report.in_sync,
        drifted = report.drifted.len(),
        orphans = report.orphans.len(),
        missing = report.missing.len(),
        "reconciled"
    );
    let fix = if options.fix {
        Some(
            fix(
                job,
                &report,
                &plan,
                options,
                &pinned,
                &read.directory.people,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Reconciled { report, fix })
}

/// The planned creates' people and matching keys.
fn unprovisioned(plan: &Plan) -> Vec<(String, MatchKey)> {
    plan.actions
        .iter()
        .filter_map(|a| {
            let path = a.lookup_path.as_deref()?;
            let after = a.record_after.as_ref()?;
            Some((
                a.source_id.clone(),
                MatchKey {
                    path: Key::from(path),
                    value: after.matching_value.as_str().into(),
                },
            ))
        })
        .collect()
}

/// Paths not compared: the profile's write-only ones and the create-only mappings' targets.
fn ignored(job: &Job) -> Ignored {
    let create_only = job
        .pipeline
        .mappings
        .iter()
        .filter(|m| m.apply == engine::config::ApplyMode::OnCreate)
        .map(|m| &m.target);
    Ignored::new(
        job.pipeline
            .profile
            .data
            .write_only
            .iter()
            .chain(create_only),
    )
}

/// What the target holds of each record, and who else is there.
async fn compare(
    job: &Job,
    records: &[ProvisionedRecord],
    users: &[Json],
    unprovisioned: &[(String, MatchKey)],
) -> anyhow::Result<Report> {
    let ignored = ignored(job);
    let listed: HashMap<&str, &Json> = users
        .iter()
        .filter_map(|u| Some((scim::resource::id(u)?, u)))
        .collect();
    let mut report = Report {
        target_users: users.len(),
        ..Report::default()
    };
    // Users the listing shows drifted, or does not show, are read one by one: Zoom's list
    // leaves out the license extension and some enterprise fields that a GET by id returns
    // (Zoom developer forum #111286), and a user created since the listing began may sit on a
    // page already read.
    let mut candidates = Vec::new();
    for record in records {
        match listed.get(record.target_id.as_str()) {
            Some(user)
                if engine::reconcile::drift(record, &TargetUser::new(user), &ignored)
                    .is_empty() =>
            {
                report.in_sync += 1
            }
            _ => candidates.push(record),
        }
    }
    let concurrency = job.config.target.concurrency.max(1) as usize;
    // The futures are built first: a stream mapping through a closure over borrowed records
    // is not provably `Send` for the admin API's spawned task.
    let gets: Vec<_> = candidates
        .into_iter()
        .map(|record| async move { (record, job.client.get_user(&record.target_id).await) })
        .collect();
    let reads: Vec<_> = futures::stream::iter(gets)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (record, read) in reads {
        match read {
            Ok(user) => {
                let drift = engine::reconcile::drift(record, &TargetUser::new(&user), &ignored);
                if drift.is_empty() {
                    report.in_sync += 1;
                } else {
                    report.drifted.push(drifted(record, drift));
                }
            }
            Err(e) if e.code() == ErrorCode::InvalidAnchor => report.missing.push(Missing {
                source_id: record.source_id.clone(),
                target_id: record.target_id.clone(),
                matching_value: record.matching_value.clone(),
            }),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "reading target user {} ({})",
                        record.target_id, record.matching_value
                    )
                });
            }
        }
    }
    report.drifted.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    report.missing.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    let managed: HashSet<&str> = records.iter().map(|r| r.target_id.as_str()).collect();
    let unmanaged = users
        .iter()
        .filter(|u| scim::resource::id(u).is_some_and(|id| !managed.contains(id)));
    let matching: Vec<Key> = job
        .pipeline
        .matching
        .iter()
        .map(|m| m.target.clone())
        .collect();
    report.orphans = engine::reconcile::orphans(unmanaged, records, unprovisioned, &matching);
    Ok(report)
}

fn drifted(record: &ProvisionedRecord, attributes: Vec<AttributeDrift>) -> Drifted {
    Drifted {
        source_id: record.source_id.clone(),
        target_id: record.target_id.clone(),
        matching_value: record.matching_value.clone(),
        attributes,
    }
}

/// Sends the fixes as one run.
async fn fix(
    job: &Job,
    report: &Report,
    plan: &Plan,
    options: ReconcileOptions,
    pinned: &engine::plugin_stage::PinnedPlugins,
    people: &[engine::model::Person],
) -> anyhow::Result<Fixed> {
    let deprovisioned: HashSet<&str> = plan
        .actions
        .iter()
        .chain(&plan.staged)
        .filter(|a| a.action.is_deprovisioning())
        .map(|a| a.source_id.as_str())
        .collect();
    let in_source: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
    let mut fixed = Fixed::default();
    let mut leave = |source_id: &str, why: &str| {
        fixed.left.push(FixOutcome {
            source_id: source_id.to_string(),
            outcome: "left".into(),
            detail: Some(why.into()),
        })
    };
    let mut drift: HashMap<String, Vec<AttributeDrift>> = HashMap::new();
    for d in &report.drifted {
        if deprovisioned.contains(d.source_id.as_str()) {
            leave(&d.source_id, "the next cycle deprovisions this person");
        } else {
            drift.insert(d.source_id.clone(), d.attributes.clone());
        }
    }
    let mut gone: HashSet<String> = HashSet::new();
    for m in &report.missing {
        if deprovisioned.contains(m.source_id.as_str()) || !in_source.contains(m.source_id.as_str())
        {
            leave(
                &m.source_id,
                "not in scope any more: nothing to create again",
            );
        } else {
            gone.insert(m.source_id.clone());
        }
    }
    let mut population: HashSet<String> = drift.keys().chain(&gone).cloned().collect();
    if options.adopt_orphans {
        population.extend(
            report
                .orphans
                .iter()
                .filter_map(|o| o.adoptable().map(String::from)),
        );
    }
    if population.is_empty() {
        return Ok(fixed);
    }
    let rewrite = |record: ProvisionedRecord| {
        if gone.contains(&record.source_id) {
            return None;
        }
        match drift.get(&record.source_id) {
            Some(d) => Some(engine::reconcile::corrected(&record, d)),
            None => Some(record),
        }
    };
    let provisioned = provision(
        job,
        Run::for_people(
            pinned,
            people,
            Records::Rewritten(&rewrite),
            Population::Only(&population),
        ),
    )
    .await?;
    fixed.cycle_id = provisioned.cycle_id;
    let kinds: HashMap<&str, &Action> = provisioned
        .plan
        .actions
        .iter()
        .map(|a| (a.source_id.as_str(), &a.action))
        .collect();
    for (source_id, applied) in &provisioned.outcomes {
        let (outcome, detail) = match applied {
            Applied::Done { adopted: true, .. } => ("adopted", None),
            Applied::Done { .. } => (done(kinds.get(source_id.as_str()).copied()), None),
            Applied::Failed(f) => (
                "failed",
                Some(format!("{}: {}", f.code.as_str(), f.message)),
            ),
            Applied::Superseded => (
                "superseded",
                Some("written by another run meanwhile".into()),
            ),
            Applied::Held => ("held", None),
        };
        fixed.people.push(FixOutcome {
            source_id: source_id.clone(),
            outcome: outcome.into(),
            detail,
        });
    }
    // People the planner sent nothing for (skipped, failed in a plugin): their log's reason.
    for entry in &provisioned.plan.log {
        let id = &entry.source_identity.id;
        if population.contains(id) && !kinds.contains_key(id.as_str()) {
            let info = &entry.provisioning_status_info;
            let failed = info.status == engine::log::Status::Failure;
            fixed.people.push(FixOutcome {
                source_id: id.clone(),
                outcome: if failed { "failed" } else { "unchanged" }.into(),
                detail: info.reason.clone(),
            });
        }
    }
    fixed.people.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    fixed.left.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    Ok(fixed)
}

fn done(action: Option<&Action>) -> &'static str {
    match action {
        Some(Action::Create { .. }) => "created",
        Some(Action::Update { .. }) => "updated",
        Some(Action::Disable { .. }) => "disabled",
        Some(Action::Delete { .. }) => "deleted",
        None => "done",
    }
}
