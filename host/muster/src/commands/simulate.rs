//! `muster simulate zoom`: the Zoom-compatible SCIM target simulator, until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use zoom_sim::{OAuthApp, SimConfig};

/// How clients sign in to the simulator.
pub struct SignIn {
    /// A fixed bearer token.
    pub token: Option<String>,
    /// `CLIENT_ID:SECRET:ACCOUNT_ID` of a Server-to-Server OAuth app.
    pub oauth: Option<String>,
    pub token_ttl: u64,
}

pub async fn zoom(
    listen: &str,
    sign_in: SignIn,
    rate_limit: Option<&str>,
    seats: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let oauth = sign_in
        .oauth
        .map(|text| OAuthApp::parse(&text, sign_in.token_ttl))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--oauth: {e}"))?;
    // With OAuth only issued tokens are accepted, so the fixed one is a random, unused value.
    let token = match (sign_in.token, &oauth) {
        (Some(token), _) => token,
        (None, Some(_)) => uuid::Uuid::new_v4().simple().to_string(),
        (None, None) => anyhow::bail!("give --token or --oauth"),
    };
    let mut config = SimConfig {
        oauth,
        ..SimConfig::new(token)
    };
    if let Some(limit) = rate_limit {
        zoom_sim::RateLimits::parse(limit)
            .map_err(|e| anyhow::anyhow!("--rate-limit: {e}"))?
            .apply(&mut config);
    }
    if let Some(seats) = seats {
        config.seats = zoom_sim::parse_seats(seats).map_err(|e| anyhow::anyhow!("--seats: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "Zoom simulator: http://{addr}{}/Users (Ctrl-C stops it)",
        config.base_path
    );
    if let Some(app) = &config.oauth {
        println!(
            "Token endpoint: http://{addr}/oauth/token (client id {}, account id {}, tokens live {} s)",
            app.client_id, app.account_id, app.token_ttl_secs
        );
    }
    zoom_sim::serve(listener, config, super::sync::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
