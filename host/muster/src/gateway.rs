//! Gateway mode: muster as the SCIM 2.0 endpoint Entra ID's own provisioning job points at
//! (its "Tenant URL" is `http(s)://HOST/scim/v2`, its "Secret Token" the value of the env var
//! named by `[gateway] token_env`). What Entra sends is stored as the source view, every
//! accepted change runs the pipeline for the people it touches, and the result is forwarded to
//! the target through the provisioning core that sync mode uses too ([`crate::provision`]).
//!
//! Layout:
//! - here: [`GatewayState`], [`router`] and [`serve`].
//! - `envelope`: authentication, the response envelope (content type, SCIM error bodies,
//!   metrics), request bodies (size limit, media type).
//! - `resources`: the Users and Groups handlers (what a resource must look like is
//!   [`scim::request`]); `writes`: a change committed with its outbox rows; `time`: `meta`
//!   timestamps.
//! - `query`: list parameters, filtering, paging, `attributes`/`excludedAttributes`.
//! - `discovery`: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
//! - `people`: a stored user and its groups as the pipeline's `Person`.
//! - `outbox`: the worker that forwards accepted changes to the target, in order per person,
//!   retrying until the target takes them.
//!
//! Durability: a change is acknowledged to Entra only after the new source view and one outbox
//! row per affected person have committed together (`store::Store::gateway_write`); the
//! worker deletes a row only once the target has answered. An outage of the target therefore
//! loses nothing: the rows wait, and the worker catches up in order when it is back.

mod discovery;
mod envelope;
mod outbox;
mod people;
mod query;
mod resources;
mod time;
mod writes;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use engine::config::GatewayConfig;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::job::Job;

/// The gateway's errors: RFC 7644 §3.12 bodies.
pub type ApiError = crate::http::error::ApiError<crate::http::error::Scim>;
pub use envelope::scim_json;
pub use outbox::{OutboxPass, forward_due, run_outbox};

/// Where the SCIM endpoint is mounted.
pub const BASE_PATH: &str = "/scim/v2";

/// What the handlers and the outbox worker share. Cheap to clone.
#[derive(Clone)]
pub struct GatewayState {
    inner: Arc<Inner>,
}

struct Inner {
    job: Arc<Job>,
    config: GatewayConfig,
    /// The token Entra must send.
    token: crate::http::bearer::BearerToken,
    /// One accepted change at a time: the outbox rows of a change are computed from the source
    /// view as it is just before the change, which another writer must not move meanwhile.
    writes: tokio::sync::Mutex<()>,
    /// Wakes the outbox worker when a change is accepted.
    wake: Notify,
    /// Disables and deletes sent lately, for `[gateway] max_deprovisions`.
    deprovisions: std::sync::Mutex<DeprovisionGuard>,
}

/// The gateway's accidental-deletion guard: when disables and deletes were sent, and until when
/// an admin lifted the limit. In memory: a restart starts a fresh window.
#[derive(Debug, Default)]
struct DeprovisionGuard {
    sent: std::collections::VecDeque<std::time::Instant>,
    released_until: Option<std::time::Instant>,
}

impl GatewayState {
    /// The state for a job in gateway mode, with the bearer token Entra must send.
    pub fn new(job: Arc<Job>, token: &str) -> anyhow::Result<GatewayState> {
        let config = job
            .config
            .gateway
            .clone()
            .context("the configuration has no [gateway] section")?;
        anyhow::ensure!(!token.is_empty(), "the gateway's bearer token is empty");
        Ok(GatewayState {
            inner: Arc::new(Inner {
                job,
                config,
                token: crate::http::bearer::BearerToken::new(token),
                writes: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                deprovisions: std::sync::Mutex::new(DeprovisionGuard::default()),
            }),
        })
    }

    /// As [`GatewayState::new`], with the token read from the environment variable named by
    /// `[gateway] token_env`.
    pub fn from_env(job: Arc<Job>) -> anyhow::Result<GatewayState> {
        let name = job
            .config
            .gateway
            .as_ref()
            .map(|g| g.token_env.clone())
            .context("the configuration has no [gateway] section")?;
        let token = std::env::var(&name).with_context(|| {
            format!("the SCIM gateway's bearer token: environment variable {name} is not set")
        })?;
        GatewayState::new(job, &token)
    }

    pub fn job(&self) -> &Arc<Job> {
        &self.inner.job
    }

    fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// Runs `f` (store work: SQLite calls block) on tokio's blocking pool, so that a request
    /// waiting for the store, or for a commit's fsync, holds no async worker thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&GatewayState) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(ApiError::internal)?
    }
}

/// The SCIM 2.0 routes under [`BASE_PATH`], authenticated by the gateway's bearer token.
pub fn router(state: GatewayState) -> Router {
    use resources::{groups, users};
    let scim = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/.search", post(resources::search_all))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema));
    let scim = crate::http::with_request_timeout::<crate::http::error::Scim, _>(
        scim,
        &state.inner.job.config.server,
    )
    .fallback(envelope::unknown_endpoint)
    .layer(from_fn_with_state(state.clone(), envelope::authenticate))
    .with_state(state);
    Router::new()
        .nest(BASE_PATH, scim)
        .layer(from_fn(envelope::envelope))
}

