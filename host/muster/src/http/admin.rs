//! The admin API under `/admin`: plugins (list, preview, upload a version, activate a staged
//! one, roll back), sync cycles,
//! on-demand provisioning, reconciliation, provisioning logs, people, status and test
//! connection. JSON in and out, its own bearer token (compared in constant time; a read-only
//! token and a console sign-in may read), described by the OpenAPI document at
//! `/admin/openapi.json` (served without the token: it holds no data). The console
//! (`crate::console`) calls these handlers to read and change what it shows.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use plugin_host::RegistryError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::error::ErrorBody;
use super::ops::{Readiness, readiness};
use super::probe::ProbeResult;
use super::runner::{Running, Trigger, kind_name, status_name};
use super::{AppState, with_request_timeout};
use crate::activation::{self, AdmitError, Admitted, Origin, StagedVersion};
use crate::on_demand::OnDemandError;
use crate::plugin_folder::RollbackError;
use crate::preview::{Candidate, PreviewError, PreviewOptions, PreviewReport};
use crate::reconcile::ReconcileOptions;
use crate::sync::CycleOptions;

pub fn router(state: AppState) -> Router {
    let max_component = plugin_host::Limits::default().component_bytes;
    let server = &state.job.config.server;
    let quick = Router::new()
        .route("/admin/plugins", get(list_plugins))
        .route("/admin/logs", get(logs))
        .route("/admin/logs/{id}", get(log_entry))
        .route("/admin/status", get(status))
        .route("/admin/test-connection", post(test_connection))
        .route("/admin/outbox/dropped", get(dropped_changes))
        .route("/admin/outbox/dropped/{seq}/replay", post(replay_dropped))
        .route(
            "/admin/outbox/release-deprovisions",
            post(release_deprovisions),
        );
    // Outside the request timeout: a cycle (`?wait=true`), an on-demand run, a reconcile (it
    // reads every target user), a plugin version to compile (bounded by `[compile]
    // timeout_secs`, longer than a request's) and a preview (two plans of every person) run as
    // long as they need; only an admin with the token can start them. People look-ups read
    // the source too; readers may start those, two at a time (`lookup_permit`).
    let long = Router::new()
        .route(
            "/admin/plugins/{name}/versions",
            post(upload_version).layer(DefaultBodyLimit::max(max_component + 1)),
        )
        .route(
            "/admin/plugins/{name}/preview",
            post(preview_version).layer(DefaultBodyLimit::max(max_component + 1)),
        )
        .route("/admin/plugins/{name}/activate", post(activate))
        .route("/admin/plugins/{name}/shadow", post(shadow))
        .route(
            "/admin/plugins/{name}/staged",
            axum::routing::delete(drop_staged),
        )
        .route("/admin/plugins/{name}/rollback", post(rollback))
        .route("/admin/sync", post(start_sync))
        .route("/admin/pause", post(pause))
        .route("/admin/resume", post(resume))
        .route("/admin/provision", post(provision))
        .route("/admin/people", get(search_people))
        .route("/admin/people/{id}", get(person))
        .route("/admin/reconcile", post(reconcile));
    let api = with_request_timeout::<super::error::Json, _>(quick, server)
        .merge(long)
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state.clone());
    let openapi = Router::new().route("/admin/openapi.json", get(openapi));
    with_request_timeout::<super::error::Json, _>(openapi, server).merge(api)
}

/// The admin API's errors: `{"error": detail}` bodies.
type ApiError = super::error::ApiError<super::error::Json>;

/// The admin token may do everything. The read-only token (`[admin] viewer_token_env`) and a
/// console sign-in may read (`GET`): the console's state changes go through its own forms,
/// which carry a CSRF token.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use super::session::{Role, Session, role_of_bearer};
    if state.admin_token.is_none() {
        return ApiError::unavailable(format!(
            "the admin API is disabled: set the environment variable {} to its token",
            state.job.config.admin.token_env
        ))
        .into_response();
    }
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let role = role_of_bearer(&state, request.headers()).or_else(|| {
        Session::of(&state, request.headers(), store::now_unix()).map(|_| Role::Viewer)
    });
    match role {
        Some(Role::Admin) => next.run(request).await,
        Some(Role::Viewer) if reads => next.run(request).await,
        Some(Role::Viewer) => ApiError::new(
            403,
            None,
            "this token (or console sign-in) may only read; changes need the admin token",
        )
        .into_response(),
        None => ApiError::unauthorized("missing or wrong bearer token").into_response(),
    }
}

/// One plugin: its active version and the versions it can roll back to.
#[derive(Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    /// `license-rule` or `transformer`.
    pub world: String,
    /// Content hash of the active version.
    pub active: String,
    /// Size of the active component in bytes.
    pub size: usize,
    /// Versions, the active one first, then earlier ones (most recent first).
    pub history: Vec<String>,
    /// A version held back by a gate, with its preview.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub staged: Option<StagedVersion>,
    /// The preview that let an upload through its gates.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub preview: Option<PreviewReport>,
    /// Who or what made each version active, and when (`how`: `upload`, `folder`,
    /// `configuration`, `staged`, `rollback`, `shadow`, `start`), newest first (at most 20).
    #[schema(value_type = Vec<Object>)]
    pub activations: Vec<store::Activation>,
}

