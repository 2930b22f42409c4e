//! One cycle's plan: every person through scope → map → transforms → license → match → plan,
//! people gone from the source through the deprovisioning policy, then the deletion threshold.
//!
//! A person whose plugin fails or skips gets a log entry and no action; the rest of the plan
//! goes on. Nothing here panics on data or does I/O; `apply` (in the binary) sends the actions
//! and completes the log entries' export steps with the target's answers.

use std::collections::BTreeSet;

// Seeded foldhash: the per-cycle indexes hash a source id or matching value per person.
use foldhash::{HashMap, HashSet};

use crate::config::{
    Config, DeletionThresholdConfig, DeprovisionAction, DeprovisioningConfig, MappingConfig,
};
use crate::log::{
    Decimal, Identity, LogEntry, ProvisioningAction, Recent, Status, StatusInfo, Step, StepType,
    concat,
};
use crate::mapping::{ACTIVE, map};
use crate::matching::{
    MatchError, MatchKey, Matched, RecordIndex, RecordKey, RecordRef, matching_key,
};
use crate::memo::{Memo, MemoCounts, Remembered};
use crate::model::{Key, License, Person, ProvisionedRecord, SharedStr, Value};
use crate::plan::{
    Action, PlannedAction, applied, created_properties, disable_operations, disabled_record,
    modified_properties, ops_from_plan,
};
pub use crate::plan::{Plan, Summary};
use crate::plugin_stage::{Granted, Halt, PinnedPlugins, Processed, Processor, describe};
use crate::profile::TargetProfile;
use crate::scope::{OutOfScopeCause, Scope};
use crate::seats::{self, Claim, Grant, SeatBudgets};

mod threshold;

pub use threshold::DeletionHold;

/// The compiled, cycle-independent part of a configuration.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub scope: Scope,
    /// Sorted by target path, so that [`map`] builds each person's attributes in order.
    pub mappings: Vec<MappingConfig>,
    /// The matching mappings, by precedence.
    pub matching: Vec<MappingConfig>,
    pub profile: TargetProfile,
    pub deprovisioning: DeprovisioningConfig,
    pub deletion_threshold: DeletionThresholdConfig,
    /// `[license] seats`: empty when the account's seats are not limited.
    pub seats: SeatBudgets,
}

impl Pipeline {
    /// Compiles a validated configuration (regexes; the built-in profile with the
    /// configuration's additions). A job with `[target] profile_file` builds with
    /// [`Pipeline::build_with_profile`].
    pub fn build(config: &Config) -> Result<Pipeline, regex::Error> {
        let profile = TargetProfile::new(config.target.profile_name(), config.profile.as_ref());
        Self::build_with_profile(config, profile)
    }

    /// [`Pipeline::build`] with a resolved target profile.
    pub fn build_with_profile(
        config: &Config,
        profile: TargetProfile,
    ) -> Result<Pipeline, regex::Error> {
        let mut mappings = config.mappings.clone();
        mappings.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(Pipeline {
            scope: Scope::build(&config.scope)?,
            mappings,
            matching: config.matching_mappings().into_iter().cloned().collect(),
            profile,
            deprovisioning: config.deprovisioning.clone(),
            deletion_threshold: config.deletion_threshold.clone(),
            seats: config
                .license
                .as_ref()
                .map(|l| l.seats.clone())
                .unwrap_or_default(),
        })
    }
}

/// Everything one cycle's plan depends on.
pub struct CycleInput<'a> {
    pub cycle_id: &'a str,
    /// The source snapshot, with memberships resolved ([`crate::membership`]).
    pub people: &'a [Person],
    /// What was provisioned before this cycle: the records the population needs.
    pub records: &'a [ProvisionedRecord],
    /// The matching values of the other records (a delta cycle does not load them): a new
    /// person must not take one.
    pub unloaded: &'a [RecordKey],
    pub pipeline: &'a Pipeline,
    pub plugins: &'a PinnedPlugins,
    /// Whom to plan for.
    pub population: Population<'a>,
    /// Whether the pipeline's deletion threshold may hold this plan's deprovisioning back. A
    /// run for a few people (on-demand, a gateway pass) is never the mass deletion the threshold
    /// is for.
    pub deletion_threshold: bool,
    /// Make every plugin step replayable: the steps carry the hashes of their input,
    /// configuration and answer, and the plan the blobs ([`Plan::blobs`]). Off for a plan that
    /// is only shown (a dry run).
    pub record: bool,
    /// How many threads run the plugins; 0: one per core.
    pub threads: usize,
    /// Where plugin answers are looked up before a call ([`crate::memo`]).
    pub memo: Option<&'a dyn Memo>,
    /// Keep the answers of the calls made, in [`Plan::remembered`].
    pub remember: bool,
}

impl<'a> CycleInput<'a> {
    /// A whole cycle: everyone in `people` is planned, every record without a person is gone,
    /// and the deletion threshold applies.
    pub fn everyone(
        cycle_id: &'a str,
        people: &'a [Person],
        records: &'a [ProvisionedRecord],
        pipeline: &'a Pipeline,
        plugins: &'a PinnedPlugins,
    ) -> Self {
        CycleInput {
            cycle_id,
            people,
            records,
            unloaded: &[],
            pipeline,
            plugins,
            population: Population::Everyone,
            deletion_threshold: true,
            record: false,
            threads: 0,
            memo: None,
            remember: false,
        }
    }

