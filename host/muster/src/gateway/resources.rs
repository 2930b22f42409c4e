//! The Users and Groups endpoints: HTTP in and out. Reads render from the store; writes
//! validate the request, then (under the write lock) compare with what is stored and hand the
//! change to [`super::writes`], which commits it with its outbox rows.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::ListResponse;
use scim::request::{name_attribute, validate_resource};
use scim::resource::ResourceKind;
use serde_json::{Map, Value, json};
use store::{GatewayKind, GatewayResource};

use super::http::{origin, read_json, scim_json};
use super::query::{ListParams, Projection};
use super::time::{now_ms, timestamp};
use super::writes::{check_write, commit, store_kind};
use super::{ApiError, BASE_PATH, GatewayState, people};

type Params = Query<HashMap<String, String>>;

/// The handlers of one resource type: thin axum entry points into the shared handlers below,
/// with the resource kind fixed.
macro_rules! handlers {
    ($(#[$doc:meta])* $module:ident, $kind:expr) => {
        $(#[$doc])*
        pub mod $module {
            use super::*;
            const KIND: ResourceKind = $kind;

        pub async fn list(
            s: State<GatewayState>,
            h: HeaderMap,
            q: Params,
        ) -> Result<Response, ApiError> {
            super::list(s, KIND, h, q).await
        }
        pub async fn search(
            s: State<GatewayState>,
            h: HeaderMap,
            b: Body,
        ) -> Result<Response, ApiError> {
            super::search(s, &[KIND], h, b).await
        }
        pub async fn get(
            s: State<GatewayState>,
            h: HeaderMap,
            p: Path<String>,
            q: Params,
        ) -> Result<Response, ApiError> {
            super::get(s, KIND, h, p, q).await
        }
        pub async fn create(
            s: State<GatewayState>,
            h: HeaderMap,
            b: Body,
        ) -> Result<Response, ApiError> {
            super::create(s, KIND, h, b).await
        }
        pub async fn replace(
            s: State<GatewayState>,
            h: HeaderMap,
            p: Path<String>,
            b: Body,
        ) -> Result<Response, ApiError> {
            super::replace(s, KIND, h, p, b).await
        }
        pub async fn patch(
            s: State<GatewayState>,
            h: HeaderMap,
            p: Path<String>,
            b: Body,
        ) -> Result<Response, ApiError> {
            super::patch(s, KIND, h, p, b).await
        }
        pub async fn delete(
            s: State<GatewayState>,
            h: HeaderMap,
            p: Path<String>,
        ) -> Result<Response, ApiError> {
            super::delete(s, KIND, h, p).await
        }
        }
    };
}

handlers!(
    /// Handlers for `/Users`.
    users,
    ResourceKind::User
);
handlers!(
    /// Handlers for `/Groups`.
    groups,
    ResourceKind::Group
);

/// `POST /.search`: users and groups alike.
pub async fn search_all(
    s: State<GatewayState>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    search(s, &[ResourceKind::User, ResourceKind::Group], h, b).await
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    ApiError::not_found(format!("{} {id} not found", kind.name()))
}

/// A stored resource as the wire shows it: `id`, `meta`, and for users their `groups`.
fn render(state: &GatewayState, r: &GatewayResource, base: &str) -> Result<Value, ApiError> {
    let kind = match r.kind {
        GatewayKind::User => ResourceKind::User,
        GatewayKind::Group => ResourceKind::Group,
    };
    let mut obj = r.body.as_object().cloned().unwrap_or_default();
    obj.insert("id".into(), json!(r.id));
    if kind == ResourceKind::User {
        let groups: Vec<Value> = state
            .job()
            .store
            .gateway_groups_of(&r.id)?
            .iter()
            .map(|g| {
                let group = people::group_ref(g);
                json!({"value": group.id, "display": group.display_name, "type": "direct",
                       "$ref": format!("{base}/Groups/{}", group.id)})
            })
            .collect();
        if !groups.is_empty() {
            obj.insert("groups".into(), Value::Array(groups));
        }
    }
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": timestamp(r.created),
            "lastModified": timestamp(r.last_modified),
            "location": format!("{base}{}/{}", kind.endpoint(), r.id),
            "version": etag(r.version),
        }),
    );
    Ok(Value::Object(obj))
}

fn base(headers: &HeaderMap) -> String {
    format!("{}{BASE_PATH}", origin(headers))
}

/// A resource response with its `ETag`.
fn resource_response(status: StatusCode, resource: &Value) -> Response {
    let mut response = scim_json(status, resource);
    let version = resource.pointer("/meta/version").and_then(Value::as_str);
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// RFC 7644 §3.14: `If-Match` on a write must name the current version (or `*`).
fn check_if_match(headers: &HeaderMap, current: &GatewayResource) -> Result<(), ApiError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let tag = etag(current.version);
    let matches = wanted.split(',').map(str::trim).any(|w| {
        w == "*" || w == tag || w.trim_start_matches("W/") == tag.trim_start_matches("W/")
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::new(
            412,
            None,
            format!("the resource is at version {tag}, not {wanted}"),
        ))
    }
}

async fn get(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let projection = Projection::from_query(&query)?;
    let stored = state
        .job()
        .store
        .gateway_resource(store_kind(kind), &id)?
        .ok_or_else(|| not_found(kind, &id))?;
    let none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag(stored.version))) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let rendered = render(&state, &stored, &base(&headers))?;
    Ok(resource_response(
        StatusCode::OK,
        &projection.apply(kind, rendered),
    ))
}

