//! The overview: mode and target, the job's state, the running cycle (live), licenses now and
//! over time, the last cycles, and the controls.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Serialize;

use super::layout::{self, Section, badge, relative, when};
use super::{Notice, Visitor, chart, failed, visitor};
use crate::http::AppState;
use crate::http::admin::{self, Status, StatusParams};
use crate::http::runner::Running;

/// Cycles the licenses chart spans.
const CHART_CYCLES: usize = 30;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Notice>,
) -> Response {
    let visitor = match visitor(&state, &headers, "/ui") {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let params = StatusParams {
        cycles: Some(CHART_CYCLES),
    };
    let status = match admin::status(State(state.clone()), Query(params)).await {
        Ok(Json(status)) => status,
        Err(e) => return failed(e),
    };
    let now = store::now_unix();
    let body = html! {
        (cards(&status, now))
        (progress(status.current.as_ref(), now))
        @if visitor.is_admin() {
            (controls(&visitor, &status))
        }
        (licenses(&status))
        (cycles(&status))
    };
    layout::page(
        &visitor,
        Section::Overview,
        "Overview",
        q.notice.as_deref(),
        body,
    )
}

fn cards(status: &Status, now: i64) -> Markup {
    html! {
        section.cards aria-label="Job" {
            div.card {
                h2 { "Job" }
                p { "Mode: " strong { (status.mode) } }
                p.url { "Target: " code { (status.target) } }
            }
            div.card #job-state {
                h2 { "State" }
                @if let Some(p) = &status.paused {
                    p { (badge("paused")) " since " (when(p.since)) }
                    @if !p.reason.is_empty() { p { "Why: " (p.reason) } }
                    p.hint { "No scheduled cycle runs and the outbox is held until someone resumes the job." }
                } @else if let Some(q) = &status.quarantine {
                    p { (badge("quarantined")) " since " (when(q.since)) }
                    p { "Why: " (q.reason) }
                    p { "Next attempt: " (when(q.next_attempt)) " (" (relative(q.next_attempt, now)) ")" }
                } @else if status.current.is_some() {
                    p { (badge("running")) " a cycle is running" }
                } @else {
                    p { (badge("ok")) " running normally" }
                }
                @if !status.staged_deletes.is_empty() {
                    p { (badge("staged")) " " (status.staged_deletes.len()) " disables or deletes held by the deletion threshold" }
                }
            }
            div.card #target-connection {
                h2 { "Target connection" }
                @match &status.last_probe {
                    Some(p) => {
                        p { (badge(if p.ok { "ok" } else { "failed" })) " checked " (relative(p.at, now)) }
                        @if !p.ok { p.error { (p.message) } }
                    }
                    None => { p { "Not checked yet." } }
                }
            }
            @if let Some(outbox) = &status.outbox {
                div.card #outbox {
                    h2 { "Outbox" }
                    p { strong { (outbox.pending) } " changes waiting to be forwarded" }
                    @if let Some(at) = outbox.oldest_at {
                        p { "Oldest accepted " (relative(at, now)) }
                    }
                }
            }
        }
    }
}

/// The running cycle; the script keeps it up to date from `/ui/events`.
fn progress(current: Option<&Running>, now: i64) -> Markup {
    let figures = current.map(|r| Figures::of(r, now));
    html! {
        section.card #progress hidden[current.is_none()] aria-live="polite" {
            h2 { "Running cycle" }
            progress #progress-bar max=(figures.as_ref().map_or(1, |f| f.total.max(1))) value=(figures.as_ref().map_or(0, |f| f.done)) {}
            p #progress-text {
                @if let Some(f) = &figures { (f.sentence()) }
            }
        }
    }
}

/// What the progress line says.
#[derive(Serialize)]
struct Figures {
    total: u64,
    done: u64,
    failed: u64,
    /// Actions per second since the start.
    rate: f64,
    /// Seconds left at that rate.
    eta: Option<u64>,
    text: String,
}

impl Figures {
    fn of(r: &Running, now: i64) -> Figures {
        let elapsed = (now - r.started_at).max(1) as f64;
        let rate = r.done as f64 / elapsed;
        let eta = (r.done > 0 && r.total >= r.done)
            .then(|| ((r.total - r.done) as f64 / rate.max(f64::EPSILON)).round() as u64);
        let mut f = Figures {
            total: r.total,
            done: r.done,
            failed: r.failed,
            rate,
            eta,
            text: String::new(),
        };
        f.text = f.sentence();
        f
    }

    fn sentence(&self) -> String {
        if self.total == 0 {
            return "Reading the source and planning…".into();
        }
        let mut text = format!(
            "{} of {} planned actions done, {} failed, {:.1} per second",
            self.done, self.total, self.failed, self.rate
        );
        if let Some(eta) = self.eta {
            text.push_str(&format!(", about {} left", layout::duration(eta as i64)));
        }
        text
    }
}

