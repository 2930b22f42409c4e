//! Sync throughput into the Zoom simulator over loopback, end to end (source file → plugins →
//! plan → SCIM requests → state store): `cargo bench -p muster --bench sync`.
//!
//! Not a criterion bench: one run of each cycle is minutes of work, and the figures wanted are
//! rates and counts, printed as a table. Sizes: `MUSTER_BENCH_PEOPLE` (10,000) for the
//! unlimited initial and no-change cycles, `MUSTER_BENCH_RATE` (R = 100/s) and
//! `MUSTER_BENCH_RATE_PEOPLE` (1,000) for the rate-limited one.

use muster_test_support::{Directory, env_or};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use engine::config::Config;
use muster::job::Job;
use muster::sync::{CycleOptions, CycleReport, run_cycle};
use zoom_sim::{SimConfig, SimState};

const TOKEN: &str = "bench-token";
/// On-demand runs measured during the rate-limited cycle.
const ON_DEMAND: usize = 10;
/// Entra's documented time per object for an initial cycle: 0.01–0.08 minutes.
const ENTRA_MIN_PER_OBJECT: (f64, f64) = (0.01, 0.08);

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let people = env_or::<u64>("MUSTER_BENCH_PEOPLE", 10_000) as usize;
    let rate = env_or::<u64>("MUSTER_BENCH_RATE", 100) as u32;
    let rate_people = env_or::<u64>("MUSTER_BENCH_RATE_PEOPLE", 1_000) as usize;
    println!(
        "muster sync bench: {} cores, profile {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );

    let unlimited = unlimited(people).await?;
    let limited = limited(rate_people, rate).await?;
    print_table(people, &unlimited, rate_people, rate, &limited);
    Ok(())
}

struct Unlimited {
    plan: Duration,
    initial: Duration,
    initial_requests: u64,
    no_change: Duration,
    /// What one no-change cycle adds to the state (its provisioning log and cycle row).
    per_cycle_bytes: u64,
}

struct Limited {
    /// On-demand provisioning latencies during the cycle, sorted.
    on_demand: Vec<Duration>,
    /// The cycle was still running when the last on-demand run answered.
    cycle_running: bool,
    elapsed: Duration,
    requests: u64,
    /// From the first request to the last one.
    span: Duration,
    throttled: u64,
    client_retries: u64,
}

/// An initial cycle and a no-change cycle of `people`, with no rate limit on either side.
async fn unlimited(people: usize) -> anyhow::Result<Unlimited> {
    let (sim, base_url, _stop) = start_sim(None).await?;
    let dir = tempfile::tempdir()?;
    let job = job(dir.path(), &base_url, 1_000_000.0, 16, people)?;

    let dry = CycleOptions {
        dry_run: true,
        ..CycleOptions::default()
    };
    let plan = timed_cycle(&job, &dry).await?.elapsed;
    let initial = timed_cycle(&job, &CycleOptions::default()).await?;
    ensure!(
        initial.counts.created == people as u64 && initial.counts.failed == 0,
        "initial cycle: {:?}",
        initial.counts
    );
    ensure!(sim.users().len() == people, "the simulator misses users");
    let initial_requests = sim.counters().requests;
    let before_no_change = job.store.live_bytes()?;
    let no_change = timed_cycle(&job, &CycleOptions::default()).await?;
    let per_cycle_bytes = job.store.live_bytes()?.saturating_sub(before_no_change);
    ensure!(
        no_change.counts.writes == 0 && no_change.counts.unchanged == people as u64,
        "no-change cycle: {:?}",
        no_change.counts
    );
    Ok(Unlimited {
        plan,
        initial: initial.elapsed,
        initial_requests,
        no_change: no_change.elapsed,
        per_cycle_bytes,
    })
}

/// An initial cycle of `people` with the simulator limited to `rate` requests/s and muster
/// configured at the same rate.
async fn limited(people: usize, rate: u32) -> anyhow::Result<Limited> {
    let (sim, base_url, _stop) = start_sim(Some(rate)).await?;
    let dir = tempfile::tempdir()?;
    let job = Arc::new(job(dir.path(), &base_url, f64::from(rate), 16, people)?);
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn(watch_requests(sim.clone(), Arc::clone(&watching)));
    let cycle = {
        let job = Arc::clone(&job);
        tokio::spawn(async move { timed_cycle(&job, &CycleOptions::default()).await })
    };
    // On-demand provisioning of the last people while the cycle runs (they share its rate
    // limit), one after the other, as an admin clicking "Provision on demand" would.
    while sim.counters().requests == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut on_demand = Vec::new();
    for k in 0..ON_DEMAND.min(people) {
        let who = format!("p-{:05}", people - 1 - k);
        let started = Instant::now();
        let done = muster::on_demand::provision_one(&job, &who)
            .await
            .map_err(|e| anyhow::anyhow!("on-demand {who}: {e}"))?;
        ensure!(done.status != "failure", "on-demand {who}: {}", done.status);
        on_demand.push(started.elapsed());
    }
    let cycle_running = !cycle.is_finished();
    let report = cycle.await??;
    watching.store(false, Ordering::Relaxed);
    let span = watcher.await?;
    on_demand.sort();
    // The people provisioned on demand meanwhile are skipped by the cycle, not created twice.
    ensure!(
        report.counts.created + report.counts.skipped == people as u64
            && report.counts.failed == 0
            && sim.users().len() == people,
        "rate-limited cycle: {:?}",
        report.counts
    );
    let counters = sim.counters();
    Ok(Limited {
        elapsed: report.elapsed,
        requests: counters.requests,
        span,
        throttled: counters.throttled,
        client_retries: job.client.stats().snapshot().retries,
        on_demand,
        cycle_running,
    })
}

