//! Crash safety of the scheduled cycles of `muster serve` (sync mode, a cycle every second):
//! `kill -9` of the real service at moments of a 600-person initial cycle and of an incremental
//! cycle that changes 150 of them, each followed by a restart whose own scheduled cycles carry
//! on, must end in exactly the target state a clean run produces: one user per userName, each
//! with the attributes of the last snapshot, every record linked to its person's user, and
//! then cycles that write nothing.
//!
//! As in `crash.rs` (with which this shares `tests/common`), the first kill of each phase lands
//! by construction: the simulator stores a create (phase 1) or a PATCH (phase 2, after the
//! snapshot changed between the phases) and withholds its answer until the service is dead, so
//! the restarted service must adopt the created user (the records prove it) and send the lost
//! update again. The other kills are placed at random by the simulator's request count or
//! after a delay. Waits poll the state file (read-only, beside the service) with generous
//! deadlines; no assertion depends on how fast the machine is. `MUSTER_CRASH_SEED` replays a
//! seed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use store::{CycleRecord, CycleStatus};

mod common;
use common::converged::{LostAnswers, adopted_count, assert_target_state};
use common::directory::{CleanRun, TOKEN, Workdir, changed_people, job_config};
use common::kills::{
    Rng, Running, assert_spread, clock_seed, held_kill, kill_plan, kill_repeatedly, seed,
};
use common::sim::Sim;

const PEOPLE: usize = 600;
/// How long the service may take to settle into cycles that write nothing.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(300);

/// Scheduled cycles every second; the probe's test connection once per start.
const SERVER: &str = r#"
[server]
listen = "127.0.0.1:0"
scheduled_sync = true
probe_interval_secs = 3600
"#;

#[test]
fn kill_9_of_scheduled_cycles_in_serve_converges_without_duplicates_or_lost_updates() {
    let mut rng = Rng::new(seed(clock_seed));
    let started = Instant::now();
    let stage = |what: &str| eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
    let sim = Sim::start(TOKEN);
    let work = Workdir::new("serve", PEOPLE, &job_config(&sim.base_url, 1, SERVER));
    let clean = CleanRun::new(&sim.base_url, PEOPLE);
    let expected = [clean.expected_state(1), clean.expected_state(2)];
    stage("clean runs planned");
    let mut start = || Box::new(Serving::start(&work)) as Box<dyn Running>;

    // Phase 1: the initial cycle, ~2 requests per person (look-up, create).
    work.write_directory(1);
    let (held, consumed) = held_kill(&mut rng, Method::POST, PEOPLE / 10, 2);
    let kills = kill_plan(&mut rng, 1, 5, (2 * PEOPLE as u64).saturating_sub(consumed));
    let (hits, lost) = kill_repeatedly(&sim, held, &kills, &mut start, || {
        LostAnswers::now(&sim, &work)
    });
    assert_spread(&hits, PEOPLE, 3);
    stage("initial cycle killed 7 times");
    converge(&work, &sim);
    stage("initial cycle converged");
    assert_target_state(&sim, &work, &expected[0]);
    eprintln!(
        "  {} users left without a record by the first kill; {} adoptions logged",
        lost.0.len(),
        adopted_count(&work)
    );
    lost.assert_adopted(&work);

    // Phase 2: the snapshot changes while no service runs; 150 people get PATCHes (title,
    // licence plan or phone add-on, both ways).
    work.write_directory(2);
    let changed = changed_people(PEOPLE);
    let (held, consumed) = held_kill(&mut rng, Method::PATCH, changed / 10, 1);
    let kills = kill_plan(&mut rng, 1, 2, (changed as u64).saturating_sub(consumed));
    let (hits, ()) = kill_repeatedly(&sim, held, &kills, &mut start, || ());
    assert!(
        hits.iter().filter(|h| h.was_running).count() + 2 >= hits.len(),
        "most kills must hit a running cycle: {hits:?}"
    );
    stage("incremental cycle killed 4 times");
    converge(&work, &sim);
    stage("incremental cycle converged");
    assert_target_state(&sim, &work, &expected[1]);
}

