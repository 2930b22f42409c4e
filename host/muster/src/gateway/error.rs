//! The gateway's one HTTP error type, which *is* the response: an RFC 7644 §3.12 body with
//! `status` as a string and the `scimType` that says what was wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::{ScimError, ScimType};

use super::http::scim_json;

/// A failed request.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub ScimError);

impl ApiError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ApiError(ScimError::new(status, scim_type, detail))
    }

    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ApiError(ScimError::bad_request(scim_type, detail))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError(ScimError::not_found(detail))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// A server-side failure. The edge (`http::edge`) logs its text, once, and answers the
    /// client with a request id instead of it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(500, None, error.to_string())
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = scim_json(status, &self.0.to_body());
        if status == StatusCode::UNAUTHORIZED {
            let headers = response.headers_mut();
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            // Refused before its body was read: the connection cannot carry another request
            // (see the admin API's `authorize`).
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
