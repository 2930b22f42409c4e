//! Crash safety of sync cycles: `kill -9` of the real `muster sync --once` at random moments of
//! a 2,000-person initial cycle (10 times) and of a 500-person incremental cycle (4 times), each
//! followed by a restart, must end in exactly the target state a clean run produces: one user per
//! person, no lost update, 0 failures, and a further cycle that writes nothing.
//!
//! The simulator runs in this process, so it outlives every killed child. The first kill of each
//! phase lands between a write and its answer by construction: the simulator stores a create (or,
//! in phase 2, a PATCH) and withholds its answer until the child is dead, so the restarted cycles
//! must find the lost create's user and link its record to it, and replay the lost update. The other kills are
//! placed by the simulator's request count (the cycle's progress), not by wall time, so they
//! spread over the cycle however fast or loaded the machine is; a few land by delay, during
//! start-up and planning. `MUSTER_CRASH_SEED` replays another seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use engine::config::Config;
use engine::plan::{Action, to_flat};
use muster::job::Job;
use muster::sync::{CycleOptions, run_cycle};
use scim::flat::Flat;
use serde_json::{Map, Value as Json, json};

#[path = "common/sim.rs"]
mod sim;
use sim::Sim;

const PEOPLE: usize = 2000;
const TOKEN: &str = "crash-test-token";
/// How long one child may run before the test gives up on it.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn kill_9_at_random_moments_converges_without_duplicates_or_lost_updates() {
    let seed = std::env::var("MUSTER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0ffee_u64);
    eprintln!("crash test seed {seed} (MUSTER_CRASH_SEED replays it)");
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let stage = |what: &str| eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
    let sim = Sim::start(TOKEN);
    let work = Workdir::new(&sim.base_url, "work");
    let clean = CleanRun::new(&sim.base_url);
    let expected = [clean.expected_state(1), clean.expected_state(2)];
    stage("clean runs planned");

    // Phase 1: the initial cycle, ~2 requests per person (look-up, create).
    work.write_directory(1);
    let (held, consumed) = held_kill(&mut rng, Method::POST, PEOPLE / 10, 2);
    let kills = kill_plan(&mut rng, 2, 8, (2 * PEOPLE as u64).saturating_sub(consumed));
    let (hits, lost) = kill_repeatedly(&work, &sim, held, &kills);
    assert_spread(&hits, PEOPLE, 3);
    stage("initial cycle killed 11 times");
    converge(&work, &sim);
    stage("initial cycle converged");
    assert_target_state(&sim, &work, &expected[0]);
    // The held kill lost the answer of a create that landed (other kills may have too): the
    // restarted cycles must have found those users by look-up and adopted them (else they would
    // be 409s or duplicates). How many adoptions the log shows depends on which children lived
    // to append their logs, so the records say it.
    eprintln!(
        "  {} users left without a record by the first kill; {} adoptions logged",
        lost.0.len(),
        adopted_count(&work)
    );
    lost.assert_adopted(&work);

    // Phase 2: ~500 people change (title; licence plan or phone add-on, both ways).
    work.write_directory(2);
    let (held, consumed) = held_kill(&mut rng, Method::PATCH, changed_people() / 10, 1);
    let kills = kill_plan(
        &mut rng,
        1,
        3,
        (changed_people() as u64).saturating_sub(consumed),
    );
    let (hits, _) = kill_repeatedly(&work, &sim, held, &kills);
    assert!(
        hits.iter().filter(|h| h.was_running).count() >= 4,
        "most kills must hit a running cycle: {hits:?}"
    );
    stage("incremental cycle killed 5 times");
    converge(&work, &sim);
    stage("incremental cycle converged");
    assert_target_state(&sim, &work, &expected[1]);
}

// ---- the directory ------------------------------------------------------------------------

const TITLES: [&str; 4] = ["Engineer", "Analyst", "Designer", "Account Manager"];
const DEPARTMENTS: [&str; 3] = ["Engineering", "Sales", "Support"];

/// Phase 2 changes every person with `i % 4 == 1`.
fn changed(i: usize) -> bool {
    i % 4 == 1
}

fn changed_people() -> usize {
    (0..PEOPLE).filter(|&i| changed(i)).count()
}