#[utoipa::path(get, path = "/admin/plugins", tag = "plugins",
    responses((status = 200, description = "The configured plugins", body = [PluginView])),
    security(("bearer" = [])))]
pub(crate) async fn list_plugins(State(state): State<AppState>) -> Json<Vec<PluginView>> {
    let job = &state.job;
    let views = job
        .plugin_entries()
        .filter_map(|e| plugin_view(&state, &e.name))
        .collect();
    Json(views)
}

fn plugin_view(state: &AppState, name: &str) -> Option<PluginView> {
    let registry = &state.job.registry;
    let active = registry.active(name)?;
    Some(PluginView {
        name: name.to_string(),
        world: active.world().to_string(),
        active: active.id().version.clone(),
        size: active.size(),
        history: registry
            .history(name)
            .into_iter()
            .map(|id| id.version)
            .collect(),
        staged: state.job.staging.get(name),
        preview: None,
        activations: state.job.store.activations(name, 20).unwrap_or_else(|e| {
            tracing::warn!(plugin = name, error = %e, "reading the plugin's activations failed");
            Vec::new()
        }),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// `required`: preview the version and activate it only if the preview passes the gates,
    /// even for a plugin without gates (a failed one is staged).
    #[serde(default)]
    pub preview: Option<String>,
    /// Stage the version without activating it and run it in shadow beside the active one.
    #[serde(default)]
    pub shadow: bool,
    /// Stage the version with its preview, without activating it, whatever the gates say: to
    /// read the preview first, then activate (`force` past a failed gate) or drop it.
    #[serde(default)]
    pub stage: bool,
}

#[utoipa::path(post, path = "/admin/plugins/{name}/versions", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration"), UploadParams),
    request_body(content = String, content_type = "application/wasm",
        description = "The component (.wasm) bytes"),
    responses(
        (status = 201, description = "Loaded and active (past its gates, when it has some: the preview is attached); with `[server] plugins_dir`, also saved there, so a restart serves it", body = PluginView),
        (status = 202, description = "Valid, but its preview exceeds a gate, or `shadow=true` or `stage=true`: staged, not activated (`staged` holds the preview, or the shadow's progress); `POST /admin/plugins/{name}/activate?force=true` overrides", body = PluginView),
        (status = 400, description = "Not a valid plugin component, or `preview` is not `required`; the active version keeps serving", body = ErrorBody),
        (status = 500, description = "Valid, but it could not be saved to `plugins_dir`, or the preview its gates need could not run; the active version keeps serving", body = ErrorBody),
        (status = 404, description = "No plugin of that name is configured", body = ErrorBody),
        (status = 413, description = "Over the component size limit")),
    security(("bearer" = [])))]
pub(crate) async fn upload_version(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<UploadParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    let require_preview = match params.preview.as_deref() {
        None => false,
        Some("required") => true,
        Some(other) => {
            return Err(ApiError::new(
                400,
                None,
                format!("preview={other:?}: the only value is `required`"),
            ));
        }
    };
    let bytes: std::sync::Arc<[u8]> = std::sync::Arc::from(&body[..]);
    if params.stage {
        activation::stage_for_review(&state.job, &name, bytes, Origin::Upload)
            .await
            .map_err(|e| admit_error(&name, e))?;
        let view = plugin_view(&state, &name).ok_or_else(|| unknown_plugin(&name))?;
        return Ok((StatusCode::ACCEPTED, Json(view)));
    }
    if params.shadow {
        activation::stage_for_shadow(&state.job, &name, bytes, Origin::Upload)
            .await
            .map_err(|e| admit_error(&name, e))?;
        let view = plugin_view(&state, &name).ok_or_else(|| unknown_plugin(&name))?;
        return Ok((StatusCode::ACCEPTED, Json(view)));
    }
    let who = admin_id(&state);
    let admitted = activation::admit(
        &state.job,
        &name,
        bytes,
        Origin::Upload,
        require_preview,
        &who,
    )
    .await
    .map_err(|e| admit_error(&name, e))?;
    match admitted {
        Admitted::Active {
            plugin,
            preview,
            saved,
        } => {
            match (saved, state.job.plugin_folder()) {
                (Some(file), _) => {
                    tracing::info!(plugin = %name, version = %plugin.id().version, file = %file.display(), "plugin version uploaded and saved")
                }
                (None, Some(_)) => {
                    tracing::info!(plugin = %name, version = %plugin.id().version, "uploaded version is the active one already; nothing changed")
                }
                (None, None) => {
                    tracing::warn!(plugin = %name, version = %plugin.id().version, "plugin version uploaded; it lives in memory only until a restart (set [server] plugins_dir to keep uploads)")
                }
            }
            let mut view = plugin_view(&state, &name).ok_or_else(|| unknown_plugin(&name))?;
            view.preview = preview.map(|p| *p);
            Ok((StatusCode::CREATED, Json(view)))
        }
        Admitted::Staged(_) => {
            let view = plugin_view(&state, &name).ok_or_else(|| unknown_plugin(&name))?;
            Ok((StatusCode::ACCEPTED, Json(view)))
        }
    }
}

