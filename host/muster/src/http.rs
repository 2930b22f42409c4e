//! `muster serve`'s HTTP side: one listener for health, metrics, the admin API and, for a
//! gateway job, the SCIM gateway.
//!
//! - [`AppState`]: what every router shares: the [`Job`], the [`CycleRunner`] that keeps cycles
//!   one at a time, the target probe behind `/readyz`, the metrics handle, the admin token.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`; [`admin`]: `/admin/...` and its OpenAPI document.
//! - [`runner`]: cycles one at a time, on-demand provisioning beside them, with progress;
//!   [`probe`]: the periodic test connection that `/readyz` reads.
//! - [`error`]: the one error type, written as each surface writes errors; [`edge`]: request
//!   ids and the one policy for server errors; [`serve`]: the listener, with its timeouts and
//!   connection limit; [`with_request_timeout`]: the per-request timeout each router puts on
//!   its routes.
//!
//! For a gateway job (`[source] kind = "gateway"`) the state also carries the
//! [`GatewayState`], whose `/scim/v2` router `commands::serve::app` merges in.

pub mod admin;
pub mod bearer;
pub mod edge;
pub mod error;
pub mod ops;
pub mod probe;
pub mod runner;
pub mod session;

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
    pub admin_token: Option<Arc<bearer::BearerToken>>,
    /// The read-only token (`[admin] viewer_token_env`), if one is set.
    pub viewer_token: Option<Arc<bearer::BearerToken>>,
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
                .map(|t| Arc::new(bearer::BearerToken::new(&t))),
            viewer_token: None,
            gateway: None,
            job,
        })
    }

    /// Adds the SCIM gateway (a gateway job's `/scim/v2` and its outbox worker).
    pub fn with_gateway(mut self, gateway: GatewayState) -> AppState {
        self.gateway = Some(gateway);
        self
    }

    /// Adds a read-only token (empty: none).
    pub fn with_viewer_token(mut self, token: Option<String>) -> AppState {
        self.viewer_token = token
            .filter(|t| !t.is_empty())
            .map(|t| Arc::new(bearer::BearerToken::new(&t)));
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
        let viewer = std::env::var(&job.config.admin.viewer_token_env).ok();
        if viewer.as_deref().is_some_and(|v| !v.is_empty()) && viewer == token {
            anyhow::bail!(
                "{} and {} hold the same token: the read-only token must differ from the admin token",
                job.config.admin.viewer_token_env,
                name
            );
        }
        let state = AppState::new(job.clone(), token)?.with_viewer_token(viewer);
        if job.config.is_gateway() {
            return Ok(state.with_gateway(GatewayState::from_env(job)?));
        }
        Ok(state)
    }
}

/// The ops and admin routes and the console together.
pub fn router(state: AppState) -> Router {
    ops::router(state.clone())
        .merge(admin::router(state.clone()))
        .merge(crate::console::router(state))
}

/// What a listener allows a client.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// To send a request's headers; also the longest an idle keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl ListenerLimits {
    pub fn of(config: &engine::config::ServerConfig) -> ListenerLimits {
        ListenerLimits {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_connections: config.max_connections,
        }
    }
}

/// `[server] request_timeout_secs` on every route of `router` (not its fallback): tower-http's
/// timeout, from the request's headers to its answer, body included, so a client trickling its
/// body or a stalled handler holds a connection and a task for at most that long. The request
/// is answered 503 (the edge logs it, once), with `Connection: close` since its body may be
/// unread. Routers leave the calls that legitimately run long outside it.
/// The answer is written in the surface's format `F`.
pub fn with_request_timeout<F, S>(
    router: Router<S>,
    config: &engine::config::ServerConfig,
) -> Router<S>
where
    F: error::ErrorFormat + 'static,
    S: Clone + Send + Sync + 'static,
{
    let timeout = Duration::from_secs(config.request_timeout_secs);
    router
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .route_layer(axum::middleware::map_response(
            move |response: axum::response::Response| async move {
                timed_out::<F>(response, timeout)
            },
        ))
}

/// The timeout layer's own 503 (the only one without a content type: every handler's answer
/// has one) with a body that says what happened.
fn timed_out<F: error::ErrorFormat>(
    response: axum::response::Response,
    timeout: Duration,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;

    let bare = response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::CONTENT_TYPE);
    if !bare {
        return response;
    }
    let message = format!(
        "the request was not completed within {} s ([server] request_timeout_secs); send it again",
        timeout.as_secs()
    );
    // The request's body may be unread, so the connection cannot carry another request.
    let mut answer = error::ApiError::<F>::unavailable(message).into_response();
    answer.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    answer
}

/// Serves `app` over HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting
/// and lets the requests in flight finish. Written on hyper rather than with `axum::serve`,
/// which sets no header-read timeout and no connection limit: a client trickling its headers
/// or holding idle connections would keep them (and their memory) for ever.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let app = app.layer(axum::middleware::from_fn(edge::layer));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: the listener
                    // itself is fine; wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            app.clone()
                .map_request(|request: axum::http::Request<hyper::body::Incoming>| {
                    request.map(axum::body::Body::new)
                });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
