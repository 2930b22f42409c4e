//! What every response of `muster serve` goes through, on every listener: a request id, and
//! one policy for server errors.
//!
//! - Each request gets an id (`x-request-id` on the response), and the logs written while it
//!   is served carry it in their span, so a client's report finds the server's log lines.
//! - A 5xx is logged here, once, with what the handler said. A 500's body is replaced: the
//!   client gets the request id, never the internal error text (a SQLite message, a path). Other
//!   5xx (503 from `/readyz` or a disabled admin API) say what a client can act on and pass.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::{ErrorFormat, Json, Scim};

pub const REQUEST_ID: &str = "x-request-id";

/// The most of a failed response's body that is logged.
const LOGGED_BODY: usize = 8 * 1024;

pub async fn layer(request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = method_label(request.method());
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, method, path);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    if status.is_server_error() {
        response = server_error(response, &id, span).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The method as a metric label or log field. Every label value is a new series kept for the
/// life of the process, so an unauthenticated client must not be able to mint them: methods
/// outside RFC 9110's and PATCH (RFC 5789) count as `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

async fn server_error(response: Response, id: &str, span: tracing::Span) -> Response {
    let _entered = span.enter();
    let status = response.status();
    if status != StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(status = status.as_u16(), "request failed");
        return response;
    }
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/scim+json"));
    let (parts, body) = response.into_parts();
    let detail = match to_bytes(body, LOGGED_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "(a body larger than the log keeps)".to_string(),
    };
    tracing::error!(status = status.as_u16(), detail, "request failed");
    let message = format!("internal error; the server's log has it under request id {id}");
    let error = scim::ScimError::new(500, None, message);
    let mut replaced = if is_scim {
        <Scim as ErrorFormat>::body(&error)
    } else {
        <Json as ErrorFormat>::body(&error)
    };
    // Keep what the handler set besides the body (e.g. `Connection: close`).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn call(router: Router, path: &str) -> (StatusCode, Option<String>, String) {
        let response = router
            .layer(axum::middleware::from_fn(layer))
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let id = response
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, id, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_500_keeps_its_internals_in_the_log_and_gives_the_client_the_request_id() {
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "disk I/O error at /var/lib/muster/muster.db",
                    )
                }),
            )
            .route(
                "/busy",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "not ready: store") }),
            )
            .route("/ok", get(|| async { "ok" }));
        let (status, id, body) = call(router.clone(), "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = id.expect("a request id");
        assert!(body.contains(&id), "{body}");
        assert!(!body.contains("/var/lib"), "internals leaked: {body}");
        let (status, _, body) = call(router.clone(), "/busy").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: store", "a 503 says what to act on");
        let (status, id, _) = call(router, "/ok").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(id.map(|i| i.len()), Some(32), "every response has an id");
    }
}
