//! People: find someone in the source, and see why they have what they have: scope, groups,
//! the license the rule gives them now and why, their record, their last log entries, and
//! "provision now".

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Confirm, Section, badge, when};
use super::logs::steps;
use super::{Notice, admin, encode, failed, visitor};
use crate::http::AppState;
use crate::http::admin::{PeopleParams, PersonAnswer, ProvisionRequest};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let here = format!("/ui/people?q={}", encode(&search.q));
    let visitor = match visitor(&state, &headers, &here) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let q = search.q.trim().to_string();
    let found = if q.is_empty() {
        None
    } else {
        let params = PeopleParams {
            q: q.clone(),
            limit: Some(50),
        };
        match crate::http::admin::search_people(State(state.clone()), Query(params)).await {
            Ok(Json(found)) => Some(found),
            Err(e) => return failed(e),
        }
    };
    let body = html! {
        form.filters method="get" action="/ui/people" role="search" {
            div.grow {
                label for="q" { "Name, userName, UPN, mail or id" }
                input #q type="search" name="q" value=(q) autofocus;
            }
            div.submit { button type="submit" { "Search" } }
        }
        @if let Some(found) = &found {
            @if found.len() == 50 {
                p.hint { "The first 50 people who match; give more of the name to narrow it." }
            }
            @if found.is_empty() {
                p { "Nobody in the source matches " strong { (q) } "." }
            } @else {
                div.table-wrap {
                    table #people {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "userName" } th scope="col" { "Enabled" } th scope="col" { "Id" } } }
                        tbody {
                            @for p in found {
                                tr {
                                    td { a href={ "/ui/people/" (encode(&p.id)) } { (p.display_name.as_deref().unwrap_or(&p.id)) } }
                                    td { (p.user_name.as_deref().unwrap_or("—")) }
                                    td { (if p.enabled { "yes" } else { "no" }) }
                                    td { code { (p.id) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&visitor, Section::People, "People", None, body)
}

pub async fn person(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Response {
    let here = format!("/ui/people/{}", encode(&id));
    let visitor = match visitor(&state, &headers, &here) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let answer = match crate::http::admin::person(State(state.clone()), Path(id.clone())).await {
        Ok(Json(answer)) => answer,
        Err(e) => return failed(e),
    };
    // What a person recognises: the display name, else the UPN, else the id.
    let name = answer
        .person
        .as_ref()
        .and_then(|p| {
            ["displayName", "userPrincipalName", "userName"]
                .iter()
                .find_map(|k| p.attributes.get(k).and_then(|v| v.as_str()))
        })
        .or_else(|| answer.recent.first().map(|r| r.identity.as_str()))
        .unwrap_or(&answer.id)
        .to_string();
    let body = html! {
        @match &answer.person {
            Some(person) => {
                (summary(person, &answer))
                (now(&answer))
                @if visitor.is_admin() {
                    section.card #provision {
                        h2 { "Provision now" }
                        p { "Runs this person through the whole pipeline now and sends what it decides to the target, as Entra's “Provision on demand” does." }
                        (layout::button(&visitor, &format!("/ui/people/{}/provision", encode(&answer.id)), "Provision now", &[]))
                    }
                }
                @if let Some(now) = &answer.now {
                    (steps(&serde_json::to_value(now).unwrap_or_default()))
                }
            }
            None => {
                section.card #person {
                    p { (layout::badge("gone")) " " strong { "Not in the source any more." } " What muster still knows of " code { (answer.id) } ":" }
                    dl.facts { (provisioned(&answer)) }
                }
            }
        }
        (recent(&answer))
    };
    layout::page(&visitor, Section::People, &name, q.notice.as_deref(), body)
}

fn summary(p: &engine::model::Person, a: &PersonAnswer) -> Markup {
    let text = |name: &str| {
        p.attributes
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    html! {
        section.card #person {
            dl.facts {
                dt { "Id" } dd { code { (p.id) } }
                @if let Some(upn) = text("userPrincipalName").or_else(|| text("userName")) {
                    dt { "userName" } dd { (upn) }
                }
                dt { "Enabled" } dd { (if p.enabled { "yes" } else { "no" }) @if p.soft_deleted { " (deleted in the source)" } }
                dt { "Assigned" } dd {
                    @if p.assigned_directly { "directly" }
                    @else if !p.assigned_via_groups.is_empty() { "through " (p.assigned_via_groups.len()) " group(s)" }
                    @else { "not assigned to the app" }
                }
                dt { "Direct groups" } dd { (names(p.direct_groups.iter().map(|g| g.display_name.as_str()))) }
                dt { "All groups" } dd.groups { (names(p.transitive_groups.iter().map(|g| g.display_name.as_str()))) }
                @if !p.app_roles.is_empty() {
                    dt { "App roles" } dd { (p.app_roles.join(", ")) }
                }
                (provisioned(a))
            }
        }
    }
}

/// What muster provisioned for them, as a term and its description of a `dl`.
fn provisioned(a: &PersonAnswer) -> Markup {
    html! {
        dt { "Provisioned" } dd {
            @match &a.record {
                Some(r) => {
                    "as " code { (r.target_id) }
                    @if r.disabled { " (disabled)" }
                    @if let Some(l) = &r.license {
                        ", license " strong { (l.plan) }
                        @if !l.add_ons.is_empty() { " + " (l.add_ons.join(", ")) }
                    }
                }
                None => { "not yet" }
            }
        }
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What a run would do now, with the license rule's decision and reason up front.
fn now(a: &PersonAnswer) -> Markup {
    let Some(entry) = &a.now else {
        return html! {};
    };
    let v = serde_json::to_value(entry).unwrap_or_default();
    let held = a.record.as_ref().and_then(|r| r.license.as_ref()).map(|l| {
        if l.add_ons.is_empty() {
            l.plan.clone()
        } else {
            format!("{} + {}", l.plan, l.add_ons.join(", "))
        }
    });
    let info = &v["provisioningStatusInfo"];
    let action = v["provisioningAction"].as_str().unwrap_or_default();
    let license_step = v["provisioningSteps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["details"].get("license").is_some()));
    html! {
        section.card #now {
            h2 { "What muster would do now" }
            p {
                "Action: " strong { (action) } " " (badge(info["status"].as_str().unwrap_or_default()))
            }
            @if let Some(reason) = info["reason"].as_str() {
                p { (reason) }
            }
            @if let Some(step) = license_step {
                p.license #license-now {
                    "License: "
                    @match (step["details"]["license"].as_str().unwrap_or_default(), &held) {
                        ("unchanged", Some(held)) => { strong { (held) } " (as provisioned, unchanged)" }
                        (license, _) => { strong { (license) } }
                    }
                    " — decided by " (step["name"].as_str().unwrap_or_default())
                }
                @if let Some(why) = step["description"].as_str().filter(|d| !d.is_empty()) {
                    p #license-why { "Why: " (why) }
                }
            }
        }
    }
}

fn recent(a: &PersonAnswer) -> Markup {
    html! {
        section.card #recent {
            h2 { "Last log entries" }
            @if a.recent.is_empty() {
                p { "None." }
            } @else {
                ul {
                    @for e in &a.recent {
                        li {
                            a href={ "/ui/logs/" (e.id) } { (when(e.at)) } " — cycle " (e.cycle) ": " (e.action) " " (badge(&e.status))
                        }
                    }
                }
            }
            p { a href={ "/ui/logs?person=" (encode(&a.id)) } { "All of their entries" } }
        }
    }
}

#[derive(Deserialize)]
pub struct Act {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub async fn provision(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Act>,
) -> Response {
    let visitor = match admin(&state, &headers, &form.csrf) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let back = format!("/ui/people/{}", encode(&id));
    if form.confirm != "yes" {
        return layout::confirm(
            &visitor,
            Section::People,
            Confirm {
                title: "Provision this person now?",
                explains: &format!(
                    "muster runs {id} through the pipeline now and sends the result to the target: a create, an update, a disable or nothing, as a cycle would."
                ),
                action: &format!("{back}/provision"),
                button: "Provision now",
                fields: Vec::new(),
                ask_reason: false,
                back: &back,
                danger: false,
            },
        );
    }
    let request = ProvisionRequest { person: id.clone() };
    match crate::http::admin::provision(State(state.clone()), Json(request)).await {
        Ok(Json(done)) => super::done(
            &back,
            &format!(
                "Provisioned on demand: {} — {} (run {}, {} ms).",
                done.action, done.status, done.cycle_id, done.elapsed_ms
            ),
        ),
        Err(e) => failed(e),
    }
}
