//! The Users and Groups endpoints: HTTP in and out. Reads render from the store; writes
//! validate the request, then (under the write lock) compare with what is stored and hand the
//! change to [`super::writes`], which commits it with its outbox rows.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::model::GroupRef;
use scim::request::{name_attribute, validate_resource};
use scim::resource::ResourceKind;
use scim::{Filter, ListResponse};
use serde_json::{Map, Value, json};
use store::{GatewayKind, GatewayResource};

use super::envelope::{origin, read_json, scim_json};
use super::query::{ListParams, Projection};
use super::time::{now_ms, timestamp};
use super::writes::{check_write, commit, store_kind};
use super::{ApiError, BASE_PATH, GatewayState};

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

/// A stored resource as the wire shows it: `id`, `meta`, and for users their `groups` (the
/// groups that list them, as [`group_refs`] reads them).
fn render(r: &GatewayResource, groups: &[GroupRef], base: &str) -> Value {
    let kind = match r.kind {
        GatewayKind::User => ResourceKind::User,
        GatewayKind::Group => ResourceKind::Group,
    };
    let mut obj = r.body.as_object().cloned().unwrap_or_default();
    obj.insert("id".into(), json!(r.id));
    if kind == ResourceKind::User && !groups.is_empty() {
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({"value": g.id, "display": g.display_name, "type": "direct",
                       "$ref": format!("{base}/Groups/{}", g.id)})
            })
            .collect();
        obj.insert("groups".into(), Value::Array(groups));
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
    Value::Object(obj)
}

/// The groups of each user among `resources`, in one query for all of them (groups have
/// none: their members are in their body).
fn group_refs(
    state: &GatewayState,
    resources: &[GatewayResource],
) -> Result<HashMap<String, Vec<GroupRef>>, ApiError> {
    let users: Vec<&str> = resources
        .iter()
        .filter(|r| r.kind == GatewayKind::User)
        .map(|r| r.id.as_str())
        .collect();
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(state.job().store.gateway_group_refs_of(&users)?)
}

/// [`render`] for each of `resources`, their groups read at once.
fn render_all(
    state: &GatewayState,
    resources: &[GatewayResource],
    base: &str,
) -> Result<Vec<Value>, ApiError> {
    let groups = group_refs(state, resources)?;
    Ok(resources
        .iter()
        .map(|r| render(r, groups.get(&r.id).map_or(&[], Vec::as_slice), base))
        .collect())
}

/// [`render`] for one resource, its groups read from the store.
fn render_one(state: &GatewayState, r: &GatewayResource, base: &str) -> Result<Value, ApiError> {
    let mut rendered = render_all(state, std::slice::from_ref(r), base)?;
    rendered
        .pop()
        .ok_or_else(|| ApiError::internal("a resource rendered to nothing"))
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

/// The `If-Match` header, if any (RFC 7644 §3.14).
fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// RFC 7644 §3.14: `If-Match` on a write must name the current version (or `*`).
fn check_if_match(wanted: Option<&str>, current: &GatewayResource) -> Result<(), ApiError> {
    let Some(wanted) = wanted else {
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
    let (stored, groups) = state
        .blocking(move |state| {
            let stored = state
                .job()
                .store
                .gateway_resource(store_kind(kind), &id)?
                .ok_or_else(|| not_found(kind, &id))?;
            let mut groups = group_refs(state, std::slice::from_ref(&stored))?;
            let groups = groups.remove(&stored.id).unwrap_or_default();
            Ok((stored, groups))
        })
        .await?;
    let none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag(stored.version))) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let rendered = render(&stored, &groups, &base(&headers));
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
    let base = base(&headers);
    state
        .blocking(move |state| run_list(state, &[kind], &params, &base))
        .await
}

async fn search(
    State(state): State<GatewayState>,
    kinds: &'static [ResourceKind],
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let json = read_json(&headers, body, state.config().max_body_bytes).await?;
    let params = ListParams::from_search(&json, state.config().max_results)?;
    let base = base(&headers);
    state
        .blocking(move |state| run_list(state, kinds, &params, &base))
        .await
}

/// Resources read per batch when a filter has to look at every resource of a kind.
const SCAN_BATCH: u64 = 500;

