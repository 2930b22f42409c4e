//! The console: HTML pages under `/ui` for people who run provisioning from a browser, as
//! Entra's provisioning blades are. Overview (status, live progress, licenses over time,
//! controls), provisioning logs (each entry with its steps), people (why someone has what they
//! have, and "provision now"), plugins (versions, rollback, upload with its preview).
//!
//! - Rendered on the server with `maud`; one stylesheet and a few lines of plain JavaScript
//!   (the live progress, over Server-Sent Events), served from the binary: nothing from a CDN,
//!   so it works air-gapped, and every page works without JavaScript.
//! - Every page reads through the admin API's own handlers (`http::admin`), so the console
//!   and the CLI see the same data the same way.
//! - Sign-in with the admin token (everything) or the `[admin] viewer_token_env` token (read
//!   only): `http::session`. Every state change is a form with the session's CSRF token, and
//!   is confirmed on a page that says what it will do before it is done.

mod chart;
mod controls;
mod layout;
mod logs;
mod overview;
mod people;
mod plugins;
mod sign_in;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::http::AppState;
use crate::http::session::{Role, Session, token_of};

pub fn router(state: AppState) -> Router {
    let max_component = plugin_host::Limits::default().component_bytes;
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/events", get(overview::events))
        .route("/ui/logs", get(logs::list))
        .route("/ui/logs/{id}", get(logs::entry))
        .route("/ui/people", get(people::search))
        .route("/ui/people/{id}", get(people::person))
        .route("/ui/people/{id}/provision", post(people::provision))
        .route("/ui/plugins", get(plugins::page))
        .route(
            "/ui/plugins/{name}/upload",
            // The multipart envelope around the component: a few hundred bytes.
            post(plugins::upload).layer(DefaultBodyLimit::max(max_component + 64 * 1024)),
        )
        .route("/ui/plugins/{name}/{action}", post(plugins::act))
        .route("/ui/controls/{action}", post(controls::act))
        .route("/ui/assets/console.css", get(stylesheet))
        .route("/ui/assets/console.js", get(script))
        .layer(axum::middleware::map_response(not_framed))
        .with_state(state)
}

/// No other site may frame the console (clickjacking); pages are not cached by proxies.
async fn not_framed(mut response: Response) -> Response {
    use axum::http::HeaderValue;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("console/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The notice a page shows after a change (`?notice=`), as [`done`] sends it.
#[derive(serde::Deserialize, Default)]
pub(crate) struct Notice {
    #[serde(default)]
    pub notice: Option<String>,
}

/// A signed-in person on a page: their session and the CSRF token their forms carry.
pub(crate) struct Visitor {
    pub session: Session,
    pub csrf: String,
}

impl Visitor {
    pub fn is_admin(&self) -> bool {
        self.session.role == Role::Admin
    }
}

/// The visitor of a page, or the answer instead of it: 503 while the admin token is unset
/// (the console is off, as the admin API is), or the sign-in page.
pub(crate) fn visitor(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
) -> Result<Visitor, Box<Response>> {
    if state.admin_token.is_none() {
        return Err(Box::new(off(state)));
    }
    let session = Session::of(state, headers, store::now_unix()).ok_or_else(|| {
        let to = format!("/ui/sign-in?next={}", encode(here));
        Box::new(Redirect::to(&to).into_response())
    })?;
    let csrf = token_of(state, session.role)
        .map(|t| session.csrf(t))
        .unwrap_or_default();
    Ok(Visitor { session, csrf })
}

/// The visitor of a state change: signed in as admin, with this session's CSRF token.
pub(crate) fn admin(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Visitor, Box<Response>> {
    let visitor = admin_role(state, headers)?;
    check_csrf(state, &visitor, csrf)?;
    Ok(visitor)
}

/// The visitor, signed in as admin (the CSRF token is checked apart, by [`check_csrf`]).
pub(crate) fn admin_role(state: &AppState, headers: &HeaderMap) -> Result<Visitor, Box<Response>> {
    let visitor = visitor(state, headers, "/ui")?;
    if !visitor.is_admin() {
        return Err(Box::new(layout::problem(
            StatusCode::FORBIDDEN,
            "Read-only sign-in",
            "You are signed in with the read-only token: changes need the admin token. Sign out and sign in again with it.",
        )));
    }
    Ok(visitor)
}

/// Whether a form carried this session's CSRF token.
pub(crate) fn check_csrf(
    state: &AppState,
    visitor: &Visitor,
    csrf: &str,
) -> Result<(), Box<Response>> {
    let token = token_of(state, visitor.session.role);
    if !token.is_some_and(|t| visitor.session.csrf_matches(t, csrf)) {
        return Err(Box::new(layout::problem(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "The form did not carry this sign-in's security token (it was opened before you last signed in, or came from another site). Go back, reload the page and try again.",
        )));
    }
    Ok(())
}

/// The page a disabled console answers.
fn off(state: &AppState) -> Response {
    layout::problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "The console is off",
        &format!(
            "muster's console and admin API are disabled: set the environment variable {} to an admin token and restart.",
            state.job.config.admin.token_env
        ),
    )
}

/// The admin API's errors.
pub(crate) type ApiError = crate::http::error::ApiError<crate::http::error::Json>;

/// An admin API error as a page. A server-side failure's text goes to the log, not the page.
pub(crate) fn failed(error: ApiError) -> Response {
    let error = error.0;
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(detail = %error.detail, "a console page failed");
        return layout::problem(
            status,
            "Something went wrong",
            "muster could not do this. The service's log says why.",
        );
    }
    let title = match status.as_u16() {
        404 => "Not found",
        409 => "Not now",
        400 => "Not accepted",
        _ => "Something went wrong",
    };
    layout::problem(status, title, &error.detail)
}

/// `text` for a query string value or one path segment: RFC 3986's unreserved characters
/// kept, everything else (`/` too) percent-encoded.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A redirect after a change, with a notice for the page it lands on.
pub(crate) fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}notice={}", encode(notice))).into_response()
}