/// Samples the simulator's request count until told to stop; returns the time from the first
/// request seen to the last change.
async fn watch_requests(sim: SimState, watching: Arc<AtomicBool>) -> Duration {
    let (mut first, mut last, mut seen) = (None::<Instant>, Instant::now(), 0);
    while watching.load(Ordering::Relaxed) {
        let now = sim.counters().requests;
        if now != seen {
            let at = Instant::now();
            first.get_or_insert(at);
            last = at;
            seen = now;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.map_or(Duration::ZERO, |f| last - f)
}

async fn timed_cycle(job: &Job, options: &CycleOptions) -> anyhow::Result<CycleReport> {
    run_cycle(job, options)
        .await?
        .context("the cycle did not run")
}

async fn start_sim(
    rate: Option<u32>,
) -> anyhow::Result<(SimState, String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}/scim2", listener.local_addr()?);
    let sim = SimState::new(&SimConfig::new(TOKEN));
    sim.set_rate_limit(rate);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(zoom_sim::serve_state(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));
    Ok((sim, base_url, stop))
}

fn job(
    dir: &Path,
    base_url: &str,
    rate: f64,
    concurrency: u32,
    people: usize,
) -> anyhow::Result<Job> {
    // Everyone assigned directly; a third licensed, a fifth with Zoom Phone, three departments.
    Directory::population(
        people,
        "bench.example",
        |i| i.is_multiple_of(3),
        |i| i.is_multiple_of(5),
    )
    .write(&dir.join("directory.json"));
    let text = config_text(base_url, rate, concurrency);
    let config = Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Job::build_with_token(config, dir, TOKEN.into())
}

fn config_text(base_url: &str, rate: f64, concurrency: u32) -> String {
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "RATE" => Some(format!("{rate:.1}")),
        "CONCURRENCY" => Some(concurrency.to_string()),
        _ => None,
    };
    // The job template shared with the crash test.
    muster::job::expand_env(include_str!("../tests/data/job.toml"), lookup)
        .expect("the template's variables")
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn print_table(people: usize, u: &Unlimited, rate_people: usize, rate: u32, l: &Limited) {
    let (lo, hi) = ENTRA_MIN_PER_OBJECT;
    println!("\n| cycle | people | time | rate |");
    println!("|---|---:|---:|---:|");
    println!(
        "| read + plan only (dry run) | {people} | {:.2} s | {:.0} people/s |",
        u.plan.as_secs_f64(),
        per_sec(people, u.plan)
    );
    println!(
        "| initial, no rate limit ({} requests) | {people} | {:.2} s | {:.0} people/s |",
        u.initial_requests,
        u.initial.as_secs_f64(),
        per_sec(people, u.initial)
    );
    println!(
        "| no-change incremental | {people} | {:.2} s | {:.0} people/s |",
        u.no_change.as_secs_f64(),
        per_sec(people, u.no_change)
    );
    let achieved = l.requests.saturating_sub(1) as f64 / l.span.as_secs_f64().max(1e-9);
    println!(
        "| initial, limit R = {rate}/s ({} requests) | {rate_people} | {:.2} s | {:.1} req/s = {:.1} % of R, {} × 429, {} retries |",
        l.requests,
        l.elapsed.as_secs_f64(),
        achieved,
        100.0 * achieved / f64::from(rate),
        l.throttled,
        l.client_retries
    );
    if let (Some(p50), Some(max)) = (l.on_demand.get(l.on_demand.len() / 2), l.on_demand.last()) {
        println!(
            "\nOn demand during the rate-limited cycle ({} runs, one after the other{}): p50 {:.0} ms, \
             max {:.0} ms, each including its two requests under the cycle's shared rate limit",
            l.on_demand.len(),
            if l.cycle_running {
                ", all while the cycle ran"
            } else {
                "; the cycle ended before the last"
            },
            ms(*p50),
            ms(*max)
        );
    }
    // 30 days of a cycle every 40 minutes: 1,080 cycles.
    let month = u.per_cycle_bytes as f64 * 1080.0 / 1e9;
    println!(
        "\nState: a no-change cycle of {people} adds {:.1} MB (its provisioning log); 30 days of \
         40-minute cycles would add {month:.1} GB without [retention], which caps the live data at \
         max_db_mb (default 1024 MiB) by pruning the oldest logs first",
        u.per_cycle_bytes as f64 / 1e6
    );
    println!(
        "\nEntra's estimate for an initial cycle of {people} at {lo}–{hi} min per object: {:.0}–{:.0} min",
        people as f64 * lo,
        people as f64 * hi
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