    /// A processor for this input's plugins: recording and memo as the input asks.
    fn processor(&self) -> Processor<'a> {
        let mut processor = Processor::new(self.plugins);
        if self.record {
            processor.record();
        }
        if self.memo.is_some() || self.remember {
            processor.memoize(self.memo, self.remember);
        }
        processor
    }
}

/// Whom a plan is for.
#[derive(Debug, Clone, Copy)]
pub enum Population<'a> {
    /// Everyone in the source: `people` is the whole source, so a record without a person is
    /// gone from it.
    Everyone,
    /// Only these source ids. People outside the list are not planned, and only the records of
    /// listed ids can be gone; every record still takes part in matching and adoption.
    Only(&'a std::collections::HashSet<String>),
    /// A delta cycle ([`crate::delta`]): `people` is the whole source, the listed people are
    /// planned (their inputs changed), and every record whose person is not in `people` is
    /// gone from it.
    Changed(&'a std::collections::HashSet<String>),
}

impl Population<'_> {
    /// Whether a person in the source is planned.
    pub fn includes(&self, source_id: &str) -> bool {
        match self {
            Population::Everyone => true,
            Population::Only(ids) | Population::Changed(ids) => ids.contains(source_id),
        }
    }

    /// Whether the record of a source id absent from the people is planned as gone.
    fn may_be_gone(&self, source_id: &str) -> bool {
        match self {
            Population::Everyone | Population::Changed(_) => true,
            Population::Only(ids) => ids.contains(source_id),
        }
    }
}

/// Plans one cycle, whole.
pub fn plan_cycle(input: &CycleInput) -> Plan {
    let mut planner = CyclePlanner::new(input);
    planner.plan_people(0..input.people.len());
    planner.finish()
}

/// Whether a cycle of `pipeline` may be planned in parts: not when seat budgets are
/// allocated, which needs every claim of the cycle at once.
pub fn takes_parts(pipeline: &Pipeline) -> bool {
    pipeline.seats.is_empty()
}

/// A cycle planned in parts, so that a large one need not hold its whole plan: the caller
/// plans a batch of people, takes the part of the plan that nothing later can change
/// ([`CyclePlanner::take_part`]), applies and logs it, drops it, and plans the next batch.
/// [`CyclePlanner::finish`] then plans the records of people gone from the source and holds
/// back what the deletion threshold holds. Taking no part is [`plan_cycle`].
///
/// Matching stays cycle-wide: the record index and the matching values claimed by earlier
/// batches' creates and adoptions stay with the planner, so a later batch's person cannot take
/// a value an earlier batch's person took.
pub struct CyclePlanner<'a> {
    planner: Planner<'a>,
    /// Memo hits and misses of the staging threads, over every batch.
    thread_memo_counts: Vec<MemoCounts>,
    /// The summaries of the parts taken.
    taken: Summary,
}

impl<'a> CyclePlanner<'a> {
    pub fn new(input: &'a CycleInput<'a>) -> Self {
        let index = RecordIndex::new(
            input.records,
            input.unloaded,
            input.people.iter().map(|p| p.id.as_str()),
        );
        let planner = Planner {
            input,
            index,
            processor: input.processor(),
            plan: Plan::empty(input.cycle_id),
            entries: 0,
            adopted: HashSet::default(),
            claimed: HashMap::default(),
            cycle_id: SharedStr::from(input.cycle_id),
            scoping: Recent::default(),
            mapped: Recent::default(),
            claims: Vec::new(),
            claim: None,
            replan: None,
            removed_actions: Vec::new(),
            staged: None,
        };
        CyclePlanner {
            planner,
            thread_memo_counts: Vec::new(),
            taken: Summary::default(),
        }
    }

    /// Plans the population's people among `input.people[range]`, in order.
    pub fn plan_people(&mut self, range: std::ops::Range<usize>) {
        let input = self.planner.input;
        let Some(people) = input.people.get(range) else {
            return;
        };
        let planner = &mut self.planner;
        planner.plan.log.reserve(people.len());
        if input.records.is_empty() && input.unloaded.is_empty() {
            // People without a record are creates: sized once, the actions are not copied
            // into a twice larger block, and fresh pages faulted in, each time they outgrow
            // one.
            planner.plan.actions.reserve(people.len());
        }
        let (mut staged, staged_by_threads) = stage_all(input, people, &planner.index);
        let population = input.population;
        for (i, person) in people.iter().enumerate() {
            if population.includes(&person.id) {
                planner.staged = staged.get_mut(i).and_then(Option::take);
                planner.person(person);
                planner.staged = None;
            }
        }
        drop(staged);
        for thread in staged_by_threads {
            planner.plan.blobs.extend(thread.blobs);
            planner.plan.remembered.extend(thread.remembered);
            add_counts(&mut self.thread_memo_counts, &thread.memo_counts);
        }
    }

    /// Plans like [`Self::plan_people`], with `records`: those of `input.people[range]`
    /// that the input left unloaded (`input.unloaded` has their matching values). A full
    /// cycle in batches reads each batch's records just before planning it, so that it holds
    /// one batch of them; the previous batch's are dropped.
    pub fn plan_people_with(
        &mut self,
        range: std::ops::Range<usize>,
        records: Vec<ProvisionedRecord>,
    ) {
        self.planner.index.load_batch(records);
        self.plan_people(range);
    }

    /// Whether parts may be taken before the end ([`takes_parts`]).
    pub fn takes_parts(&self) -> bool {
        takes_parts(self.planner.input.pipeline)
    }

