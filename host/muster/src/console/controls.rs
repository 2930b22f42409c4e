//! The overview's controls: start a cycle (or a full one), reconcile, test the connection,
//! pause and resume, release what the deletion threshold or the deprovision guard holds. Each
//! says what it will do and asks before doing it.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use super::layout::{self, Confirm, Section};
use super::{ApiError, admin, failed};
use crate::http::AppState;
use crate::http::admin::{PauseBody, SyncParams};
use crate::reconcile::ReconcileOptions;

#[derive(Deserialize)]
pub struct Act {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    /// Why the job is paused (the pause's confirmation page asks).
    #[serde(default)]
    reason: String,
}

struct Control {
    title: &'static str,
    explains: &'static str,
    button: &'static str,
    danger: bool,
}

fn control(action: &str, gateway: bool) -> Option<Control> {
    // A gateway job's people arrive as Entra sends them: it runs no cycles.
    if gateway && matches!(action, "sync" | "full") {
        return None;
    }
    let c = |title, explains, button, danger| Control {
        title,
        explains,
        button,
        danger,
    };
    Some(match action {
        "sync" => c(
            "Run a cycle now?",
            "muster reads the source, plans the people whose inputs changed and sends the changes to the target, as a scheduled cycle does.",
            "Run the cycle",
            false,
        ),
        "full" => c(
            "Run a full cycle?",
            "muster reads the whole source again and plans everyone, not only the people whose inputs changed: the safety net after a change outside muster. It takes longer than a scheduled cycle.",
            "Run the full cycle",
            false,
        ),
        "release" if gateway => c(
            "Release the held deprovisions?",
            "Disables and deletes the gateway's deprovision guard holds are sent now, and new ones go without limit for one guard window.",
            "Release them",
            true,
        ),
        "release" => c(
            "Release the held deletions?",
            "A cycle runs now and sends the disables and deletes the deletion threshold held back.",
            "Release them",
            true,
        ),
        "reconcile" => c(
            "Reconcile with the target?",
            "muster reads every user of the target and compares them with what it provisioned: drifted attributes, orphans, missing users. It only reports; nothing is changed.",
            "Reconcile",
            false,
        ),
        "test-connection" => c(
            "Test the connection?",
            "muster signs in to the target and reads one user, as the readiness probe does.",
            "Test it",
            false,
        ),
        "pause" => c(
            "Pause the job?",
            "No scheduled cycle runs and the gateway's outbox is held (changes are still accepted and kept) until someone resumes the job. The pause survives a restart.",
            "Pause",
            true,
        ),
        "resume" => c(
            "Resume the job?",
            "Scheduled cycles run again and the outbox forwards what it holds.",
            "Resume",
            false,
        ),
        _ => return None,
    })
}

pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<Act>,
) -> Response {
    let visitor = match admin(&state, &headers, &form.csrf) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let Some(c) = control(&action, state.gateway.is_some()) else {
        return failed(ApiError::not_found(format!("no control {action:?}")));
    };
    if form.confirm != "yes" {
        return layout::confirm(
            &visitor,
            Section::Overview,
            Confirm {
                title: c.title,
                explains: c.explains,
                action: &format!("/ui/controls/{action}"),
                button: c.button,
                fields: Vec::new(),
                ask_reason: action == "pause",
                back: "/ui",
                danger: c.danger,
            },
        );
    }
    let s = || State(state.clone());
    let notice: Result<String, ApiError> = match action.as_str() {
        "sync" | "full" | "release" if state.gateway.is_none() => {
            let params = SyncParams {
                wait: false,
                allow_deletes: action == "release",
                full_read: action == "full",
                full: action == "full",
            };
            crate::http::admin::start_sync(s(), Query(params))
                .await
                .map(|_| "The cycle has started; its progress shows below.".to_string())
        }
        "release" => crate::http::admin::release_deprovisions(s())
            .await
            .map(|Json(r)| format!("Held deprovisions are released for {} s.", r.window_secs)),
        "reconcile" => crate::http::admin::reconcile(s(), Json(ReconcileOptions::default()))
            .await
            .map(|Json(done)| reconciled(&done.report)),
        "test-connection" => {
            let Json(probe) = crate::http::admin::test_connection(s()).await;
            Ok(if probe.ok {
                "The target answered: the connection works.".to_string()
            } else {
                format!("The connection failed: {}", probe.message)
            })
        }
        "pause" => crate::http::admin::pause(
            s(),
            Some(Json(PauseBody {
                reason: form.reason.trim().to_string(),
            })),
        )
        .await
        .map(|_| "The job is paused.".to_string()),
        "resume" => crate::http::admin::resume(s())
            .await
            .map(|_| "The job runs again.".to_string()),
        _ => Err(ApiError::not_found(format!("no control {action:?}"))),
    };
    match notice {
        Ok(notice) => super::done("/ui", &notice),
        Err(e) => failed(e),
    }
}

/// A reconcile report in a sentence.
fn reconciled(r: &engine::reconcile::Report) -> String {
    format!(
        "Reconciled: {} target users, {} in sync, {} drifted, {} orphans, {} missing (a report: nothing was changed).",
        r.target_users,
        r.in_sync,
        r.drifted.len(),
        r.orphans.len(),
        r.missing.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_says_what_it_does() {
        for action in [
            "sync",
            "full",
            "release",
            "reconcile",
            "test-connection",
            "pause",
            "resume",
        ] {
            let c = control(action, false).expect(action);
            assert!(c.explains.len() > 40, "{action}");
        }
        assert!(control("release", true).is_some_and(|c| c.explains.contains("guard")));
        assert!(
            control("sync", true).is_none(),
            "a gateway job runs no cycles"
        );
        assert!(control("format-disk", false).is_none());
    }
}
