//! `muster demo`: the main job end to end on one machine. Starts the Zoom simulator in-process,
//! provisions the demo directory through the example plugins, then applies a second snapshot
//! as an incremental cycle and shows what changed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use engine::config::{Config, SourceConfig};
use engine::log::{LogEntry, ProvisioningAction, Status};
use zoom_sim::{OAuthApp, SimConfig, SimState};

use crate::job::{Job, expand_env, target_auth};
use crate::sync::{CycleOptions, CycleReport, report, run_cycle};

const DEMO_CONFIG: &str = include_str!("../../../../examples/demo.toml");
const DIRECTORY: &str = include_str!("../../../../examples/directory.json");
const DIRECTORY_V2: &str = include_str!("../../../../examples/directory-v2.json");
/// The OAuth app `examples/demo.toml` names.
const DEMO_CLIENT_ID: &str = "demo-client";
const DEMO_ACCOUNT_ID: &str = "demo-account";
const DEMO_SECRET_ENV: &str = "MUSTER_CLIENT_SECRET";

pub async fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    prepare(dir)?;
    // The simulator signs the demo in as Zoom does: a Server-to-Server OAuth app, whose secret
    // is made up for this run.
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("starting the simulator")?;
    let origin = format!("http://{}", listener.local_addr()?);
    let base_url = format!("{origin}/scim2");
    let sim = SimState::new(&SimConfig {
        oauth: Some(OAuthApp {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: secret.clone(),
            account_id: DEMO_ACCOUNT_ID.into(),
            token_ttl_secs: 3600,
        }),
        ..SimConfig::new(secret.clone())
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(zoom_sim::serve_state(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));
    println!("Zoom simulator listening at {base_url}");

    let config = demo_config(&base_url, &format!("{origin}/oauth/token"))?;
    let auth = target_auth(&config.target, dir, |name| {
        (name == DEMO_SECRET_ENV).then(|| secret.clone())
    })?;
    let job = Job::build_with_auth(config, dir, auth, None)?;
    let options = CycleOptions {
        progress: true,
        // Planned whole: the demo prints every change from the plan.
        batch: Some(crate::sync::WHOLE),
        ..CycleOptions::default()
    };

    println!("\n== Cycle 1: the demo directory (200 people, 16 groups) ==");
    let first = run_cycle(&job, &options)
        .await?
        .context("the first cycle did not run")?;
    print!("{}", report::summary(&first));
    print!("{}", report::licenses(&job.store)?);

    std::fs::write(dir.join("directory.json"), DIRECTORY_V2)
        .context("writing the second snapshot")?;
    println!(
        "\n== Cycle 2: a day later (someone joins Zoom-Phone, someone is disabled, someone leaves every group) =="
    );
    let second = run_cycle(&job, &options)
        .await?
        .context("the second cycle did not run")?;
    print!("{}", report::summary(&second));
    print!("{}", changes(&second));

    let users = sim.users();
    println!(
        "\nThe simulator now holds {} users ({} active).",
        users.len(),
        users.iter().filter(|u| u["active"] == true).count()
    );
    let config_path = dir.join("demo.toml");
    println!("\nEverything is in {}:", dir.display());
    println!(
        "  provisioning logs:  cargo run -p muster -- logs --config {}",
        config_path.display()
    );
    println!(
        "  one person:         cargo run -p muster -- logs --config {} --person <userName or id>",
        config_path.display()
    );
    println!(
        "  failures only:      cargo run -p muster -- logs --config {} --status failure",
        config_path.display()
    );
    println!("  as JSON or CSV:     add --format json | csv");
    let _ = stop.send(());
    let _ = server.await;
    Ok(ExitCode::SUCCESS)
}

/// A fresh working folder: the configuration and the first snapshot, no state.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for stale in ["muster.db", "muster.db-wal", "muster.db-shm"] {
        let path: PathBuf = dir.join(stale);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the previous demo's {}", path.display()))?;
        }
    }
    std::fs::write(dir.join("demo.toml"), DEMO_CONFIG)?;
    std::fs::write(dir.join("directory.json"), DIRECTORY)?;
    Ok(())
}

fn demo_config(base_url: &str, token_url: &str) -> anyhow::Result<Config> {
    let text = expand_env(DEMO_CONFIG, |name| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "MUSTER_TOKEN_URL" => Some(token_url.to_string()),
        _ => None,
    })
    .map_err(|e| anyhow::anyhow!("examples/demo.toml: {e}"))?;
    let config =
        Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("examples/demo.toml: {e}"))?;
    anyhow::ensure!(
        matches!(config.source, SourceConfig::File { .. }),
        "the demo reads a snapshot file"
    );
    Ok(config)
}

/// Every person the incremental cycle touched, with what changed.
fn changes(report: &CycleReport) -> String {
    let mut out = String::from("\nWhat changed:\n");
    let touched = report.plan.log.iter().filter(|e| is_change(e));
    for entry in touched {
        let who = entry
            .source_identity
            .display_name
            .as_deref()
            .unwrap_or(&entry.source_identity.id);
        let action = format!("{:?}", entry.provisioning_action).to_lowercase();
        out.push_str(&format!("  {action:<8} {who}\n"));
        for p in &entry.modified_properties {
            // As JSON, the way the target sees the value: "3000", true, ["a", "b"].
            let show = |v: &Option<engine::model::Value>| {
                v.as_ref()
                    .map_or("(none)".into(), |v| v.to_json().to_string())
            };
            out.push_str(&format!(
                "             {}: {} -> {}\n",
                p.display_name,
                show(&p.old_value),
                show(&p.new_value)
            ));
        }
        if let Some(reason) = &entry.provisioning_status_info.reason {
            out.push_str(&format!("             ({reason})\n"));
        }
    }
    out
}

fn is_change(entry: &LogEntry) -> bool {
    entry.provisioning_action != ProvisioningAction::Other
        || entry.provisioning_status_info.status == Status::Failure
}
