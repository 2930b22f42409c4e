//! `muster serve`: the HTTP listener (health, metrics, admin API) beside the scheduled sync
//! cycles, the target probe, the plugin folder watch and the state's pruning, until SIGTERM /
//! Ctrl-C. A gateway job
//! (`[source] kind = "gateway"`) serves the SCIM gateway under /scim/v2 and runs its outbox
//! worker instead of scheduled cycles: its people arrive as Entra sends them.
//!
//! Shutdown: stop accepting, let requests in flight finish, wait for the cycle in flight (at
//! most `[server] shutdown_grace_secs`; what a cut-short cycle did not do the next one does,
//! see the crash-safety notes in `sync/apply.rs`), exit 0.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::sync::{build_job, shutdown_signal};
use crate::activation::{self, Admitted, Origin};
use crate::http::runner::Trigger;
use crate::http::{self, AppState};
use crate::job::Job;
use crate::sync::CycleOptions;

/// How often histogram buckets are compacted by the exporter.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

pub async fn serve(config: &Path) -> anyhow::Result<ExitCode> {
    let job = Arc::new(build_job(config)?);
    let state = AppState::from_env(job.clone())?;
    let addr = &job.config.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} ([server] listen)"))?;
    let admin = match &job.config.server.admin_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} ([server] admin_listen)"))?,
        ),
        None => None,
    };
    run_with(listener, admin, state, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Everything `muster serve` answers on its one listener.
pub fn app(state: &AppState) -> Router {
    with_gateway(http::router(state.clone()), state)
}

/// `router`, with the SCIM gateway's routes for a gateway job.
fn with_gateway(router: Router, state: &AppState) -> Router {
    match &state.gateway {
        Some(gateway) => router.merge(crate::gateway::router(gateway.clone())),
        None => router,
    }
}

/// Serves `state`'s job on `listener` until `shutdown` completes; tests bind port 0 and pass
/// their own shutdown.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(listener, None, state, shutdown).await
}

/// [`run`], with the admin API and the metrics on `admin` when given: `listener` then serves
/// SCIM (a gateway job's) and the health checks only.
pub async fn run_with(
    listener: TcpListener,
    admin: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    activation::gate_configured(&state.job).await;
    let paused = state.job.store.paused()?.is_some();
    metrics::gauge!(crate::http::admin::PAUSED).set(if paused { 1.0 } else { 0.0 });
    activation::restore_staged(&state.job).await;
    for entry in state.job.plugin_entries() {
        if let Some(active) = state.job.registry.active(&entry.name) {
            if state.job.replica.shared {
                // The replicas' choice stands when there is one: this replica follows it
                // (`follow_activations`) instead of recording its configured version over it.
                if let Ok(bytes) = state.job.configured_bytes(entry) {
                    let version = plugin_host::plugin::version_of(&bytes);
                    activation::share_component(&state.job, &entry.name, &version, &bytes);
                }
                if state.job.store.latest_activation(&entry.name)?.is_some() {
                    continue;
                }
            }
            activation::record_activation(
                &state.job,
                &entry.name,
                &active.id().version,
                "start",
                "muster serve at start",
            );
        }
    }
    let _folder = watch_plugin_folder(&state.job).await?;
    if state.job.replica.shared {
        tokio::spawn(activation::follow_activations(
            state.job.clone(),
            stopped.clone(),
        ));
        tokio::spawn(run_cycle_requests(state.clone(), stopped.clone()));
    }
    let (became_leader, leadership) = watch::channel(0u64);
    let lease = if state.job.replica.shared {
        tracing::info!(replica = %state.job.replica.id, "one of the replicas sharing the state");
        Some(tokio::spawn(crate::replica::keep_lease(
            state.job.replica.clone(),
            state.job.store.clone(),
            became_leader,
            stopped.clone(),
        )))
    } else {
        metrics::gauge!(crate::replica::LEADER_GAUGE).set(1.0);
        None
    };
    tokio::spawn(upkeep(state.clone(), stopped.clone()));
    tokio::spawn(probe(state.clone(), stopped.clone()));
    tokio::spawn(prune(state.clone(), stopped.clone()));
    if let Some(config) = state.job.config.alerts.clone() {
        let secret = crate::alerts::secret(&config)?;
        let mailer = match &config.email {
            Some(email) => Some(crate::alerts::Mailer::new(email)?),
            None => None,
        };
        tokio::spawn(alert(
            state.clone(),
            config,
            secret,
            mailer,
            stopped.clone(),
        ));
    }
    let outbox = match &state.gateway {
        Some(gateway) => {
            let mut until = stopped.clone();
            Some(tokio::spawn(crate::gateway::run_outbox(
                gateway.clone(),
                async move {
                    let _ = until.wait_for(|s| *s).await;
                },
            )))
        }
        None if state.job.config.server.scheduled_sync => {
            tokio::spawn(schedule(state.clone(), stopped.clone(), leadership));
            None
        }
        None => None,
    };
    tracing::info!(address = %listener.local_addr()?, "listening");
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections");
        let _ = stop.send(true);
    });
    let limits = http::ListenerLimits::of(&state.job.config.server);
    let until = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let (main_app, admin_served) = match admin {
        None => (app(&state), None),
        Some(admin) => {
            tracing::info!(address = %admin.local_addr()?, "admin API and metrics listening");
            let served = tokio::spawn(http::serve(
                admin,
                http::router(state.clone()),
                limits,
                until(stopped.clone()),
            ));
            let health = http::ops::health_router(state.clone());
            (with_gateway(health, &state), Some(served))
        }
    };
    http::serve(listener, main_app, limits, until(stopped.clone()))
        .await
        .context("serving HTTP")?;
    if let Some(served) = admin_served {
        served
            .await
            .context("the admin listener's task")?
            .context("serving the admin listener")?;
    }
    if let Some(outbox) = outbox {
        // The pass in flight finishes; rows not yet forwarded wait in the store.
        let _ = outbox.await;
    }
    if let Some(lease) = lease {
        // Given up at once, so another replica leads without waiting for it to expire.
        let _ = lease.await;
    }
    let grace = Duration::from_secs(state.job.config.server.shutdown_grace_secs);
    match tokio::time::timeout(grace, state.runner.turn()).await {
        Ok(_turn) => tracing::info!("stopped"),
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "a cycle still runs after the grace period; stopping anyway (the next cycle resumes it)"
        ),
    }
    Ok(())
}