    /// Takes what was planned so far that the rest of the cycle cannot change: every action
    /// and log entry, the replay blobs and the answers to remember, except the disables,
    /// deletes and downgrades (and their entries) that the deletion threshold may still hold
    /// back. Its summary counts it alone. Nothing is taken while [`Self::takes_parts`] is false.
    pub fn take_part(&mut self) -> Plan {
        let mut part = Plan::empty(self.planner.input.cycle_id);
        if !self.takes_parts() {
            return part;
        }
        let plan = &mut self.planner.plan;
        let threshold = self.planner.input.deletion_threshold
            && self.planner.input.pipeline.deletion_threshold.enabled;
        let (kept, taken): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.actions)
            .into_iter()
            .partition(|a| threshold && threshold::held_back(a));
        let kept_people: HashSet<&str> = kept.iter().map(|a| a.source_id.as_str()).collect();
        let (kept_log, taken_log): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.log)
            .into_iter()
            .partition(|e| kept_people.contains(e.source_identity.id.as_str()));
        drop(kept_people);
        plan.actions = kept;
        plan.log = kept_log;
        part.actions = taken;
        part.log = taken_log;
        part.blobs = std::mem::take(&mut plan.blobs);
        part.blobs.extend(self.planner.processor.take_blobs());
        let mut seen = HashSet::default();
        part.blobs
            .retain(|b| seen.insert(std::sync::Arc::clone(&b.hash)));
        part.remembered = std::mem::take(&mut plan.remembered);
        part.remembered
            .extend(self.planner.processor.take_remembered());
        part.summary = Summary::of(&part);
        self.taken.add(&part.summary);
        part
    }

    /// Plans the records of the people gone from the source, applies the deletion threshold
    /// and the seat budgets, and returns the rest of the plan: what no part took. Its summary
    /// and memo counts are the whole cycle's.
    pub fn finish(self) -> Plan {
        let CyclePlanner {
            mut planner,
            thread_memo_counts,
            taken,
        } = self;
        let input = planner.input;
        let population = input.population;
        for record in input.records {
            if population.may_be_gone(&record.source_id)
                && !planner.index.is_present(&record.source_id)
                && !planner.adopted.contains(&record.source_id)
            {
                planner.gone(record);
            }
        }
        let hold = input
            .deletion_threshold
            .then(|| {
                threshold::assess(
                    &planner.plan,
                    &input.pipeline.deletion_threshold,
                    input.records.len() + input.unloaded.len(),
                )
            })
            .flatten();
        // Before the threshold moves actions: the claims point at them by index. Planning
        // people again with fewer seats neither adds nor removes a disable, delete or
        // downgrade, so the threshold's verdict stands.
        let seats = planner.enforce_seats(hold.is_some());
        let mut blobs = std::mem::take(&mut planner.plan.blobs);
        blobs.extend(planner.processor.take_blobs());
        let mut remembered = std::mem::take(&mut planner.plan.remembered);
        remembered.extend(planner.processor.take_remembered());
        let mut memo_counts = planner.processor.memo_counts();
        add_counts(&mut memo_counts, &thread_memo_counts);
        // Each thread kept the configurations, and maybe an input another thread kept too.
        let mut seen = HashSet::default();
        blobs.retain(|b| seen.insert(std::sync::Arc::clone(&b.hash)));
        let mut plan = planner.plan;
        plan.blobs = blobs;
        plan.remembered = remembered;
        plan.memo_counts = memo_counts;
        if let Some(hold) = hold {
            threshold::hold_back(&mut plan, hold);
        }
        plan.summary = Summary::of(&plan);
        plan.summary.add(&taken);
        plan.summary.seats = seats;
        plan
    }
}

impl Summary {
    /// Adds `other`'s counts (not its seats).
    pub fn add(&mut self, other: &Summary) {
        self.creates += other.creates;
        self.updates += other.updates;
        self.disables += other.disables;
        self.deletes += other.deletes;
        self.staged += other.staged;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }

    pub(crate) fn of(plan: &Plan) -> Summary {
        let mut s = Summary {
            staged: plan.staged.len(),
            ..Summary::default()
        };
        for action in &plan.actions {
            match action.action {
                Action::Create { .. } => s.creates += 1,
                Action::Update { .. } => s.updates += 1,
                Action::Disable { .. } => s.disables += 1,
                Action::Delete { .. } => s.deletes += 1,
            }
        }
        for entry in &plan.log {
            let info = &entry.provisioning_status_info;
            let staged = entry.provisioning_action == ProvisioningAction::StagedDelete
                || info.error_code.as_deref() == Some(threshold::HELD);
            match info.status {
                Status::Failure => s.failed += 1,
                Status::Skipped if info.reason.as_deref() == Some(NO_CHANGES) => s.unchanged += 1,
                Status::Skipped if !staged => s.skipped += 1,
                _ => {}
            }
        }
        s
    }
}

/// Entra's code for an object with nothing to do.
const NO_CHANGE: &str = "EntrySynchronizationSkipped";
/// The reason of an in-scope person whose target is up to date.
pub const NO_CHANGES: &str = "no changes";

