//! What every gateway request goes through: the bearer token, the response envelope, and
//! request bodies.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{ApiError, GatewayState};

pub const SCIM_JSON: &str = "application/scim+json";

/// A JSON body with `Content-Type: application/scim+json`.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// Middleware: the gateway's bearer token (`crate::http::bearer`, shared with the admin API).
pub async fn authenticate(
    State(state): State<GatewayState>,
    request: Request,
    next: Next,
) -> Response {
    use crate::http::bearer::Refusal;
    match state.inner.token.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(Refusal::Missing) => {
            ApiError::unauthorized("a bearer token is required").into_response()
        }
        Err(Refusal::Wrong) => {
            ApiError::unauthorized("the bearer token is not valid").into_response()
        }
    }
}

/// Middleware, outermost: counts and times every request by route, and makes sure every
/// response is `application/scim+json` and every error a SCIM error body, including the ones
/// axum produces itself (405 for a method a route lacks).
pub async fn envelope(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = crate::http::edge::method_label(request.method());
    let mut response = next.run(request).await;
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    let status = response.status();
    if !is_scim && (status.is_client_error() || status.is_server_error()) {
        let detail = status.canonical_reason().unwrap_or("error");
        response = ApiError::new(status.as_u16(), None, detail).into_response();
    } else if !is_scim {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    }
    metrics::counter!(
        "muster_gateway_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("muster_gateway_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn unknown_endpoint() -> ApiError {
    ApiError::not_found("no such SCIM endpoint")
}

/// The request body as a JSON value: at most `limit` bytes (413 beyond), a JSON media type
/// when one is declared (415 otherwise), then what [`scim::request::parse_body`] accepts: valid
/// JSON with no two member names in one object that differ only in case (400 `invalidSyntax`
/// otherwise).
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let json = media == "application/json" || media == SCIM_JSON || media.ends_with("+json");
        if !json {
            return Err(ApiError::new(
                415,
                None,
                format!("unsupported media type {media:?}; send application/scim+json"),
            ));
        }
    }
    let too_large = || {
        ApiError::new(
            413,
            None,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    Ok(scim::request::parse_body(&bytes)?)
}

/// `http(s)://host` as the client addressed us, for `meta.location` and `Location`.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}
