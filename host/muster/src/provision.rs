//! The one path from people to the target, shared by every caller: a scheduled or `--once`
//! sync cycle (everyone), on-demand provisioning (one person) and a gateway outbox pass (the
//! people with changes waiting). Given the pinned plugins, the people, the records and whom to
//! plan for, a run:
//!
//! 1. starts a cycle in the store (its kind, the plugin versions it pinned);
//! 2. plans with [`engine::cycle::plan_cycle`] (pure: scope, map, plugins, match, diff), and
//!    again with each staged version run in shadow ([`crate::shadow`]), to compare;
//! 3. holds back or releases what the deletion threshold staged;
//! 4. applies each action ([`apply`]: intent before the request, outcome after it);
//! 5. completes each log entry's export step with the target's answer, counts the outcomes,
//!    appends the provisioning log and finishes the cycle.
//!
//! What differs between callers is data ([`Run`]): the population, whether the deletion
//! threshold applies, and whether a failed person fails the run. What comes before (reading the
//! source, the quarantine check) and after (watermarks, quarantine, outbox rows) stays with
//! the caller.

pub mod apply;
pub mod people;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use engine::cycle::{CycleInput, CyclePlanner, Plan, Population};
use engine::delta::InputHash;
use engine::log::LogEntry;
use engine::matching::RecordKey;
use engine::model::{Person, ProvisionedRecord};
use engine::plan::{Action, PlannedAction};
use engine::plugin_stage::PinnedPlugins;
use futures::StreamExt;
use store::{CycleCounts, CycleKind, CycleStatus, LogRow, StagedAction, StagedDelete};

pub use apply::{Applied, Failure, FailureCode};
pub use people::PersonLocks;

use crate::job::Job;
use crate::sync::report::{Reasons, tally_reasons};

/// What to provision, and how.
pub struct Run<'a> {
    /// How the run is recorded in the cycle history.
    pub kind: CycleKind,
    pub plugins: &'a PinnedPlugins,
    /// The people to plan (for [`Population::Everyone`], the whole source).
    pub people: &'a [Person],
    /// Which records to plan against; every record read takes part in matching and adoption.
    pub records: Records<'a>,
    pub population: Population<'a>,
    /// Whether the pipeline's deletion threshold may hold deprovisioning back.
    pub deletion_threshold: bool,
    /// Send the disables and deletes the threshold held back (`--allow-deletes`).
    pub release_staged: bool,
    /// The most disables and deletes this run may send (the gateway's guard); the rest, in
    /// plan order, are held (`Applied::Held`). `None`: no limit.
    pub deprovision_budget: Option<usize>,
    /// Mark intents a killed process left pending as superseded before planning: what landed is
    /// found again by this run's look-ups (see [`apply`]). Not for a run beside a running cycle.
    pub supersede_pending_intents: bool,
    /// A person whose action failed fails the whole run (a gateway pass, whose rows are
    /// retried); otherwise failures are per person and the run succeeds.
    pub failure_fails_run: bool,
    /// Plan and report; send nothing, record nothing.
    pub dry_run: bool,
    pub progress: Option<&'a Progress>,
    /// Draw a progress bar on the terminal.
    pub progress_bar: bool,
    /// People of the source a delta cycle leaves out of its population: counted unchanged.
    pub unplanned: usize,
    /// Record which planned people this run settled ([`engine::delta`]).
    pub settle: Option<Settle<'a>>,
    /// Record the licenses held when the run finishes (`counts.licenses`, a read of every
    /// record): for the cycles, whose chart it feeds; not for a gateway pass or an on-demand
    /// run, which would pay that read for a few people.
    pub count_licenses: bool,
    /// Plan, apply and log this many people at a time, so that a large cycle holds one batch's
    /// plan instead of everyone's ([`engine::cycle::CyclePlanner`]). `None`, or a population
    /// no larger: planned whole. Planned whole regardless when seat budgets are allocated
    /// (they need every claim at once) or a staged version runs in shadow (it is compared
    /// with the whole plan), and for a dry run without `parts`.
    pub batch: Option<usize>,
    /// A dry run planned in batches hands each batch's part of the plan here as it is made;
    /// [`Provisioned::plan`] then holds only the rest (the people gone, what the deletion
    /// threshold held), with the whole run's summary.
    pub parts: Option<&'a mut (dyn FnMut(Plan) -> anyhow::Result<()> + Send + Sync)>,
}