fn controls(visitor: &Visitor, status: &Status) -> Markup {
    let paused = status.paused.is_some();
    html! {
        section.card #controls {
            h2 { "Controls" }
            div.buttons {
                @if status.mode == "sync" {
                    (layout::button(visitor, "/ui/controls/sync", "Run a cycle now", &[]))
                    (layout::button(visitor, "/ui/controls/full", "Full cycle", &[]))
                    @if !status.staged_deletes.is_empty() {
                        (layout::button(visitor, "/ui/controls/release", "Release held deletions", &[]))
                    }
                } @else {
                    (layout::button(visitor, "/ui/controls/release", "Release held deprovisions", &[]))
                }
                (layout::button(visitor, "/ui/controls/reconcile", "Reconcile (report)", &[]))
                (layout::button(visitor, "/ui/controls/test-connection", "Test connection", &[]))
                @if paused {
                    (layout::button(visitor, "/ui/controls/resume", "Resume the job", &[]))
                } @else {
                    (layout::button(visitor, "/ui/controls/pause", "Pause the job", &[]))
                }
            }
        }
    }
}

fn licenses(status: &Status) -> Markup {
    let tally = &status.licenses;
    // Oldest first, finished cycles that recorded their licenses (not on-demand runs: one
    // person each, they would crowd the axis).
    let series: Vec<(i64, &store::LicenseTally)> = status
        .cycles
        .iter()
        .rev()
        .filter(|c| c.kind != store::CycleKind::OnDemand)
        .filter_map(|c| {
            c.counts
                .as_ref()
                .and_then(|n| n.licenses.as_ref())
                .map(|l| (c.id, l))
        })
        .collect();
    let rows = tally
        .plans
        .iter()
        .map(|(n, c)| ("plan", n, c))
        .chain(tally.add_ons.iter().map(|(n, c)| ("add-on", n, c)));
    html! {
        section.card #licenses {
            h2 { "Licenses" }
            @if tally.plans.is_empty() && tally.add_ons.is_empty() {
                p { "Nobody provisioned holds a license yet." }
            } @else {
                div.table-wrap {
                    table {
                        caption { "Held now by enabled provisioned people" }
                        thead { tr { th scope="col" { "Plan or add-on" } th scope="col" { "Kind" } th.num scope="col" { "People" } th.num scope="col" { "Seats" } } }
                        tbody {
                            @for (kind, name, count) in rows {
                                tr {
                                    th scope="row" { (name) }
                                    td { (kind) }
                                    td.num { (count) }
                                    td.num {
                                        @match status.seat_budgets.get(name) {
                                            Some(b) => { (count) " of " (b) }
                                            None => { "—" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if series.len() >= 2 {
                figure {
                    (chart::licenses(&series, &status.seat_budgets))
                    figcaption { "Licenses held at the end of each of the last " (series.len()) " cycles" }
                }
            }
        }
    }
}

fn cycles(status: &Status) -> Markup {
    html! {
        section.card #cycles {
            h2 { "Last cycles" }
            @if status.cycles.is_empty() {
                p { "No cycle has run yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Cycle" } th scope="col" { "Kind" } th scope="col" { "Status" }
                                th scope="col" { "Started" } th.num scope="col" { "Took" }
                                th.num scope="col" { "Created" } th.num scope="col" { "Updated" }
                                th.num scope="col" { "Disabled" } th.num scope="col" { "Deleted" }
                                th.num scope="col" { "Failed" } th.num scope="col" { "Unchanged" }
                            }
                        }
                        tbody {
                            @for c in status.cycles.iter().take(10) {
                                @let n = c.counts.clone().unwrap_or_default();
                                tr {
                                    th scope="row" { a href={ "/ui/logs?cycle=" (c.id) } { (c.id) } }
                                    td { (crate::http::runner::kind_name(c.kind)) }
                                    td { (badge(crate::http::runner::status_name(c.status))) }
                                    td { (when(c.started_at)) }
                                    td.num { @if let Some(f) = c.finished_at { (layout::duration(f - c.started_at)) } @else { "—" } }
                                    td.num { (n.created) } td.num { (n.updated) } td.num { (n.disabled) }
                                    td.num { (n.deleted) } td.num.bad[n.failed > 0] { (n.failed) } td.num { (n.unchanged) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What `/ui/events` sends every second: the running cycle's figures (`null` when none runs).
#[derive(Serialize)]
struct Tick {
    running: Option<Figures>,
}

/// Server-Sent Events with the running cycle's progress, once a second.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(answer) = visitor(&state, &headers, "/ui") {
        return *answer;
    }
    let ticks = futures::stream::unfold(
        (state, tokio::time::interval(Duration::from_secs(1))),
        |(state, mut every)| async move {
            every.tick().await;
            let tick = Tick {
                running: state
                    .runner
                    .current()
                    .map(|r| Figures::of(&r, store::now_unix())),
            };
            let event = Event::default()
                .event("progress")
                .json_data(&tick)
                .unwrap_or_else(|_| Event::default().comment("unserializable"));
            Some((Ok::<_, Infallible>(event), (state, every)))
        },
    );
    Sse::new(ticks)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::runner::Trigger;

    #[test]
    fn progress_reads_rate_and_time_left() {
        let running = Running {
            trigger: Trigger::Admin,
            started_at: 1000,
            done: 50,
            total: 150,
            failed: 2,
        };
        let f = Figures::of(&running, 1010);
        assert_eq!(f.rate, 5.0);
        assert_eq!(f.eta, Some(20));
        assert_eq!(
            f.text,
            "50 of 150 planned actions done, 2 failed, 5.0 per second, about 20 s left"
        );
        let planning = Figures::of(
            &Running {
                done: 0,
                total: 0,
                failed: 0,
                ..running
            },
            1010,
        );
        assert_eq!(planning.eta, None);
        assert_eq!(planning.text, "Reading the source and planning…");
    }
}
