//! `/Groups` and `/Groups/{id}`. Zoom documents no PUT for groups, so there is none (405).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim::ScimError;

use super::{ListQuery, created, json_body, no_content, patch_ops, path_id, resource_response};
use crate::error::SimError;
use crate::state::SimState;
use crate::store::group::MAX_PATCH_CHARS;

type IdPath = Result<Path<String>, PathRejection>;

pub async fn create(State(state): State<SimState>, body: Bytes) -> Result<Response, SimError> {
    let body = json_body(&body)?;
    let ctx = state.write_context();
    let group = state.store(|s| s.create_group(body, &ctx))?;
    Ok(created(&group))
}

pub async fn get(State(state): State<SimState>, id: IdPath) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let group = state.store(|s| s.group(&id))?;
    Ok(resource_response(StatusCode::OK, &group))
}

pub async fn list(
    State(state): State<SimState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, SimError> {
    let query = ListQuery::parse(query)?;
    let groups = state.store(|s| s.groups(query.filter.as_ref()));
    Ok(query.page(groups, |group| group))
}

/// Zoom caps a group PATCH body at 100,000 characters
/// (<https://developers.zoom.us/docs/api/scim2/>); what it answers beyond that is not documented,
/// so the simulator says 413, the RFC's "payload too large". Success is `204 No Content`, which
/// Entra expects for groups (Microsoft Learn, "Tutorial: Develop and plan provisioning for a
/// SCIM endpoint in Microsoft Entra ID").
pub async fn patch(
    State(state): State<SimState>,
    id: IdPath,
    body: Bytes,
) -> Result<Response, SimError> {
    let id = path_id(id)?;
    let chars = String::from_utf8_lossy(&body).chars().count();
    if chars > MAX_PATCH_CHARS {
        let detail = format!("Request body is {chars} characters; the limit is {MAX_PATCH_CHARS}");
        return Err(SimError::Scim(ScimError::new(413, None, detail)));
    }
    let ops = patch_ops(&json_body(&body)?)?;
    let ctx = state.write_context();
    state.store(|s| s.patch_group(&id, &ops, &ctx))?;
    Ok(no_content())
}

pub async fn delete(State(state): State<SimState>, id: IdPath) -> Result<Response, SimError> {
    let id = path_id(id)?;
    state.store(|s| s.delete_group(&id))?;
    Ok(no_content())
}
