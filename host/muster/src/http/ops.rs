//! Operations endpoints, unauthenticated like a kubelet's probes and a Prometheus scrape expect:
//! `/healthz` (the process is up), `/readyz` (store open, plugins loaded, target reachable
//! within the last probe interval) and `/metrics` (Prometheus text format).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::Json as JsonErrors;
use super::{AppState, with_request_timeout};

pub fn router(state: AppState) -> Router {
    let metrics = Router::new().route("/metrics", get(metrics));
    let metrics = with_request_timeout::<JsonErrors, _>(metrics, &state.job.config.server);
    health_router(state.clone()).merge(metrics.with_state(state))
}

/// `/healthz` and `/readyz` alone: what the SCIM listener keeps when the admin API and the
/// metrics have a listener of their own (`[server] admin_listen`), for the load balancer.
pub fn health_router(state: AppState) -> Router {
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    with_request_timeout::<JsonErrors, _>(health, &state.job.config.server).with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// What `/readyz` checked; `ready` is true when every check passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: Check,
    pub plugins: Check,
    pub target: Check,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Check {
    fn of(result: Result<(), String>) -> Check {
        match result {
            Ok(()) => Check {
                ok: true,
                error: None,
            },
            Err(e) => Check {
                ok: false,
                error: Some(e),
            },
        }
    }
}

/// The readiness checks, for `/readyz` and the admin status: what the probes last found, so
/// an answer never waits on the store's writer or the target.
pub fn readiness(state: &AppState) -> Readiness {
    let job = &state.job;
    let store = Check::of(state.probe.store_ready());
    let missing: Vec<&str> = job
        .plugin_entries()
        .filter(|e| job.registry.active(&e.name).is_none())
        .map(|e| e.name.as_str())
        .collect();
    let plugins = Check::of(if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not loaded: {}", missing.join(", ")))
    });
    let target = Check::of(state.probe.ready());
    Readiness {
        ready: store.ok && plugins.ok && target.ok,
        store,
        plugins,
        target,
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = readiness(&state);
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    crate::meters::target_rates(&state.job.client.rate_classes());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
