//! `muster validate`, `muster sync`, `muster serve` and `muster test-connection`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::job::{Job, read_config, target_auth, target_profile};
use crate::sync::{CycleOptions, report, run_cycle, run_cycle_with_parts};

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
    if options.dry_run && once {
        return dry_run(&job, &options, plan_file).await;
    }
    let lead = Lead::take(&job).await?;
    if !once {
        let result = serve_loop(&job, options).await;
        lead.release().await;
        return result;
    }
    let report = run_cycle(&job, &options).await;
    lead.release().await;
    let Some(report) = report? else {
        return Ok(ExitCode::SUCCESS);
    };
    crate::retention::prune_or_warn(&job);
    print!("{}", report::summary(&report));
    print!("{}", report::licenses(&job.store)?);
    Ok(exit_code(&report))
}

/// With a state shared by replicas, `muster sync` runs cycles only as their leader: it takes
/// the lease (or says who holds it) and keeps it until it is done, so no replica's scheduled
/// cycle runs beside its own.
struct Lead(
    Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
);

impl Lead {
    async fn take(job: &Job) -> anyhow::Result<Lead> {
        if !job.replica.shared {
            return Ok(Lead(None));
        }
        let (replica, store) = (job.replica.clone(), job.store.clone());
        tokio::task::spawn_blocking(move || replica.lease_round(&store)).await??;
        if !job.replica.is_leader() {
            anyhow::bail!(
                "replica {} leads the cycles of this state: start the cycle there \
                 (POST /admin/sync), or stop it first",
                job.replica.leader_id().unwrap_or_default()
            );
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (became_leader, _) = tokio::sync::watch::channel(0u64);
        let task = tokio::spawn(crate::replica::keep_lease(
            job.replica.clone(),
            job.store.clone(),
            became_leader,
            stopped,
        ));
        Ok(Lead(Some((stop, task))))
    }

    /// Gives the lease up, so a replica may lead at once.
    async fn release(self) {
        if let Some((stop, task)) = self.0 {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }
}

fn exit_code(report: &crate::sync::CycleReport) -> ExitCode {
    if report.counts.failed > 0 || report.quarantine.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// A dry run: the first actions and the summary on the terminal, the whole plan in a file when
/// asked or when there are more actions than the terminal shows. A large plan arrives in parts
/// ([`crate::sync::CycleOptions::batch`]), which are spooled as they come instead of held.
async fn dry_run(
    job: &Job,
    options: &CycleOptions,
    plan_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let state = job.source_path(&job.config.state_path);
    let dir = state.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut spool = PlanSpool::new(&dir)?;
    let mut parts = |part: engine::cycle::Plan| spool.part(part);
    let Some(mut report) = run_cycle_with_parts(job, options, Some(&mut parts)).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let actions = spool.actions + report.plan.actions.len() + report.plan.staged.len();
    let file = match plan_file {
        Some(file) => Some(file.to_path_buf()),
        None if actions > DRY_RUN_SHOWN => Some(dir.join(DRY_RUN_PLAN_FILE)),
        None => None,
    };
    if let Some(file) = &file {
        spool.write(&report.plan, file)?;
    }
    // The terminal shows the first actions: the spooled parts' first, then the rest's.
    let rest = std::mem::take(&mut report.plan.actions);
    report.plan.actions = std::mem::take(&mut spool.shown.actions);
    report.plan.actions.extend(rest);
    let rest_log = std::mem::take(&mut report.plan.log);
    report.plan.log = std::mem::take(&mut spool.shown.log);
    report.plan.log.extend(rest_log);
    print!(
        "{}",
        report::dry_run(&report, DRY_RUN_SHOWN, actions, file.as_deref())
    );
    Ok(exit_code(&report))
}

/// The parts of a dry run's plan, spooled to two unnamed files (actions, log entries) as they
/// come, and the first actions kept for the terminal.
struct PlanSpool {
    actions_file: std::io::BufWriter<std::fs::File>,
    log_file: std::io::BufWriter<std::fs::File>,
    /// Actions and log entries spooled.
    actions: usize,
    entries: usize,
    /// The first [`DRY_RUN_SHOWN`] actions, and their people's log entries (for their names).
    shown: engine::cycle::Plan,
}

impl PlanSpool {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        let spool = || {
            tempfile::tempfile_in(dir)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("a dry run's spool file in {}", dir.display()))
        };
        Ok(PlanSpool {
            actions_file: spool()?,
            log_file: spool()?,
            actions: 0,
            entries: 0,
            shown: engine::cycle::Plan::empty(""),
        })
    }

    fn part(&mut self, part: engine::cycle::Plan) -> anyhow::Result<()> {
        spool(&mut self.actions_file, &mut self.actions, &part.actions)?;
        spool(&mut self.log_file, &mut self.entries, &part.log)?;
        let room = DRY_RUN_SHOWN.saturating_sub(self.shown.actions.len());
        let shown: Vec<_> = part.actions.into_iter().take(room).collect();
        let ids: std::collections::HashSet<&str> =
            shown.iter().map(|a| a.source_id.as_str()).collect();
        let entries = part
            .log
            .into_iter()
            .filter(|e| ids.contains(e.source_identity.id.as_str()));
        self.shown.log.extend(entries);
        self.shown.actions.extend(shown);
        Ok(())
    }

    /// The whole plan to `file`: the spooled parts, then `rest`; the layout of a plan
    /// serialized whole (`actions`, `staged`, `deletion_hold`, `summary`, `log`).
    fn write(&mut self, rest: &engine::cycle::Plan, file: &Path) -> anyhow::Result<()> {
        use std::io::{Seek, Write};
        let context = || format!("writing the plan to {}", file.display());
        let out = std::fs::File::create(file).with_context(context)?;
        let mut out = std::io::BufWriter::new(out);
        let copy = |spooled: &mut std::io::BufWriter<std::fs::File>,
                    out: &mut std::io::BufWriter<std::fs::File>|
         -> std::io::Result<()> {
            spooled.flush()?;
            let file = spooled.get_mut();
            file.rewind()?;
            std::io::copy(file, out)?;
            Ok(())
        };
        let mut written = || -> anyhow::Result<()> {
            write!(
                out,
                "{{\"cycle_id\": {},\n\"actions\": [\n",
                json(&rest.cycle_id)?
            )?;
            copy(&mut self.actions_file, &mut out)?;
            let mut actions = self.actions;
            spool(&mut out, &mut actions, &rest.actions)?;
            writeln!(out, "\n],\n\"staged\": {},", json(&rest.staged)?)?;
            if let Some(hold) = &rest.deletion_hold {
                writeln!(out, "\"deletion_hold\": {},", json(hold)?)?;
            }
            write!(out, "\"summary\": {},\n\"log\": [\n", json(&rest.summary)?)?;
            copy(&mut self.log_file, &mut out)?;
            let mut entries = self.entries;
            spool(&mut out, &mut entries, &rest.log)?;
            writeln!(out, "\n]}}")?;
            out.flush()?;
            Ok(())
        };
        written().with_context(context)
    }
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(value)
}

/// Appends `items` to a JSON array being written, one per line; `count`: items already in it.
fn spool<T: serde::Serialize>(
    out: &mut impl std::io::Write,
    count: &mut usize,
    items: &[T],
) -> anyhow::Result<()> {
    for item in items {
        if *count > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, item)?;
        *count += 1;
    }
    Ok(())
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
