//! `muster serve` for a job in gateway mode (`[source] kind = "gateway"`): the SCIM gateway on
//! `[server] listen`, and its outbox worker, until SIGTERM / Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::sync::{build_job, shutdown_signal};
use crate::gateway::{self, GatewayState};

pub async fn serve(config: &Path) -> anyhow::Result<ExitCode> {
    let job = Arc::new(build_job(config)?);
    let listen = job.config.server.clone().unwrap_or_default().listen;
    let state = GatewayState::from_env(job)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    gateway::serve(listener, state, shutdown_signal())
        .await
        .context("serving the SCIM gateway")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `muster serve`: the gateway for a gateway job, scheduled sync cycles for the others.
pub async fn serve_any(config: &Path) -> anyhow::Result<ExitCode> {
    if crate::job::read_config(config)?.is_gateway() {
        serve(config).await
    } else {
        super::sync::sync(config, false, crate::sync::CycleOptions::default()).await
    }
}
