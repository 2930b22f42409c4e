//! Sync mode end to end: muster's library against the Zoom simulator over 127.0.0.1, with the
//! example plugins as real components and a real SQLite store.

use std::time::Duration;

use muster::sync::CycleOptions;
use muster_tests::harness::expected;
use muster_tests::{Directory, Harness, crowd, team, zoom_config};
use serde_json::Value;
use store::{CycleStatus, StagedAction};
use zoom_sim::Fault;

/// The Zoom Phone calling plan muster set for a user (`None`: none or removed).
fn phone_plan(h: &Harness, user_name: &str) -> Option<Value> {
    h.sim.zoom_field_sent(user_name, "zoomPhoneCallingPlan")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_kind_reaches_the_simulator_and_the_log() {
    let h = Harness::start(&zoom_config(None, ""), &[]).await;
    let mut d = team();
    h.write(&d);

    // Cycle 1 (initial): everyone is created, Ben as Licensed.
    let first = h.cycle().await;
    assert_eq!(first.status, CycleStatus::Succeeded);
    assert_eq!(
        h.actions(&first),
        expected(&[
            ("u-1", "create/success"),
            ("u-2", "create/success"),
            ("u-3", "create/success"),
            ("u-4", "create/success"),
            ("u-5", "create/success"),
        ])
    );
    assert_eq!(h.sim.state.users().len(), 5);
    for person in d.people() {
        let user = h.sim.user(person.user_name());
        let given = person.attributes["givenName"].as_str().unwrap();
        assert_eq!(user["name"]["givenName"], given, "{user}");
        assert_eq!(user["name"]["familyName"], person.attributes["surname"]);
        assert_eq!(user["emails"][0]["value"], person.user_name());
        assert_eq!(user["title"], "Engineer");
        assert_eq!(user["active"], true);
        let plan = if person.id == "u-2" {
            "Licensed"
        } else {
            "Basic"
        };
        assert_eq!(user["userType"], plan, "{user}");
        assert_eq!(h.record(&person.id).target_id, user["id"]);
    }

    // Cycle 2: a title change, a licence and an add-on, a source disable, an unassignment, a
    // newcomer.
    d.get("u-1").set("jobTitle", "Principal Engineer");
    d.join("Zoom-Licensed", &["u-3"]);
    d.join("Zoom-Phone", &["u-4"]);
    d.get("u-5").enabled(false);
    d.leave("Zoom-Users", "u-2");
    d.person("u-6", "Finn", "Ford");
    d.join("Zoom-Users", &["u-6"]);
    h.write(&d);
    let second = h.cycle().await;
    assert_eq!(second.status, CycleStatus::Succeeded);
    assert_eq!(
        h.actions(&second),
        expected(&[
            ("u-1", "update/success"),
            ("u-2", "disable/success"),
            ("u-3", "update/success"),
            ("u-4", "update/success"),
            ("u-5", "disable/success"),
            ("u-6", "create/success"),
        ])
    );
    let user = |id: &str| h.sim.user(&format!("{}@contoso.example", name_of(id)));
    assert_eq!(user("u-1")["title"], "Principal Engineer");
    assert_eq!(
        (user("u-2")["active"].clone(), h.record("u-2").disabled),
        (false.into(), true)
    );
    assert_eq!(user("u-3")["userType"], "Licensed");
    assert_eq!(
        phone_plan(&h, "dan.diaz@contoso.example"),
        Some("3000".into())
    );
    assert_eq!(user("u-4")["userType"], "Basic");
    assert_eq!(user("u-5")["active"], false);
    assert_eq!(user("u-6")["active"], true);
    assert_eq!(h.sim.state.users().len(), 6);

    // Cycle 3: Eve is enabled again, Anna is gone from the directory, Dan drops the phone.
    d.get("u-5").enabled(true);
    d.remove("u-1");
    d.leave("Zoom-Phone", "u-4");
    h.write(&d);
    let third = h.cycle().await;
    assert_eq!(third.status, CycleStatus::Succeeded);
    assert_eq!(
        h.actions(&third),
        expected(&[
            ("u-1", "delete/success"),
            ("u-4", "update/success"),
            ("u-5", "update/success"),
        ])
    );
    // Only the people whose inputs changed were planned (and Anna's record, gone): Bob, still
    // out of scope, and the others are unchanged without being planned.
    assert_eq!(
        third.planned,
        muster::sync::Planned::Changed { planned: 2, of: 5 }
    );
    assert_eq!(third.counts.planned, Some(3));
    assert_eq!(third.counts.unchanged, 3);
    assert!(!h.sim.has_user("anna.adams@contoso.example"));
    assert!(
        !h.records().contains_key("u-1"),
        "the deleted person's record is gone"
    );
    assert_eq!(user("u-5")["active"], true);
    assert!(!h.record("u-5").disabled);
    assert_eq!(phone_plan(&h, "dan.diaz@contoso.example"), None);
    assert_eq!(user("u-2")["active"], false, "still out of scope");
    assert_eq!(h.sim.state.users().len(), 5);
}

fn name_of(id: &str) -> &'static str {
    match id {
        "u-1" => "anna.adams",
        "u-2" => "ben.brown",
        "u-3" => "cara.cruz",
        "u-4" => "dan.diaz",
        "u-5" => "eve.evans",
        "u-6" => "finn.ford",
        _ => panic!("unknown {id}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_without_changes_sends_no_writes() {
    let h = Harness::start(&zoom_config(None, ""), &[]).await;
    h.write(&team());
    let first = h.cycle().await;
    assert_eq!(first.counts.created, 5, "{:?}", h.failures(&first));
    let (writes, requests) = (h.sim.writes(), h.client_requests());
    assert!(writes >= 5, "the first cycle wrote {writes}");

    let second = h.cycle().await;
    assert_eq!(second.status, CycleStatus::Succeeded);
    assert_eq!(second.counts.unchanged, 5, "{:?}", second.counts);
    assert_eq!(h.sim.writes(), writes, "the simulator saw writes");
    assert_eq!(h.client_requests(), requests, "the client sent requests");
    assert_eq!(second.counts.writes, 0);
    assert_eq!(h.actions(&second), expected(&[]));
    // Delta planning: nobody's inputs changed, so nobody was planned, and no plugin called.
    assert_eq!(second.counts.planned, Some(0));
    assert_eq!((second.counts.memo_hits, second.counts.memo_misses), (0, 0));

    // A full plan: everyone planned again. The transform is shown what it was shown in the
    // first cycle, and answers from the memo; the license rule is now shown each person's
    // license, a new input, and is called.
    let full = CycleOptions {
        full_plan: true,
        ..CycleOptions::default()
    };
    let third = h.cycle_with(&full).await;
    assert_eq!(third.counts.planned, None);
    assert_eq!(third.counts.unchanged, 5, "{:?}", third.counts);
    assert_eq!((third.counts.memo_hits, third.counts.memo_misses), (5, 5));
    // And again: every answer from the memo, no plugin called, nothing sent.
    let fourth = h.cycle_with(&full).await;
    assert_eq!(
        (fourth.counts.memo_hits, fourth.counts.memo_misses),
        (10, 0)
    );
    assert_eq!(fourth.counts.writes, 0);
    let logs = h.logs(&fourth);
    let steps = logs["u-1"].detail["provisioningSteps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cached: Vec<&str> = steps
        .iter()
        .filter(|s| s["details"]["cached"].is_string())
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        cached,
        ["transform:normalize-attributes", "license:license-by-group"]
    );
    assert_eq!(h.sim.writes(), writes, "the simulator saw writes");
}

/// What the simulator holds matches the directory: one active user per person, with the
/// licence and add-on their groups give them.
fn assert_matches(h: &Harness, d: &Directory, title: &str) {
    assert_eq!(h.sim.state.users().len(), d.people().len());
    for (i, person) in d.people().iter().enumerate() {
        let user = h.sim.user(person.user_name());
        assert_eq!(user["active"], true, "{user}");
        assert_eq!(user["title"], title, "{user}");
        let plan = if i % 3 == 0 { "Licensed" } else { "Basic" };
        assert_eq!(user["userType"], plan, "{user}");
        let phone: Option<Value> = (i % 4 == 0).then(|| "3000".into());
        assert_eq!(phone_plan(h, person.user_name()), phone, "{user}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_and_5xx_bursts_converge() {
    let mut h = Harness::start(&zoom_config(None, ""), &[]).await;
    h.fast_retries();
    let mut d = crowd(12);
    h.write(&d);

    // Creates under a 429 storm (Retry-After 0 and 1 s, as Zoom sends): a throttled POST was
    // refused, not processed, so it is retried like any other request.
    for i in 0..30 {
        h.sim.state.inject_failures(Fault::throttled(i % 2), 1);
    }
    let first = h.cycle().await;
    assert_eq!(h.sim.state.pending_faults(), 0, "every fault fired");
    assert_eq!(
        (first.counts.created, first.counts.failed),
        (12, 0),
        "{:?}",
        h.failures(&first)
    );
    assert_matches(&h, &d, "Engineer");

    // Updates under 5xx bursts with 429s between them: PATCH is idempotent, so it is retried.
    for person in d.people().to_vec() {
        d.get(&person.id).set("jobTitle", "Lead");
    }
    h.write(&d);
    h.sim.state.inject_failures(Fault::status(503), 10);
    h.sim.state.inject_failures(Fault::throttled(0), 5);
    h.sim.state.inject_failures(Fault::status(500), 5);
    h.sim.state.inject_failures(Fault::status(502), 5);
    let second = h.cycle().await;
    assert_eq!(h.sim.state.pending_faults(), 0, "every fault fired");
    assert_eq!(
        (second.counts.updated, second.counts.failed),
        (12, 0),
        "{:?}",
        h.failures(&second)
    );
    assert_matches(&h, &d, "Lead");
    let counters = h.sim.state.counters();
    assert!(counters.throttled >= 35, "{counters:?}");
    assert!(h.job.client.stats().snapshot().retries >= 55);

    // Nothing is left to do.
    let writes = h.sim.writes();
    let third = h.cycle().await;
    assert_eq!(
        (third.counts.failed, third.counts.writes),
        (0, 0),
        "{:?}",
        third.counts
    );
    assert_eq!(h.sim.writes(), writes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_is_lost_is_not_repeated_blind() {
    let h = Harness::start(&zoom_config(None, ""), &[]).await;
    let mut d = Directory::new();
    d.person("u-1", "Anna", "Adams");
    d.assign("u-1");
    h.write(&d);
    // The look-up passes; the POST gets a 503. The client cannot tell whether the user was
    // created, so it does not retry the POST; the intent stays pending.
    h.sim.state.inject_failures(Fault::Delay(Duration::ZERO), 1);
    h.sim.state.inject_failures(Fault::status(503), 1);
    let first = h.cycle().await;
    assert_eq!(first.counts.failed, 1, "{:?}", first.counts);
    assert_eq!(h.actions(&first), expected(&[("u-1", "create/failure")]));
    assert!(h.sim.state.users().is_empty());

    // The next cycle looks the person up before creating them, and creates them once.
    let second = h.cycle().await;
    assert_eq!(h.actions(&second), expected(&[("u-1", "create/success")]));
    assert_eq!(h.sim.state.users().len(), 1);
    assert_eq!(h.sim.user("anna.adams@contoso.example")["active"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deletion_threshold_stages_then_releases() {
    let h = Harness::start(&zoom_config(None, "[deletion_threshold]\nmax = 2\n"), &[]).await;
    let mut d = crowd(8);
    h.write(&d);
    let first = h.cycle().await;
    assert_eq!(first.counts.created, 8, "{:?}", h.failures(&first));

    // Five deprovisionings, over the threshold of 2: three gone, two disabled in the source.
    for id in ["p-1", "p-2", "p-3"] {
        d.remove(id);
    }
    for id in ["p-4", "p-5"] {
        d.get(id).enabled(false);
    }
    h.write(&d);
    let writes = h.sim.writes();
    let staged = h.cycle().await;
    assert_eq!(staged.status, CycleStatus::Staged);
    assert_eq!(staged.counts.staged, 5, "{:?}", staged.counts);
    let mut held: Vec<(String, StagedAction)> = h
        .job
        .store
        .staged_deletes()
        .unwrap()
        .into_iter()
        .map(|s| (s.delete.source_id, s.delete.action))
        .collect();
    held.sort_by(|a, b| a.0.cmp(&b.0));
    use StagedAction::{Delete, Disable};
    let want = [
        ("p-1", Delete),
        ("p-2", Delete),
        ("p-3", Delete),
        ("p-4", Disable),
        ("p-5", Disable),
    ];
    assert_eq!(held, want.map(|(id, a)| (id.to_string(), a)));
    assert_eq!(h.sim.writes(), writes, "nothing was sent");
    assert_eq!(h.sim.state.users().len(), 8);
    assert!(h.sim.state.users().iter().all(|u| u["active"] == true));
    let logged = h.actions(&staged);
    assert_eq!(logged.len(), 5, "{logged:?}");
    assert!(
        logged.values().all(|a| a.starts_with("stageddelete/")),
        "{logged:?}"
    );

    // An admin allows them.
    let released = h
        .cycle_with(&CycleOptions {
            allow_deletes: true,
            ..CycleOptions::default()
        })
        .await;
    assert_eq!(released.status, CycleStatus::Succeeded);
    assert_eq!((released.counts.deleted, released.counts.disabled), (3, 2));
    assert!(h.job.store.staged_deletes().unwrap().is_empty());
    assert_eq!(h.sim.state.users().len(), 5);
    for id in ["p-4", "p-5"] {
        let user = h.sim.user(d.get(id).user_name());
        assert_eq!(user["active"], false, "{user}");
    }
}

const SELECTIVE_TRAP: &str = r#"
[license]
name = "selective-trap"
path = "${SELECTIVE_TRAP}"
config = { trap_for = ["u-2"], plan = "licensed" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_plugin_fails_only_its_person() {
    let config = zoom_config(Some(SELECTIVE_TRAP), "");
    let h = Harness::start(
        &config,
        &[("SELECTIVE_TRAP", muster_artifacts::SELECTIVE_TRAP)],
    )
    .await;
    let d = team();
    h.write(&d);
    let report = h.cycle().await;
    assert_eq!(
        (report.counts.created, report.counts.failed),
        (4, 1),
        "{:?}",
        report.counts
    );

    let logs = h.logs(&report);
    let ben = &logs["u-2"];
    assert_eq!(ben.status, "failure");
    let info = &ben.detail["provisioningStatusInfo"];
    assert_eq!(info["errorCode"], "PluginFailed:trap", "{info}");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("plugin selective-trap") && reason.contains("trapped"),
        "{reason}"
    );
    assert!(
        h.sim.state.request_log().iter().all(|r| {
            let text = format!("{:?} {:?} {:?}", r.path, r.query, r.body).to_lowercase();
            !text.contains("ben.brown")
        }),
        "a request about Ben was sent"
    );
    assert!(!h.sim.has_user("ben.brown@contoso.example"));
    for person in d.people().iter().filter(|p| p.id != "u-2") {
        assert_eq!(logs[&person.id].status, "success");
        assert_eq!(h.sim.user(person.user_name())["userType"], "Licensed");
    }
}

/// A truncated snapshot is not a mass departure: a source that lost more than half its people
/// since the last cycle, or that is empty, is refused before anything is planned or sent,
/// until an admin says the people really left.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_shrank_too_much_is_refused_until_deletes_are_allowed() {
    let h = Harness::start(&zoom_config(None, ""), &[]).await;
    let mut d = crowd(10);
    h.write(&d);
    let first = h.cycle().await;
    assert_eq!(first.counts.created, 10, "{:?}", h.failures(&first));

    for i in 1..=6 {
        d.remove(&format!("p-{i}"));
    }
    h.write(&d);
    let writes = h.sim.writes();
    let cycles = h.job.store.cycles(100).expect("cycles").len();
    let refused = muster::sync::run_cycle(&h.job, &CycleOptions::default())
        .await
        .expect_err("a source down from 10 to 4 people is refused");
    let text = format!("{refused:#}");
    assert!(text.contains("shrank from 10 to 4"), "{text}");
    assert!(text.contains("--allow-deletes"), "{text}");
    assert_eq!(h.sim.writes(), writes, "nothing was sent");
    assert_eq!(
        h.job.store.cycles(100).expect("cycles").len(),
        cycles,
        "no cycle was started"
    );

    // A dry run shows the plan, with the warning first.
    let dry = h
        .cycle_with(&CycleOptions {
            dry_run: true,
            ..CycleOptions::default()
        })
        .await;
    assert!(
        dry.source_warnings[0].contains("a real cycle would refuse"),
        "{:?}",
        dry.source_warnings
    );

    // An empty snapshot is refused however small the company.
    h.write(&Directory::new());
    let empty = muster::sync::run_cycle(&h.job, &CycleOptions::default())
        .await
        .expect_err("an empty source is refused");
    assert!(format!("{empty:#}").contains("no people"), "{empty:#}");

    // The admin confirms: the six are deprovisioned.
    h.write(&d);
    let allowed = h
        .cycle_with(&CycleOptions {
            allow_deletes: true,
            ..CycleOptions::default()
        })
        .await;
    assert_eq!(allowed.counts.deleted, 6, "{:?}", allowed.counts);
    assert_eq!(h.sim.state.users().len(), 4);
}

/// The license-by-group rule with seat budgets.
const LICENSE_WITH_SEATS: &str = r#"
[license]
name = "license-by-group"
path = "builtin:license-by-group"
seats = { licensed = 2, phone = 1 }
config = { default_plan = "basic", rules = [
    { group = "Zoom-Licensed", plan = "licensed" },
    { group = "Zoom-Phone", add_on = "phone" },
] }
"#;

/// The seats step of a stored log entry, if it has one.
fn seats_step(h: &Harness, report: &muster::sync::CycleReport, id: &str) -> Option<String> {
    let logs = h.logs(report);
    let steps = logs.get(id)?.detail["provisioningSteps"]
        .as_array()?
        .clone();
    steps
        .iter()
        .find(|s| s["name"] == "seats")
        .and_then(|s| s["description"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread")]
async fn seat_budgets_license_the_first_askers_and_the_target_refuses_nothing() {
    let h = Harness::start(&zoom_config(Some(LICENSE_WITH_SEATS), ""), &[]).await;
    // The simulator enforces the same seats, as a Zoom account does.
    h.sim
        .state
        .set_seats([("licensed".to_string(), 2), ("phone".to_string(), 1)].into());
    let mut d = team();
    d.join("Zoom-Licensed", &["u-1", "u-3", "u-4"])
        .join("Zoom-Phone", &["u-2", "u-4"]);
    d.get("u-3").set("createdDateTime", "2019-01-01T00:00:00Z");
    d.get("u-1").set("createdDateTime", "2020-01-01T00:00:00Z");
    d.get("u-4").set("createdDateTime", "2021-01-01T00:00:00Z");
    // u-2 has no creation time: after everyone who has one.
    h.write(&d);

    let first = h.cycle().await;
    assert_eq!(
        first.status,
        CycleStatus::Succeeded,
        "{:?}",
        h.failures(&first)
    );
    let rejected: Vec<_> = h
        .sim
        .state
        .request_log()
        .into_iter()
        .filter(|r| r.status >= 400 && r.status != 404)
        .collect();
    assert!(rejected.is_empty(), "the target refused {rejected:?}");
    let user_type =
        |id: &str| h.sim.user(&format!("{}@contoso.example", name_of(id)))["userType"].clone();
    let plans: Vec<_> = ["u-1", "u-2", "u-3", "u-4", "u-5"]
        .iter()
        .map(|id| user_type(id))
        .collect();
    assert_eq!(plans, ["Licensed", "Basic", "Licensed", "Basic", "Basic"]);
    assert_eq!(
        phone_plan(&h, "dan.diaz@contoso.example"),
        Some("3000".into()),
        "the earlier asker gets the one phone seat"
    );
    assert_eq!(phone_plan(&h, "ben.brown@contoso.example"), None);
    assert_eq!(
        seats_step(&h, &first, "u-2").as_deref(),
        Some("seat budget exhausted: licensed 2/2, phone 1/1; provisioned with basic")
    );
    assert_eq!(
        seats_step(&h, &first, "u-4").as_deref(),
        Some("seat budget exhausted: licensed 2/2; provisioned with basic+phone")
    );
    assert_eq!(seats_step(&h, &first, "u-1"), None);
    let seats = &first.counts.seats;
    assert_eq!((seats["licensed"].used, seats["licensed"].budget), (2, 2));
    assert_eq!((seats["phone"].used, seats["phone"].budget), (1, 1));
    let table = muster::sync::report::summary(&first);
    assert!(
        table.contains("Seats (used / bought, as planned):")
            && table.contains("licensed                      2 / 2  (full)"),
        "{table}"
    );

    // Cara leaves Zoom-Licensed: her seat goes to Dan in the same cycle, given back first.
    d.leave("Zoom-Licensed", "u-3");
    h.write(&d);
    h.sim.state.clear_log();
    let second = h.cycle().await;
    assert_eq!(
        second.status,
        CycleStatus::Succeeded,
        "{:?}",
        h.failures(&second)
    );
    assert_eq!(
        h.actions(&second),
        expected(&[
            ("u-2", "other/skipped"), // still no seat: nothing else to change
            ("u-3", "update/success"),
            ("u-4", "update/success"),
        ])
    );
    assert_eq!(user_type("u-3"), "Basic");
    assert_eq!(user_type("u-4"), "Licensed");
    let refused = h
        .sim
        .state
        .request_log()
        .iter()
        .filter(|r| r.status == 400)
        .count();
    assert_eq!(refused, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_phone_example_provisions_phone_users_from_groups() {
    let root = muster_tests::harness::workspace_root();
    let text = std::fs::read_to_string(root.join("examples/sync-phone.toml")).expect("example");
    let snapshot = root.join("examples/directory-phone.json");
    let snapshot = snapshot.to_str().expect("a UTF-8 path");
    let h = Harness::start(&text, &[("MUSTER_DIRECTORY", snapshot)]).await;
    let report = h.cycle().await;
    let sent = |user: &str, field: &str| {
        h.sim
            .zoom_field_sent(&format!("{user}@contoso.example"), field)
    };
    let text = |s: &str| Some(Value::from(s));
    // San Jose: an extension and a number from the directory; Ben asks Zoom to assign one.
    assert_eq!(sent("ava.ng", "zoomPhoneCallingPlan"), text("3000"));
    assert_eq!(sent("ava.ng", "zoomPhoneSite"), text("San Jose"));
    assert_eq!(sent("ava.ng", "zoomPhoneExtNumber"), text("1001"));
    assert_eq!(sent("ava.ng", "zoomPhoneNumber"), text("+14085550101"));
    assert_eq!(sent("ben.okafor", "zoomPhoneExtNumber"), text("0"));
    assert_eq!(sent("ben.okafor", "zoomPhoneNumber"), None);
    assert_eq!(sent("chloe.marsh", "zoomPhoneSite"), text("New York"));
    // No phone group: no phone attributes.
    for user in ["dev.iyer", "emil.berg"] {
        assert_eq!(sent(user, "zoomPhoneCallingPlan"), None, "{user}");
        assert_eq!(sent(user, "zoomPhoneSite"), None, "{user}");
    }
    // Fay's number is not in E.164 form: not sent, and the log says which value and why.
    assert!(!h.sim.has_user("fay.quinn@contoso.example"));
    let failures = h.failures(&report);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let fay = &failures["p-6"];
    assert!(
        fay.contains("ProfileCheckFailed") && fay.contains("212-555-0106"),
        "{fay}"
    );
    // The phone attributes Zoom never returns are not rewritten by the next cycle.
    h.sim.state.clear_log();
    let again = h.cycle().await;
    assert_eq!(
        again.counts.updated + again.counts.created,
        0,
        "{:?}",
        again.counts
    );
}