struct Planner<'a> {
    input: &'a CycleInput<'a>,
    index: RecordIndex<'a>,
    /// The cycle's plugins, prepared once.
    processor: Processor<'a>,
    plan: Plan,
    /// Log entries made so far, taken parts included: the next entry's change id follows.
    entries: usize,
    /// Source ids of orphaned records adopted by a new person.
    adopted: HashSet<String>,
    /// Matching values (lower-cased) of this cycle's creates and adoptions → source id.
    claimed: HashMap<String, String>,
    /// The cycle id of every log entry.
    cycle_id: SharedStr,
    /// The last scoping reason and mapping description, shared while they repeat.
    scoping: Recent,
    mapped: Recent,
    /// Whom the plan licenses, when there are seat budgets to allocate.
    claims: Vec<PlannedClaim<'a>>,
    /// The claim of the person being planned, filed when their entry is finished.
    claim: Option<PlannedClaim<'a>>,
    /// Set while a person is planned again with the seats left for them.
    replan: Option<Replan>,
    /// Indexes of actions that planning again made unnecessary.
    removed_actions: Vec<usize>,
    /// The staged plugin outcome of the person being planned, when [`stage_all`] made it.
    staged: Option<Staged>,
}

/// A person the plan licenses, and where their entry and action are.
struct PlannedClaim<'a> {
    person: &'a Person,
    record: Option<RecordRef<'a>>,
    wanted: Option<License>,
    log: usize,
    action: Option<usize>,
}

/// The entry and action a person planned again replaces, and why.
struct Replan {
    log: usize,
    action: Option<usize>,
    reason: String,
}

/// The part of planning a person that runs their plugins: mapping, the transforms, the
/// license rule, the profile's create defaults. It reads nothing of other people, so a cycle
/// runs it for many people on every core ([`stage_all`]).
struct Staged {
    /// The mapping step, then the plugins' (and the profile's warnings).
    steps: Vec<Step>,
    outcome: Result<(Processed, BTreeSet<Key>), Halt>,
}

fn stage(
    processor: &mut Processor,
    mapped_text: &mut Recent,
    pipeline: &Pipeline,
    person: &Person,
    current: Option<&License>,
) -> Staged {
    let mapped = map(person, &pipeline.mappings);
    let count = Decimal::new(mapped.attributes.len());
    let described = mapped_text.concat(&[count.as_str(), " attributes mapped"]);
    let mut steps = Vec::with_capacity(1 + processor.steps_per_person());
    steps.push(Step::new(
        StepType::Processing,
        "mapping",
        Status::Success,
        described,
    ));
    let outcome = processor
        .run(
            person,
            mapped.attributes,
            &pipeline.profile,
            current,
            &mut steps,
        )
        .map(|mut processed| {
            let mut create_only = mapped.create_only;
            for (path, value) in &pipeline.profile.data.create_defaults {
                if !processed.target.contains_key(path.as_str()) {
                    processed.target.insert(path.clone(), value.clone());
                    create_only.insert(path.clone());
                }
            }
            (processed, create_only)
        });
    Staged { steps, outcome }
}

/// Below this many people to stage, one thread does it: starting threads costs more.
const PARALLEL_STAGING_MIN: usize = 512;

/// What a staging thread leaves besides its people: the replay blobs it recorded, the answers
/// it got and its memo counts.
struct ThreadLeftovers {
    blobs: Vec<crate::replay::Blob>,
    remembered: Vec<Remembered>,
    memo_counts: Vec<MemoCounts>,
}

/// `into[i] += from[i]`.
fn add_counts(into: &mut Vec<MemoCounts>, from: &[MemoCounts]) {
    if into.len() < from.len() {
        into.resize(from.len(), MemoCounts::default());
    }
    for (into, from) in into.iter_mut().zip(from) {
        into.hits += from.hits;
        into.misses += from.misses;
    }
}

/// Stages every in-scope person of the population with plugins to run, on every core: plugin
/// calls for different people are independent. `None` where a person is not staged here (out
/// of the population or of scope, or no plugins), which planning then does inline. Returns
/// the staged people, in `people`'s order, and what each thread left.
fn stage_all(
    input: &CycleInput,
    people: &[Person],
    index: &RecordIndex,
) -> (Vec<Option<Staged>>, Vec<ThreadLeftovers>) {
    let plugins = input.plugins;
    let threads = match input.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let staged_people = people
        .iter()
        .filter(|p| input.population.includes(&p.id))
        .count();
    let has_plugins = !plugins.transforms.is_empty() || plugins.license.is_some();
    if threads < 2 || !has_plugins || staged_people < PARALLEL_STAGING_MIN {
        return (Vec::new(), Vec::new());
    }
    // Several chunks per thread, taken in turn, so that one slow chunk does not leave the
    // other cores idle at the end.
    let chunk = people.len().div_ceil(threads * 8).max(64);
    let chunks: Vec<&[Person]> = people.chunks(chunk).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let pipeline = input.pipeline;
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut processor = input.processor();
                    let mut mapped = Recent::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(people) = chunks.get(i) else { break };
                        let staged: Vec<Option<Staged>> = people
                            .iter()
                            .map(|person| {
                                if !input.population.includes(&person.id)
                                    || !pipeline.scope.evaluate(person).in_scope()
                                {
                                    return None;
                                }
                                let record = index.by_source(&person.id);
                                let current = record.as_deref().and_then(|r| r.license.as_ref());
                                Some(stage(
                                    &mut processor,
                                    &mut mapped,
                                    pipeline,
                                    person,
                                    current,
                                ))
                            })
                            .collect();
                        done.push((i, staged));
                    }
                    let leftovers = ThreadLeftovers {
                        blobs: processor.take_blobs(),
                        remembered: processor.take_remembered(),
                        memo_counts: processor.memo_counts(),
                    };
                    (done, leftovers)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect::<Vec<_>>()
    });
    let mut by_chunk: Vec<Option<Vec<Option<Staged>>>> = (0..chunks.len()).map(|_| None).collect();
    let mut leftovers = Vec::new();
    for (done, left) in results {
        for (i, staged) in done {
            if let Some(slot) = by_chunk.get_mut(i) {
                *slot = Some(staged);
            }
        }
        leftovers.push(left);
    }
    let staged = by_chunk.into_iter().flatten().flatten().collect();
    (staged, leftovers)
}

