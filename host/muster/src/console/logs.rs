//! The provisioning logs: filtered, paged, exported; each entry as Entra's log blade shows
//! one (its steps, the modified properties old → new, the error and its code).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Section, badge, when};
use super::{encode, failed, visitor};
use crate::http::AppState;
use crate::http::admin::{self, LogParams};

/// Entries per page.
const PAGE: usize = 50;

const STATUSES: [&str; 4] = ["success", "failure", "skipped", "warning"];
/// `provisioningAction`'s values (`engine::log::ProvisioningAction`), with what they mean.
const ACTIONS: [(&str, &str); 6] = [
    ("create", "create"),
    ("update", "update"),
    ("disable", "disable"),
    ("delete", "delete"),
    ("stageddelete", "held by the deletion threshold"),
    ("other", "nothing sent"),
];

/// The log view's filters, as the form sends them (empty fields are no filter).
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    person: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    cycle: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: Option<i64>,
}

impl Filters {
    fn params(&self, format: Option<&str>, limit: usize) -> Result<LogParams, String> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let cycle = match some(&self.cycle) {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| format!("cycle {c:?} is not a cycle number"))?,
            ),
        };
        Ok(LogParams {
            cycle,
            person: some(&self.person),
            status: some(&self.status),
            action: some(&self.action),
            since: some(&self.since),
            until: some(&self.until),
            before: self.before,
            limit: Some(limit),
            format: format.map(str::to_string),
        })
    }

    /// The filters as a query string (without `before`), for links.
    fn query(&self) -> String {
        [
            ("person", &self.person),
            ("status", &self.status),
            ("action", &self.action),
            ("cycle", &self.cycle),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filters): Query<Filters>,
) -> Response {
    let here = format!("/ui/logs?{}", filters.query());
    let visitor = match visitor(&state, &headers, &here) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    // One more than a page: whether there is an older page.
    let (mut entries, error) = match filters.params(None, PAGE + 1) {
        Ok(params) => match admin::log_entries(&state, &params) {
            Ok(entries) => (entries, None),
            Err(e) if e.0.status == 400 => (Vec::new(), Some(e.0.detail)),
            Err(e) => return failed(e),
        },
        Err(e) => (Vec::new(), Some(e)),
    };
    let older = entries.len() > PAGE;
    entries.truncate(PAGE);
    let query = filters.query();
    let body = html! {
        (filter_form(&filters))
        @if let Some(error) = &error {
            p.error role="alert" { (error) }
        }
        p.exports {
            "Export this view: "
            a href={ "/admin/logs?format=csv&limit=1000&" (query) } download="muster-logs.csv" { "CSV" }
            " · "
            a href={ "/admin/logs?format=json&limit=1000&" (query) } { "JSON" }
            " (the newest 1,000 entries it selects; narrow the filters, or page with "
            code { "before" } " in the admin API, for more)"
        }
        @if entries.is_empty() && error.is_none() {
            p { "No entries match." }
        } @else if !entries.is_empty() {
            div.table-wrap {
                table #log-entries {
                    thead {
                        tr {
                            th scope="col" { "Time" } th scope="col" { "Cycle" } th scope="col" { "Person" }
                            th scope="col" { "Action" } th scope="col" { "Status" } th scope="col" { "Reason" }
                        }
                    }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { a href={ "/ui/logs/" (e.id) } { (when(e.at)) } }
                                td { a href={ "/ui/logs?cycle=" (e.cycle) } { (e.cycle) } }
                                td { a href={ "/ui/people/" (encode(&e.person_id)) } { (e.identity) } }
                                td { (e.action) }
                                td { (badge(&e.status)) }
                                td.reason { (reason(&e.detail)) }
                            }
                        }
                    }
                }
            }
            p.buttons {
                @if filters.before.is_some() {
                    a.button.secondary href={ "/ui/logs?" (query) } { "Newest entries" }
                }
                @if older {
                    @if let Some(last) = entries.last() {
                        a.button.secondary href={ "/ui/logs?" (query) "&before=" (last.id) } { "Older entries" }
                    }
                }
            }
        }
    };
    layout::page(&visitor, Section::Logs, "Provisioning logs", None, body)
}

fn filter_form(f: &Filters) -> Markup {
    html! {
        form.filters method="get" action="/ui/logs" role="search" {
            div { label for="f-person" { "Person" } input #f-person name="person" value=(f.person) placeholder="id or userName"; }
            div {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "any" }
                    @for s in STATUSES { option value=(s) selected[f.status == s] { (s) } }
                }
            }
            div {
                label for="f-action" { "Action" }
                select #f-action name="action" {
                    option value="" { "any" }
                    @for (a, label) in ACTIONS { option value=(a) selected[f.action == a] { (label) } }
                }
            }
            div { label for="f-cycle" { "Cycle" } input #f-cycle name="cycle" value=(f.cycle) inputmode="numeric" size="6"; }
            div { label for="f-since" { "From" } input #f-since type="date" name="since" value=(f.since); }
            div { label for="f-until" { "Before" } input #f-until type="date" name="until" value=(f.until); }
            div.submit { button type="submit" { "Filter" } " " a.button.secondary href="/ui/logs" { "Clear" } }
        }
    }
}

/// An entry's reason (or error), in one line.
fn reason(detail: &Value) -> String {
    let info = &detail["provisioningStatusInfo"];
    let reason = info["reason"].as_str().unwrap_or_default();
    match info["errorCode"].as_str() {
        Some(code) if !reason.is_empty() => format!("{code}: {reason}"),
        Some(code) => code.to_string(),
        None => reason.to_string(),
    }
}

pub async fn entry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/ui/logs/{}", encode(&id));
    let visitor = match visitor(&state, &headers, &here) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let record = match admin::log_entry(State(state.clone()), Path(id)).await {
        Ok(Json(r)) => r,
        Err(e) => return failed(e),
    };
    let title = format!("{} · {}", record.identity, record.action);
    layout::page(&visitor, Section::Logs, &title, None, entry_body(&record))
}

