//! The one error type of muster's HTTP surfaces. An error is a status, a detail that says what
//! was wrong and, for SCIM, the `scimType` (RFC 7644 §3.12); how it is written on the wire is
//! the surface's [`ErrorFormat`]:
//!
//! - [`Scim`], the gateway: an RFC 7644 §3.12 error body, `application/scim+json`;
//! - [`Json`], the admin API: `{"error": detail}`, `application/json`.
//!
//! A 500's detail is logged by the edge ([`super::edge`]), which answers the client with a
//! request id instead of it.

use std::marker::PhantomData;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::{ScimError, ScimType};
use serde::Serialize;
use utoipa::ToSchema;

/// A failed request, answered in the format `F` (the gateway's SCIM bodies by default).
pub struct ApiError<F = Scim>(pub ScimError, PhantomData<F>);

/// How a surface writes an error.
pub trait ErrorFormat {
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3).
    const CHALLENGE: &'static str;

    fn body(error: &ScimError) -> Response;
}

/// The gateway's format: RFC 7644 §3.12.
pub enum Scim {}

/// The admin API's format: `{"error": detail}`.
pub enum Json {}

/// The admin API's error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl ErrorFormat for Scim {
    const CHALLENGE: &'static str = "Bearer";

    fn body(error: &ScimError) -> Response {
        crate::gateway::scim_json(status_of(error), &error.to_body())
    }
}

impl ErrorFormat for Json {
    const CHALLENGE: &'static str = "Bearer realm=\"muster admin\"";

    fn body(error: &ScimError) -> Response {
        let body = ErrorBody {
            error: error.detail.clone(),
        };
        (status_of(error), axum::Json(body)).into_response()
    }
}

fn status_of(error: &ScimError) -> StatusCode {
    StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl<F> ApiError<F> {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError::new(status, scim_type, detail).into()
    }

    /// A 400 with the `scimType` that says what was wrong.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError::bad_request(scim_type, detail).into()
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::not_found(detail).into()
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, None, detail)
    }

    /// A server-side failure: its text reaches the log, never the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(500, None, error.to_string())
    }
}

impl<F> std::fmt::Debug for ApiError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<F> std::fmt::Display for ApiError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<F> std::error::Error for ApiError<F> {}

impl<F> From<ScimError> for ApiError<F> {
    fn from(error: ScimError) -> Self {
        ApiError(error, PhantomData)
    }
}

impl<F> From<store::StoreError> for ApiError<F> {
    fn from(e: store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl<F> From<anyhow::Error> for ApiError<F> {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(format!("{e:#}"))
    }
}

impl<F: ErrorFormat> IntoResponse for ApiError<F> {
    fn into_response(self) -> Response {
        let mut response = F::body(&self.0);
        if response.status() == StatusCode::UNAUTHORIZED {
            let headers = response.headers_mut();
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(F::CHALLENGE),
            );
            // Refused before its body was read (an upload, say): the connection cannot carry
            // another request, so say so, or a keep-alive client sends its next request into a
            // socket the server is closing.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn answer<F: ErrorFormat>(error: ApiError<F>) -> (Response, serde_json::Value) {
        let (parts, body) = error.into_response().into_parts();
        let bytes = to_bytes(body, 1 << 16).await.expect("body");
        let json = serde_json::from_slice(&bytes).expect("json");
        (Response::from_parts(parts, axum::body::Body::empty()), json)
    }

    #[tokio::test]
    async fn each_surface_writes_the_same_error_its_own_way() {
        let (scim, body) = answer(ApiError::<Scim>::bad(
            ScimType::InvalidFilter,
            "no such attribute",
        ))
        .await;
        assert_eq!(scim.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            scim.headers()[header::CONTENT_TYPE],
            "application/scim+json"
        );
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert_eq!(body["detail"], "no such attribute");

        let (admin, body) = answer(ApiError::<Json>::not_found("no plugin named x")).await;
        assert_eq!(admin.status(), StatusCode::NOT_FOUND);
        assert_eq!(body, serde_json::json!({"error": "no plugin named x"}));
    }

    #[tokio::test]
    async fn a_401_challenges_and_closes_the_connection() {
        let (scim, _) = answer(ApiError::<Scim>::unauthorized("no token")).await;
        assert_eq!(scim.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(scim.headers()[header::CONNECTION], "close");
        let (admin, _) = answer(ApiError::<Json>::unauthorized("no token")).await;
        assert_eq!(
            admin.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"muster admin\""
        );
    }
}