/// An admission's error as the admin API answers it.
fn admit_error(name: &str, error: AdmitError) -> ApiError {
    match error {
        AdmitError::Unknown(_) => unknown_plugin(name),
        AdmitError::Load(RegistryError::Unknown(_)) => unknown_plugin(name),
        e @ AdmitError::Load(_) => {
            tracing::warn!(plugin = %name, error = %e, "uploaded plugin version rejected");
            ApiError::new(400, None, e.to_string())
        }
        e @ AdmitError::NothingStaged { .. } => ApiError::not_found(e.to_string()),
        e @ AdmitError::GatesFailed { .. } => ApiError::conflict(e.to_string()),
        e @ (AdmitError::Preview(_) | AdmitError::NotSaved(_)) => ApiError::internal(e.to_string()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// People listed per kind of change (default 10).
    #[serde(default)]
    pub samples: Option<usize>,
}

#[utoipa::path(post, path = "/admin/plugins/{name}/preview", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration"), PreviewParams),
    request_body(content = String, content_type = "application/wasm",
        description = "The candidate component (.wasm) bytes"),
    responses(
        (status = 200, description = "The candidate's impact on the job's people against the active version, and the gates; nothing is activated, sent or written", body = Object),
        (status = 400, description = "Not a valid plugin component for this plugin", body = ErrorBody),
        (status = 404, description = "No plugin of that name is configured", body = ErrorBody),
        (status = 500, description = "The preview could not run (the source could not be read)", body = ErrorBody),
        (status = 413, description = "Over the component size limit")),
    security(("bearer" = [])))]
async fn preview_version(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<PreviewParams>,
    body: Bytes,
) -> Result<Json<PreviewReport>, ApiError> {
    let candidate = Candidate {
        name: name.clone(),
        component: Some(body.to_vec()),
        ..Candidate::default()
    };
    let options = PreviewOptions {
        samples: params.samples.unwrap_or(crate::preview::DEFAULT_SAMPLES),
        ..PreviewOptions::default()
    };
    match crate::preview::preview(&state.job, &[candidate], &options).await {
        Ok(report) => Ok(Json(report)),
        Err(PreviewError::UnknownPlugin(_)) => Err(unknown_plugin(&name)),
        Err(e @ (PreviewError::Invalid(_) | PreviewError::WorldChanged { .. })) => {
            Err(ApiError::new(400, None, e.to_string()))
        }
        Err(e) => Err(ApiError::internal(format!("{e:#}"))),
    }
}

#[utoipa::path(post, path = "/admin/plugins/{name}/shadow", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration")),
    responses(
        (status = 200, description = "The staged version runs in shadow from the next run on: called beside the active one, compared, never applied", body = PluginView),
        (status = 404, description = "No plugin of that name, or no version staged", body = ErrorBody)),
    security(("bearer" = [])))]
async fn shadow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    if !state.job.plugin_entries().any(|e| e.name == name) {
        return Err(unknown_plugin(&name));
    }
    activation::start_shadow(&state.job, &name).map_err(|e| admit_error(&name, e))?;
    plugin_view(&state, &name)
        .map(Json)
        .ok_or_else(|| unknown_plugin(&name))
}

