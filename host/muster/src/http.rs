//! `muster serve`'s HTTP side: one listener for health, metrics, the admin API and, for a
//! gateway job, the SCIM gateway.
//!
//! - [`AppState`]: what every router shares: the [`Job`], the [`CycleRunner`] that keeps cycles
//!   one at a time, the target probe behind `/readyz`, the metrics handle, the admin token.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`; [`admin`]: `/admin/...` and its OpenAPI document.
//! - [`runner`]: cycles and on-demand provisioning, one at a time, with progress; [`probe`]: the
//!   periodic test connection that `/readyz` reads.
//!
//! For a gateway job (`[source] kind = "gateway"`) the state also carries the
//! [`GatewayState`], whose `/scim/v2` router `commands::serve::app` merges in.

pub mod admin;
pub mod ops;
pub mod probe;
pub mod runner;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::gateway::GatewayState;
use crate::job::Job;
pub use probe::TargetProbe;
pub use runner::CycleRunner;

/// The state shared by the ops and admin routers (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub job: Arc<Job>,
    pub runner: Arc<CycleRunner>,
    pub probe: Arc<TargetProbe>,
    pub metrics: PrometheusHandle,
    /// None: the admin API is disabled (its token variable is unset) and answers 503.
    pub admin_token: Option<Arc<admin::AdminToken>>,
    /// The SCIM gateway of a gateway job (its router and outbox worker); None otherwise.
    pub gateway: Option<GatewayState>,
}

impl AppState {
    /// The state for `job`, with the admin token given (tests) rather than read from the
    /// environment; installs the metrics recorder if it is not yet.
    pub fn new(job: Arc<Job>, admin_token: Option<String>) -> anyhow::Result<AppState> {
        let interval = Duration::from_secs(job.config.server.probe_interval_secs);
        Ok(AppState {
            runner: Arc::new(CycleRunner::default()),
            probe: Arc::new(TargetProbe::new(interval)),
            metrics: crate::meters::install()?,
            admin_token: admin_token
                .filter(|t| !t.is_empty())
                .map(|t| Arc::new(admin::AdminToken::new(&t))),
            gateway: None,
            job,
        })
    }

    /// Adds the SCIM gateway (a gateway job's `/scim/v2` and its outbox worker).
    pub fn with_gateway(mut self, gateway: GatewayState) -> AppState {
        self.gateway = Some(gateway);
        self
    }

    /// As [`AppState::new`], the admin token from the variable `[admin] token_env` names.
    pub fn from_env(job: Arc<Job>) -> anyhow::Result<AppState> {
        let name = &job.config.admin.token_env;
        let token = std::env::var(name).ok();
        if token.as_deref().is_none_or(str::is_empty) {
            tracing::warn!(
                variable = %name,
                "admin API disabled: its token variable is not set; /admin answers 503"
            );
        }
        let state = AppState::new(job.clone(), token)?;
        if job.config.is_gateway() {
            return Ok(state.with_gateway(GatewayState::from_env(job)?));
        }
        Ok(state)
    }
}

/// The ops and admin routes together.
pub fn router(state: AppState) -> Router {
    ops::router(state.clone()).merge(admin::router(state))
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
