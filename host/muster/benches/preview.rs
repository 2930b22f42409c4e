//! A rule change's preview against a planning cycle over the same people: `cargo bench -p
//! muster --bench preview`.
//!
//! Both read the snapshot and plan everyone through the example plugins (WebAssembly: the
//! normalize-attributes transform and the license-by-group rule); the preview plans twice (the
//! active versions and the candidate, one plan on each of two threads) and compares. The
//! candidate is the same rule with the licensed plan following Zoom-Phone instead of
//! Zoom-Licensed, so the comparison has people to list. Runs alternate plan, preview, plan,
//! preview... in one process, so the ratio is measured under the same load. Sizes:
//! `MUSTER_BENCH_PEOPLE` (100,000), `MUSTER_BENCH_ROUNDS` (2).

use std::time::{Duration, Instant};

use anyhow::Context;
use engine::config::Config;
use muster::job::Job;
use muster::preview::{Candidate, PreviewOptions, preview};
use muster::sync::{CycleOptions, run_cycle};
use muster_test_support::{Directory, env_or};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let people = env_or::<u64>("MUSTER_BENCH_PEOPLE", 100_000) as usize;
    let rounds = env_or::<u64>("MUSTER_BENCH_ROUNDS", 2).max(1) as usize;
    println!(
        "muster preview bench: {people} people, {rounds} rounds, {} cores, profile {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    let dir = tempfile::tempdir()?;
    Directory::population(
        people,
        "bench.example",
        |i| i.is_multiple_of(3),
        |i| i.is_multiple_of(5),
    )
    .write(&dir.path().join("directory.json"));
    // Nothing listens on port 9: neither a dry run nor a preview sends anything.
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some("http://127.0.0.1:9/scim2".to_string()),
        "RATE" => Some("1000".to_string()),
        "CONCURRENCY" => Some("8".to_string()),
        _ => None,
    };
    let text = muster::job::expand_env(include_str!("../tests/data/job.toml"), lookup)
        .map_err(anyhow::Error::msg)?;
    let config = Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let job = Job::build_with_token(config, dir.path(), "unused".into())?;
    let rule = job
        .config
        .license
        .as_ref()
        .context("the template has a rule")?;
    let candidate_config = rule
        .config_json()
        .replace("\"Zoom-Licensed\"", "\"Zoom-Phone\"");
    let candidate = Candidate {
        name: rule.name.clone(),
        config: Some(candidate_config),
        ..Candidate::default()
    };
    let dry = CycleOptions {
        dry_run: true,
        ..CycleOptions::default()
    };

    let (mut plans, mut previews) = (Vec::new(), Vec::new());
    let mut last = None;
    for round in 1..=rounds {
        let started = Instant::now();
        run_cycle(&job, &dry)
            .await?
            .context("a dry run is never skipped")?;
        let plan = started.elapsed();
        let started = Instant::now();
        let report = preview(
            &job,
            std::slice::from_ref(&candidate),
            &PreviewOptions::default(),
        )
        .await?;
        let previewed = started.elapsed();
        println!(
            "round {round}: plan {:.2} s, preview {:.2} s ({:.2}×)",
            plan.as_secs_f64(),
            previewed.as_secs_f64(),
            previewed.as_secs_f64() / plan.as_secs_f64()
        );
        plans.push(plan);
        previews.push(previewed);
        last = Some(report);
    }
    let report = last.context("at least one round")?;
    let (plan, previewed) = (median(&mut plans), median(&mut previews));
    println!();
    println!("| run | people | median time | rate |");
    println!("|---|---:|---:|---:|");
    for (name, time) in [
        ("plan (dry run)", plan),
        ("preview (two plans + compare)", previewed),
    ] {
        println!(
            "| {name} | {people} | {:.2} s | {:.0} people/s |",
            time.as_secs_f64(),
            people as f64 / time.as_secs_f64()
        );
    }
    println!(
        "\npreview / plan: {:.2}× (bound: 3×); the candidate moves {} licenses",
        previewed.as_secs_f64() / plan.as_secs_f64(),
        report.impact.license_changes.count
    );
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
