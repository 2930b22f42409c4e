//! Plugins: the active version of each, its history and rollback, and a new version uploaded,
//! previewed against the people it would affect, then activated or dropped.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Confirm, Section, badge, when};
use super::{ApiError, Notice, Visitor, admin, encode, failed, visitor};
use crate::http::AppState;
use crate::http::admin::{ActivateParams, PluginView, UploadParams};
use crate::preview::PreviewReport;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Notice>,
) -> Response {
    let visitor = match visitor(&state, &headers, "/ui/plugins") {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let Json(plugins) = crate::http::admin::list_plugins(State(state.clone())).await;
    let body = html! {
        @if plugins.is_empty() {
            p { "This job runs no plugins." }
        }
        @for p in &plugins {
            (plugin(&visitor, p))
        }
    };
    layout::page(
        &visitor,
        Section::Plugins,
        "Plugins",
        q.notice.as_deref(),
        body,
    )
}

fn short(version: &str) -> &str {
    let hex = version.strip_prefix("sha256:").unwrap_or(version);
    &hex[..hex.len().min(12)]
}

fn plugin(visitor: &Visitor, p: &PluginView) -> Markup {
    let base = format!("/ui/plugins/{}", encode(&p.name));
    html! {
        section.card.plugin id={ "plugin-" (p.name) } {
            h2 { (p.name) " " span.kind { (p.world) } }
            dl.facts {
                dt { "Active version" } dd { code title=(p.active) { (short(&p.active)) } " (" (p.size / 1024) " KiB)" }
            }
            h3 { "History" }
            ol.history {
                @for (i, v) in p.history.iter().enumerate() {
                    li {
                        code title=(v) { (short(v)) }
                        @if i == 0 { " " (badge("active")) }
                        @else if i == 1 { " (previous: a rollback restores it)" }
                    }
                }
            }
            @if !p.activations.is_empty() {
                h3 { "Activations" }
                div.table-wrap {
                    table.activations {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Version" } th scope="col" { "How" } th scope="col" { "By" } } }
                        tbody {
                            @for a in &p.activations {
                                tr {
                                    td { (when(a.at)) }
                                    td { code title=(a.version) { (short(&a.version)) } }
                                    td { (a.how) }
                                    td { (a.by) }
                                }
                            }
                        }
                    }
                }
            }
            @if visitor.is_admin() && p.history.len() > 1 {
                (layout::button(visitor, &format!("{base}/rollback"), "Roll back to the previous version", &[("version", p.history[1].as_str())]))
            }
            @if let Some(staged) = &p.staged {
                section.staged #staged {
                    h3 { "Staged: " code title=(staged.version) { (short(&staged.version)) } }
                    p { "From " (format!("{:?}", staged.origin).to_lowercase()) " at " (when(staged.staged_at)) ": " (staged.reason) "." }
                    @if let Some(preview) = &staged.preview {
                        (report(preview))
                    }
                    @if let Some(shadow) = &staged.shadow {
                        p { "Running in shadow since " (when(shadow.since)) ": " (shadow.clean_runs) " clean runs so far." }
                    }
                    @if visitor.is_admin() {
                        div.buttons {
                            (layout::button(visitor, &format!("{base}/activate"), "Activate this version", &[("version", staged.version.as_str())]))
                            (layout::button(visitor, &format!("{base}/drop"), "Drop it", &[("version", staged.version.as_str())]))
                        }
                    }
                }
            }
            @if visitor.is_admin() {
                form.upload method="post" action={ (base) "/upload" } enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(visitor.csrf);
                    label for={ "wasm-" (p.name) } { "Upload a new version (.wasm) to preview it before it goes live" }
                    input id={ "wasm-" (p.name) } type="file" name="component" accept=".wasm,application/wasm" required;
                    button type="submit" { "Upload and preview" }
                }
            }
        }
    }
}