/// The code of an entry whose target value fails one of the profile's checks.
pub const PROFILE_CHECK_FAILED: &str = "ProfileCheckFailed";

/// The code of an entry whose person got less than the license rule decided.
pub const SEAT_BUDGET_EXHAUSTED: &str = "SeatBudgetExhausted";

/// A log entry being built.
struct Entry {
    source: Identity,
    target: Option<Identity>,
    steps: Vec<Step>,
}

/// Steps of a person planned through every stage besides the plugins' (one each): import,
/// scoping, matching, mapping, export. A profile warning, rare, grows the list.
const FIXED_STEPS: usize = 5;

impl<'a> Planner<'a> {
    /// Gives out the seats ([`seats::allocate`]) and plans again, with the license they were
    /// granted, the people who got less than they asked for. `frozen_downgrades`: the deletion
    /// threshold holds this plan's downgrades back, so their seats are not freed.
    fn enforce_seats(
        &mut self,
        frozen_downgrades: bool,
    ) -> std::collections::BTreeMap<String, seats::SeatUse> {
        let budgets = &self.input.pipeline.seats;
        if budgets.is_empty() {
            return Default::default();
        }
        let claims = std::mem::take(&mut self.claims);
        let claimed: HashSet<&str> = claims
            .iter()
            .filter_map(|c| c.record.as_deref().map(|r| r.source_id.as_str()))
            .collect();
        let elsewhere = self
            .input
            .records
            .iter()
            .filter(|r| !r.disabled && !claimed.contains(r.source_id.as_str()))
            .filter_map(|r| r.license.as_ref());
        let actions = &self.plan.actions;
        let seat_claims: Vec<Claim> = claims
            .iter()
            .map(|c| Claim {
                id: &c.person.id,
                created: c
                    .person
                    .attributes
                    .get(seats::CREATED)
                    .and_then(Value::as_str),
                wanted: c.wanted.as_ref(),
                held: c
                    .record
                    .as_deref()
                    .filter(|r| !r.disabled)
                    .and_then(|r| r.license.as_ref()),
                frozen: frozen_downgrades
                    && c.action
                        .and_then(|i| actions.get(i))
                        .is_some_and(|a| a.downgrade),
            })
            .collect();
        let default_plan = self.input.pipeline.profile.data.default_plan.as_deref();
        let allocation = seats::allocate(budgets, elsewhere, &seat_claims, default_plan);
        drop(seat_claims);
        for (claim, grant) in claims.iter().zip(allocation.grants) {
            let held = claim
                .record
                .as_deref()
                .filter(|r| !r.disabled)
                .and_then(|r| r.license.as_ref());
            let given = match &grant {
                Grant::Wanted => claim.wanted.as_ref(),
                Grant::Limited { license, .. } => license.as_ref(),
            };
            let frees = held.is_some_and(|held| {
                seats::items(held).any(|name| {
                    budgets.contains_key(name) && !given.is_some_and(|l| seats::holds(l, name))
                })
            });
            let Grant::Limited { license, exhausted } = grant else {
                self.mark_freeing(claim.action, frees);
                continue;
            };
            let budgets: Vec<String> = exhausted.iter().map(ToString::to_string).collect();
            let given = match &license {
                Some(l) => format!("provisioned with {}", describe(l)),
                None => "provisioned without license attributes".to_string(),
            };
            let reason = format!("seat budget exhausted: {}; {given}", budgets.join(", "));
            // The rule's step stays in the log: what it decided, then what the seats allowed.
            let rule_step = self.plan.log.get(claim.log).and_then(|entry| {
                entry
                    .provisioning_steps
                    .iter()
                    .find(|s| s.name.starts_with("license:"))
                    .cloned()
            });
            let mut steps: Vec<Step> = rule_step.into_iter().collect();
            steps.push(Step::new(
                StepType::Processing,
                "seats",
                Status::Warning,
                reason.clone(),
            ));
            self.processor.grant(Some(Granted { license, steps }));
            self.replan = Some(Replan {
                log: claim.log,
                action: claim.action,
                reason,
            });
            self.person(claim.person);
            self.processor.grant(None);
            if let Some(replaced) = self.replan.take() {
                // Not finished (cannot happen: every path finishes): keep the first plan.
                debug_assert!(
                    false,
                    "a replanned person was not finished: {}",
                    replaced.log
                );
            }
            self.mark_freeing(claim.action, frees);
        }
        let mut removed = std::mem::take(&mut self.removed_actions);
        if !removed.is_empty() {
            removed.sort_unstable();
            let mut index = 0;
            self.plan.actions.retain(|_| {
                let keep = removed.binary_search(&index).is_err();
                index += 1;
                keep
            });
        }
        allocation.seats
    }

    /// Marks the action at `index` as one that gives a seat back ([`PlannedAction::frees_seats`]).
    fn mark_freeing(&mut self, index: Option<usize>, frees: bool) {
        if let Some(action) = index.and_then(|i| self.plan.actions.get_mut(i)) {
            action.frees_seats = frees;
        }
    }

