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
//! start-up and planning. `MUSTER_CRASH_SEED` replays another seed. The scheduled cycles of
//! `muster serve` are killed the same way in `serve_schedule_crash.rs`.

use std::fs::File;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;

mod common;
use common::converged::{LostAnswers, adopted_count, assert_target_state};
use common::directory::{CleanRun, TOKEN, Workdir, changed_people, job_config};
use common::kills::{
    CHILD_DEADLINE, Rng, Running, assert_spread, held_kill, kill_plan, kill_repeatedly, seed,
};
use common::sim::Sim;

const PEOPLE: usize = 2000;

#[test]
fn kill_9_at_random_moments_converges_without_duplicates_or_lost_updates() {
    let mut rng = Rng::new(seed(|| 0x5eed_c0ffee_u64));
    let started = Instant::now();
    let stage = |what: &str| eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
    let sim = Sim::start(TOKEN);
    let work = Workdir::new("work", PEOPLE, &job_config(&sim.base_url, 60, ""));
    let clean = CleanRun::new(&sim.base_url, PEOPLE);
    let expected = [clean.expected_state(1), clean.expected_state(2)];
    stage("clean runs planned");
    let mut start = || Box::new(spawn_quiet(&work)) as Box<dyn Running>;

    // Phase 1: the initial cycle, ~2 requests per person (look-up, create).
    work.write_directory(1);
    let (held, consumed) = held_kill(&mut rng, Method::POST, PEOPLE / 10, 2);
    let kills = kill_plan(&mut rng, 2, 8, (2 * PEOPLE as u64).saturating_sub(consumed));
    let (hits, lost) = kill_repeatedly(&sim, held, &kills, &mut start, || {
        LostAnswers::now(&sim, &work)
    });
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
    let changed = changed_people(PEOPLE);
    let (held, consumed) = held_kill(&mut rng, Method::PATCH, changed / 10, 1);
    let kills = kill_plan(&mut rng, 1, 3, (changed as u64).saturating_sub(consumed));
    let (hits, ()) = kill_repeatedly(&sim, held, &kills, &mut start, || ());
    assert!(
        hits.iter().filter(|h| h.was_running).count() >= 4,
        "most kills must hit a running cycle: {hits:?}"
    );
    stage("incremental cycle killed 5 times");
    converge(&work, &sim);
    stage("incremental cycle converged");
    assert_target_state(&sim, &work, &expected[1]);
}

// ---- children ----------------------------------------------------------------------------

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
