//! What a cycle costs when little changed, and what a big initial cycle costs on every core:
//! `cargo bench -p muster --bench delta`.
//!
//! Not a criterion bench: each cycle is seconds of work, and the figures wanted are times,
//! request counts and peak memory, printed as a table. `MUSTER_BENCH_PEOPLE` (100,000) people
//! through `tests/data/job.toml` (the example plugins as WASM components) into the Zoom simulator
//! over loopback:
//!
//! - the initial dry run, as `muster sync --once --dry-run` in a child process, on one core
//!   (`taskset -c 0`) and on all of them, alternating: wall time and peak RSS;
//! - an initial cycle, in-process, and the same cycle's peak RSS in a child process;
//! - no-change cycles and 1 % churn cycles, each planned by delta and in full (`--full`),
//!   alternating, so that the ratio is measured in one window.
//!
//! `MUSTER_BENCH_ONLY=memory` runs only child processes (the dry run on all cores, the initial
//! cycle, a full plan of the unchanged directory, then a delta cycle after 1 % changed title)
//! and prints their time and peak RSS: the quick loop for memory work;
//! `MUSTER_BENCH_WRAP` runs those children under a profiler (`heaptrack -o /tmp/muster`).

use muster_test_support::directory::population_id;
use muster_test_support::{Directory, env_or};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use engine::config::Config;
use muster::job::Job;
use muster::sync::{CycleOptions, CycleReport, run_cycle};
use zoom_sim::{SimConfig, SimState};

const TOKEN: &str = "bench-token";
const ROUNDS: usize = 2;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let people = env_or::<u64>("MUSTER_BENCH_PEOPLE", 100_000) as usize;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "muster delta bench: {people} people, {cores} cores, profile {}",
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    let (sim, base_url, _stop) = start_sim().await?;
    let dir = tempfile::tempdir()?;
    let mut directory = population(people);
    directory.write(&dir.path().join("directory.json"));
    let config_path = write_config(dir.path(), &base_url)?;
    if std::env::var("MUSTER_BENCH_ONLY").as_deref() == Ok("memory") {
        return memory_only(dir.path(), &mut directory, people);
    }

    // The initial dry run, one core against all, alternating; each in a fresh state directory.
    let mut dry = Vec::new();
    for round in 0..ROUNDS {
        for one_core in [true, false] {
            let run_dir = dir.path().join(format!("dry-{round}-{one_core}"));
            std::fs::create_dir_all(&run_dir)?;
            std::fs::copy(
                dir.path().join("directory.json"),
                run_dir.join("directory.json"),
            )?;
            let config = write_config(&run_dir, &base_url)?;
            let run = child(&config, &["--dry-run"], one_core)?;
            dry.push((one_core, run));
        }
    }

    // The initial cycle, in-process; then its peak RSS in a child process, into a second,
    // empty simulator.
    let job = Job::build_with_token(read_config(&config_path)?, dir.path(), TOKEN.into())?;
    let initial = cycle(&job, false).await?;
    ensure!(
        initial.counts.created == people as u64 && initial.counts.failed == 0,
        "initial cycle: {:?}",
        initial.counts
    );
    let initial_rss = {
        let (_sim2, base_url2, _stop2) = start_sim().await?;
        let run_dir = dir.path().join("initial-child");
        std::fs::create_dir_all(&run_dir)?;
        std::fs::copy(
            dir.path().join("directory.json"),
            run_dir.join("directory.json"),
        )?;
        let config = write_config(&run_dir, &base_url2)?;
        child(&config, &[], false)?
    };

    // No change: delta against full, alternating. The first delta cycle after the initial one
    // already finds everyone settled.
    let mut no_change = Vec::new();
    for _ in 0..ROUNDS {
        for full in [false, true] {
            let before = sim.counters().requests;
            let report = cycle(&job, full).await?;
            ensure!(
                report.counts.unchanged == people as u64 && report.counts.failed == 0,
                "no-change cycle: {:?}",
                report.counts
            );
            no_change.push((full, report, sim.counters().requests - before));
        }
    }

    // 1 % churn: a different 1 % of the people change title before each cycle.
    let churn = (people / 100).max(1);
    let mut churned = Vec::new();
    let mut offset = 0;
    for _ in 0..ROUNDS {
        for full in [false, true] {
            for k in 0..churn {
                let i = (offset + k * 97) % people;
                directory
                    .get(&population_id(i))
                    .set("jobTitle", format!("Title {offset}"));
            }
            offset += 1;
            directory.write(&dir.path().join("directory.json"));
            let before = sim.counters().requests;
            let report = cycle(&job, full).await?;
            ensure!(
                report.counts.updated == churn as u64 && report.counts.failed == 0,
                "churn cycle: {:?}",
                report.counts
            );
            churned.push((full, report, sim.counters().requests - before));
        }
    }

    print_table(
        people,
        churn,
        &dry,
        &initial,
        &initial_rss,
        &no_change,
        &churned,
    );
    Ok(())
}