/// Serves the gateway on `listener` and runs its outbox worker until `shutdown` completes; the
/// worker finishes the batch it is forwarding before this returns.
pub async fn serve(
    listener: TcpListener,
    state: GatewayState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(run_outbox(state.clone(), async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, base = BASE_PATH, "SCIM gateway listening");
    let limits = crate::http::ListenerLimits::of(&state.job().config.server);
    let served = crate::http::serve(listener, router(state), limits, shutdown).await;
    let _ = stop_tx.send(true);
    if let Err(e) = worker.await {
        tracing::error!(error = %e, "the outbox worker panicked");
    }
    served
}

impl GatewayState {
    fn guard(&self) -> std::sync::MutexGuard<'_, DeprovisionGuard> {
        self.inner
            .deprovisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn deprovision_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config().deprovision_window_secs)
    }

    /// How many disables and deletes the next pass may send: `max_deprovisions` less those
    /// sent within the window; `None` while an admin's release lasts.
    pub fn deprovision_budget(&self) -> Option<usize> {
        let window = self.deprovision_window();
        let max = self.config().max_deprovisions as usize;
        let mut guard = self.guard();
        let now = std::time::Instant::now();
        if guard.released_until.is_some_and(|until| now < until) {
            return None;
        }
        while guard
            .sent
            .front()
            .is_some_and(|at| now.duration_since(*at) > window)
        {
            guard.sent.pop_front();
        }
        Some(max.saturating_sub(guard.sent.len()))
    }

    /// Counts `n` disables and deletes sent now.
    pub fn record_deprovisions(&self, n: usize) {
        let now = std::time::Instant::now();
        self.guard().sent.extend(std::iter::repeat_n(now, n));
    }

    /// Lifts the guard for one window, and wakes the worker to send what it held. Returns how
    /// long the release lasts.
    pub fn release_deprovisions(&self) -> anyhow::Result<std::time::Duration> {
        let window = self.deprovision_window();
        self.guard().released_until = Some(std::time::Instant::now() + window);
        self.job().store.outbox_due_now(time::now_ms())?;
        tracing::warn!(
            window_secs = window.as_secs(),
            "the gateway's deprovision guard was released by an admin"
        );
        self.inner.wake.notify_one();
        Ok(window)
    }

    /// Wakes the outbox worker now (after a resume: the rows that waited are due).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Replays the dropped change `seq`: the person goes into the outbox again as the source
    /// view has them now (so a replay never sends an older state than a later change did), and
    /// the dropped change is forgotten. `None` when no dropped change has that seq.
    pub async fn replay_dropped(&self, seq: i64) -> anyhow::Result<Option<String>> {
        // Under the write lock, as an accepted change: the row is computed from a source view
        // no other change moves meanwhile.
        let _writing = self.inner.writes.lock().await;
        let state = self.clone();
        let replayed = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<String>> {
            let store = &state.job().store;
            let Some(person_id) = store.dropped_person(seq)? else {
                return Ok(None);
            };
            let person = stored_person(store, &person_id)?
                .map(serde_json::to_value)
                .transpose()?;
            let replayed = store.outbox_replay(seq, person.as_ref(), time::now_ms())?;
            Ok(replayed.then_some(person_id))
        })
        .await??;
        if replayed.is_some() {
            self.inner.wake.notify_one();
        }
        Ok(replayed)
    }
}

/// Every user Entra sent, as the pipeline sees them: a preview's population for a gateway job.
pub fn stored_people(
    store: &store::Store,
) -> Result<Vec<engine::model::Person>, store::StoreError> {
    const BATCH: u64 = 500;
    let mut people = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let last = after.as_ref().map(|(created, id)| (*created, id.as_str()));
        let users = store.gateway_batch_after(store::GatewayKind::User, last, BATCH)?;
        for user in &users {
            let (direct, transitive) = people::groups_with_nesting(&user.id, |member| {
                people::group_refs_of(store, member)
            })?;
            people.push(people::person(user, &direct, &transitive));
        }
        match users.last() {
            Some(user) if users.len() as u64 == BATCH => {
                after = Some((user.created, user.id.clone()))
            }
            _ => return Ok(people),
        }
    }
}

/// The person `who` names (a gateway user id, else a userName, ignoring case) as the pipeline
/// sees it, from what Entra sent: for on-demand provisioning of a gateway job.
pub fn stored_person(
    store: &store::Store,
    who: &str,
) -> Result<Option<engine::model::Person>, store::StoreError> {
    let user = match store.gateway_resource(store::GatewayKind::User, who)? {
        Some(user) => Some(user),
        None => store.gateway_resource_by_name(store::GatewayKind::User, who)?,
    };
    let Some(user) = user else {
        return Ok(None);
    };
    let (direct, transitive) =
        people::groups_with_nesting(&user.id, |member| people::group_refs_of(store, member))?;
    Ok(Some(people::person(&user, &direct, &transitive)))
}