/// What a sync cycle needs to record the plans it settled.
#[derive(Debug, Clone, Copy)]
pub struct Settle<'a> {
    pub fingerprint: InputHash,
    /// The run planned everyone: its settlement replaces every earlier one.
    pub full: bool,
    /// `hashes[i]` is the input hash of `Run::people[i]`.
    pub hashes: &'a [InputHash],
}

impl<'a> Run<'a> {
    /// A run for a few people beside the cycles (on-demand, a reconcile fix): recorded as
    /// on-demand, never held by the deletion threshold (a few people are not a mass deletion),
    /// failures per person, nothing superseded, no progress shown.
    pub fn for_people(
        plugins: &'a PinnedPlugins,
        people: &'a [Person],
        records: Records<'a>,
        population: Population<'a>,
    ) -> Run<'a> {
        Run {
            kind: CycleKind::OnDemand,
            plugins,
            people,
            records,
            population,
            deletion_threshold: false,
            release_staged: false,
            deprovision_budget: None,
            supersede_pending_intents: false,
            failure_fails_run: false,
            dry_run: false,
            progress: None,
            progress_bar: false,
            unplanned: 0,
            settle: None,
            count_licenses: false,
            batch: None,
            parts: None,
        }
    }
}

/// The records a run reads from the store, after it has registered with the person locks (so
/// that a write it cannot see yet is one it will notice).
#[derive(Clone, Copy)]
pub enum Records<'a> {
    All,
    /// These people's, in this order: the plan lists their deletes in it, so a gateway pass
    /// holds the deletes Entra sent last when its guard holds some.
    Of(&'a [String]),
    /// Every record, each as this function rewrites it (`None`: left out): reconciliation
    /// plans from what the target was found to hold, not from what was last applied.
    Rewritten(&'a (dyn Fn(ProvisionedRecord) -> Option<ProvisionedRecord> + Sync)),
    /// A delta cycle's ([`Population::Changed`]): the records of these people and of everyone
    /// gone from `Run::people`; only the matching values of the rest.
    Changed(&'a HashSet<String>),
}

/// The records a run plans against, and the matching values of those it did not load.
struct ReadRecords {
    loaded: Vec<ProvisionedRecord>,
    unloaded: Vec<RecordKey>,
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Records::All => f.write_str("All"),
            Records::Of(ids) => f.debug_tuple("Of").field(ids).finish(),
            Records::Rewritten(_) => f.write_str("Rewritten"),
            Records::Changed(ids) => write!(f, "Changed({} people)", ids.len()),
        }
    }
}