/// The initial dry run, the initial cycle, a no-change full plan and a 1 % churn delta cycle
/// as child processes: time and peak RSS.
fn memory_only(dir: &Path, directory: &mut Directory, people: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Handle::current();
    let (_sim, base_url, _stop) = tokio::task::block_in_place(|| rt.block_on(start_sim()))?;
    // The full plan and the churn cycle run in the initial cycle's folder: every record and
    // plugin answer is there. Before the churn cycle, 1 % of the people change title.
    let runs = [
        ("initial dry run", "dry", &["--dry-run"][..]),
        ("initial", "initial", &[][..]),
        ("no change, full plan", "initial", &["--full"][..]),
        ("1 % churn, delta", "initial", &[][..]),
    ];
    for (label, folder, args) in runs {
        if label.starts_with("1 %") {
            for k in 0..(people / 100).max(1) {
                directory
                    .get(&population_id((k * 97) % people))
                    .set("jobTitle", "Title churned");
            }
            directory.write(&dir.join(folder).join("directory.json"));
        }
        let run_dir = dir.join(folder);
        if !run_dir.exists() {
            std::fs::create_dir_all(&run_dir)?;
            std::fs::copy(dir.join("directory.json"), run_dir.join("directory.json"))?;
        }
        let config = write_config(&run_dir, &base_url)?;
        let run = child(&config, args, false)?;
        println!(
            "{label}: {:.2} s, peak RSS {:.0} MB",
            secs(run.elapsed),
            mb(run.peak_rss_bytes)
        );
    }
    Ok(())
}

fn population(people: usize) -> Directory {
    Directory::population(
        people,
        "bench.example",
        |i| i.is_multiple_of(3),
        |i| i.is_multiple_of(5),
    )
}

async fn cycle(job: &Job, full: bool) -> anyhow::Result<CycleReport> {
    let options = CycleOptions {
        full_plan: full,
        ..CycleOptions::default()
    };
    run_cycle(job, &options)
        .await?
        .context("the cycle did not run")
}

/// A finished child process: wall time and peak resident memory.
struct ChildRun {
    elapsed: Duration,
    peak_rss_bytes: u64,
}

/// Runs `muster sync --once --config <config> <args>` to the end, on core 0 only when
/// `one_core`, and follows its peak RSS (`VmHWM` in `/proc/<pid>/status`, read every 20 ms
/// until it exits). Not `wait4`'s `ru_maxrss`: Linux carries a forked child's high-water mark
/// over its `exec`, so it would report this benchmark's own memory.
fn child(config: &Path, args: &[&str], one_core: bool) -> anyhow::Result<ChildRun> {
    let muster = env!("CARGO_BIN_EXE_muster");
    // `MUSTER_BENCH_WRAP="heaptrack -o /tmp/muster"`: run the child under a profiler.
    let wrap = std::env::var("MUSTER_BENCH_WRAP").unwrap_or_default();
    let mut prefix: Vec<&str> = wrap.split_whitespace().collect();
    if one_core {
        prefix.splice(0..0, ["taskset", "-c", "0"]);
    }
    let mut command = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(muster);
            c
        }
        None => Command::new(muster),
    };
    command
        .args(["sync", "--once", "--config"])
        .arg(config)
        .args(args)
        .env("MUSTER_TARGET_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    let started = Instant::now();
    let mut spawned = command.spawn().context("starting muster")?;
    let status_file = format!("/proc/{}/status", spawned.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(high_water_kib)
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = spawned.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    ensure!(status.success(), "muster {args:?} exited with {status}");
    Ok(ChildRun {
        elapsed,
        peak_rss_bytes: peak_kib * 1024,
    })
}

/// `VmHWM` of a `/proc/<pid>/status`, in KiB. Under `taskset` the first reads are taskset's
/// own, which is smaller than muster's at any point that matters.
fn high_water_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)?;
    Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The job file, with the simulator's address and no rate limit, in `dir`.
