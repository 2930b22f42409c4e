//! The state file's size over weeks of sync cycles, with `[retention]` pruning it as `muster
//! serve` does: `cargo bench -p muster --bench state_size`.
//!
//! Running 1,080 real cycles of 10,000 people would take hours, so the bench first runs real
//! ones (into the in-process Zoom simulator, the example plugins, the job of
//! `tests/data/job.toml`): an initial cycle, a no-change cycle, and a cycle in which a few
//! people changed (their title). It keeps what each wrote (the provisioning log rows, and for
//! every create or update its intent and record) and then replays that, cycle after cycle,
//! into a fresh state file through the store's API: the cycle row, an intent settled with its
//! record per write, the log, the watermarks; every cycle one interval later on a simulated
//! clock. The real retention (`muster::retention::prune_store`, `[retention] logs_days = 30`
//! and `max_db_mb`) runs on `serve`'s schedule: at start and every `interval_secs` of simulated
//! time. It prints the state file's size (and its WAL's) at days 1, 7, 14 and 30 and at the
//! end, for the default `max_db_mb` and for a larger one.
//!
//! Scale: `MUSTER_BENCH_PEOPLE` (10,000), `MUSTER_BENCH_DAYS` (30), `MUSTER_BENCH_INTERVAL_MIN`
//! (40, Entra's cycle), `MUSTER_BENCH_CHANGED_PERCENT` (1: people changed in every cycle; 0
//! for no-change cycles), `MUSTER_BENCH_MAX_DB_MB` (`1024,4096`: one run per bound).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, ensure};
use engine::config::{Config, RetentionConfig};
use engine::model::ProvisionedRecord;
use engine::plan::{Action, PlannedAction};
use muster::job::Job;
use muster::sync::{CycleOptions, CycleReport, run_cycle};
use muster_test_support::directory::population_id;
use muster_test_support::{Directory, env_or};
use serde_json::Value as Json;
use store::{CycleCounts, CycleKind, CycleStatus, LogRow, Store};
use zoom_sim::{SimConfig, SimState};

const TOKEN: &str = "bench-token";
const DAY: i64 = 86_400;
/// The days at which the size is printed (and the last one).
const REPORT_DAYS: [i64; 4] = [1, 7, 14, 30];

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let people = env_or::<usize>("MUSTER_BENCH_PEOPLE", 10_000);
    let days = env_or::<i64>("MUSTER_BENCH_DAYS", 30);
    let interval_min = env_or::<i64>("MUSTER_BENCH_INTERVAL_MIN", 40);
    let changed_percent = env_or::<f64>("MUSTER_BENCH_CHANGED_PERCENT", 1.0);
    let bounds: Vec<u64> = std::env::var("MUSTER_BENCH_MAX_DB_MB")
        .unwrap_or_else(|_| "1024,4096".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("MUSTER_BENCH_MAX_DB_MB: megabytes, comma-separated")?;
    ensure!(
        interval_min > 0,
        "MUSTER_BENCH_INTERVAL_MIN must be positive"
    );
    println!(
        "muster state-size bench: {people} people, {days} days of {interval_min}-minute cycles, \
         {changed_percent} % changed per cycle, profile {}",
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );

    let started = Instant::now();
    let cycles = Captured::run(people, changed_percent).await?;
    println!(
        "real cycles captured in {:.1} s: initial {} log rows ({:.1} MB), each simulated cycle \
         {} log rows ({:.1} MB) and {} writes; a no-change cycle's log is {:.1} MB",
        started.elapsed().as_secs_f64(),
        cycles.initial.rows.len(),
        mb(cycles.initial.log_bytes()),
        cycles.each.rows.len(),
        mb(cycles.each.log_bytes()),
        cycles.each.writes.len(),
        mb(cycles.no_change_log_bytes),
    );

    let mut results = Vec::new();
    for max_db_mb in bounds {
        let retention = RetentionConfig {
            max_db_mb,
            ..RetentionConfig::default()
        };
        let started = Instant::now();
        let samples = simulate(&cycles, &retention, days, interval_min * 60)?;
        results.push((retention, samples, started.elapsed()));
    }
    store::simulate_now(None);
    for (retention, samples, took) in &results {
        print_table(retention, samples, interval_min, took.as_secs_f64());
    }
    Ok(())
}

/// What one cycle writes.
struct CycleWrites {
    kind: CycleKind,
    counts: CycleCounts,
    plugin_versions: BTreeMap<String, String>,
    rows: Vec<LogRow>,
    /// The replay blobs the rows refer to.
    blobs: Vec<engine::replay::Blob>,
    /// Each write's intent (action, payload) and the record its success committed.
    writes: Vec<Write>,
    people: usize,
}