#[utoipa::path(delete, path = "/admin/plugins/{name}/staged", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration")),
    responses(
        (status = 200, description = "The staged version (and its shadow) is dropped; the active version is untouched", body = PluginView),
        (status = 404, description = "No plugin of that name, or no version staged", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn drop_staged(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    if !state.job.plugin_entries().any(|e| e.name == name) {
        return Err(unknown_plugin(&name));
    }
    let dropped = state
        .job
        .staging
        .drop_staged(&name)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name}: no version is staged")))?;
    tracing::info!(plugin = %name, version = %dropped.version, "staged plugin version dropped");
    plugin_view(&state, &name)
        .map(Json)
        .ok_or_else(|| unknown_plugin(&name))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivateParams {
    /// Activate even though the staged version's preview exceeds a gate (logged with the
    /// admin token's id).
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(post, path = "/admin/plugins/{name}/activate", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration"), ActivateParams),
    responses(
        (status = 200, description = "The staged version is active (and, with `plugins_dir`, saved there)", body = PluginView),
        (status = 404, description = "No plugin of that name, or no version staged", body = ErrorBody),
        (status = 409, description = "The staged version exceeds a gate and `force` was not given; nothing changed", body = ErrorBody),
        (status = 500, description = "It could not be saved to `plugins_dir`; the active version keeps serving", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn activate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<ActivateParams>,
) -> Result<Json<PluginView>, ApiError> {
    if !state.job.plugin_entries().any(|e| e.name == name) {
        return Err(unknown_plugin(&name));
    }
    let who = admin_id(&state);
    let (job, plugin, force) = (state.job.clone(), name.clone(), params.force);
    tokio::task::spawn_blocking(move || activation::activate_staged(&job, &plugin, force, &who))
        .await
        .map_err(|e| anyhow::anyhow!("activating: {e}"))?
        .map_err(|e| admit_error(&name, e))?;
    plugin_view(&state, &name)
        .map(Json)
        .ok_or_else(|| unknown_plugin(&name))
}

/// Which admin token acted (its id, never the token), for what records who did it.
fn admin_id(state: &AppState) -> String {
    state
        .admin_token
        .as_ref()
        .map_or_else(|| "unknown".to_string(), |t| t.id())
}

fn unknown_plugin(name: &str) -> ApiError {
    ApiError::not_found(format!("no plugin named {name:?} is configured"))
}

#[utoipa::path(post, path = "/admin/plugins/{name}/rollback", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name in the configuration")),
    responses(
        (status = 200, description = "The previous version is active again (and, with `[server] plugins_dir`, what a restart loads)", body = PluginView),
        (status = 404, description = "No plugin of that name", body = ErrorBody),
        (status = 409, description = "No previous version to roll back to, or (with `plugins_dir`) no copy of it is kept there; nothing changed", body = ErrorBody),
        (status = 500, description = "Rolled back, but the plugin folder could not be updated", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    let registry = &state.job.registry;
    // Restored and recorded together: another replica's activation is not followed between.
    let _activating = state
        .job
        .activating
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let restored = match state.job.plugin_folder() {
        Some(folder) => {
            // The configured version needs no copy: rolling back to it removes the file.
            let configured = state
                .job
                .plugin_entries()
                .find(|e| e.name == name)
                .and_then(|e| state.job.configured_bytes(e).ok())
                .map(|bytes| plugin_host::plugin::version_of(&bytes));
            folder.roll_back(registry, &name, configured.as_deref())
        }
        None => registry.rollback(&name).map_err(RollbackError::Registry),
    };
    match restored {
        Ok(plugin) => {
            activation::record_activation(
                &state.job,
                &name,
                &plugin.id().version,
                "rollback",
                &admin_id(&state),
            );
            plugin_view(&state, &name)
                .map(Json)
                .ok_or_else(|| unknown_plugin(&name))
        }
        Err(RollbackError::Registry(RegistryError::Unknown(_))) => Err(unknown_plugin(&name)),
        Err(e @ RollbackError::Registry(RegistryError::NoPreviousVersion(_)))
        | Err(e @ RollbackError::NotKept(_)) => Err(ApiError::conflict(e.to_string())),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// Wait for the cycle to finish and answer with its outcome (default: answer 202 at once).
    #[serde(default)]
    pub wait: bool,
    /// Release disables and deletes held back by the deletion threshold.
    #[serde(default)]
    pub allow_deletes: bool,
    /// Read the whole source, even where an incremental read is possible (Graph: ignore the
    /// saved delta links and rebuild the mirror).
    #[serde(default)]
    pub full_read: bool,
    /// Plan everyone, not only the people whose inputs changed since their last settled plan.
    #[serde(default)]
    pub full: bool,
}

/// A finished cycle, or one just started.
#[derive(Serialize, ToSchema)]
pub struct SyncAnswer {
    pub started: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub counts: Option<store::CycleCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// Asked of a replica that does not lead: the leader's id, which runs the cycle within a
    /// second or so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_of: Option<String>,
}

#[utoipa::path(post, path = "/admin/sync", tag = "sync", params(SyncParams),
    responses(
        (status = 202, description = "Started", body = SyncAnswer),
        (status = 200, description = "Finished (with `wait=true`)", body = SyncAnswer),
        (status = 409, description = "A cycle is running", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn start_sync(
    State(state): State<AppState>,
    Query(params): Query<SyncParams>,
) -> Result<(StatusCode, Json<SyncAnswer>), ApiError> {
    if let Some(paused) = state.job.store.paused()? {
        return Err(ApiError::conflict(format!(
            "the job is paused (since {}, by {}{}); POST /admin/resume first",
            store::rfc3339(paused.since),
            paused.by,
            if paused.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", paused.reason)
            }
        )));
    }
    if !state.job.replica.is_leader() && !params.wait {
        // The leader runs it (`serve::run_cycle_requests`).
        state.job.store.request_cycle(&store::CycleRequest {
            allow_deletes: params.allow_deletes,
            full_read: params.full_read,
            full: params.full,
            by: admin_id(&state),
            at: store::now_unix(),
        })?;
        let mut answer = started();
        answer.requested_of = Some(state.job.replica.leader_id().unwrap_or_default());
        return Ok((StatusCode::ACCEPTED, Json(answer)));
    }
    if !state.job.replica.is_leader() {
        return Err(ApiError::conflict(format!(
            "this replica ({}) does not lead the cycles{}; wait=true needs the leader, \
             whose /metrics shows muster_leader 1 (without wait, any replica passes the \
             request on)",
            state.job.replica.id,
            state
                .job
                .replica
                .leader_id()
                .map(|l| format!(" (the leader is {l})"))
                .unwrap_or_default()
        )));
    }
    let turn = state
        .runner
        .try_turn()
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let options = CycleOptions {
        allow_deletes: params.allow_deletes,
        full_read: params.full_read,
        full_plan: params.full,
        ..CycleOptions::default()
    };
    let run = {
        let state = state.clone();
        async move {
            let result = state
                .runner
                .cycle(&turn, &state.job, options, Trigger::Admin)
                .await;
            if let Err(e) = &result {
                tracing::error!(error = %format!("{e:#}"), "cycle started by an admin failed");
            }
            result
        }
    };
    if !params.wait {
        tokio::spawn(run);
        return Ok((StatusCode::ACCEPTED, Json(started())));
    }
    let report = tokio::spawn(run)
        .await
        .map_err(|e| anyhow::anyhow!("the cycle task failed: {e}"))??;
    let answer = match report {
        Some(r) => SyncAnswer {
            started: true,
            cycle_id: r.cycle_id,
            kind: Some(kind_name(r.kind).into()),
            status: Some(status_name(r.status).into()),
            counts: Some(r.counts),
            elapsed_ms: Some(r.elapsed.as_millis() as u64),
            requested_of: None,
        },
        None => started(),
    };
    Ok((StatusCode::OK, Json(answer)))
}

fn started() -> SyncAnswer {
    SyncAnswer {
        started: true,
        cycle_id: None,
        kind: None,
        status: None,
        counts: None,
        elapsed_ms: None,
        requested_of: None,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ProvisionRequest {
    /// A source person id, or the userName (matching attribute) ignoring case.
    pub person: String,
}

/// What on-demand provisioning did (as Entra's "Provision on demand" view).
#[derive(Serialize, ToSchema)]
pub struct ProvisionAnswer {
    pub cycle_id: i64,
    pub person_id: String,
    pub action: String,
    pub status: String,
    pub elapsed_ms: u64,
    /// The provisioning log entry: `provisioningSteps`, `modifiedProperties`,
    /// `provisioningStatusInfo`.
    #[schema(value_type = Object)]
    pub entry: serde_json::Value,
}

#[utoipa::path(post, path = "/admin/provision", tag = "sync", request_body = ProvisionRequest,
    responses(
        (status = 200, description = "Provisioned (or nothing to do); see `status`", body = ProvisionAnswer),
        (status = 404, description = "No such person in the source", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn provision(
    State(state): State<AppState>,
    Json(request): Json<ProvisionRequest>,
) -> Result<Json<ProvisionAnswer>, ApiError> {
    let done = state
        .runner
        .on_demand(&state.job, request.person.trim())
        .await
        .map_err(|e| match e {
            e @ OnDemandError::NotFound(_) => ApiError::not_found(e.to_string()),
            OnDemandError::Failed(e) => e.into(),
        })?;
    let entry = serde_json::to_value(&done.entry).map_err(anyhow::Error::from)?;
    Ok(Json(ProvisionAnswer {
        cycle_id: done.cycle_id,
        person_id: done.person_id,
        action: done.action,
        status: done.status,
        elapsed_ms: done.elapsed_ms,
        entry,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleParams {
    /// Text in the id, userName, UPN, display name, mail or name parts (ignoring case).
    pub q: String,
    /// At most this many people (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A person found by a search.
#[derive(Serialize, ToSchema)]
pub struct PersonSummary {
    pub id: String,
    /// The userName the pipeline maps, where the source has it (usually the UPN).
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub enabled: bool,
}

#[utoipa::path(get, path = "/admin/people", tag = "people", params(PeopleParams),
    responses((status = 200, description = "People of the source matching `q`, in source order", body = [PersonSummary]),
        (status = 400, description = "An empty `q`", body = ErrorBody),
        (status = 503, description = "Two look-ups of people are running already", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn search_people(
    State(state): State<AppState>,
    Query(params): Query<PeopleParams>,
) -> Result<Json<Vec<PersonSummary>>, ApiError> {
    if params.q.trim().is_empty() {
        return Err(ApiError::new(400, None, "q: give some text to look for"));
    }
    let _permit = lookup_permit()?;
    let limit = params.limit.unwrap_or(50).clamp(1, 500);
    let found = crate::on_demand::search(&state.job, &params.q, limit).await?;
    let text = |p: &engine::model::Person, name: &str| {
        p.attributes
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Ok(Json(
        found
            .iter()
            .map(|p| PersonSummary {
                id: p.id.clone(),
                user_name: text(p, "userPrincipalName").or_else(|| text(p, "userName")),
                display_name: text(p, "displayName"),
                enabled: p.enabled,
            })
            .collect(),
    ))
}

/// One person as muster sees them now.
#[derive(Serialize, ToSchema)]
pub struct PersonAnswer {
    /// The source person id.
    pub id: String,
    /// The person as the source has them: attributes, groups (direct and transitive), app
    /// roles, assignment. None: no longer in the source (what muster still knows is below).
    #[schema(value_type = Option<Object>)]
    pub person: Option<engine::model::Person>,
    /// What muster provisioned for them (target id, license, disabled), if anything.
    #[schema(value_type = Option<Object>)]
    pub record: Option<engine::model::ProvisionedRecord>,
    /// What provisioning them now would do, and why: the log entry of a dry run (scoping,
    /// matching, each plugin with what it was shown and decided, the action). None when they
    /// are not in the source.
    #[schema(value_type = Option<Object>)]
    pub now: Option<engine::log::LogEntry>,
    /// Their newest provisioning log entries (at most 10).
    #[schema(value_type = Vec<Object>)]
    pub recent: Vec<store::LogRecord>,
}

/// People look-ups at once. Each reads the source, and a person's also plans them (a dry
/// run); readers (the viewer token, a console sign-in) may start them, so few run at a time.
static PEOPLE_LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn lookup_permit() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    PEOPLE_LOOKUPS.try_acquire().map_err(|_| {
        ApiError::unavailable("two look-ups of people are running already; try again in a moment")
    })
}

#[utoipa::path(get, path = "/admin/people/{id}", tag = "people",
    params(("id" = String, Path, description = "A source person id, or the userName (ignoring case)")),
    responses((status = 200, description = "The person, their record, what a run would do now, and their newest log entries; for someone no longer in the source, the record and log entries muster still has", body = PersonAnswer),
        (status = 404, description = "Nobody of that id or userName in the source, the records or the log", body = ErrorBody),
        (status = 503, description = "Two look-ups of people are running already", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn person(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PersonAnswer>, ApiError> {
    let _permit = lookup_permit()?;
    let store = &state.job.store;
    let recent_of = |person: &str| {
        store.logs(&store::LogQuery {
            person: Some(person.to_string()),
            limit: 10,
            ..store::LogQuery::default()
        })
    };
    match crate::on_demand::explain_one(&state.job, id.trim()).await {
        Ok((person, now)) => Ok(Json(PersonAnswer {
            id: person.id.clone(),
            record: store.record(&person.id)?,
            recent: recent_of(&person.id)?,
            now: Some(now),
            person: Some(person),
        })),
        Err(e @ OnDemandError::NotFound(_)) => {
            // Gone from the source: what muster still knows of them.
            let recent = recent_of(id.trim())?;
            let source_id = recent
                .first()
                .map_or_else(|| id.trim().to_string(), |r| r.person_id.clone());
            let record = store.record(&source_id)?;
            if recent.is_empty() && record.is_none() {
                return Err(ApiError::not_found(e.to_string()));
            }
            Ok(Json(PersonAnswer {
                id: source_id,
                person: None,
                record,
                now: None,
                recent,
            }))
        }
        Err(OnDemandError::Failed(e)) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/admin/reconcile", tag = "sync", request_body = ReconcileOptions,
    responses(
        (status = 200, description = "The report (`target_users`, `in_sync`, `drifted`, `orphans`, `missing`) and, with `fix`, what was fixed (`fix`: `cycle_id`, `people`, `left`)", body = Object),
        (status = 409, description = "A cycle is running", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn reconcile(
    State(state): State<AppState>,
    Json(options): Json<ReconcileOptions>,
) -> Result<Json<crate::reconcile::Reconciled>, ApiError> {
    // A reconcile plans from the records as a cycle does: it takes the cycles' turn.
    let turn = state
        .runner
        .try_turn()
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    // In its own task: a client that goes away does not stop fixes half-sent.
    let job = state.job.clone();
    let done = tokio::spawn(async move {
        let done = crate::reconcile::reconcile(&job, options).await;
        drop(turn);
        done
    })
    .await
    .map_err(|e| anyhow::anyhow!("the reconcile task failed: {e}"))??;
    Ok(Json(done))
}

/// The filters of `muster logs`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    pub cycle: Option<i64>,
    /// A source person id, or a userName (ignoring case).
    pub person: Option<String>,
    /// `success`, `failure`, `skipped` or `warning`.
    pub status: Option<String>,
    /// `create`, `update`, `disable`, `delete`, `stageddelete` (held by the deletion threshold),
    /// `other` (nothing sent).
    pub action: Option<String>,
    /// Entries appended at or after this time: RFC 3339 (`2026-12-01T00:00:00Z`) or a date
    /// (`2026-12-01`, midnight UTC).
    pub since: Option<String>,
    /// Entries appended before this time (same forms as `since`).
    pub until: Option<String>,
    /// Entries older than this entry id (the last id of a page, for the next page).
    pub before: Option<i64>,
    /// At most this many entries (default 100, at most 1000).
    pub limit: Option<usize>,
    /// `json` (the default) or `csv` (a row per entry: cycle, time, person, identity, action,
    /// status, error code, reason), as `muster logs --format csv` prints it.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/admin/logs", tag = "logs", params(LogParams),
    responses((status = 200, description = "Entries, newest first (JSON, or CSV with `format=csv`)", body = [Object]),
        (status = 400, description = "An unknown format", body = ErrorBody)),
    security(("bearer" = [])))]
async fn logs(
    State(state): State<AppState>,
    Query(params): Query<LogParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                400,
                None,
                format!("format {other:?}: use json or csv"),
            ));
        }
    };
    let entries = log_entries(&state, &params)?;
    if !csv {
        return Ok(Json(entries).into_response());
    }
    let mut text = Vec::new();
    crate::commands::logs::write_csv(&entries, &mut text)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"muster-logs.csv\"",
            ),
        ],
        text,
    )
        .into_response())
}

#[utoipa::path(get, path = "/admin/logs/{id}", tag = "logs",
    params(("id" = String, Path, description = "The entry's `id`, or its change id (`{cycle}-{n}`)")),
    responses((status = 200, description = "The entry: steps, modified properties, status and reason", body = Object),
        (status = 404, description = "No such entry (or it was pruned)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn log_entry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<store::LogRecord>, ApiError> {
    state
        .job
        .store
        .log_entry(id.trim())?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!("no log entry {id:?} (it may have been pruned)"))
        })
}

/// The entries `params` select, newest first: what `GET /admin/logs` and the console's log
/// view show.
pub(crate) fn log_entries(
    state: &AppState,
    params: &LogParams,
) -> Result<Vec<store::LogRecord>, ApiError> {
    let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
        let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        store::parse_time(value).map(Some).ok_or_else(|| {
            ApiError::new(
                400,
                None,
                format!(
                    "{name}={value:?}: use RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)"
                ),
            )
        })
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let query = store::LogQuery {
        cycle: params.cycle,
        person: nonempty(&params.person).map(|p| p.trim().to_string()),
        status: nonempty(&params.status),
        action: nonempty(&params.action),
        since: time("since", &params.since)?,
        until: time("until", &params.until)?,
        before: params.before,
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(state.job.store.logs(&query)?)
}

/// What the job is doing and has done.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// The run in progress, if any.
    pub current: Option<Running>,
    /// The newest cycles, newest first.
    #[schema(value_type = Vec<Object>)]
    pub cycles: Vec<store::CycleRecord>,
    #[schema(value_type = Option<Object>)]
    pub quarantine: Option<store::QuarantineState>,
    /// Disables and deletes held back by the deletion threshold.
    #[schema(value_type = Vec<Object>)]
    pub staged_deletes: Vec<store::StagedRecord>,
    pub readiness: Readiness,
    pub last_probe: Option<ProbeResult>,
    /// Set while the job is paused: no scheduled cycle, no forwarding of the outbox.
    #[schema(value_type = Option<Object>)]
    pub paused: Option<store::Paused>,
    /// A gateway job's outbox: the changes accepted and not yet forwarded.
    pub outbox: Option<OutboxStatus>,
    /// The licenses enabled provisioned people hold now (`plans`, `add_ons`: name → people).
    #[schema(value_type = Object)]
    pub licenses: store::LicenseTally,
    /// `[license] seats`: the seats the target account has per plan or add-on name.
    pub seat_budgets: std::collections::BTreeMap<String, u32>,
    /// `sync` or `gateway`.
    pub mode: String,
    /// The target's SCIM base URL.
    pub target: String,
    /// This replica, and whether it leads the scheduled cycles.
    pub replica: ReplicaStatus,
}

/// This replica among those sharing the state.
#[derive(Serialize, ToSchema)]
pub struct ReplicaStatus {
    /// This replica's id (`local` for a SQLite file's single process).
    pub id: String,
    /// `sqlite` or `postgresql`.
    pub backend: String,
    /// Whether this replica runs the scheduled cycles.
    pub leader: bool,
    /// The leader's id, as this replica last saw it.
    pub leader_id: Option<String>,
}

/// A gateway job's outbox.
#[derive(Serialize, ToSchema)]
pub struct OutboxStatus {
    /// Changes waiting to be forwarded.
    pub pending: u64,
    /// When the oldest waiting change was accepted (Unix seconds).
    pub oldest_at: Option<i64>,
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct StatusParams {
    /// How many of the newest cycles to list (default 10, at most 200).
    pub cycles: Option<usize>,
}

#[utoipa::path(get, path = "/admin/status", tag = "status", params(StatusParams),
    responses((status = 200, description = "Current run and progress, last cycles, quarantine, staged deletes", body = Status)),
    security(("bearer" = [])))]
pub(crate) async fn status(
    State(state): State<AppState>,
    Query(params): Query<StatusParams>,
) -> Result<Json<Status>, ApiError> {
    let store = &state.job.store;
    let config = &state.job.config;
    let outbox = match state.gateway {
        Some(_) => Some(OutboxStatus {
            pending: store.outbox_len()?,
            oldest_at: store.outbox_oldest()?.map(|ms| ms.div_euclid(1000)),
        }),
        None => None,
    };
    Ok(Json(Status {
        outbox,
        licenses: store.license_tally()?,
        seat_budgets: config
            .license
            .as_ref()
            .map(|l| l.seats.clone())
            .unwrap_or_default(),
        mode: if config.is_gateway() {
            "gateway"
        } else {
            "sync"
        }
        .into(),
        target: config.target.base_url.clone(),
        replica: ReplicaStatus {
            id: state.job.replica.id.clone(),
            backend: store.backend().into(),
            leader: state.job.replica.is_leader(),
            leader_id: state.job.replica.leader_id(),
        },
        current: state.runner.current(),
        cycles: store.cycles(params.cycles.unwrap_or(10).clamp(1, 200))?,
        quarantine: store.quarantine()?,
        staged_deletes: store.staged_deletes()?,
        readiness: readiness(&state),
        last_probe: state.probe.last(),
        paused: store.paused()?,
    }))
}

/// Why the job is paused, as an admin gives it.
#[derive(Deserialize, ToSchema, Default)]
pub struct PauseBody {
    #[serde(default)]
    pub reason: String,
}

#[utoipa::path(post, path = "/admin/pause", tag = "sync",
    request_body(content = Option<PauseBody>, description = "Why (optional)"),
    responses((status = 200, description = "Paused (or already paused: the first pause is kept)", body = Object)),
    security(("bearer" = [])))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    body: Option<Json<PauseBody>>,
) -> Result<Json<store::Paused>, ApiError> {
    let who = admin_id(&state);
    let reason = body.map(|b| b.0.reason).unwrap_or_default();
    let paused = state.job.store.pause(&who, &reason)?;
    metrics::gauge!(PAUSED).set(1.0);
    tracing::warn!(by = %paused.by, reason = %paused.reason, "job paused by an admin");
    Ok(Json(paused))
}

#[utoipa::path(post, path = "/admin/resume", tag = "sync",
    responses((status = 200, description = "Running again: `{\"resumed\": false}` if it was not paused", body = Object)),
    security(("bearer" = [])))]
pub(crate) async fn resume(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let resumed = state.job.store.resume()?;
    metrics::gauge!(PAUSED).set(0.0);
    if resumed {
        tracing::warn!("job resumed by an admin");
    }
    if let Some(gateway) = &state.gateway {
        gateway.wake();
    }
    Ok(Json(serde_json::json!({ "resumed": resumed })))
}

/// 1 while the job is paused.
pub const PAUSED: &str = "muster_paused";

#[utoipa::path(post, path = "/admin/test-connection", tag = "status",
    responses((status = 200, description = "The outcome (`ok` false names what to fix)", body = ProbeResult)),
    security(("bearer" = [])))]
pub(crate) async fn test_connection(State(state): State<AppState>) -> Json<ProbeResult> {
    Json(state.probe.check(&state.job).await)
}

/// The gateway of a gateway job, or 404: sync jobs have no outbox.
fn gateway_of(state: &AppState) -> Result<&crate::gateway::GatewayState, ApiError> {
    state.gateway.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "this job has no outbox: it is not a gateway job ([source] kind = \"gateway\")",
        )
    })
}

#[utoipa::path(get, path = "/admin/outbox/dropped", tag = "gateway",
    responses(
        (status = 200, description = "Changes the gateway gave up forwarding, newest first (at most 1000)", body = [Object]),
        (status = 404, description = "Not a gateway job", body = ErrorBody)),
    security(("bearer" = [])))]
async fn dropped_changes(
    State(state): State<AppState>,
) -> Result<Json<Vec<store::DroppedChange>>, ApiError> {
    gateway_of(&state)?;
    Ok(Json(state.job.store.outbox_dropped(1000)?))
}

/// A dropped change sent again.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub seq: i64,
    pub person_id: String,
}

#[utoipa::path(post, path = "/admin/outbox/dropped/{seq}/replay", tag = "gateway",
    params(("seq" = i64, Path, description = "The dropped change, as listed")),
    responses(
        (status = 200, description = "The person is in the outbox again, as the source view has them now", body = Replayed),
        (status = 404, description = "No such dropped change, or not a gateway job", body = ErrorBody)),
    security(("bearer" = [])))]
