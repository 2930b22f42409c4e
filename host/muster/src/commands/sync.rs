//! `muster validate`, `muster sync`, `muster serve` and `muster test-connection`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::job::{Job, read_config, target_auth, target_profile};
use crate::sync::{CycleOptions, report, run_cycle};

pub fn config_dir(config: &Path) -> &Path {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file first, every problem with its location; then whether the target's secrets are
/// there (an unset variable, a missing file), which the file alone cannot say.
pub fn validate(config: &Path) -> anyhow::Result<ExitCode> {
    let parsed = read_config(config)?;
    target_auth(&parsed.target, config_dir(config), |name| {
        std::env::var(name).ok()
    })
    .with_context(|| format!("{}: [target] cannot sign in", config.display()))?;
    target_profile(&parsed, config_dir(config))
        .with_context(|| format!("{}: the target profile", config.display()))?;
    println!("{}: valid", config.display());
    Ok(ExitCode::SUCCESS)
}

pub fn build_job(config: &Path) -> anyhow::Result<Job> {
    Job::build(read_config(config)?, config_dir(config))
}

/// Actions a dry run prints; past them, the whole plan goes to a file.
const DRY_RUN_SHOWN: usize = 50;

/// Where a dry run writes its whole plan unless told: beside the state file.
const DRY_RUN_PLAN_FILE: &str = "dry-run-plan.json";

pub async fn sync(
    config: &Path,
    once: bool,
    options: CycleOptions,
    plan_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let job = build_job(config)?;
    if !once {
        return serve_loop(&job, options).await;
    }
    let Some(report) = run_cycle(&job, &options).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    if !options.dry_run {
        crate::retention::prune_or_warn(&job);
    }
    if options.dry_run {
        let actions = report.plan.actions.len() + report.plan.staged.len();
        let file = match plan_file {
            Some(file) => Some(file.to_path_buf()),
            None if actions > DRY_RUN_SHOWN => {
                let state = job.source_path(&job.config.state_path);
                let dir = state.parent().unwrap_or(Path::new("."));
                Some(dir.join(DRY_RUN_PLAN_FILE))
            }
            None => None,
        };
        if let Some(file) = &file {
            write_plan(&report.plan, file)?;
        }
        print!(
            "{}",
            report::dry_run(&report, DRY_RUN_SHOWN, file.as_deref())
        );
    } else {
        print!("{}", report::summary(&report));
        print!("{}", report::licenses(&job.store.records()?));
    }
    Ok(if report.counts.failed > 0 || report.quarantine.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The whole plan as JSON (actions, held-back deletions, summary, log), streamed to `file`.
fn write_plan(plan: &engine::cycle::Plan, file: &Path) -> anyhow::Result<()> {
    let out = std::fs::File::create(file)
        .with_context(|| format!("writing the plan to {}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, plan)
        .and_then(|()| std::io::Write::flush(&mut out).map_err(serde_json::Error::io))
        .with_context(|| format!("writing the plan to {}", file.display()))
}

/// Runs cycles on the configured interval until Ctrl-C / SIGTERM; a cycle in flight finishes
/// first (as Entra's "stop" does).
pub async fn serve_loop(job: &Job, mut options: CycleOptions) -> anyhow::Result<ExitCode> {
    options.respect_quarantine = true;
    let interval = Duration::from_secs(job.config.sync_interval_secs);
    tracing::info!(
        interval_secs = interval.as_secs(),
        "running sync cycles on a schedule"
    );
    loop {
        match run_cycle(job, &options).await {
            Ok(Some(report)) => {
                tracing::info!(cycle = ?report.cycle_id, counts = ?report.counts, "cycle done");
                crate::retention::prune_or_warn(job);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cycle failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn test_connection(config: &Path) -> anyhow::Result<ExitCode> {
    let job = build_job(config)?;
    let mut source_ok = true;
    if let (Some(graph), engine::config::SourceConfig::Graph(settings)) =
        (&job.graph, &job.config.source)
    {
        for check in crate::sources::graph::check::run(graph, settings).await {
            match check.outcome {
                Ok(seen) => println!("source graph {}: OK ({seen})", check.name),
                Err(fix) => {
                    source_ok = false;
                    println!("source graph {}: FAILED: {fix}", check.name);
                }
            }
        }
    }
    match job.client.test_connection().await {
        Ok(()) => {
            println!(
                "target {}: OK (an unknown userName filter returned an empty ListResponse)",
                job.client.base_url()
            );
            if source_ok {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::FAILURE)
            }
        }
        Err(failure) => {
            Err(anyhow::anyhow!("{failure}")).context(format!("target {}", job.client.base_url()))
        }
    }
}