fn write_config(dir: &Path, base_url: &str) -> anyhow::Result<PathBuf> {
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "RATE" => Some("1000000.0".to_string()),
        "CONCURRENCY" => Some("16".to_string()),
        _ => None,
    };
    let text = muster::job::expand_env(include_str!("../tests/data/job.toml"), lookup)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.join("job.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn start_sim() -> anyhow::Result<(SimState, String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}/scim2", listener.local_addr()?);
    let sim = SimState::new(&SimConfig::new(TOKEN));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(zoom_sim::serve_state(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));
    Ok((sim, base_url, stop))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The median of `values` (the lower of the two middle ones).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0)
}

fn print_table(
    people: usize,
    churn: usize,
    dry: &[(bool, ChildRun)],
    initial: &CycleReport,
    initial_rss: &ChildRun,
    no_change: &[(bool, CycleReport, u64)],
    churned: &[(bool, CycleReport, u64)],
) {
    println!("\n| cycle | people | planned | time | requests | memo hits / calls | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, one_core) in [("one core", true), ("all cores", false)] {
        let runs: Vec<&ChildRun> = dry
            .iter()
            .filter(|(o, _)| *o == one_core)
            .map(|(_, r)| r)
            .collect();
        let times: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.2}", secs(r.elapsed)))
            .collect();
        let rss = runs.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0);
        println!(
            "| initial dry run, {label} | {people} | {people} | {} s | 0 | | {:.0} MB |",
            times.join(" / "),
            mb(rss)
        );
    }
    println!(
        "| initial | {people} | {people} | {:.2} s | {} | {} / {} | {:.0} MB (child process) |",
        secs(initial.elapsed),
        initial.counts.writes,
        initial.counts.memo_hits,
        initial.counts.memo_misses,
        mb(initial_rss.peak_rss_bytes)
    );
    let rows = |name: &str, runs: &[(bool, CycleReport, u64)]| {
        for (label, full) in [("delta", false), ("full", true)] {
            let mine: Vec<&(bool, CycleReport, u64)> =
                runs.iter().filter(|(f, _, _)| *f == full).collect();
            let times: Vec<String> = mine
                .iter()
                .map(|(_, r, _)| format!("{:.2}", secs(r.elapsed)))
                .collect();
            let planned = mine
                .first()
                .map_or(0, |(_, r, _)| r.counts.planned.unwrap_or(people as u64));
            let requests = mine.first().map_or(0, |(_, _, n)| *n);
            // The last run of the kind: the memo holds what the earlier ones answered.
            let memo = mine.last().map_or((0, 0), |(_, r, _)| {
                (r.counts.memo_hits, r.counts.memo_misses)
            });
            println!(
                "| {name}, {label} | {people} | {planned} | {} s | {requests} | {} / {} | |",
                times.join(" / "),
                memo.0,
                memo.0 + memo.1
            );
        }
    };
    rows("no change", no_change);
    rows(&format!("{churn} changed (1 %)"), churned);
    let ratio = |runs: &[(bool, CycleReport, u64)]| {
        let t = |full: bool| {
            median(
                runs.iter()
                    .filter(|(f, _, _)| *f == full)
                    .map(|(_, r, _)| secs(r.elapsed))
                    .collect(),
            )
        };
        t(true) / t(false).max(1e-9)
    };
    let dry_ratio = median(
        dry.iter()
            .filter(|(o, _)| *o)
            .map(|(_, r)| secs(r.elapsed))
            .collect(),
    ) / median(
        dry.iter()
            .filter(|(o, _)| !*o)
            .map(|(_, r)| secs(r.elapsed))
            .collect(),
    )
    .max(1e-9);
    println!(
        "\nFull ÷ delta: no change {:.1}×, 1 % churn {:.1}×. Initial dry run, one core ÷ all \
         cores: {dry_ratio:.2}×. Memo hits / calls: of the plugin calls a cycle would make.",
        ratio(no_change),
        ratio(churned)
    );
}