struct Write {
    action: &'static str,
    payload: Json,
    record: ProvisionedRecord,
}

impl CycleWrites {
    /// What `report`'s cycle wrote; `records` is the state after it.
    fn of(
        report: &CycleReport,
        records: &BTreeMap<String, ProvisionedRecord>,
    ) -> anyhow::Result<Self> {
        let rows = report
            .plan
            .log
            .iter()
            .map(muster::provision::log_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let writes = report
            .plan
            .actions
            .iter()
            .map(|planned| write_of(planned, records))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(CycleWrites {
            blobs: report.plan.blobs.clone(),
            kind: report.kind,
            counts: report.counts.clone(),
            plugin_versions: report.plugin_versions.clone(),
            rows,
            writes,
            people: report.plan.log.len(),
        })
    }

    fn log_bytes(&self) -> u64 {
        self.rows
            .iter()
            .map(|r| r.detail.to_string().len() + r.identity.len() + r.person_id.len())
            .sum::<usize>() as u64
    }
}

fn write_of(
    planned: &PlannedAction,
    records: &BTreeMap<String, ProvisionedRecord>,
) -> anyhow::Result<Write> {
    let action = match planned.action {
        Action::Create { .. } => "create",
        Action::Update { .. } => "update",
        Action::Disable { .. } => "disable",
        Action::Delete { .. } => "delete",
    };
    let record = records
        .get(&planned.source_id)
        .cloned()
        .with_context(|| format!("no record of {} after the real cycle", planned.source_id))?;
    Ok(Write {
        action,
        payload: serde_json::to_value(&planned.action)?,
        record,
    })
}

/// The real cycles whose writes the simulation replays.
struct Captured {
    initial: CycleWrites,
    /// What every simulated cycle after the initial one writes.
    each: CycleWrites,
    no_change_log_bytes: u64,
}

impl Captured {
    async fn run(people: usize, changed_percent: f64) -> anyhow::Result<Captured> {
        let (sim, base_url, _stop) = start_sim().await?;
        let dir = tempfile::tempdir()?;
        let job = job(dir.path(), &base_url)?;
        write_directory(dir.path(), people, None)?;
        let initial = real_cycle(&job).await?;
        ensure!(
            initial.counts.created == people as u64 && initial.counts.failed == 0,
            "initial cycle: {:?}",
            initial.counts
        );
        ensure!(sim.users().len() == people, "the simulator misses users");
        let initial = CycleWrites::of(&initial, &job.store.records()?)?;
        let no_change = real_cycle(&job).await?;
        ensure!(
            no_change.counts.writes == 0,
            "no-change cycle: {:?}",
            no_change.counts
        );
        let no_change = CycleWrites::of(&no_change, &job.store.records()?)?;
        let no_change_log_bytes = no_change.log_bytes();
        let each = if changed_percent > 0.0 {
            write_directory(dir.path(), people, Some(changed_percent))?;
            let changed = real_cycle(&job).await?;
            ensure!(
                changed.counts.updated > 0 && changed.counts.failed == 0,
                "changed cycle: {:?}",
                changed.counts
            );
            CycleWrites::of(&changed, &job.store.records()?)?
        } else {
            no_change
        };
        Ok(Captured {
            initial,
            each,
            no_change_log_bytes,
        })
    }
}

async fn real_cycle(job: &Job) -> anyhow::Result<CycleReport> {
    // Planned whole: what the cycle wrote is replayed from its plan.
    let whole = CycleOptions {
        batch: Some(muster::sync::WHOLE),
        ..CycleOptions::default()
    };
    run_cycle(job, &whole)
        .await?
        .context("the cycle did not run")
}

/// The size of the state at one moment of the simulation.
struct Sample {
    day: f64,
    cycles: u64,
    file: u64,
    wal: u64,
    live: u64,
    /// Log rows kept, in cycles' worth.
    kept_cycles: f64,
}

/// Replays `cycles` into a fresh state for `days`, one cycle every `interval` simulated
/// seconds, pruned with `retention` at start and every `retention.interval_secs`.
fn simulate(
    cycles: &Captured,
    retention: &RetentionConfig,
    days: i64,
    interval: i64,
) -> anyhow::Result<Vec<Sample>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("muster.db");
    store::simulate_now(None);
    let t0 = store::now_unix();
    store::simulate_now(Some(t0));
    let store = Store::open(&path)?;
    let end = t0 + days * DAY;
    let prune_every = i64::try_from(retention.interval_secs).context("interval_secs")?;
    let mut next_prune = t0;
    let mut next_report = REPORT_DAYS
        .iter()
        .copied()
        .filter(|&d| d <= days)
        .peekable();
    let mut samples = Vec::new();
    let (mut logged, mut pruned_logs) = (0u64, 0u64);
    let mut count = 0u64;
    let mut at = t0;
    let started = Instant::now();
    while at < end {
        while next_prune <= at {
            store::simulate_now(Some(next_prune));
            pruned_logs += muster::retention::prune_store(&store, retention)?.logs;
            next_prune += prune_every;
        }
        store::simulate_now(Some(at));
        let writes = if count == 0 {
            &cycles.initial
        } else {
            &cycles.each
        };
        replay(&store, writes)?;
        logged += writes.rows.len() as u64;
        count += 1;
        at += interval;
        let day = (at - t0) as f64 / DAY as f64;
        let due = next_report.peek().is_some_and(|&d| at - t0 >= d * DAY) || at >= end;
        if due {
            next_report.next();
            let per_cycle = cycles.each.people.max(1) as f64;
            samples.push(Sample {
                day,
                cycles: count,
                file: file_size(&path),
                wal: file_size(&dir.path().join("muster.db-wal")),
                live: store.live_bytes()?,
                kept_cycles: logged.saturating_sub(pruned_logs) as f64 / per_cycle,
            });
            if let Some(s) = samples.last() {
                eprintln!(
                    "  max_db_mb {}: day {day:.1}, {count} cycles, file {:.0} MB, WAL {:.0} MB, \
                     live {:.0} MB ({:.0} s)",
                    retention.max_db_mb,
                    mb(s.file),
                    mb(s.wal),
                    mb(s.live),
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(samples)
}

/// Writes what one cycle writes, as the sync path writes it: the cycle row, each write's intent
/// then its outcome with its record, the log in one batch, the cycle's end, the watermarks.
fn replay(store: &Store, cycle: &CycleWrites) -> anyhow::Result<()> {
    let id = store.start_cycle(cycle.kind, &cycle.plugin_versions)?;
    for write in &cycle.writes {
        let intent = store.begin_intent(
            id,
            &write.record.source_id,
            write.action,
            &write.record.matching_value,
            &write.payload,
        )?;
        store.commit_success(intent, &write.record)?;
    }
    store.append_logs_with_blobs(id, &cycle.rows, &cycle.blobs)?;
    store.finish_cycle(id, CycleStatus::Succeeded, &cycle.counts)?;
    store.set_watermark("source", &id.to_string())?;
    store.set_watermark("source_people", &cycle.people.to_string())?;
    Ok(())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_table(retention: &RetentionConfig, samples: &[Sample], interval_min: i64, secs: f64) {
    println!(
        "\n[retention] logs_days = {}, max_db_mb = {}, interval_secs = {} (simulated in {secs:.0} s)",
        retention.logs_days, retention.max_db_mb, retention.interval_secs
    );
    println!("| day | cycles | state file | WAL | live data | logs kept |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for s in samples {
        println!(
            "| {:.1} | {} | {:.0} MB | {:.0} MB | {:.0} MB | {:.0} cycles ({:.1} h) |",
            s.day,
            s.cycles,
            mb(s.file),
            mb(s.wal),
            mb(s.live),
            s.kept_cycles,
            s.kept_cycles * interval_min as f64 / 60.0
        );
    }
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

fn job(dir: &Path, base_url: &str) -> anyhow::Result<Job> {
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "RATE" => Some("1000000.0".to_string()),
        "CONCURRENCY" => Some("16".to_string()),
        _ => None,
    };
    let text = muster::job::expand_env(include_str!("../tests/data/job.toml"), lookup)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Job::build_with_token(config, dir, TOKEN.into())
}

/// Everyone assigned directly; a third licensed, a fifth with Zoom Phone, three departments.
/// With `changed_percent`, that share of the people (spread evenly) has a new title.
fn write_directory(dir: &Path, people: usize, changed_percent: Option<f64>) -> anyhow::Result<()> {
    let stride = changed_percent.map(|p| ((100.0 / p).round() as usize).max(1));
    let mut directory = Directory::population(
        people,
        "bench.example",
        |i| i.is_multiple_of(3),
        |i| i.is_multiple_of(5),
    );
    if let Some(stride) = stride {
        for i in (0..people).step_by(stride) {
            directory
                .get(&population_id(i))
                .set("jobTitle", "Senior Engineer");
        }
    }
    directory.write(&dir.join("directory.json"));
    Ok(())
}