/// One entry: its summary, steps, modified properties and error.
pub fn entry_body(record: &store::LogRecord) -> Markup {
    let d = &record.detail;
    let info = &d["provisioningStatusInfo"];
    html! {
        section.card #entry-summary {
            dl.facts {
                dt { "Person" } dd { a href={ "/ui/people/" (encode(&record.person_id)) } { (record.identity) } " (" code { (record.person_id) } ")" }
                dt { "Action" } dd { (record.action) }
                dt { "Status" } dd { (badge(&record.status)) }
                dt { "Cycle" } dd { a href={ "/ui/logs?cycle=" (record.cycle) } { (record.cycle) } }
                dt { "Time" } dd { (when(record.at)) }
                dt { "Change id" } dd { code { (d["changeId"].as_str().unwrap_or_default()) } }
                @if let Some(target) = d["targetIdentity"]["id"].as_str() {
                    dt { "Target id" } dd { code { (target) } }
                }
            }
            @if let Some(code) = info["errorCode"].as_str() {
                p.error role="alert" { strong { (code) } ": " (info["reason"].as_str().unwrap_or_default()) }
            } @else if let Some(reason) = info["reason"].as_str() {
                p { (reason) }
            }
        }
        (steps(d))
        (modified(d))
    }
}

/// The steps as an ordered list, each with its details (a plugin's version and what it was
/// shown, a rule's reasons).
pub fn steps(detail: &Value) -> Markup {
    let steps = detail["provisioningSteps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        section.card #steps {
            h2 { "Steps" }
            ol.steps {
                @for step in &steps {
                    li {
                        div.step-head {
                            strong { (step["name"].as_str().unwrap_or_default()) }
                            " "
                            (badge(step["status"].as_str().unwrap_or_default()))
                            " "
                            span.kind { (step["provisioningStepType"].as_str().unwrap_or_default()) }
                        }
                        p { (step["description"].as_str().unwrap_or_default()) }
                        @if let Some(details) = step["details"].as_object().filter(|d| !d.is_empty()) {
                            dl.details {
                                @for (k, v) in details {
                                    dt { (k) }
                                    dd { code { (plain(v)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn modified(detail: &Value) -> Markup {
    let props = detail["modifiedProperties"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        @if !props.is_empty() {
            section.card #modified {
                h2 { "Modified properties" }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Property" } th scope="col" { "Old value" } th scope="col" { "New value" } } }
                        tbody {
                            @for p in &props {
                                tr {
                                    th scope="row" { code { (p["displayName"].as_str().unwrap_or_default()) } }
                                    td { (plain(&p["oldValue"])) }
                                    td { (plain(&p["newValue"])) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A JSON value as text: a string as itself, nothing as `—`, anything else as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_admin_api_parameters() {
        let f = Filters {
            person: " alice@example.com ".into(),
            cycle: "7".into(),
            status: String::new(),
            ..Filters::default()
        };
        let p = f.params(Some("csv"), 10).expect("valid");
        assert_eq!(p.person.as_deref(), Some("alice@example.com"));
        assert_eq!((p.cycle, p.status, p.limit), (Some(7), None, Some(10)));
        assert_eq!(f.query(), "person=alice%40example.com&cycle=7");
        let bad = Filters {
            cycle: "seven".into(),
            ..Filters::default()
        };
        assert!(bad.params(None, 10).is_err_and(|e| e.contains("seven")));
    }

    #[test]
    fn the_action_filter_offers_every_action_the_log_records() {
        use engine::log::ProvisioningAction as A;
        for action in [
            A::Create,
            A::Update,
            A::Delete,
            A::StagedDelete,
            A::Disable,
            A::Other,
        ] {
            let value = serde_json::to_value(action).expect("serializes");
            assert!(
                ACTIONS.iter().any(|(a, _)| value == *a),
                "{value} is missing from the filter"
            );
        }
        assert_eq!(ACTIONS.len(), 6, "and nothing the log never records");
    }

    #[test]
    fn an_entry_shows_its_steps_changes_and_error() {
        let record = store::LogRecord {
            id: 3,
            cycle: 2,
            at: 1_714_564_800,
            person_id: "p-1".into(),
            identity: "alice@example.com".into(),
            action: "update".into(),
            status: "failure".into(),
            detail: serde_json::json!({
                "changeId": "2-1",
                "provisioningStatusInfo": {"status": "failure", "errorCode": "UnknownPlan", "reason": "no plan <pro>"},
                "provisioningSteps": [
                    {"name": "license-by-group", "provisioningStepType": "plugin", "status": "success",
                     "description": "licensed + phone", "details": {"version": "sha256:ab", "because": "Sales"}}
                ],
                "modifiedProperties": [{"displayName": "title", "oldValue": null, "newValue": "Boss"}]
            }),
        };
        let html = entry_body(&record).into_string();
        for want in [
            "UnknownPlan",
            "no plan &lt;pro&gt;",
            "license-by-group",
            "sha256:ab",
            "Boss",
            "—",
        ] {
            assert!(html.contains(want), "{want} in {html}");
        }
    }
}
