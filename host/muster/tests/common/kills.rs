//! `kill -9` of a muster process that runs a cycle, at a moment placed by construction (the
//! simulator holds a write's answer until the process is dead) or at random: after a delay, or
//! once the simulator has served a number of requests (the cycle's progress, not wall time, so
//! the kills spread over the cycle however fast or loaded the machine is).

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use axum::http::Method;

use super::sim::Sim;

/// How long one process may take to reach its kill before the test gives up on it.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// A muster process running a cycle.
pub trait Running {
    /// Whether the cycle it was started for has ended (or the process has).
    fn cycle_ended(&mut self) -> bool;

    fn child(&mut self) -> &mut Child;
}

impl Running for Child {
    fn cycle_ended(&mut self) -> bool {
        self.try_wait().expect("poll muster").is_some()
    }

    fn child(&mut self) -> &mut Child {
        self
    }
}

#[derive(Debug, Clone)]
pub enum Kill {
    /// Once the simulator has stored the write of the `skip + 1`th successful `method` request
    /// to `/Users` this process sends, while it withholds the answer.
    HeldAnswer { method: Method, skip: usize },
    /// During start-up, planning, or the first requests: after the delay, or once the
    /// simulator has served the given number of requests since the phase began (so that a
    /// fast machine's progress in the delay never takes the place of the kills after it).
    AfterDelay(Duration, Option<u64>),
    /// Once the simulator has served this many requests since the phase began.
    AtRequest(u64),
}

#[derive(Debug)]
pub struct Hit {
    pub kill: Kill,
    /// False when the cycle had already ended: the kill came too late to hit anything.
    pub was_running: bool,
    pub users_at_kill: usize,
    pub requests_at_kill: u64,
}

/// A kill between a `method` write and its answer, after a random number (below `within`) of
/// such writes have been answered; and an upper bound on the requests of the cycle it uses up
/// (`per_write` requests per person, and as many again for the writes in flight beside it).
pub fn held_kill(rng: &mut Rng, method: Method, within: usize, per_write: u64) -> (Kill, u64) {
    /// Writes in flight at once: `[target] concurrency` (8) × 2, as the apply step buffers.
    const IN_FLIGHT: u64 = 16;
    let skip = rng.below(within as u64) as usize;
    let consumed = (skip as u64 + 1 + IN_FLIGHT) * per_write;
    (Kill::HeldAnswer { method, skip }, consumed)
}

/// `at_delay` kills at random delays up to 2 s and `at_requests` kills spread uniformly over
/// `requests` (sorted, since each process carries on where the last one stopped), the delayed
/// ones interleaved at random positions. A delayed kill also comes once the requests reach
/// halfway to the next kill's, so the kills after it land where they were placed however
/// much a machine does in the delay.
pub fn kill_plan(rng: &mut Rng, at_delay: usize, at_requests: usize, requests: u64) -> Vec<Kill> {
    let mut points: Vec<u64> = (0..at_requests)
        .map(|_| 1 + rng.below(requests.saturating_sub(1).max(1)))
        .collect();
    points.sort_unstable();
    let mut plan: Vec<Kill> = points.iter().copied().map(Kill::AtRequest).collect();
    for _ in 0..at_delay {
        let delay = Duration::from_millis(rng.below(2000));
        let at = rng.below(plan.len() as u64 + 1) as usize;
        let point = |kill: &Kill| match kill {
            Kill::AtRequest(n) | Kill::AfterDelay(_, Some(n)) => Some(*n),
            _ => None,
        };
        let before = plan[..at].iter().rev().find_map(point).unwrap_or(0);
        let bound = plan[at..]
            .iter()
            .find_map(point)
            .map(|next| before + next.saturating_sub(before) / 2);
        plan.insert(at, Kill::AfterDelay(delay, bound));
    }
    plan
}

/// Kills a process at `held` first, so that it hits a cycle with writes still to do, calls
/// `between` while no process runs, then kills one process at each kill of `plan`, whose
/// request counts start where `held` left the cycle. `start` starts a process.
pub fn kill_repeatedly<T>(
    sim: &Sim,
    held: Kill,
    plan: &[Kill],
    start: &mut dyn FnMut() -> Box<dyn Running>,
    between: impl FnOnce() -> T,
) -> (Vec<Hit>, T) {
    let mut hits = vec![kill_once(sim, held, sim.requests(), start)];
    let between = between();
    let base = sim.requests();
    hits.extend(
        plan.iter()
            .map(|kill| kill_once(sim, kill.clone(), base, start)),
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
    (hits, between)
}

/// Starts a process and kills it at `kill` (request counts from `base`), or once its cycle has
/// ended if that comes first.
pub fn kill_once(
    sim: &Sim,
    kill: Kill,
    base: u64,
    start: &mut dyn FnMut() -> Box<dyn Running>,
) -> Hit {
    let mut held = match &kill {
        Kill::HeldAnswer { method, skip } => {
            Some(sim.state.hold_answer(method.clone(), "Users", *skip))
        }
        _ => None,
    };
    let holds_answer = held.is_some();
    let mut running = start();
    let started = Instant::now();
    let mut due = |sim: &Sim| match &kill {
        Kill::HeldAnswer { .. } => held.as_mut().is_some_and(|h| h.has_landed()),
        Kill::AfterDelay(delay, bound) => {
            started.elapsed() >= *delay || bound.is_some_and(|n| sim.requests() >= base + n)
        }
        Kill::AtRequest(n) => sim.requests() >= base + n,
    };
    let was_running = loop {
        if due(sim) {
            break true;
        }
        if running.cycle_ended() {
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
    let child = running.child();
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

/// The kills hit a running cycle, and at least `distinct` of them part-way through creating
/// `total` users.
pub fn assert_spread(hits: &[Hit], total: usize, distinct: usize) {
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

/// The seed from `MUSTER_CRASH_SEED`, or `default`; printed, so a failure can be replayed.
pub fn seed(default: impl FnOnce() -> u64) -> u64 {
    let seed = std::env::var("MUSTER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(default);
    eprintln!("crash test seed {seed} (MUSTER_CRASH_SEED={seed} replays it)");
    seed
}

/// A seed that differs from run to run.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// xorshift64*: deterministic, good enough to place kills.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