/// A preview: license deltas, people affected, errors, gates.
fn report(r: &PreviewReport) -> Markup {
    let impact = &r.impact;
    html! {
        div.preview #preview {
            p {
                (badge(if r.passed { "ok" } else { "failed" }))
                " " strong { (impact.people) } " of " (r.people_read) " people planned; "
                (impact.license_changes.count) " license changes, "
                (impact.attribute_changes.count) " attribute changes, "
                (impact.newly_failed.count) " newly failing, "
                (impact.newly_skipped.count) " newly skipped."
            }
            @if !impact.licenses.is_empty() {
                div.table-wrap {
                    table {
                        caption { "Holders per plan and add-on" }
                        thead { tr { th scope="col" { "License" } th.num scope="col" { "Now" } th.num scope="col" { "With this version" } th.num scope="col" { "Change" } } }
                        tbody {
                            @for l in &impact.licenses {
                                tr {
                                    th scope="row" { (l.name) }
                                    td.num { (l.before) }
                                    td.num { (l.after) }
                                    td.num { (format!("{:+}", l.delta())) }
                                }
                            }
                        }
                    }
                }
            }
            @if !impact.license_changes.samples.is_empty() {
                h4 { "Some of the license changes" }
                ul {
                    @for c in &impact.license_changes.samples {
                        li {
                            (c.person.name.as_deref().unwrap_or(&c.person.id)) ": "
                            (c.before.as_deref().unwrap_or("none")) " → " strong { (c.after.as_deref().unwrap_or("none")) }
                            @if let Some(why) = &c.reason_after { " (" (why) ")" }
                        }
                    }
                }
            }
            @if !impact.errors.is_empty() {
                h4 { "Errors" }
                ul {
                    @for e in &impact.errors {
                        li { code { (e.code) } ": " (e.before) " now, " (e.after) " with this version" }
                    }
                }
            }
            @if !impact.gates.is_empty() {
                h4 { "Gates" }
                ul {
                    @for g in &impact.gates {
                        li { (badge(if g.passed { "ok" } else { "failed" })) " " (g.gate) ": " (g.actual) " (at most " (g.allowed) ")" }
                    }
                }
            }
        }
    }
}

