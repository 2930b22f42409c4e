//! `/Users` and `/Users/{id}`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{ListQuery, created, json_body, no_content, patch_ops, path_id, resource_response};
use crate::error::SimError;
use crate::state::SimState;
use crate::store::user::list_view;

type IdPath = Result<Path<String>, PathRejection>;

pub async fn create(State(state): State<SimState>, body: Bytes) -> Result<Response, SimError> {
    let body = json_body(&body)?;
    let ctx = state.write_context();
    let user = state.store(|s| s.create_user(body, &ctx))?;
    Ok(created(&user))
}

pub async fn get(State(state): State<SimState>, id: IdPath) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let user = state.store(|s| s.user(&id))?;
    Ok(resource_response(StatusCode::OK, &user))
}

/// Lists show less than a GET by id: no licence extension, no enterprise manager, organization
/// or cost center (devforum #111286), so a full read costs one GET per user, as on Zoom.
pub async fn list(
    State(state): State<SimState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, SimError> {
    let query = ListQuery::parse(query)?;
    let users = state.store(|s| s.users(query.filter.as_ref()));
    Ok(query.page(users, |user| match user {
        Value::Object(mut map) => {
            list_view(&mut map);
            Value::Object(map)
        }
        other => other,
    }))
}

/// Zoom's PUT updates what it is sent and keeps the rest.
pub async fn put(
    State(state): State<SimState>,
    id: IdPath,
    body: Bytes,
) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let body = json_body(&body)?;
    let ctx = state.write_context();
    let user = state.store(|s| s.put_user(&id, body, &ctx))?;
    Ok(resource_response(StatusCode::OK, &user))
}

/// `200` with the user, as Zoom answers a deactivation
/// (<https://developers.zoom.us/docs/api/scim2/>).
pub async fn patch(
    State(state): State<SimState>,
    id: IdPath,
    body: Bytes,
) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let ops = patch_ops(&json_body(&body)?)?;
    let ctx = state.write_context();
    let user = state.store(|s| s.patch_user(&id, &ops, &ctx))?;
    Ok(resource_response(StatusCode::OK, &user))
}

pub async fn delete(State(state): State<SimState>, id: IdPath) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let ctx = state.write_context();
    state.store(|s| s.delete_user(&id, &ctx))?;
    Ok(no_content())
}