    fn person(&mut self, person: &'a Person) {
        let display = display_name(person);
        let plugins = self.input.plugins;
        let plugin_steps = plugins.transforms.len() + usize::from(plugins.license.is_some());
        let mut steps = Vec::with_capacity(FIXED_STEPS + plugin_steps);
        steps.push(Step::new(
            StepType::Import,
            "import",
            Status::Success,
            "imported from the source",
        ));
        let mut entry = Entry {
            source: Identity {
                id: person.id.clone(),
                display_name: display,
            },
            target: None,
            steps,
        };
        let pipeline = self.input.pipeline;
        let record = self.index.by_source(&person.id);
        entry.target = record.as_deref().map(target_identity);
        let evaluation = pipeline.scope.evaluate(person);
        let scoping_status = if evaluation.in_scope() {
            Status::Success
        } else {
            Status::Skipped
        };
        let reason = self.scoping.text(|out| evaluation.write_reason(out));
        entry.steps.push(Step::new(
            StepType::Scoping,
            "scoping",
            scoping_status,
            reason,
        ));
        match (evaluation.cause(), record) {
            (None, record) => self.in_scope(person, record, entry),
            (Some(cause), Some(record)) => self.deprovision(&record, Some(cause), entry),
            (Some(_), None) => self.finish(
                entry,
                None,
                ProvisioningAction::Other,
                skipped(NO_CHANGE, evaluation.reason()),
                vec![],
            ),
        }
    }

    fn in_scope(&mut self, person: &'a Person, record: Option<RecordRef<'a>>, mut entry: Entry) {
        let pipeline = self.input.pipeline;
        let staged = match self.staged.take() {
            Some(staged) => staged,
            None => stage(
                &mut self.processor,
                &mut self.mapped,
                pipeline,
                person,
                record.as_deref().and_then(|r| r.license.as_ref()),
            ),
        };
        entry.steps.extend(staged.steps);
        let (processed, create_only) = match staged.outcome {
            Ok(done) => done,
            Err(halt) => {
                let status = if matches!(halt, Halt::Skipped { .. }) {
                    Status::Skipped
                } else {
                    Status::Failure
                };
                let info = StatusInfo {
                    status,
                    error_code: Some(halt.code()),
                    reason: Some(halt.to_string()),
                };
                return self.finish(entry, None, ProvisioningAction::Other, info, vec![]);
            }
        };
        if let Err(failed) = pipeline.profile.check(&processed.target) {
            let reason = failed.to_string();
            entry.steps.push(Step::new(
                StepType::Processing,
                "profile",
                Status::Failure,
                reason.clone(),
            ));
            let info = StatusInfo {
                status: Status::Failure,
                error_code: Some(PROFILE_CHECK_FAILED.into()),
                reason: Some(reason),
            };
            return self.finish(entry, None, ProvisioningAction::Other, info, vec![]);
        }
        let (matched, key) = match self.match_person(person, &processed.target) {
            Ok(m) => m,
            Err(e) => {
                let status = if e.code() == "ImportSkipped" {
                    Status::Skipped
                } else {
                    Status::Failure
                };
                entry.steps.insert(
                    2,
                    Step::new(StepType::Matching, "matching", status, e.to_string()),
                );
                let info = StatusInfo {
                    status,
                    error_code: Some(e.code().into()),
                    reason: Some(e.to_string()),
                };
                return self.finish(entry, None, ProvisioningAction::Other, info, vec![]);
            }
        };
        entry.steps.insert(2, matching_step(&matched, &key));
        let desired = Desired {
            key,
            target: processed.target,
            license: processed.license,
            create_only,
        };
        self.provision(person, matched, desired, entry);
    }

    /// Matches by record, then by value; two people of one cycle claiming the same matching
    /// value for new accounts would create a duplicate, so the second fails.
    fn match_person(
        &mut self,
        person: &Person,
        target: &crate::model::Attributes,
    ) -> Result<(Matched<'a>, MatchKey), MatchError> {
        let key = matching_key(target, &self.input.pipeline.matching)?;
        let matched = self.index.find(&person.id, &key)?;
        if !matches!(matched, Matched::BySourceId(_)) {
            let claimed = self
                .claimed
                .entry(key.value.to_lowercase())
                .or_insert_with(|| person.id.clone());
            if *claimed != person.id {
                return Err(MatchError::DuplicateSourceEntries {
                    key_path: key.path.to_string(),
                    value: key.value.to_string(),
                    other: claimed.clone(),
                });
            }
        }
        Ok((matched, key))
    }