/// The upload form: the CSRF token, then the component, in one multipart body. The sign-in
/// and the token are checked before the component is read, so nobody else can make the
/// server take in a component-sized body.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    mut form: Multipart,
) -> Response {
    let visitor = match super::admin_role(&state, &headers) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    // The form's first field is the CSRF token (its hidden input comes first).
    let csrf = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => match field.text().await {
            Ok(text) => text,
            Err(e) => return failed(ApiError::new(400, None, e.body_text())),
        },
        Ok(_) => String::new(),
        Err(e) => return failed(ApiError::new(400, None, e.body_text())),
    };
    if let Err(answer) = super::check_csrf(&state, &visitor, &csrf) {
        return *answer;
    }
    let mut component: Option<Bytes> = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("component") => match field.bytes().await {
                Ok(b) => component = Some(b),
                Err(e) => return failed(ApiError::new(400, None, e.body_text())),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return failed(ApiError::new(400, None, e.body_text())),
        }
    }
    let Some(component) = component.filter(|c| !c.is_empty()) else {
        return failed(ApiError::new(400, None, "choose a .wasm file to upload"));
    };
    let params = UploadParams {
        preview: None,
        shadow: false,
        stage: true,
    };
    let staged = crate::http::admin::upload_version(
        State(state.clone()),
        Path(name.clone()),
        Query(params),
        component,
    )
    .await;
    match staged {
        Ok(_) => super::done(
            "/ui/plugins",
            &format!(
                "A new version of {name} is staged with its preview below: read it, then activate or drop it."
            ),
        ),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
pub struct Act {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// The version the page showed (the staged one, or the one a rollback restores): the
    /// action is refused if it is no longer the one it would act on.
    #[serde(default)]
    version: String,
    /// `yes`: activate past failed gates (only the page that says so sends it).
    #[serde(default)]
    force: String,
}

/// Rollback, activate (the staged version) and drop (it).
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<Act>,
) -> Response {
    let visitor = match admin(&state, &headers, &form.csrf) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let Json(plugins) = crate::http::admin::list_plugins(State(state.clone())).await;
    let Some(view) = plugins.into_iter().find(|p| p.name == name) else {
        return failed(ApiError::not_found(format!(
            "no plugin named {name:?} is configured"
        )));
    };
    let staged_failed = view
        .staged
        .as_ref()
        .and_then(|s| s.preview.as_ref())
        .is_some_and(|p| !p.passed);
    // What the action would act on now; it must be what the admin was shown.
    let acts_on = match action.as_str() {
        "rollback" => view.history.get(1).cloned(),
        _ => view.staged.as_ref().map(|s| s.version.clone()),
    };
    let Some(acts_on) = acts_on else {
        return failed(ApiError::conflict(match action.as_str() {
            "rollback" => format!("{name} has no previous version to roll back to"),
            _ => format!("plugin {name}: no version is staged"),
        }));
    };
    if (form.confirm == "yes" || !form.version.is_empty()) && form.version != acts_on {
        return failed(ApiError::conflict(format!(
            "{name} changed since the page was shown (it would now act on version {}, not {}): go back to Plugins and look again",
            short(&acts_on),
            short(&form.version)
        )));
    }
    let (title, explains, button, danger) = match action.as_str() {
        "rollback" => (
            format!("Roll {name} back?"),
            format!(
                "The previous version {} becomes active again for every run from now on, in place of {}.",
                view.history.get(1).map_or("?", |v| short(v)),
                short(&view.active)
            ),
            "Roll back",
            true,
        ),
        "activate" if staged_failed => (
            format!("Activate {name} past its gates?"),
            format!(
                "The staged version {} exceeds the gates ({}). Activating it anyway makes it serve every run from now on.",
                view.staged.as_ref().map_or("?", |s| short(&s.version)),
                view.staged.as_ref().map_or("", |s| s.reason.as_str())
            ),
            "Activate anyway",
            true,
        ),
        "activate" => (
            format!("Activate the staged version of {name}?"),
            format!(
                "Version {} serves every run from now on; {} stays in the history for a rollback.",
                view.staged.as_ref().map_or("?", |s| short(&s.version)),
                short(&view.active)
            ),
            "Activate",
            false,
        ),
        "drop" => (
            format!("Drop the staged version of {name}?"),
            "The staged version is forgotten; the active version is untouched.".to_string(),
            "Drop",
            true,
        ),
        other => {
            return failed(ApiError::not_found(format!("no plugin action {other:?}")));
        }
    };
    if form.confirm != "yes" {
        return layout::confirm(
            &visitor,
            Section::Plugins,
            Confirm {
                title: &title,
                explains: &explains,
                action: &format!("/ui/plugins/{}/{action}", encode(&name)),
                button,
                fields: if action == "activate" && staged_failed {
                    vec![("version", acts_on.clone()), ("force", "yes".to_string())]
                } else {
                    vec![("version", acts_on.clone())]
                },
                ask_reason: false,
                back: "/ui/plugins",
                danger,
            },
        );
    }
    let s = || State(state.clone());
    let p = || Path(name.clone());
    let result: Result<Json<PluginView>, ApiError> = match action.as_str() {
        "rollback" => crate::http::admin::rollback(s(), p()).await,
        "activate" => {
            let force = ActivateParams {
                force: form.force == "yes",
            };
            crate::http::admin::activate(s(), p(), Query(force)).await
        }
        _ => crate::http::admin::drop_staged(s(), p()).await,
    };
    match result {
        Ok(Json(view)) => {
            let notice = match action.as_str() {
                "drop" => format!("The staged version of {name} is dropped."),
                _ => format!("{name} now runs version {}.", short(&view.active)),
            };
            super::done("/ui/plugins", &notice)
        }
        Err(e) => failed(e),
    }
}