/// The snapshot: everyone assigned directly; a third licensed, a fifth with Zoom Phone. Version
/// 2 gives the changed people a new title and flips their licence (`i % 8 == 1`) or their phone
/// add-on (`i % 8 == 5`), so plans go up and down and add-ons are granted and removed.
fn directory(version: u32) -> Json {
    let v2 = |i: usize| version >= 2 && changed(i);
    let licensed = |i: usize| i.is_multiple_of(3) != (v2(i) && i % 8 == 1);
    let phone = |i: usize| i.is_multiple_of(5) != (v2(i) && i % 8 == 5);
    let id = |i: usize| format!("p-{i:05}");
    let people: Vec<Json> = (0..PEOPLE).map(|i| person(i, v2(i))).collect();
    let members = |f: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..PEOPLE).filter(|&i| f(i)).map(id).collect()
    };
    let mut groups = vec![
        json!({"id": "g-licensed", "displayName": "Zoom-Licensed", "members": members(&licensed)}),
        json!({"id": "g-phone", "displayName": "Zoom-Phone", "members": members(&phone)}),
    ];
    for (d, name) in DEPARTMENTS.iter().enumerate() {
        groups.push(json!({
            "id": format!("g-dept-{d}"),
            "displayName": format!("Dept-{name}"),
            "members": members(&|i| i % DEPARTMENTS.len() == d),
        }));
    }
    let assignments: Vec<Json> = (0..PEOPLE)
        .map(|i| json!({"principalId": id(i), "appRole": "User"}))
        .collect();
    json!({"people": people, "groups": groups, "assignments": assignments})
}

fn person(i: usize, changed: bool) -> Json {
    let upn = format!("person{i}@crash.example");
    let title = if changed {
        format!("Senior {}", TITLES[i % TITLES.len()])
    } else {
        TITLES[i % TITLES.len()].to_string()
    };
    let mut attributes = json!({
        "userPrincipalName": upn,
        "mail": upn,
        "givenName": format!("Given{i}"),
        "surname": format!("Family{i}"),
        "displayName": format!("Given{i} Family{i}"),
        "jobTitle": title,
        "employeeId": format!("E{:05}", 10_000 + i),
    });
    if i.is_multiple_of(2) {
        attributes["mobilePhone"] = json!(format!("(555) 01{:02}-{:04}", i % 100, i));
    }
    json!({"id": format!("p-{i:05}"), "accountEnabled": true, "attributes": attributes})
}

fn config_text(base_url: &str) -> String {
    job_config(base_url, "100000", "8")
}

/// The job template shared with the sync benchmark.
fn job_config(base_url: &str, rate: &str, concurrency: &str) -> String {
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "RATE" => Some(rate.to_string()),
        "CONCURRENCY" => Some(concurrency.to_string()),
        _ => None,
    };
    muster::job::expand_env(include_str!("data/job.toml"), lookup)
        .expect("the template's variables")
}

// ---- the simulator and the working folders ------------------------------------------------

struct Workdir {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Workdir {
    fn new(base_url: &str, name: &str) -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("muster-crash-{name}-"))
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("muster.toml");
        std::fs::write(&config, config_text(base_url)).expect("write the config");
        Workdir { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_directory(&self, version: u32) {
        let text = serde_json::to_string(&directory(version)).expect("snapshot JSON");
        std::fs::write(self.path().join("directory.json"), text).expect("write the snapshot");
    }
}

/// A clean run, planned in this process with the same configuration and plugins.
struct CleanRun {
    work: Workdir,
    job: Job,
}

impl CleanRun {
    fn new(base_url: &str) -> CleanRun {
        let work = Workdir::new(base_url, "clean");
        let text = std::fs::read_to_string(&work.config).expect("read the config");
        let config = Config::from_toml_str(&text).expect("a valid config");
        let job = Job::build_with_token(config, work.path(), TOKEN.into()).expect("build a job");
        CleanRun { work, job }
    }