/// A list or search (RFC 7644 §3.4.2): the resources of `kinds`, in that order, each kind
/// oldest first (`created`, then `id`); `totalResults` counts every match, the page holds
/// `count` of them from `startIndex` (1-based, §3.4.2.4).
///
/// Without a filter, the page is read with LIMIT/OFFSET after a count. A filter that pins an
/// indexed attribute with `eq` ([`pinned`]) reads only the resources holding that value; any
/// other filter is evaluated on every resource, read and rendered in batches (the groups of a
/// batch's users in one query), keeping only the page. Either way the filter is evaluated on
/// the rendered resource, so an index only narrows what is looked at.
fn run_list(
    state: &GatewayState,
    kinds: &[ResourceKind],
    params: &ListParams,
    base: &str,
) -> Result<Response, ApiError> {
    let store = &state.job().store;
    let skip = u64::try_from(params.start_index - 1).unwrap_or(u64::MAX);
    let take = params.count;
    let mut total: u64 = 0;
    let mut page: Vec<Value> = Vec::new();
    for &kind in kinds {
        let Some(filter) = &params.filter else {
            let n = store.gateway_count(store_kind(kind))?;
            let offset = skip.saturating_sub(total);
            let room = take.saturating_sub(page.len());
            if room > 0 && offset < n {
                let rows = store.gateway_page(store_kind(kind), offset, room as u64)?;
                for r in render_all(state, &rows, base)? {
                    page.push(params.projection.apply(kind, r));
                }
            }
            total += n;
            continue;
        };
        let mut keep = |resources: &[GatewayResource]| -> Result<(), ApiError> {
            for r in render_all(state, resources, base)? {
                if filter.matches_with(&r, &kind) {
                    if total >= skip && page.len() < take {
                        page.push(params.projection.apply(kind, r));
                    }
                    total += 1;
                }
            }
            Ok(())
        };
        match pinned(state, kind, filter)? {
            Some(few) => keep(&few)?,
            None => {
                let mut after: Option<(i64, String)> = None;
                loop {
                    let key = after.as_ref().map(|(c, id)| (*c, id.as_str()));
                    let batch = store.gateway_batch_after(store_kind(kind), key, SCAN_BATCH)?;
                    let Some(last) = batch.last() else {
                        break;
                    };
                    after = Some((last.created, last.id.clone()));
                    keep(&batch)?;
                }
            }
        }
    }
    let list = ListResponse::new(page, total, params.start_index as u64);
    let body = serde_json::to_value(&list).map_err(ApiError::internal)?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// The only resources a filter can match when it is a conjunction of `eq` terms one of which
/// names an indexed attribute with a string: `id`, the name (`userName` / `displayName`,
/// ignoring case), or `externalId` (Entra's look-ups are `userName eq`, `externalId eq` and
/// `displayName eq`). None: the filter has to be evaluated on every resource.
fn pinned(
    state: &GatewayState,
    kind: ResourceKind,
    filter: &Filter,
) -> Result<Option<Vec<GatewayResource>>, ApiError> {
    let Some(terms) = filter.equality_template() else {
        return Ok(None);
    };
    let store = &state.job().store;
    let value_of = |name: &str| {
        terms
            .iter()
            .find(|(attr, _)| attr.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    if let Some(id) = value_of("id") {
        return Ok(Some(
            store
                .gateway_resource(store_kind(kind), id)?
                .into_iter()
                .collect(),
        ));
    }
    if let Some(name) = value_of(name_attribute(kind)) {
        return Ok(Some(
            store
                .gateway_resource_by_name(store_kind(kind), name)?
                .into_iter()
                .collect(),
        ));
    }
    if let Some(external_id) = value_of("externalId") {
        return Ok(Some(store.gateway_resources_by_external_id(
            store_kind(kind),
            external_id,
        )?));
    }
    Ok(None)
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
    let base = base(&headers);
    let rendered = {
        let _guard = state.inner.writes.lock().await;
        state
            .blocking(move |state| {
                check_write(state, kind, &resource)?;
                commit(state, kind, None, Some(&resource), now)?;
                render_one(state, &resource, &base)
            })
            .await?
    };
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
    update(&state, kind, &headers, id, |_| Ok(obj)).await
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
    update(&state, kind, &headers, id, move |current| {
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
    id: String,
    change: impl FnOnce(&GatewayResource) -> Result<Map<String, Value>, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let wanted = if_match(headers);
    let base = base(headers);
    let rendered = {
        let _guard = state.inner.writes.lock().await;
        state
            .blocking(move |state| {
                let current = state
                    .job()
                    .store
                    .gateway_resource(store_kind(kind), &id)?
                    .ok_or_else(|| not_found(kind, &id))?;
                check_if_match(wanted.as_deref(), &current)?;
                let body = Value::Object(change(&current)?);
                let after = if body == current.body {
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
                };
                render_one(state, &after, &base)
            })
            .await?
    };
    Ok(resource_response(StatusCode::OK, &rendered))
}

async fn delete(
    State(state): State<GatewayState>,
    kind: ResourceKind,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wanted = if_match(&headers);
    let _guard = state.inner.writes.lock().await;
    state
        .blocking(move |state| {
            let current = state
                .job()
                .store
                .gateway_resource(store_kind(kind), &id)?
                .ok_or_else(|| not_found(kind, &id))?;
            check_if_match(wanted.as_deref(), &current)?;
            commit(state, kind, Some(&current), None, now_ms())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
