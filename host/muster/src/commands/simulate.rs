//! `muster simulate zoom`: the Zoom-compatible SCIM target simulator, until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use zoom_sim::SimConfig;

pub async fn zoom(
    listen: &str,
    token: String,
    rate_limit: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut config = SimConfig::new(token);
    if let Some(limit) = rate_limit {
        config.rate_limit_per_sec = Some(
            zoom_sim::parse_rate_limit(limit).map_err(|e| anyhow::anyhow!("--rate-limit: {e}"))?,
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "Zoom simulator: http://{addr}{}/Users (Ctrl-C stops it)",
        config.base_path
    );
    zoom_sim::serve(listener, config, super::sync::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