    /// What a clean run into an empty target creates, person by person (keyed by userName):
    /// a dry run from an empty state, so every person is a create.
    fn expected_state(&self, version: u32) -> BTreeMap<String, Flat> {
        self.work.write_directory(version);
        let options = CycleOptions {
            dry_run: true,
            ..CycleOptions::default()
        };
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let report = runtime
            .block_on(run_cycle(&self.job, &options))
            .expect("a dry run")
            .expect("a report");
        assert_eq!(report.plan.summary.failed, 0, "the clean plan has failures");
        let expected: BTreeMap<String, Flat> = report
            .plan
            .actions
            .iter()
            .map(|planned| match &planned.action {
                Action::Create { attributes } => {
                    let flat = assigned(to_flat(attributes));
                    let name = flat["userName"]
                        .as_str()
                        .expect("a userName")
                        .to_lowercase();
                    (name, flat)
                }
                other => panic!("a clean run only creates, not {other:?}"),
            })
            .collect();
        assert_eq!(expected.len(), PEOPLE, "the clean run creates everyone");
        expected
    }
}

/// Leaves out unassigned values, as `scim::flat::flatten` does.
fn assigned(flat: Flat) -> Flat {
    flat.into_iter()
        .filter(|(_, v)| match v {
            Json::Null => false,
            Json::String(s) => !s.is_empty(),
            Json::Array(a) => !a.is_empty(),
            Json::Object(o) => !o.is_empty(),
            _ => true,
        })
        .collect()
}

// ---- children and kills -------------------------------------------------------------------

fn sync_command(work: &Workdir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
    command
        .args(["sync", "--once", "--config"])
        .arg(&work.config)
        .env("MUSTER_TARGET_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn spawn_quiet(work: &Workdir) -> Child {
    sync_command(work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn muster sync")
}

/// Waits for `child` until `deadline`, then kills it and fails.
fn wait_with_deadline(child: &mut Child, what: &str) -> ExitStatus {
    let until = Instant::now() + CHILD_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for muster") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{what}: muster sync did not finish within {CHILD_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug, Clone)]
enum Kill {
    /// Once the simulator has stored the write of the `skip + 1`th successful `method` request
    /// to `/Users` this child sends, while it withholds the answer.
    HeldAnswer { method: Method, skip: usize },
    /// During start-up, planning, or the first requests.
    AfterDelay(Duration),
    /// Once the simulator has served this many requests since the phase began.
    AtRequest(u64),
}

#[derive(Debug)]
struct Hit {
    kill: Kill,
    /// False when the cycle had already finished: the kill came too late to hit anything.
    was_running: bool,
    users_at_kill: usize,
    requests_at_kill: u64,
}

/// A kill between a `method` write and its answer, after a random number (below `within`) of
/// such writes have been answered; and an upper bound on the requests of the cycle it uses up
/// (`per_write` requests per person, and as many again for the writes in flight beside it).
fn held_kill(rng: &mut Rng, method: Method, within: usize, per_write: u64) -> (Kill, u64) {
    /// Writes in flight at once: `[target] concurrency` (8) × 2, as the apply step buffers.
    const IN_FLIGHT: u64 = 16;
    let skip = rng.below(within as u64) as usize;
    let consumed = (skip as u64 + 1 + IN_FLIGHT) * per_write;
    (Kill::HeldAnswer { method, skip }, consumed)
}

/// `at_delay` kills at random delays up to 2 s and `at_requests` kills spread uniformly over
/// `requests` (sorted, since each child carries on where the last one stopped), the delayed
/// ones interleaved at random positions.
fn kill_plan(rng: &mut Rng, at_delay: usize, at_requests: usize, requests: u64) -> Vec<Kill> {
    let mut points: Vec<u64> = (0..at_requests)
        .map(|_| 1 + rng.below(requests.saturating_sub(1).max(1)))
        .collect();
    points.sort_unstable();
    let mut plan: Vec<Kill> = points.into_iter().map(Kill::AtRequest).collect();
    for _ in 0..at_delay {
        let delay = Duration::from_millis(rng.below(2000));
        let at = rng.below(plan.len() as u64 + 1) as usize;
        plan.insert(at, Kill::AfterDelay(delay));
    }
    plan
}

/// Kills a child at `held` first, so that it hits a cycle with writes still to do, then one
/// child at each kill of `plan`, whose request counts start where `held` left the cycle.
fn kill_repeatedly(
    work: &Workdir,
    sim: &Sim,
    held: Kill,
    plan: &[Kill],
) -> (Vec<Hit>, LostAnswers) {
    let mut hits = vec![kill_once(work, sim, held, sim.requests())];
    let lost = LostAnswers::now(sim, work);
    let base = sim.requests();
    hits.extend(
        plan.iter()
            .map(|kill| kill_once(work, sim, kill.clone(), base)),
    );
    for hit in &hits {
        eprintln!(
            "  kill -9 at {:?}: {} requests in, {} users, {}",
            hit.kill,
            hit.requests_at_kill,
            hit.users_at_kill,
            if hit.was_running {
                "mid-cycle"
            } else {
                "after the cycle ended"
            }
        );
    }
    (hits, lost)
}

/// The users the target has but the state has no record of, taken while no child runs: writes
/// whose answers a kill lost (the held one at least, by construction). userName → target id.
struct LostAnswers(BTreeMap<String, String>);

impl LostAnswers {
    fn now(sim: &Sim, work: &Workdir) -> LostAnswers {
        let store = store::Store::open(&work.path().join("muster.db")).expect("open the state");
        let linked: BTreeSet<String> = store
            .records()
            .expect("records")
            .into_values()
            .map(|r| r.target_id)
            .collect();
        let lost = sim
            .state
            .users()
            .iter()
            .filter_map(|u| {
                let id = u["id"].as_str()?.to_string();
                let name = u["userName"].as_str()?.to_lowercase();
                (!linked.contains(&id)).then_some((name, id))
            })
            .collect();
        LostAnswers(lost)
    }

    /// Each of these users is the one its person's record links to now: adopted by a look-up,
    /// neither created twice nor left behind.
    fn assert_adopted(&self, work: &Workdir) {
        assert!(
            !self.0.is_empty(),
            "the held create left no user without a record"
        );
        let store = store::Store::open(&work.path().join("muster.db")).expect("open the state");
        let by_name: BTreeMap<String, String> = store
            .records()
            .expect("records")
            .into_values()
            .map(|r| (r.matching_value.to_lowercase(), r.target_id))
            .collect();
        for (name, id) in &self.0 {
            assert_eq!(
                by_name.get(name),
                Some(id),
                "{name}: the user a lost answer left behind was not adopted"
            );
        }
    }
}

fn kill_once(work: &Workdir, sim: &Sim, kill: Kill, base: u64) -> Hit {
    let mut held = match &kill {
        Kill::HeldAnswer { method, skip } => {
            Some(sim.state.hold_answer(method.clone(), "Users", *skip))
        }
        _ => None,
    };
    let holds_answer = held.is_some();
    let mut child = spawn_quiet(work);
    let started = Instant::now();
    let mut due = |sim: &Sim| match &kill {
        Kill::HeldAnswer { .. } => held.as_mut().is_some_and(|h| h.has_landed()),
        Kill::AfterDelay(delay) => started.elapsed() >= *delay,
        Kill::AtRequest(n) => sim.requests() >= base + n,
    };
    let was_running = loop {
        if due(sim) {
            break true;
        }
        if child.try_wait().expect("poll muster").is_some() {
            assert!(
                !holds_answer,
                "the cycle ended without the write {kill:?} waits for"
            );
            break false;
        }
        assert!(
            started.elapsed() < CHILD_DEADLINE,
            "the cycle made no progress towards {kill:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    // SIGKILL: no destructor, no flush, no signal handler runs.
    child.kill().expect("kill -9 muster");
    child.wait().expect("reap muster");
    // The withheld answer goes to a dead client.
    if let Some(held) = held {
        held.release();
    }
    Hit {
        kill,
        was_running,
        users_at_kill: sim.state.users().len(),
        requests_at_kill: sim.requests() - base,
    }
}

/// The kills hit a running cycle, and at least `distinct` of them part-way through creating.
fn assert_spread(hits: &[Hit], total: usize, distinct: usize) {
    let running = hits.iter().filter(|h| h.was_running).count();
    assert!(
        running + 2 >= hits.len(),
        "most kills must hit a running cycle: {hits:?}"
    );
    let partial: BTreeSet<usize> = hits
        .iter()
        .map(|h| h.users_at_kill)
        .filter(|&n| n > 0 && n < total)
        .collect();
    assert!(
        partial.len() >= distinct,
        "kills must land at {distinct}+ different points mid-cycle: {hits:?}"
    );
}

/// Runs cycles to completion (a second one if the first reports failures), then one more that
/// must send nothing.
fn converge(work: &Workdir, sim: &Sim) {
    let mut last = None;
    for attempt in 1..=2 {
        let (status, output) = run_to_completion(work, &format!("converge {attempt}"));
        let done = status.success() && failed_count(&output) == Some(0);
        last = Some((status, output));
        if done {
            break;
        }
    }
    let (status, output) = last.expect("a converging run");
    assert!(
        status.success() && failed_count(&output) == Some(0),
        "the converging cycle must end with 0 failures ({status}):\n{output}"
    );

    let writes = sim.state.counters().writes;
    let (status, output) = run_to_completion(work, "no-op");
    assert!(
        status.success(),
        "the no-op cycle failed ({status}):\n{output}"
    );
    assert_eq!(
        sim.state.counters().writes - writes,
        0,
        "a cycle after convergence must write nothing:\n{output}"
    );
    assert_eq!(failed_count(&output), Some(0), "{output}");
}

/// Runs `muster sync --once`; returns its status and what it printed (stdout, then stderr).
fn run_to_completion(work: &Workdir, what: &str) -> (ExitStatus, String) {
    let out = work.path().join(format!("{what}.out"));
    let err = work.path().join(format!("{what}.err"));
    let mut child = sync_command(work)
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn muster sync");
    let status = wait_with_deadline(&mut child, what);
    let text = [out, err]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n--- stderr ---\n");
    (status, text)
}

/// The `done` column of the summary's `failed` row.
fn failed_count(summary: &str) -> Option<u64> {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with("failed "))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
}

// ---- the end state ------------------------------------------------------------------------

/// Exactly one target user per person, each with exactly the clean run's attributes (licence
/// fields included), and every record in the state store linked to the right user.
fn assert_target_state(sim: &Sim, work: &Workdir, expected: &BTreeMap<String, Flat>) {
    let users = sim.raw_users(work.path());
    let mut by_name: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for (id, attrs) in &users {
        let name = attrs["userName"]
            .as_str()
            .expect("a userName")
            .to_lowercase();
        by_name.entry(name).or_default().push(id);
    }
    let duplicates: Vec<_> = by_name.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(duplicates.is_empty(), "duplicate users: {duplicates:?}");
    let missing: Vec<_> = expected
        .keys()
        .filter(|n| !by_name.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{} people missing: {missing:?}",
        missing.len()
    );
    assert_eq!(users.len(), PEOPLE, "users nobody asked for");

    let mut wrong = Vec::new();
    for (id, attrs) in &users {
        let mut user = attrs.clone();
        user.insert("schemas".into(), json!([scim::resource::USER_SCHEMA]));
        let actual = scim::flat::flatten(&Json::Object(user));
        let name = attrs["userName"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if actual != expected[&name] {
            wrong.push(diff(id, &actual, &expected[&name]));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} users differ from a clean run, e.g.:\n{}",
        wrong.len(),
        wrong.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_records_linked(work, &users);
}

fn diff(id: &str, actual: &Flat, expected: &Flat) -> String {
    let paths: BTreeSet<&String> = actual.keys().chain(expected.keys()).collect();
    let lines: Vec<String> = paths
        .into_iter()
        .filter(|p| actual.get(*p) != expected.get(*p))
        .map(|p| format!("    {p}: {:?} (want {:?})", actual.get(p), expected.get(p)))
        .collect();
    format!("  user {id}:\n{}", lines.join("\n"))
}

/// Provisioning log entries (all cycles) whose export adopted an existing user.
fn adopted_count(work: &Workdir) -> usize {
    let store = store::Store::open(&work.path().join("muster.db")).expect("open the state");
    let query = store::LogQuery {
        limit: usize::MAX,
        ..store::LogQuery::default()
    };
    let logs = store.logs(&query).expect("read the provisioning log");
    logs.iter()
        .filter(|l| l.action == "create" && l.detail.to_string().contains("\"adopted\""))
        .count()
}

fn assert_records_linked(work: &Workdir, users: &BTreeMap<String, Map<String, Json>>) {
    let store = store::Store::open(&work.path().join("muster.db")).expect("open the state");
    let records = store.records().expect("records");
    assert_eq!(records.len(), PEOPLE, "one record per person");
    for record in records.values() {
        let user = users.get(&record.target_id).unwrap_or_else(|| {
            panic!(
                "{} is linked to {}, which the target does not have",
                record.source_id, record.target_id
            )
        });
        assert!(
            user["userName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&record.matching_value)),
            "{} is linked to someone else's user {}",
            record.source_id,
            record.target_id
        );
    }
    assert!(
        store.pending_intents().expect("intents").is_empty(),
        "intents left pending after a completed cycle"
    );
}

/// xorshift64*: deterministic, good enough to place kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