async fn replay_dropped(
    State(state): State<AppState>,
    Path(seq): Path<i64>,
) -> Result<Json<Replayed>, ApiError> {
    let gateway = gateway_of(&state)?;
    match gateway.replay_dropped(seq).await? {
        Some(person_id) => {
            tracing::info!(seq, person = %person_id, "dropped change replayed");
            Ok(Json(Replayed { seq, person_id }))
        }
        None => Err(ApiError::not_found(format!("no dropped change {seq}"))),
    }
}

/// The gateway's deprovision guard, lifted.
#[derive(Serialize, ToSchema)]
pub struct Released {
    /// For how long disables and deletes go without limit.
    pub window_secs: u64,
}

#[utoipa::path(post, path = "/admin/outbox/release-deprovisions", tag = "gateway",
    responses(
        (status = 200, description = "Held disables and deletes go now, and new ones go without limit for one window", body = Released),
        (status = 404, description = "Not a gateway job", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn release_deprovisions(
    State(state): State<AppState>,
) -> Result<Json<Released>, ApiError> {
    let window = gateway_of(&state)?.release_deprovisions()?;
    Ok(Json(Released {
        window_secs: window.as_secs(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "muster admin API", description = "Operate a muster provisioning job"),
    paths(list_plugins, upload_version, preview_version, activate, shadow, drop_staged, rollback, start_sync, pause, resume, provision, search_people, person, reconcile, logs, log_entry, status, test_connection, dropped_changes, replay_dropped, release_deprovisions),
    components(schemas(PluginView, ErrorBody, SyncAnswer, ProvisionRequest, ProvisionAnswer, ReconcileOptions, Status, OutboxStatus, ReplicaStatus, PersonSummary, PersonAnswer, Running, Trigger, Readiness, ProbeResult, Replayed, Released, PauseBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of the admin API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