impl Records<'_> {
    /// Whether a run planned in batches may read these records batch by batch
    /// ([`Records::read_for_batches`]): every record, or a delta cycle's.
    fn by_batch(self) -> bool {
        matches!(self, Records::All | Records::Changed(_))
    }

    /// What a run planned in batches reads up front: the records of people gone from the
    /// source (a new person in any batch may adopt one, and the end of the cycle plans the
    /// rest as gone), and the matching values of the others, whose records each batch reads
    /// for its own planned people ([`batch_records`]). A full cycle of 100,000 people then
    /// holds one batch of records, not all of them.
    fn read_for_batches(
        store: &store::Store,
        people: &[Person],
    ) -> Result<ReadRecords, store::StoreError> {
        let present: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
        let (unloaded, gone): (Vec<RecordKey>, Vec<RecordKey>) = store
            .record_keys()?
            .into_iter()
            .partition(|k| present.contains(k.source_id.as_str()));
        Ok(ReadRecords {
            loaded: store.records_of(gone.iter().map(|k| k.source_id.as_str()))?,
            unloaded,
        })
    }

    fn read(
        self,
        store: &store::Store,
        people: &[Person],
    ) -> Result<ReadRecords, store::StoreError> {
        let loaded = |loaded| ReadRecords {
            loaded,
            unloaded: Vec::new(),
        };
        match self {
            Records::All => Ok(loaded(store.records()?.into_values().collect())),
            Records::Rewritten(rewrite) => Ok(loaded(
                store.records()?.into_values().filter_map(rewrite).collect(),
            )),
            Records::Of(ids) => {
                let mut records = Vec::with_capacity(ids.len());
                for id in ids {
                    records.extend(store.record(id)?);
                }
                Ok(loaded(records))
            }
            Records::Changed(changed) => {
                let present: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
                let (wanted, unloaded): (Vec<RecordKey>, Vec<RecordKey>) =
                    store.record_keys()?.into_iter().partition(|k| {
                        changed.contains(&k.source_id) || !present.contains(k.source_id.as_str())
                    });
                // Past a few thousand, one scan of the table beats a look-up each.
                let records = if wanted.len() > 4_096 {
                    let wanted: HashSet<&str> =
                        wanted.iter().map(|k| k.source_id.as_str()).collect();
                    store.records_where(|id| wanted.contains(id))?
                } else {
                    store.records_of(wanted.iter().map(|k| k.source_id.as_str()))?
                };
                Ok(ReadRecords {
                    loaded: records,
                    unloaded,
                })
            }
        }
    }
}

/// The records of `people` that a run planned in batches plans with, read just before their
/// batch is planned: those of the population's people, where the store has one.
fn batch_records(
    store: &store::Store,
    people: &[Person],
    population: Population,
) -> Result<Vec<ProvisionedRecord>, store::StoreError> {
    store.records_of(
        people
            .iter()
            .map(|p| p.id.as_str())
            .filter(|id| population.includes(id)),
    )
}

/// A running cycle's progress: actions applied of actions planned.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
    /// Of `done`, the actions that failed.
    pub failed: AtomicU64,
}

/// What a run did.
#[derive(Debug)]
pub struct Provisioned {
    /// None for a dry run.
    pub cycle_id: Option<i64>,
    /// The plan, its log entries completed with the target's answers.
    pub plan: Plan,
    pub counts: CycleCounts,
    pub status: CycleStatus,
    /// Each applied action's source id and outcome, in completion order; of a run planned in
    /// batches ([`Run::batch`]), only those that did not succeed (the successes are counted in
    /// `counts`).
    pub outcomes: Vec<(String, Applied)>,
    /// The run's skips and failures by reason, over every part of its plan.
    pub reasons: Reasons,
}

