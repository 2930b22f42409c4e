//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7643 §5–§7): exactly what the
//! gateway supports, since checkers (and Entra's schema discovery) generate requests from them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scim::ListResponse;
use scim::resource::{ENTERPRISE_USER_SCHEMA, ResourceKind};
use scim::schema::{ENTERPRISE_USER, GROUP, Schema, USER};
use serde_json::{Value, json};

use super::envelope::{origin, scim_json};
use super::{ApiError, BASE_PATH, GatewayState};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

fn base(headers: &HeaderMap) -> String {
    format!("{}{BASE_PATH}", origin(headers))
}

pub async fn service_provider_config(
    State(state): State<GatewayState>,
    headers: HeaderMap,
) -> Response {
    let base = base(&headers);
    let body = json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": state.config().max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The secret token configured in the Entra ID provisioning job, \
                            sent as `Authorization: Bearer <token>`",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    scim_json(StatusCode::OK, &body)
}

fn resource_type_json(kind: ResourceKind, base: &str) -> Value {
    let extensions: Vec<Value> = match kind {
        ResourceKind::User => vec![json!({"schema": ENTERPRISE_USER_SCHEMA, "required": false})],
        ResourceKind::Group => vec![],
    };
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": kind.name(),
        "schema": kind.schema(),
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", kind.name()),
        },
    })
}

pub async fn resource_types(headers: HeaderMap) -> Response {
    let base = base(&headers);
    let all: Vec<Value> = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| resource_type_json(k, &base))
        .collect();
    list(all)
}

pub async fn resource_type(
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::not_found(format!("no resource type {id:?}")))?;
    Ok(scim_json(
        StatusCode::OK,
        &resource_type_json(kind, &base(&headers)),
    ))
}

/// The schemas served: the core User with its enterprise extension, and Group. Group
/// `displayName` is unique here (Entra requires it), which the RFC's schema does not say.
fn served() -> [&'static Schema; 3] {
    [&USER, &ENTERPRISE_USER, &GROUP]
}

fn schema_json(schema: &Schema, base: &str) -> Value {
    let mut body = schema.to_json();
    body["meta"]["location"] = json!(format!("{base}/Schemas/{}", schema.id));
    if schema.id == GROUP.id
        && let Some(attrs) = body["attributes"].as_array_mut()
    {
        for attr in attrs.iter_mut().filter(|a| a["name"] == "displayName") {
            attr["uniqueness"] = json!("server");
        }
    }
    body
}

pub async fn schemas(headers: HeaderMap) -> Response {
    let base = base(&headers);
    list(served().iter().map(|s| schema_json(s, &base)).collect())
}

pub async fn schema(headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let schema = served()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::not_found(format!("no schema {id:?}")))?;
    Ok(scim_json(
        StatusCode::OK,
        &schema_json(schema, &base(&headers)),
    ))
}

fn list(items: Vec<Value>) -> Response {
    let total = items.len() as u64;
    let body = serde_json::to_value(ListResponse::new(items, total, 1)).unwrap_or_default();
    scim_json(StatusCode::OK, &body)
}