async fn list(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(&query, state.config().max_results)?;
    run_list(&state, &[kind], &params, &base(&headers))
}

async fn search(
    State(state): State<GatewayState>,
    kinds: &[ResourceKind],
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let json = read_json(&headers, body, state.config().max_body_bytes).await?;
    let params = ListParams::from_search(&json, state.config().max_results)?;
    run_list(&state, kinds, &params, &base(&headers))
}

fn run_list(
    state: &GatewayState,
    kinds: &[ResourceKind],
    params: &ListParams,
    base: &str,
) -> Result<Response, ApiError> {
    let mut matched: Vec<(ResourceKind, Value)> = Vec::new();
    for &kind in kinds {
        for stored in candidates(state, kind, params)? {
            let rendered = render(state, &stored, base)?;
            if params
                .filter
                .as_ref()
                .is_none_or(|f| f.matches_with(&rendered, &kind))
            {
                matched.push((kind, rendered));
            }
        }
    }
    let total = matched.len() as u64;
    let page: Vec<Value> = matched
        .into_iter()
        .skip(params.start_index - 1)
        .take(params.count)
        .map(|(kind, r)| params.projection.apply(kind, r))
        .collect();
    let list = ListResponse::new(page, total, params.start_index as u64);
    let body = serde_json::to_value(&list).map_err(ApiError::internal)?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// The resources a filter can match: one by name when the filter pins `userName` /
/// `displayName` with `eq` (what Entra sends), else all of them.
fn candidates(
    state: &GatewayState,
    kind: ResourceKind,
    params: &ListParams,
) -> Result<Vec<GatewayResource>, ApiError> {
    let store = &state.job().store;
    let name = name_attribute(kind);
    let pinned = params
        .filter
        .as_ref()
        .and_then(|f| f.equality_template())
        .and_then(|terms| {
            terms
                .into_iter()
                .find(|(attr, _)| attr.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str().map(str::to_string))
        });
    Ok(match pinned {
        Some(value) => store
            .gateway_resource_by_name(store_kind(kind), &value)?
            .into_iter()
            .collect(),
        None => store.gateway_resources(store_kind(kind))?,
    })
}

async fn create(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let json = read_json(&headers, body, state.config().max_body_bytes).await?;
    let obj = validate_resource(kind, json)?;
    let now = now_ms();
    let resource = GatewayResource {
        kind: store_kind(kind),
        id: uuid::Uuid::new_v4().to_string(),
        body: Value::Object(obj),
        version: 1,
        created: now,
        last_modified: now,
    };
    {
        let _guard = state.inner.writes.lock().await;
        check_write(&state, kind, &resource)?;
        commit(&state, kind, None, Some(&resource), now)?;
    }
    let rendered = render(&state, &resource, &base(&headers))?;
    let mut response = resource_response(StatusCode::CREATED, &rendered);
    let location = rendered.pointer("/meta/location").and_then(Value::as_str);
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, l);
    }
    Ok(response)
}

async fn replace(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let json = read_json(&headers, body, state.config().max_body_bytes).await?;
    let obj = validate_resource(kind, json)?;
    update(&state, kind, &headers, &id, |_| Ok(obj)).await
}

async fn patch(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let json = read_json(&headers, body, state.config().max_body_bytes).await?;
    let ops = scim::patch::parse_request(&json)?;
    update(&state, kind, &headers, &id, |current| {
        // `id` and `meta` are there so that a PATCH aimed at them fails as `mutability`.
        let mut doc = render_plain(current, kind);
        scim::patch::apply_as(&mut doc, &ops, kind)?;
        Ok(validate_resource(kind, doc)?)
    })
    .await
}

/// The stored body with `id` and a `meta` stub: what a PATCH applies to.
fn render_plain(r: &GatewayResource, kind: ResourceKind) -> Value {
    let mut obj = r.body.as_object().cloned().unwrap_or_default();
    obj.insert("id".into(), json!(r.id));
    obj.insert("meta".into(), json!({"resourceType": kind.name()}));
    Value::Object(obj)
}

/// PUT and PATCH: the new body from the current resource, then the common write path. A write
/// that changes nothing answers with the resource as it is, without a new version.
async fn update(
    state: &GatewayState,
    kind: ResourceKind,
    headers: &HeaderMap,
    id: &str,
    change: impl FnOnce(&GatewayResource) -> Result<Map<String, Value>, ApiError>,
) -> Result<Response, ApiError> {
    let after = {
        let _guard = state.inner.writes.lock().await;
        let current = state
            .job()
            .store
            .gateway_resource(store_kind(kind), id)?
            .ok_or_else(|| not_found(kind, id))?;
        check_if_match(headers, &current)?;
        let body = Value::Object(change(&current)?);
        if body == current.body {
            current
        } else {
            let now = now_ms();
            let after = GatewayResource {
                body,
                version: current.version + 1,
                last_modified: now.max(current.last_modified),
                ..current.clone()
            };
            check_write(state, kind, &after)?;
            commit(state, kind, Some(&current), Some(&after), now)?;
            after
        }
    };
    let rendered = render(state, &after, &base(headers))?;
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn delete(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let _guard = state.inner.writes.lock().await;
    let current = state
        .job()
        .store
        .gateway_resource(store_kind(kind), &id)?
        .ok_or_else(|| not_found(kind, &id))?;
    check_if_match(&headers, &current)?;
    commit(&state, kind, Some(&current), None, now_ms())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