/// Cycles on the configured interval while this replica leads; a cycle in flight when
/// shutdown comes finishes. A replica that takes the lead runs a cycle at once: it resumes
/// what the previous leader left.
async fn schedule(
    state: AppState,
    mut stopped: watch::Receiver<bool>,
    mut became_leader: watch::Receiver<u64>,
) {
    let interval = Duration::from_secs(state.job.config.sync_interval_secs);
    tracing::info!(
        interval_secs = interval.as_secs(),
        "running sync cycles on a schedule"
    );
    loop {
        while !state.job.replica.is_leader() {
            tokio::select! {
                _ = became_leader.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
        let turn = tokio::select! {
            turn = state.runner.turn() => turn,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let options = CycleOptions {
            respect_quarantine: true,
            ..CycleOptions::default()
        };
        match state
            .runner
            .cycle(&turn, &state.job, options, Trigger::Schedule)
            .await
        {
            Ok(Some(report)) => {
                tracing::info!(cycle = ?report.cycle_id, counts = ?report.counts, "cycle done")
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cycle failed"),
        }
        drop(turn);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = became_leader.changed() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

/// On the leader of a shared state: runs the cycles admins asked of the other replicas
/// (`POST /admin/sync` there), one at a time as every cycle runs.
async fn run_cycle_requests(state: AppState, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        if !state.job.replica.is_leader() {
            continue;
        }
        let request = match state.job.store.take_cycle_request() {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cycles other replicas were asked for");
                continue;
            }
        };
        if let Ok(Some(paused)) = state.job.store.paused() {
            tracing::warn!(by = %request.by, since = paused.since,
                "a cycle was asked of another replica while the job is paused; not run");
            continue;
        }
        tracing::info!(by = %request.by, "running the cycle an admin asked of another replica");
        let turn = state.runner.turn().await;
        let options = CycleOptions {
            allow_deletes: request.allow_deletes,
            full_read: request.full_read,
            full_plan: request.full,
            ..CycleOptions::default()
        };
        if let Err(e) = state
            .runner
            .cycle(&turn, &state.job, options, Trigger::Admin)
            .await
        {
            tracing::error!(error = %format!("{e:#}"), "the requested cycle failed");
        }
    }
}

async fn probe(state: AppState, mut stopped: watch::Receiver<bool>) {
    loop {
        state.probe.check_store(&state.job).await;
        state.probe.check(&state.job).await;
        tokio::select! {
            _ = tokio::time::sleep(state.probe.interval()) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

/// `[alerts]`: looks at the job's state every `check_interval_secs` and sends what changed. With
/// replicas, only the leader sends, so an alert arrives once, not once per replica (a new
/// leader sends the conditions that hold again, once).
async fn alert(
    state: AppState,
    config: engine::config::AlertsConfig,
    secret: Option<Vec<u8>>,
    mailer: Option<crate::alerts::Mailer>,
    mut stopped: watch::Receiver<bool>,
) {
    use crate::alerts;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut notifier = alerts::Notifier::default();
    let interval = Duration::from_secs(config.check_interval_secs.max(1));
    let resend = i64::try_from(config.resend_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
    loop {
        if !state.job.replica.is_leader() {
            tokio::select! {
                _ = tokio::time::sleep(interval) => continue,
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
        let failing = state.probe.last().filter(|r| !r.ok).map(|r| r.message);
        let job = state.job.clone();
        let facts = tokio::task::spawn_blocking(move || alerts::facts(&job, failing)).await;
        match facts {
            Ok(Ok(facts)) => {
                let holding = alerts::conditions(&facts, &config);
                for message in notifier.step(facts.now, holding, resend) {
                    let posted = alerts::deliver(&client, &config, secret.as_deref(), &message);
                    let mailed = async {
                        match &mailer {
                            Some(mailer) => Some(mailer.send(&message, &config).await),
                            None => None,
                        }
                    };
                    let (posted, mailed) = tokio::join!(posted, mailed);
                    let key = &message.alert.key;
                    match posted {
                        Ok(()) if config.webhook_url.is_some() => {
                            tracing::info!(alert = %key, state = ?message.state, "alert posted to the webhook")
                        }
                        Ok(()) => {}
                        Err(e) => {
                            tracing::warn!(alert = %key, error = %e, "alert not delivered to the webhook")
                        }
                    }
                    match mailed {
                        Some(Ok(())) => {
                            tracing::info!(alert = %key, state = ?message.state, "alert mailed")
                        }
                        Some(Err(e)) => {
                            tracing::warn!(alert = %key, error = %e, "alert not mailed")
                        }
                        None => {}
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "alerts: reading the state failed")
            }
            Err(e) => tracing::warn!(error = %e, "alerts: the state reader panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

/// Applies `[retention]` at start and every `interval_secs`, off the async workers (on the leader,
/// when replicas share the state).
async fn prune(state: AppState, mut stopped: watch::Receiver<bool>) {
    let interval = Duration::from_secs(state.job.config.retention.interval_secs);
    loop {
        // One pruner for a shared state: the leader.
        if state.job.replica.is_leader() {
            let job = state.job.clone();
            let _ =
                tokio::task::spawn_blocking(move || crate::retention::prune_or_warn(&job)).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

async fn upkeep(state: AppState, mut stopped: watch::Receiver<bool>) {
    loop {
        state.metrics.run_upkeep();
        tokio::select! {
            _ = tokio::time::sleep(METRICS_UPKEEP) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

/// Watches `[server] plugins_dir` when set: `<name>.wasm` there (at start, and whenever it is
/// written) becomes the active version of plugin `<name>`, with that plugin's configured limits,
/// through [`activation::admit`]: a plugin with gates is previewed first, and staged when it
/// exceeds one.
async fn watch_plugin_folder(
    job: &Arc<Job>,
) -> anyhow::Result<Option<plugin_host::watch::FolderWatch>> {
    let Some(dir) = &job.config.server.plugins_dir else {
        return Ok(None);
    };
    let dir = job.source_path(dir);
    // Uploads are saved there, so a folder that does not exist yet is made, not an error.
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the plugin folder {}", dir.display()))?;
    // A version already in the folder wins over the configured `path`, so an update written
    // there survives a restart; one that fails to load leaves the configured version serving.
    // One muster activated before (an upload or rollback, of which it keeps a copy) serves
    // again as it did; one written there while muster was down passes the gates first.
    let names: Vec<String> = job.plugin_entries().map(|e| e.name.clone()).collect();
    let folder = job.plugin_folder();
    for name in &names {
        let file = dir.join(format!("{name}.wasm"));
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let version = plugin_host::plugin::version_of(&bytes);
        let activated_before = folder
            .as_ref()
            .is_some_and(|f| f.kept_file(name, &version).exists());
        if activated_before {
            let entry = job.plugin_entries().find(|e| &e.name == name);
            let limits = entry.map(crate::job::limits_of).unwrap_or_default();
            match job.registry.load(name, &bytes, limits) {
                Ok(p) => {
                    tracing::info!(plugin = %name, version = %p.id().version, file = %file.display(), "loaded from the plugin folder")
                }
                Err(e) => {
                    tracing::error!(plugin = %name, file = %file.display(), error = %e, "plugin in the folder rejected; the configured version serves");
                    job.staging.reject(name, &version, &e.to_string());
                }
            }
            continue;
        }
        admit_from_folder(job, name, &file, Arc::from(bytes)).await;
    }
    let (job, runtime) = (job.clone(), tokio::runtime::Handle::current());
    // The watcher calls back on its own thread, outside the runtime: it may block on it.
    let watch = plugin_host::watch::watch_folder_with(&dir, move |name, file, bytes| {
        runtime.block_on(admit_from_folder(&job, name, file, Arc::from(bytes)));
    })
    .with_context(|| format!("watching the plugin folder {}", dir.display()))?;
    Ok(Some(watch))
}

async fn admit_from_folder(job: &Arc<Job>, name: &str, file: &std::path::Path, bytes: Arc<[u8]>) {
    let version = plugin_host::plugin::version_of(&bytes);
    match activation::admit(job, name, bytes, Origin::Folder, false, "the plugin folder").await {
        Ok(Admitted::Active { plugin, .. }) => {
            tracing::info!(plugin = %name, version = %plugin.id().version, file = %file.display(), "loaded from the plugin folder")
        }
        Ok(Admitted::Staged(staged)) => {
            tracing::warn!(plugin = %name, version = %staged.version, file = %file.display(), "plugin in the folder exceeds its gates: staged; the active version keeps serving")
        }
        Err(e) => {
            tracing::error!(plugin = %name, file = %file.display(), error = %e, "plugin in the folder rejected; the active version keeps serving");
            job.staging.reject(name, &version, &e.to_string());
        }
    }
}