/// Runs `run` to the end. A failure of the store or of planning ends the cycle as failed and
/// is returned; a failure of one person's request is in that person's outcome and log entry.
pub async fn provision(job: &Job, mut run: Run<'_>) -> anyhow::Result<Provisioned> {
    let store = &job.store;
    let ticket = job.people.begin_run();
    let batch = run.batch.filter(|&b| {
        b > 0
            && b < run.people.len()
            && engine::cycle::takes_parts(&job.pipeline)
            && if run.dry_run {
                run.parts.is_some()
            } else {
                job.staging.shadowed().is_empty()
            }
    });
    let by_batch = batch.is_some() && run.records.by_batch();
    let records = if by_batch {
        Records::read_for_batches(store, run.people)?
    } else {
        run.records.read(store, run.people)?
    };
    // Nothing to read per batch when every record was read, or none exists.
    let read_per_batch = by_batch && !records.unloaded.is_empty();
    let cycle_id = if run.dry_run {
        None
    } else {
        if run.supersede_pending_intents {
            for intent in store.pending_intents()? {
                store.fail_intent(
                    intent.id,
                    "interrupted before its outcome was recorded; superseded by the next plan",
                )?;
            }
        }
        Some(store.start_cycle(run.kind, &run.plugins.versions())?)
    };
    let label = cycle_id.unwrap_or(0).to_string();
    let memo = crate::memo::StoredMemo::load(store, run.plugins)?;
    let input = CycleInput {
        memo: (!memo.is_empty()).then_some(&memo as &dyn engine::memo::Memo),
        // A dry run keeps nothing.
        remember: !run.dry_run,
        population: run.population,
        deletion_threshold: run.deletion_threshold,
        // A dry run records nothing, so its steps need not be replayable.
        record: !run.dry_run,
        unloaded: &records.unloaded,
        ..CycleInput::everyone(
            &label,
            run.people,
            &records.loaded,
            &job.pipeline,
            run.plugins,
        )
    };
    let mut planner = CyclePlanner::new(&input);
    let mut applied = Applying::new(job, cycle_id, &run);
    // A batched cycle's successes are in its counts; a list of them would grow with the
    // directory.
    applied.keep_successes = batch.is_none();
    if let Some(batch) = batch {
        let mut start = 0;
        while start < run.people.len() {
            let end = (start + batch).min(run.people.len());
            let part = tokio::task::block_in_place(|| {
                if read_per_batch {
                    let people = &run.people[start..end];
                    planner.plan_people_with(
                        start..end,
                        batch_records(store, people, run.population)?,
                    );
                } else {
                    planner.plan_people(start..end);
                }
                Ok::<_, store::StoreError>(planner.take_part())
            });
            let part = match part {
                Ok(part) => part,
                Err(e) => return Err(applied.fail(job, e.into())),
            };
            start = end;
            let outcome = match (cycle_id, run.parts.as_mut()) {
                (Some(cycle_id), _) => applied
                    .part(job, cycle_id, &run, &ticket, part, false)
                    .await
                    .map(drop),
                (None, Some(parts)) => {
                    tally_reasons(&mut applied.reasons, &part.log);
                    parts(part)
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = outcome {
                return Err(applied.fail(job, e));
            }
        }
    } else {
        tokio::task::block_in_place(|| planner.plan_people(0..run.people.len()));
    }
    let mut plan = tokio::task::block_in_place(|| planner.finish());
    plan.summary.unchanged += run.unplanned;
    tracing::info!(cycle = %label, kind = ?run.kind, summary = ?plan.summary, "planned");
    let Some(cycle_id) = cycle_id else {
        tally_reasons(&mut applied.reasons, &plan.log);
        return Ok(Provisioned {
            cycle_id,
            counts: CycleCounts::default(),
            status: CycleStatus::Succeeded,
            outcomes: Vec::new(),
            reasons: applied.reasons,
            plan,
        });
    };
    let shadow = crate::shadow::compare_all(job, &input, &mut plan);
    crate::memo::count(&plan, run.plugins);
    let summary = plan.summary.clone();
    let finished = match applied.part(job, cycle_id, &run, &ticket, plan, true).await {
        Ok(plan) => applied
            .finish(job, cycle_id, &run, &summary, &plan, &shadow)
            .map(|finished| (plan, finished)),
        Err(e) => Err(e),
    };
    let (plan, (counts, status)) = match finished {
        Ok(finished) => finished,
        Err(e) => return Err(applied.fail(job, e)),
    };
    crate::shadow::conclude(job, run.kind, &shadow);
    Ok(Provisioned {
        cycle_id: Some(cycle_id),
        plan,
        counts,
        status,
        outcomes: applied.outcomes,
        reasons: applied.reasons,
    })
}

/// Log entries written per transaction.
const LOG_BATCH: usize = 2_000;

/// What a run has applied so far, part by part.
struct Applying<'r> {
    cycle_id: Option<i64>,
    /// The counts of what the target answered (the plan's own counts come at the end).
    counts: CycleCounts,
    /// Each applied action's source id and outcome, in completion order.
    outcomes: Vec<(String, Applied)>,
    /// Keep the successful outcomes too (a run planned whole); otherwise only the others.
    keep_successes: bool,
    /// Log entries written.
    logged: u64,
    /// Whether the held disables and deletes were released.
    released: bool,
    /// The target's write count when the run started.
    writes_before: u64,
    /// No part settled yet: the first settlement of a full plan replaces every earlier one.
    first_settlement: bool,
    /// `hashes[i]` by `people[i]`'s id, when the run settles.
    hash_of: HashMap<&'r str, InputHash>,
    /// Skips and failures by reason, of the parts so far.
    reasons: Reasons,
}

impl<'r> Applying<'r> {
    fn new(job: &Job, cycle_id: Option<i64>, run: &Run<'r>) -> Self {
        let hash_of = match (&run.settle, cycle_id) {
            (Some(settle), Some(_)) => run
                .people
                .iter()
                .zip(settle.hashes)
                .map(|(p, h)| (p.id.as_str(), *h))
                .collect(),
            _ => HashMap::new(),
        };
        Applying {
            cycle_id,
            counts: CycleCounts::default(),
            outcomes: Vec::new(),
            keep_successes: true,
            logged: 0,
            released: false,
            writes_before: job.client.stats().snapshot().total(),
            first_settlement: true,
            hash_of,
            reasons: Reasons::new(),
        }
    }

    /// Applies one part of the plan, completes and appends its log entries, settles its
    /// people and keeps its plugin answers; returns the part, its log completed. `last`: the
    /// plan's rest, which carries what the deletion threshold held (stored, or released).
    async fn part(
        &mut self,
        job: &Job,
        cycle_id: i64,
        run: &Run<'_>,
        ticket: &people::RunTicket<'_>,
        mut plan: Plan,
        last: bool,
    ) -> anyhow::Result<Plan> {
        let store = &job.store;
        // Borrowed, not copied: a large cycle's actions are a large part of its memory.
        let mut actions: Vec<&PlannedAction> = plan.actions.iter().collect();
        if last {
            self.released = run.release_staged && !plan.staged.is_empty();
            if run.release_staged {
                actions.extend(plan.staged.iter());
                store.clear_staged()?;
            } else if !plan.staged.is_empty() {
                store.clear_staged()?;
                store.stage_deletes(cycle_id, &staged_rows(&plan))?;
            }
        }
        let (actions, held) = hold_past_budget(actions, run.deprovision_budget);
        let (mut outcomes, own_writes) = apply_all(job, cycle_id, actions, run, ticket).await;
        outcomes.extend(held.into_iter().map(|planned| (planned, Applied::Held)));
        count_outcomes(&mut self.counts, &outcomes);
        let outcomes: Vec<(String, Applied)> = outcomes
            .into_iter()
            .map(|(planned, outcome)| (planned.source_id.clone(), outcome))
            .collect();
        let index: HashMap<&str, usize> = plan
            .log
            .iter()
            .enumerate()
            .map(|(i, e)| (e.source_identity.id.as_str(), i))
            .collect();
        let exports: Vec<(usize, &Applied)> = outcomes
            .iter()
            .filter_map(|(id, outcome)| Some((*index.get(id.as_str())?, outcome)))
            .collect();
        drop(index);
        for (i, outcome) in exports {
            if let Some(entry) = plan.log.get_mut(i) {
                entry.record_export(outcome.export());
            }
        }
        // In batches: a cycle's entries as JSON at once would double the memory of its log.
        for (i, batch) in plan.log.chunks(LOG_BATCH).enumerate() {
            let rows: Vec<LogRow> = batch.iter().map(log_row).collect::<Result<_, _>>()?;
            let blobs = if i == 0 { &plan.blobs[..] } else { &[] };
            store.append_logs_with_blobs(cycle_id, &rows, blobs)?;
        }
        self.logged += plan.log.len() as u64;
        tally_reasons(&mut self.reasons, &plan.log);
        if let Some(settle) = &run.settle {
            self.settle(job, settle, &plan.log, &outcomes, ticket, &own_writes)?;
        }
        crate::memo::keep(store, &plan, run.plugins).context("keeping the plugin answers")?;
        let keep_successes = self.keep_successes;
        self.outcomes.extend(
            outcomes
                .into_iter()
                .filter(|(_, o)| keep_successes || !matches!(o, Applied::Done { .. })),
        );
        Ok(plan)
    }

    /// Records the people of one part whose plans this run settled
    /// ([`engine::delta::is_settled`]), and forgets the others and those who left the source.
    /// A person another run wrote after this one planned is not settled: their record is not
    /// the one this plan was made against.
    fn settle(
        &mut self,
        job: &Job,
        settle: &Settle<'_>,
        log: &[LogEntry],
        outcomes: &[(String, Applied)],
        ticket: &people::RunTicket<'_>,
        own_writes: &HashMap<String, u64>,
    ) -> anyhow::Result<()> {
        let unsettled_outcome: HashSet<&str> = outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Applied::Done { .. }))
            .map(|(id, _)| id.as_str())
            .collect();
        let (mut settled, mut unsettled) = (Vec::new(), Vec::new());
        for entry in log {
            let id = entry.source_identity.id.as_str();
            let hash = self.hash_of.get(id);
            let settles = hash.is_some()
                && engine::delta::is_settled(entry)
                && !unsettled_outcome.contains(id)
                && !ticket.written_by_another(id, own_writes.get(id).copied());
            match hash {
                Some(hash) if settles => settled.push((id, *hash)),
                _ => unsettled.push(id),
            }
        }
        job.store
            .settle(&store::Settlement {
                fingerprint: settle.fingerprint,
                full: settle.full && self.first_settlement,
                settled: &settled,
                unsettled: &unsettled,
            })
            .context("recording the settled people")?;
        self.first_settlement = false;
        Ok(())
    }

    /// The run's counts (the plan's, plus what the target answered) and status; finishes the
    /// cycle in the store.
    fn finish(
        &mut self,
        job: &Job,
        cycle_id: i64,
        run: &Run<'_>,
        summary: &engine::plan::Summary,
        plan: &Plan,
        shadow: &[engine::preview::ShadowCounts],
    ) -> anyhow::Result<(CycleCounts, CycleStatus)> {
        let store = &job.store;
        let mut counts = std::mem::take(&mut self.counts);
        counts.unchanged += summary.unchanged as u64;
        counts.skipped += summary.skipped as u64;
        counts.failed += summary.failed as u64;
        if !self.released {
            counts.staged += summary.staged as u64;
        }
        counts.seats = summary.seats.clone();
        counts.shadow = shadow.to_vec();
        if matches!(run.population, Population::Changed(_)) {
            counts.planned = Some(self.logged);
        }
        counts.memo_hits = plan.memo_counts.iter().map(|c| c.hits).sum();
        counts.memo_misses = plan.memo_counts.iter().map(|c| c.misses).sum();
        counts.writes = job
            .client
            .stats()
            .snapshot()
            .total()
            .saturating_sub(self.writes_before);
        let status = if counts.staged > 0 {
            CycleStatus::Staged
        } else if run.failure_fails_run && counts.failed > 0 {
            CycleStatus::Failed
        } else {
            CycleStatus::Succeeded
        };
        if run.count_licenses {
            counts.licenses = Some(store.license_tally()?);
        }
        store.finish_cycle(cycle_id, status, &counts)?;
        Ok((counts, status))
    }

    /// Ends the cycle as failed with what it counted so far, and says which cycle failed.
    fn fail(&mut self, job: &Job, error: anyhow::Error) -> anyhow::Error {
        let Some(cycle_id) = self.cycle_id else {
            return error;
        };
        let _ = job
            .store
            .finish_cycle(cycle_id, CycleStatus::Failed, &self.counts);
        error.context(format!("cycle {cycle_id} failed"))
    }
}

