//! The simulator's HTTP error, which *is* the response (axum's `error-handling` example).
//!
//! Zoom's SCIM error bodies differ from RFC 7644 §3.12 in two ways that clients trip on
//! (<https://devforum.zoom.us/t/7646>): `status` is a JSON **number**, and the documented bodies
//! carry no `scimType`, so the reason lives only in `detail`. Throttling and authentication
//! failures come from Zoom's API gateway, not its SCIM layer, and use the gateway's
//! `{code, message}` shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::ScimError;
use serde_json::{Value, json};

/// Zoom's 429 message for the per-second limit
/// (<https://developers.zoom.us/docs/api/rate-limits/>).
pub const RATE_LIMIT_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";

/// Zoom's REST API answer to a bad token; code 124 is "Invalid access token". The SCIM endpoints
/// sit behind the same gateway (UNCONFIRMED that they answer identically).
pub const INVALID_TOKEN_CODE: u16 = 124;

pub const SCIM_JSON: &str = "application/scim+json";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A SCIM-level failure: rendered as Zoom's SCIM error body.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("rate limit of {limit}/s exceeded, retry after {retry_after_secs}s")]
    RateLimited { limit: u32, retry_after_secs: u64 },
    #[error("injected fault: HTTP {status}")]
    Injected {
        status: u16,
        retry_after: Option<u64>,
    },
}

impl SimError {
    /// A 400 with `detail`, the form Zoom uses for validation failures.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        SimError::Scim(ScimError::new(400, None, detail))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        SimError::Scim(ScimError::not_found(detail))
    }
}

/// Zoom's SCIM error body: RFC-shaped, but `status` numeric and no `scimType`.
pub fn zoom_error_body(error: &ScimError) -> Value {
    let mut body = error.to_body();
    if let Some(map) = body.as_object_mut() {
        map.remove("scimType");
        map.insert("status".into(), json!(error.status));
    }
    body
}

/// A response with a JSON body and the given content type.
pub fn json_response(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A SCIM response (`application/scim+json`, which Entra requires on every response: Microsoft
/// Learn, "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID").
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    json_response(status, SCIM_JSON, body)
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn with_retry_after(mut response: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn throttled(retry_after_secs: Option<u64>) -> Response {
    let body = json!({"code": 429, "message": RATE_LIMIT_MESSAGE});
    let response = json_response(StatusCode::TOO_MANY_REQUESTS, "application/json", &body);
    with_retry_after(response, retry_after_secs)
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        match self {
            // 5xx are logged once, by the request-log middleware.
            SimError::Scim(error) => {
                scim_response(status_code(error.status), &zoom_error_body(&error))
            }
            SimError::Unauthorized => {
                let body = json!({"code": INVALID_TOKEN_CODE, "message": "Invalid access token."});
                let mut response =
                    json_response(StatusCode::UNAUTHORIZED, "application/json", &body);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            SimError::RateLimited {
                retry_after_secs, ..
            } => throttled(Some(retry_after_secs)),
            SimError::Injected {
                status: 429,
                retry_after,
            } => throttled(retry_after),
            SimError::Injected {
                status,
                retry_after,
            } => {
                let error = ScimError::new(status, None, format!("injected fault (HTTP {status})"));
                let response = scim_response(status_code(status), &zoom_error_body(&error));
                with_retry_after(response, retry_after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim::error::ERROR_SCHEMA;

    #[test]
    fn status_is_numeric_and_scim_type_dropped() {
        let error = ScimError::new(409, Some(scim::ScimType::Uniqueness), "taken");
        assert_eq!(
            zoom_error_body(&error),
            json!({"schemas": [ERROR_SCHEMA], "status": 409, "detail": "taken"})
        );
    }
}