    fn provision(
        &mut self,
        person: &'a Person,
        matched: Matched<'a>,
        mut desired: Desired,
        mut entry: Entry,
    ) {
        if !self.input.pipeline.seats.is_empty() {
            let record = match &matched {
                Matched::New => None,
                Matched::BySourceId(r) => Some(r.clone()),
                Matched::Adopted(r) => Some(RecordRef::Loaded(r)),
            };
            self.claim = Some(PlannedClaim {
                person,
                record,
                wanted: desired.license.clone(),
                log: 0,
                action: None,
            });
        }
        let adopted = matches!(matched, Matched::Adopted(_));
        let record = match matched {
            Matched::New => {
                let after = desired.record(&person.id, None, self.processor.versions());
                let modified = created_properties(&desired.target);
                let lookup = concat(&[
                    "create, after a lookup by ",
                    &desired.key.path,
                    " eq \"",
                    &desired.key.value,
                    "\"",
                ]);
                entry.steps.push(Step::new(
                    StepType::Export,
                    "export",
                    Status::Success,
                    lookup,
                ));
                let lookup_path = Some(desired.key.path.to_string());
                let action = Action::Create {
                    attributes: desired.target,
                };
                let planned = PlannedAction {
                    source_id: person.id.clone(),
                    action,
                    record_after: Some(after),
                    adopts: None,
                    lookup_path,
                    downgrade: false,
                    frees_seats: false,
                };
                return self.finish(
                    entry,
                    Some(planned),
                    ProvisioningAction::Create,
                    success(),
                    modified,
                );
            }
            Matched::BySourceId(record) => record,
            Matched::Adopted(record) => RecordRef::Loaded(record),
        };
        let adopts = adopted.then(|| record.source_id.clone());
        entry.target = Some(target_identity(&record));
        let ops = ops_from_plan(&record.last_applied, &desired.target, &desired.create_only);
        if ops.is_empty() && adopts.is_none() {
            entry.steps.push(Step::new(
                StepType::Export,
                "export",
                Status::Skipped,
                NO_CHANGES,
            ));
            let info = skipped(NO_CHANGE, NO_CHANGES.into());
            return self.finish(entry, None, ProvisioningAction::Other, info, vec![]);
        }
        let modified = modified_properties(&record.last_applied, &desired.target, &ops);
        entry.steps.push(Step::new(
            StepType::Export,
            "export",
            Status::Success,
            concat(&["update: ", Decimal::new(ops.len()).as_str(), " operations"]),
        ));
        let after = desired.record(&person.id, Some(&record), self.processor.versions());
        if let Some(orphan) = &adopts {
            self.adopted.insert(orphan.clone());
        }
        let lesser = &self.input.pipeline.deletion_threshold.downgrade_plans;
        let downgrade = match (&record.license, &after.license) {
            (Some(before), Some(now)) => now.is_downgrade_from(before, lesser),
            _ => false,
        };
        let action = Action::Update {
            target_id: record.target_id.clone(),
            operations: ops,
        };
        let planned = PlannedAction {
            source_id: person.id.clone(),
            action,
            record_after: Some(after),
            adopts,
            lookup_path: None,
            downgrade,
            frees_seats: false,
        };
        self.finish(
            entry,
            Some(planned),
            ProvisioningAction::Update,
            success(),
            modified,
        )
    }

    /// Deprovisions a record: `cause` None means the person is gone from the source.
    fn deprovision(
        &mut self,
        record: &ProvisionedRecord,
        cause: Option<OutOfScopeCause>,
        entry: Entry,
    ) {
        let policy = &self.input.pipeline.deprovisioning;
        let action = match cause {
            Some(OutOfScopeCause::SourceDisabled) => policy.on_source_disable,
            Some(OutOfScopeCause::OutOfScope) if policy.skip_out_of_scope_deletions => {
                let info = skipped(
                    NO_CHANGE,
                    "out of scope; SkipOutOfScopeDeletions is set".into(),
                );
                return self.finish(entry, None, ProvisioningAction::Other, info, vec![]);
            }
            Some(OutOfScopeCause::OutOfScope) => policy.on_out_of_scope,
            None => policy.on_source_delete,
        };
        let source_id = record.source_id.clone();
        let target_id = record.target_id.clone();
        let mut entry = entry;
        match action {
            DeprovisionAction::Disable if record.disabled => {
                entry.steps.push(Step::new(
                    StepType::Export,
                    "export",
                    Status::Skipped,
                    "already disabled",
                ));
                self.finish(
                    entry,
                    None,
                    ProvisioningAction::Other,
                    skipped(NO_CHANGE, "already disabled".into()),
                    vec![],
                )
            }
            DeprovisionAction::Disable => {
                entry.steps.push(Step::new(
                    StepType::Export,
                    "export",
                    Status::Success,
                    "disable (active = false)",
                ));
                let modified = modified_properties(
                    &record.last_applied,
                    &disabled_record(record).last_applied,
                    &disable_operations(),
                );
                let action = Action::Disable {
                    target_id,
                    operations: disable_operations(),
                };
                let planned = PlannedAction {
                    source_id,
                    action,
                    record_after: Some(disabled_record(record)),
                    adopts: None,
                    lookup_path: None,
                    downgrade: false,
                    frees_seats: false,
                };
                self.finish(
                    entry,
                    Some(planned),
                    ProvisioningAction::Disable,
                    success(),
                    modified,
                )
            }
            DeprovisionAction::Delete => {
                entry.steps.push(Step::new(
                    StepType::Export,
                    "export",
                    Status::Success,
                    "delete",
                ));
                let planned = PlannedAction {
                    source_id,
                    action: Action::Delete { target_id },
                    record_after: None,
                    adopts: None,
                    lookup_path: None,
                    downgrade: false,
                    frees_seats: false,
                };
                self.finish(
                    entry,
                    Some(planned),
                    ProvisioningAction::Delete,
                    success(),
                    vec![],
                )
            }
        }
    }

    /// A record whose person is no longer in the source.
    fn gone(&mut self, record: &ProvisionedRecord) {
        let import = Step::new(
            StepType::Import,
            "import",
            Status::Success,
            "not in the source any more (deleted)",
        );
        let entry = Entry {
            source: Identity {
                id: record.source_id.clone(),
                display_name: Some(record.matching_value.clone()),
            },
            target: Some(target_identity(record)),
            steps: vec![import],
        };
        self.deprovision(record, None, entry);
    }