/// The actions to send, and the disables and deletes past `budget` (in plan order) to hold.
fn hold_past_budget(
    actions: Vec<&PlannedAction>,
    budget: Option<usize>,
) -> (Vec<&PlannedAction>, Vec<&PlannedAction>) {
    let Some(mut budget) = budget else {
        return (actions, Vec::new());
    };
    actions.into_iter().partition(|a| {
        if !a.action.is_deprovisioning() {
            return true;
        }
        let send = budget > 0;
        budget = budget.saturating_sub(1);
        send
    })
}

/// Sends every action, `[target] concurrency × 2` in flight (the client's own limit queues the
/// rest, so its rate limit is kept busy), each while holding its person, and none for a person
/// another run wrote after this one planned. Returns the outcomes, and the generation of each
/// write.
async fn apply_all<'p>(
    job: &Job,
    cycle_id: i64,
    actions: Vec<&'p PlannedAction>,
    run: &Run<'_>,
    ticket: &people::RunTicket<'_>,
) -> (Vec<(&'p PlannedAction, Applied)>, HashMap<String, u64>) {
    let bar = progress_bar(run.progress_bar, actions.len());
    if let Some(p) = run.progress {
        // A run planned in batches adds each batch's actions as it is planned.
        p.total.fetch_add(actions.len() as u64, Ordering::Relaxed);
    }
    let concurrency = (job.config.target.concurrency.max(1) as usize) * 2;
    // The actions that free a seat go first, all of them, so that the target has the seat back
    // before the action that takes it arrives (a Zoom account refuses a license it has no seat
    // left of).
    let (freeing, rest): (Vec<_>, Vec<_>) = actions.into_iter().partition(|a| a.frees_seats);
    let mut outcomes = Vec::with_capacity(freeing.len() + rest.len());
    let mut own_writes = HashMap::new();
    for wave in [freeing, rest] {
        // By index into the wave: a closure taking `&PlannedAction` itself would make the
        // future generic over that reference's lifetime, which the spawned task cannot name.
        let wave = &wave;
        let done: Vec<_> = futures::stream::iter(0..wave.len())
            .map(|i| {
                let bar = bar.clone();
                let planned: &'p PlannedAction = wave[i];
                async move {
                    let target = apply::TargetPaths {
                        matching: planned.lookup_path.as_deref().unwrap_or("userName"),
                        managed: &job.managed_paths,
                    };
                    let person = job.people.lock(&planned.source_id).await;
                    let (outcome, written) = if ticket.written_since_plan(&planned.source_id) {
                        (Applied::Superseded, None)
                    } else {
                        let outcome =
                            apply::apply(&job.store, &job.client, cycle_id, &target, planned).await;
                        (outcome, Some(job.people.mark_written(&person)))
                    };
                    drop(person);
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                    if let Some(p) = run.progress {
                        p.done.fetch_add(1, Ordering::Relaxed);
                        if matches!(outcome, Applied::Failed(_)) {
                            p.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    (planned, outcome, written)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (planned, outcome, written) in done {
            if let Some(at) = written {
                own_writes.insert(planned.source_id.clone(), at);
            }
            outcomes.push((planned, outcome));
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    (outcomes, own_writes)
}

/// Adds what the target answered to `counts`.
fn count_outcomes(counts: &mut CycleCounts, outcomes: &[(&PlannedAction, Applied)]) {
    for (planned, outcome) in outcomes {
        match outcome {
            Applied::Done { .. } => match planned.action {
                Action::Create { .. } => counts.created += 1,
                Action::Update { .. } => counts.updated += 1,
                Action::Disable { .. } => counts.disabled += 1,
                Action::Delete { .. } => counts.deleted += 1,
            },
            Applied::Failed(_) => counts.failed += 1,
            Applied::Superseded => counts.skipped += 1,
            Applied::Held => counts.staged += 1,
        }
    }
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

/// A log entry as the store keeps it.
pub fn log_row(entry: &LogEntry) -> anyhow::Result<LogRow> {
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
        detail: serde_json::to_string(entry).context("serialising a log entry")?,
        blobs: replay_blobs(entry),
    })
}

/// The replay blobs (inputs, configurations) an entry's plugin steps refer to, each once.
fn replay_blobs(entry: &LogEntry) -> Vec<String> {
    let mut hashes: Vec<String> = entry
        .provisioning_steps
        .iter()
        .flat_map(|step| {
            [engine::replay::INPUT_HASH, engine::replay::CONFIG_HASH]
                .into_iter()
                .filter_map(|key| step.details.get(key))
        })
        .map(ToString::to_string)
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
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
