//! Sign-in. Zoom takes OAuth access tokens only (<https://developers.zoom.us/docs/api/scim2/>).
//! Started with an OAuth app, the simulator serves Zoom's Server-to-Server token endpoint
//! ([`token`]) and accepts only the tokens it issued, until they expire; without one, it takes
//! the one fixed token it was started with. Secrets are compared in constant time so the demo
//! server does not teach bad habits.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::SimError;
use crate::state::SimState;

/// Middleware: 401 unless `Authorization: Bearer <token>` matches.
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(token) if state.accepts(token) => next.run(request).await,
        _ => {
            tracing::debug!("rejected request without a valid bearer token");
            SimError::Unauthorized.into_response()
        }
    }
}

/// The token of an `Authorization` value; the scheme is case-insensitive (RFC 7235 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /oauth/token?grant_type=account_credentials&account_id=…` with HTTP Basic
/// `client_id:client_secret`, as Zoom's Server-to-Server OAuth takes it
/// (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>). The answer's shape is Zoom's
/// (`access_token`, `token_type`, `expires_in`, `scope`); the refusals' bodies follow what
/// Zoom's endpoint is seen to send (`{"reason", "error"}`), which its documentation does not
/// spell out, with RFC 6749 §5.2's `error` codes and statuses (401 for the client, 400 for the
/// request). Scopes are not modelled: every token may do everything.
pub async fn token(
    State(state): State<SimState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(app) = state.oauth() else {
        return refusal(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "this simulator was started without --oauth",
        );
    };
    let client = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let known = client.as_ref().is_some_and(|(id, secret)| {
        constant_time_eq(id.as_bytes(), app.client_id.as_bytes())
            & constant_time_eq(secret.as_bytes(), app.client_secret.as_bytes())
    });
    if !known {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client_id or client_secret",
        );
    }
    match query.get("grant_type").map(String::as_str) {
        Some("account_credentials") => {}
        Some(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
        None => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            );
        }
    }
    if query.get("account_id") != Some(&app.account_id) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request : Account does not exist.",
        );
    }
    let ttl = app.token_ttl_secs;
    let token = state.issue_token(ttl);
    tracing::debug!(ttl, "access token issued");
    let body = json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": ttl,
        "scope": "scim2:admin",
        "api_url": state.base_url(),
    });
    (StatusCode::OK, Json(body)).into_response()
}

fn refusal(status: StatusCode, error: &str, reason: &str) -> Response {
    (status, Json(json!({"reason": reason, "error": error}))).into_response()
}

/// The client id and secret of an HTTP Basic `Authorization` value (RFC 7617).
fn basic_credentials(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(
            basic_credentials("Basic aWQ6c2VjcmV0"),
            Some(("id".to_string(), "secret".to_string()))
        );
        assert_eq!(basic_credentials("Bearer aWQ6c2VjcmV0"), None);
    }
}