    fn finish(
        &mut self,
        entry: Entry,
        planned: Option<PlannedAction>,
        action: ProvisioningAction,
        info: StatusInfo,
        modified: Vec<crate::log::ModifiedProperty>,
    ) {
        if let Some(replan) = self.replan.take() {
            self.claim = None;
            return self.replace(replan, entry, planned, action, info, modified);
        }
        if let Some(mut claim) = self.claim.take() {
            claim.log = self.plan.log.len();
            claim.action = planned.as_ref().map(|_| self.plan.actions.len());
            self.claims.push(claim);
        }
        self.entries += 1;
        let change_id = change_id(&self.cycle_id, self.entries);
        let entry = self.log_entry(change_id, entry, action, info, modified);
        self.plan.log.push(entry);
        self.plan.actions.extend(planned);
    }

    fn log_entry(
        &self,
        change_id: String,
        entry: Entry,
        action: ProvisioningAction,
        info: StatusInfo,
        modified: Vec<crate::log::ModifiedProperty>,
    ) -> LogEntry {
        LogEntry {
            change_id,
            cycle_id: self.cycle_id.clone(),
            source_identity: entry.source,
            target_identity: entry.target,
            provisioning_action: action,
            provisioning_status_info: info,
            provisioning_steps: entry.steps,
            modified_properties: modified,
        }
    }

    /// [`Planner::finish`] for a person planned again: their entry keeps its place and change
    /// id, their action is replaced (or dropped, or added).
    fn replace(
        &mut self,
        replan: Replan,
        entry: Entry,
        planned: Option<PlannedAction>,
        action: ProvisioningAction,
        mut info: StatusInfo,
        modified: Vec<crate::log::ModifiedProperty>,
    ) {
        if info.reason.as_deref() == Some(NO_CHANGES) {
            info = skipped(SEAT_BUDGET_EXHAUSTED, replan.reason);
        }
        let Some(change_id) = self.plan.log.get(replan.log).map(|e| e.change_id.clone()) else {
            return;
        };
        let replaced = self.log_entry(change_id, entry, action, info, modified);
        if let Some(slot) = self.plan.log.get_mut(replan.log) {
            *slot = replaced;
        }
        match (replan.action, planned) {
            (Some(i), Some(planned)) => {
                if let Some(slot) = self.plan.actions.get_mut(i) {
                    *slot = planned;
                }
            }
            (Some(i), None) => self.removed_actions.push(i),
            (None, Some(planned)) => self.plan.actions.push(planned),
            (None, None) => {}
        }
    }
}

/// What processing decided for a person in scope.
struct Desired {
    key: MatchKey,
    target: crate::model::Attributes,
    license: Option<crate::model::License>,
    create_only: std::collections::BTreeSet<crate::model::Key>,
}

impl Desired {
    fn record(
        &mut self,
        source_id: &str,
        before: Option<&ProvisionedRecord>,
        versions: &crate::model::PluginVersions,
    ) -> ProvisionedRecord {
        let last_applied = match before {
            Some(r) => applied(&r.last_applied, &self.target, &self.create_only),
            // A create's record after is its target, kept once by the plan (shared), unless
            // some values are empty (they are not provisioned).
            None => {
                if self.target.values().any(Value::is_empty) {
                    let mut applied = self.target.clone();
                    applied.retain(|_, v| !v.is_empty());
                    applied
                } else {
                    self.target.share()
                }
            }
        };
        ProvisionedRecord {
            source_id: source_id.to_string(),
            target_id: before.map(|r| r.target_id.clone()).unwrap_or_default(),
            matching_value: self.key.value.to_string(),
            disabled: matches!(last_applied.get(ACTIVE), Some(Value::Bool(false))),
            last_applied,
            license: self.license.clone(),
            plugin_versions: versions.clone(),
        }
    }
}

fn matching_step(matched: &Matched, key: &MatchKey) -> Step {
    let description = match matched {
        Matched::BySourceId(r) => concat(&["matched by source id to target ", &r.target_id]),
        Matched::Adopted(r) => concat(&[
            &key.path,
            " eq \"",
            &key.value,
            "\" matches target ",
            &r.target_id,
            " of removed source person ",
            &r.source_id,
        ]),
        Matched::New => concat(&[
            "not provisioned yet; matching attribute ",
            &key.path,
            " = \"",
            &key.value,
            "\"",
        ]),
    };
    Step::new(StepType::Matching, "matching", Status::Success, description)
}

/// `{cycle_id}-{n}`.
fn change_id(cycle_id: &str, n: usize) -> String {
    concat(&[cycle_id, "-", Decimal::new(n).as_str()])
}

fn target_identity(record: &ProvisionedRecord) -> Identity {
    Identity {
        id: record.target_id.clone(),
        display_name: Some(record.matching_value.clone()),
    }
}

fn display_name(person: &Person) -> Option<String> {
    ["userPrincipalName", "mail", "displayName"]
        .iter()
        .find_map(|k| person.attributes.get(k).and_then(Value::as_str))
        .map(str::to_string)
}

fn success() -> StatusInfo {
    StatusInfo {
        status: Status::Success,
        error_code: None,
        reason: None,
    }
}

fn skipped(code: &str, reason: String) -> StatusInfo {
    StatusInfo {
        status: Status::Skipped,
        error_code: Some(code.to_string()),
        reason: Some(reason),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parts_tests;
