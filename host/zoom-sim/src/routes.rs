//! HTTP: the router, the middleware order, and what the user and group handlers share.
//!
//! Middleware, outermost first: request log → bearer token → injected faults → rate limit →
//! handler. Authentication comes before the rate limit because Zoom's limits are per account,
//! which the token identifies; faults come before the limit so an injected failure spends no
//! token and fires exactly as many times as asked.

pub mod groups;
pub mod users;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scim::{ListResponse, ScimError, ScimType};
use serde_json::Value;

use crate::error::{SimError, scim_response};
use crate::state::SimState;
use crate::{auth, faults, rate, requests};

/// The page size when a client asks for none, and the most one page holds. Zoom's own maximum
/// for SCIM lists is not documented (UNCONFIRMED); 100 makes clients that ignore
/// `itemsPerPage` fail early.
pub const MAX_PAGE_SIZE: usize = 100;

/// The simulator's routes under `state.base_path()`.
pub fn router(state: SimState) -> Router {
    let scim = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::put)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get).patch(groups::patch).delete(groups::delete),
        )
        .fallback(unknown_path)
        .layer(from_fn_with_state(state.clone(), rate::layer))
        .layer(from_fn_with_state(state.clone(), faults::layer))
        .layer(from_fn_with_state(state.clone(), auth::layer))
        .layer(from_fn_with_state(state.clone(), requests::layer))
        .with_state(state.clone());
    // Zoom's token endpoint is on zoom.us, the API on api.zoom.us; here both share a listener.
    let token = Router::new()
        .route("/oauth/token", axum::routing::post(auth::token))
        .with_state(state.clone());
    match state.base_path() {
        "" => scim.merge(token),
        base => Router::new()
            .nest(base, scim)
            .merge(token)
            .fallback(unknown_path),
    }
}

async fn unknown_path() -> SimError {
    SimError::not_found("No such endpoint")
}

/// The `{id}` of the path, percent-decoded (ids may contain `&`, sent as `%26`).
pub fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, SimError> {
    path.map(|Path(id)| id)
        .map_err(|e| SimError::bad_request(format!("Invalid resource id: {e}")))
}

/// A request body parsed as JSON; anything else is `400 invalidSyntax`.
pub fn json_body(bytes: &Bytes) -> Result<Value, SimError> {
    serde_json::from_slice(bytes).map_err(|e| {
        SimError::Scim(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("Invalid JSON body: {e}"),
        ))
    })
}

/// A resource response with its `ETag`.
pub fn resource_response(status: StatusCode, resource: &Value) -> Response {
    let mut response = scim_response(status, resource);
    let version = resource.pointer("/meta/version").and_then(Value::as_str);
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// `201 Created` with `Location` (RFC 7644 §3.3).
pub fn created(resource: &Value) -> Response {
    let mut response = resource_response(StatusCode::CREATED, resource);
    let location = resource.pointer("/meta/location").and_then(Value::as_str);
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, l);
    }
    response
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `filter`, `startIndex` and `count` of a list request (RFC 7644 §3.4.2).
#[derive(Debug)]
pub struct ListQuery {
    pub filter: Option<scim::Filter>,
    /// 1-based; below 1 is taken as 1.
    pub start_index: usize,
    /// Capped at [`MAX_PAGE_SIZE`]; negative is taken as 0.
    pub count: usize,
}

impl ListQuery {
    pub fn parse(
        query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ) -> Result<Self, SimError> {
        let Query(params) =
            query.map_err(|e| SimError::bad_request(format!("Invalid query: {e}")))?;
        // Parameter names are case-insensitive like everything else in SCIM.
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let number = |name: &str| -> Result<Option<i64>, SimError> {
            param(name)
                .map(|v| v.trim().parse::<i64>())
                .transpose()
                .map_err(|_| SimError::bad_request(format!("{name} must be an integer")))
        };
        let filter = param("filter")
            .map(|f| scim::Filter::parse(f))
            .transpose()?;
        let start_index = number("startIndex")?.unwrap_or(1).max(1);
        let count = number("count")?
            .unwrap_or(MAX_PAGE_SIZE as i64)
            .clamp(0, MAX_PAGE_SIZE as i64);
        Ok(ListQuery {
            filter,
            start_index: usize::try_from(start_index).unwrap_or(usize::MAX),
            count: usize::try_from(count).unwrap_or(0),
        })
    }

    /// One page of `items`, as a ListResponse, after `view` is applied to each item on it.
    pub fn page(&self, items: Vec<Value>, view: impl Fn(Value) -> Value) -> Response {
        let total = items.len() as u64;
        let page: Vec<Value> = items
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(view)
            .collect();
        let list = ListResponse::new(page, total, self.start_index as u64);
        let body = serde_json::to_value(&list).unwrap_or_default();
        scim_response(StatusCode::OK, &body)
    }
}

/// PATCH operations from a PatchOp body, in the RFC or the Entra dialect.
pub fn patch_ops(body: &Value) -> Result<Vec<scim::patch::PatchOperation>, SimError> {
    Ok(scim::patch::parse_request(body)?)
}
