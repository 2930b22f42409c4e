//! Signing in with a token and out again.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout;
use crate::http::AppState;
use crate::http::session::{Session, behind_https, role_of_token, set_cookie, token_of};

#[derive(Deserialize, Default)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path of the console: never another site (an open redirect).
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui") && !n.starts_with("//") && !n.contains("://"))
        .unwrap_or("/ui")
}

pub async fn form(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    if state.admin_token.is_none() {
        return super::off(&state);
    }
    sign_in_page(StatusCode::OK, safe_next(q.next.as_deref()), None)
}

fn sign_in_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let markup = layout::bare(
        "Sign in",
        html! {
            p { "Sign in with the admin token, or with the read-only viewer token." }
            @if let Some(error) = error {
                p.error role="alert" #sign-in-error { (error) }
            }
            form.card method="post" action="/ui/sign-in" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus
                    aria-describedby=[error.map(|_| "sign-in-error")];
                button type="submit" { "Sign in" }
            }
        },
    );
    (status, Html(markup.into_string())).into_response()
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if state.admin_token.is_none() {
        return super::off(&state);
    }
    let next = safe_next(form.next.as_deref());
    let Some(role) = role_of_token(&state, &form.token) else {
        tracing::warn!("console sign-in refused: wrong token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That token is neither the admin token nor the viewer token."),
        );
    };
    let Some(token) = token_of(&state, role) else {
        return super::off(&state);
    };
    let lifetime = i64::try_from(state.job.config.admin.session_hours).unwrap_or(8) * 3600;
    let (_, cookie) = Session::issue(token, role, store::now_unix(), lifetime);
    tracing::info!(role = role.name(), token = %token.id(), "console sign-in");
    let mut answer = Redirect::to(next).into_response();
    answer.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(Some(&cookie), lifetime, behind_https(&headers)),
    );
    answer
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    // Signing out needs this session's CSRF token too, so another site cannot sign one out.
    let Ok(visitor) = super::visitor(&state, &headers, "/ui") else {
        return Redirect::to("/ui/sign-in").into_response();
    };
    if let Err(answer) = super::check_csrf(&state, &visitor, &form.csrf) {
        return *answer;
    }
    // The browser drops the cookie, and the session is refused wherever it is presented again
    // until it would have expired.
    if let Err(e) = visitor.session.sign_out(&state) {
        tracing::error!(error = %e, "recording a console sign-out failed");
        return layout::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not signed out",
            "muster could not record the sign-out; try again. The service's log says why.",
        );
    }
    let mut answer = Redirect::to("/ui/sign-in").into_response();
    answer.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(None, 0, behind_https(&headers)),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/ui/logs?person=a")), "/ui/logs?person=a");
        assert_eq!(safe_next(Some("https://evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("//evil.example")), "/ui");
        assert_eq!(safe_next(Some("/admin/status")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }
}