/// `muster serve` on the work folder's job, its output appended to `serve.log` there.
struct Serving {
    child: Child,
    state: PathBuf,
    log: PathBuf,
    /// The newest cycle before this process started: later ones are its own.
    before: i64,
    checked: Instant,
}

impl Serving {
    fn start(work: &Workdir) -> Serving {
        let state = work.state();
        let before = last_cycle_id(&state);
        let log = work.path().join("serve.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["serve", "--config"])
            .arg(&work.config)
            .env("MUSTER_TARGET_TOKEN", TOKEN)
            .env("RUST_LOG", "warn,muster=info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start muster serve");
        Serving {
            child,
            state,
            log,
            before,
            checked: Instant::now(),
        }
    }

    /// The cycles this process finished, oldest first; none when the state cannot be read at
    /// this moment (the service is still creating it).
    fn finished_cycles(&self) -> Vec<CycleRecord> {
        let Ok(store) = store::Store::open_read_only(&self.state) else {
            return Vec::new();
        };
        let Ok(mut cycles) = store.cycles(100) else {
            return Vec::new();
        };
        cycles.retain(|c| c.id > self.before);
        cycles.sort_by_key(|c| c.id);
        // Stop at the one still running: later ones do not exist yet.
        cycles
            .into_iter()
            .take_while(|c| c.status != CycleStatus::Running)
            .collect()
    }

    /// A service never stops on its own: fail with its log if it did.
    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("poll muster serve") {
            panic!(
                "muster serve exited by itself ({status}):\n{}",
                self.log_tail()
            );
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Running for Serving {
    fn cycle_ended(&mut self) -> bool {
        self.assert_alive();
        // Opening the state is costlier than the 1 ms polls of the kill loop.
        if self.checked.elapsed() < Duration::from_millis(25) {
            return false;
        }
        self.checked = Instant::now();
        !self.finished_cycles().is_empty()
    }

    fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The newest cycle in the state, 0 before the first; read while no service runs (so the
/// state can be opened as its owner, which recovers what a kill left half-written).
fn last_cycle_id(state: &Path) -> i64 {
    if !state.exists() {
        return 0;
    }
    let store = store::Store::open(state).expect("open the state");
    store
        .last_cycle()
        .expect("read the cycles")
        .map_or(0, |c| c.id)
}

/// Serves until one scheduled cycle has nothing to do (no write, no failure) and the next one
/// has nothing either while the simulator saw no write in between; then kills the service.
fn converge(work: &Workdir, sim: &Sim) {
    let mut serving = Serving::start(work);
    let until = Instant::now() + CONVERGE_DEADLINE;
    let mut seen = serving.before;
    // The simulator's write count when an idle cycle ended.
    let mut quiet: Option<u64> = None;
    loop {
        serving.assert_alive();
        for cycle in serving.finished_cycles() {
            if cycle.id <= seen {
                continue;
            }
            seen = cycle.id;
            let idle = cycle.status == CycleStatus::Succeeded
                && cycle.counts.as_ref().is_some_and(|c| {
                    c.writes == 0
                        && c.failed == 0
                        && c.created + c.updated + c.disabled + c.deleted == 0
                });
            let writes = sim.state.counters().writes;
            match quiet {
                Some(before) if idle => {
                    assert_eq!(
                        writes, before,
                        "the target was written to between two idle cycles"
                    );
                    eprintln!(
                        "  converged: cycle {} and the one before wrote nothing",
                        cycle.id
                    );
                    return;
                }
                _ => quiet = idle.then_some(writes),
            }
            eprintln!(
                "  cycle {}: {:?} {:?}",
                cycle.id, cycle.status, cycle.counts
            );
        }
        assert!(
            Instant::now() < until,
            "muster serve did not converge within {CONVERGE_DEADLINE:?}:\n{}",
            serving.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
