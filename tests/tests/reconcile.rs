//! Reconciliation end to end: people provisioned by a real cycle into the Zoom simulator over
//! 127.0.0.1 (real SQLite state), users then edited "in the portal" (straight in the
//! simulator), and `muster::reconcile` reporting exactly those edits, fixing exactly them, and
//! adopting an orphan only when asked.

use std::collections::BTreeMap;

use engine::reconcile::{Report, TargetUser};
use muster::reconcile::{ReconcileOptions, Reconciled, reconcile};
use muster_tests::{Directory, Harness, zoom_config};
use scim::patch::{PatchOp, PatchOperation};
use serde_json::{Value, json};

const ZOOM: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";

/// Licensed, IQ (a license-extension boolean: Zoom's list leaves it out) and Phone (a calling
/// plan Zoom never returns) by group.
const LICENSE: &str = r#"
[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [
    { group = "Zoom-Licensed", plan = "licensed" },
    { group = "Zoom-IQ", add_on = "iq" },
    { group = "Zoom-Phone", add_on = "phone" },
] }
"#;

/// The shared five, with IQ for Ben and Cara and Phone for Dan.
fn team() -> Directory {
    let mut d = muster_tests::team();
    d.join("Zoom-IQ", &["u-2", "u-3"])
        .join("Zoom-Phone", &["u-4"]);
    d
}

fn options(fix: bool, adopt_orphans: bool) -> ReconcileOptions {
    ReconcileOptions {
        fix,
        adopt_orphans,
        // Two users a page: the listing pages.
        page_size: 2,
    }
}

async fn run(h: &Harness, options: ReconcileOptions) -> Reconciled {
    reconcile(&h.job, options)
        .await
        .unwrap_or_else(|e| panic!("reconcile failed: {e:#}"))
}

fn id_of(h: &Harness, user_name: &str) -> String {
    h.sim.user(user_name)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn replace(path: &str, value: Value) -> PatchOperation {
    PatchOperation {
        op: PatchOp::Replace,
        path: Some(path.into()),
        value: Some(value),
    }
}

/// Drift as `person → [(attribute, wanted, found)]`.
fn drift_of(report: &Report) -> BTreeMap<String, Vec<(String, Value, Option<Value>)>> {
    report
        .drifted
        .iter()
        .map(|d| {
            let attributes = d
                .attributes
                .iter()
                .map(|a| (a.attribute.clone(), a.wanted.clone(), a.found.clone()))
                .collect();
            (d.source_id.clone(), attributes)
        })
        .collect()
}

/// Orphans as `userName → adoptable person`.
fn orphans_of(report: &Report) -> BTreeMap<String, Option<String>> {
    report
        .orphans
        .iter()
        .map(|o| {
            let name = o.user_name.clone().unwrap_or_default();
            (name, o.adoptable().map(String::from))
        })
        .collect()
}

fn outcomes(done: &Reconciled) -> BTreeMap<String, String> {
    let fix = done.fix.as_ref().expect("a fix ran");
    fix.people
        .iter()
        .chain(&fix.left)
        .map(|p| (p.source_id.clone(), p.outcome.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_edits_are_reported_then_exactly_those_are_fixed() {
    let h = Harness::start(&zoom_config(Some(LICENSE), ""), &[]).await;
    let mut d = team();
    h.write(&d);
    let first = h.cycle().await;
    assert_eq!(first.counts.created, 5, "{:?}", h.failures(&first));

    let nothing = run(&h, options(false, false)).await;
    assert!(nothing.report.in_sync(), "{:#?}", nothing.report);
    assert_eq!(
        (nothing.report.target_users, nothing.report.in_sync),
        (5, 5)
    );
    assert!(nothing.report.orphans.is_empty());

    // In the portal: Anna renamed, Cara's IQ add-on taken away, Eve deleted, and two users
    // created by hand: a guest, and Finn, who joins the directory now but has no record yet.
    let anna = id_of(&h, "anna.adams@contoso.example");
    h.sim
        .state
        .edit_user(&anna, &[replace("displayName", json!("Anna by hand"))])
        .expect("edit Anna");
    let cara = id_of(&h, "cara.cruz@contoso.example");
    let iq = format!("{ZOOM}:zoomIQ");
    let remove_iq = PatchOperation {
        op: PatchOp::Remove,
        path: Some(iq.clone()),
        value: None,
    };
    h.sim
        .state
        .edit_user(&cara, &[remove_iq])
        .expect("edit Cara");
    let eve = id_of(&h, "eve.evans@contoso.example");
    h.sim.state.remove_user(&eve).expect("delete Eve");
    let guest = h
        .sim
        .state
        .seed_user(json!({"userName": "guest@contoso.example", "displayName": "Guest"}))
        .expect("seed the guest");
    let finn = h
        .sim
        .state
        .seed_user(json!({"userName": "finn.ford@contoso.example", "displayName": "F"}))
        .expect("seed Finn");
    d.person("u-6", "Finn", "Ford");
    d.join("Zoom-Users", &["u-6"]);
    h.write(&d);

    // The report, without a write.
    let writes = h.sim.writes();
    let found = run(&h, options(false, false)).await;
    assert_eq!(h.sim.writes(), writes, "a report writes nothing");
    let anna_applied = h.record("u-1").last_applied.get("displayName").cloned();
    let anna_applied = anna_applied.expect("displayName applied").to_json();
    assert_eq!(
        drift_of(&found.report),
        BTreeMap::from([
            (
                "u-1".to_string(),
                vec![(
                    "displayName".to_string(),
                    anna_applied,
                    Some(json!("Anna by hand"))
                )]
            ),
            ("u-3".to_string(), vec![(iq.clone(), json!(true), None)]),
        ])
    );
    let missing: Vec<&str> = found
        .report
        .missing
        .iter()
        .map(|m| m.source_id.as_str())
        .collect();
    assert_eq!(missing, ["u-5"]);
    assert_eq!(
        orphans_of(&found.report),
        BTreeMap::from([
            ("finn.ford@contoso.example".to_string(), Some("u-6".into())),
            ("guest@contoso.example".to_string(), None),
        ])
    );
    // Ben (IQ, read one by one since the list leaves the extension out) and Dan (a calling
    // plan the target never returns) are in sync.
    assert_eq!((found.report.target_users, found.report.in_sync), (6, 2));
    assert!(!found.settled());

    // The fix: two PATCHes and one create, nothing else written; orphans untouched.
    let orphans_before = (
        h.sim.user("guest@contoso.example"),
        h.sim.user("finn.ford@contoso.example"),
    );
    h.sim.state.clear_log();
    let fixed = run(&h, options(true, false)).await;
    assert_eq!(
        outcomes(&fixed),
        BTreeMap::from([
            ("u-1".to_string(), "updated".to_string()),
            ("u-3".to_string(), "updated".to_string()),
            ("u-5".to_string(), "created".to_string()),
        ])
    );
    assert!(fixed.settled() && !fixed.fix_failed());
    let writes: Vec<(String, Value)> = h
        .sim
        .state
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.json().unwrap_or_default()))
        .collect();
    assert_eq!(writes.len(), 3, "{writes:#?}");
    let patches: Vec<&Value> = writes
        .iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, body)| &body["Operations"])
        .collect();
    assert_eq!(patches.len(), 2, "{writes:#?}");
    for ops in patches {
        assert_eq!(ops.as_array().map(Vec::len), Some(1), "minimal: {ops}");
    }
    let orphans_after = (
        h.sim.user("guest@contoso.example"),
        h.sim.user("finn.ford@contoso.example"),
    );
    assert_eq!(orphans_after, orphans_before, "orphans are left alone");
    assert_eq!(orphans_after.0["id"], guest["id"]);
    assert_eq!(
        h.sim.user("anna.adams@contoso.example")["displayName"],
        h.record("u-1")
            .last_applied
            .get("displayName")
            .expect("applied")
            .to_json()
    );
    assert_eq!(
        h.sim.user("cara.cruz@contoso.example")[ZOOM]["zoomIQ"],
        true
    );
    let eve_now = h.record("u-5");
    assert_ne!(
        eve_now.target_id, eve,
        "Eve's record points at the new user"
    );
    assert_eq!(
        h.sim.user("eve.evans@contoso.example")["id"],
        eve_now.target_id
    );
    // Every managed user in the simulator now holds what was applied.
    for (source_id, record) in h.records() {
        let user = h.sim.state.user(&record.target_id).expect("user exists");
        let ignored = engine::reconcile::Ignored::new(&h.job.pipeline.profile.data.write_only);
        let left = engine::reconcile::drift(&record, &TargetUser::new(&user), &ignored);
        assert!(left.is_empty(), "{source_id}: {left:?}");
    }
    // The fixes are in the provisioning log, under the run's cycle.
    let cycle = fixed
        .fix
        .as_ref()
        .and_then(|f| f.cycle_id)
        .expect("a cycle");
    let query = store::LogQuery {
        cycle: Some(cycle),
        limit: 100,
        ..store::LogQuery::default()
    };
    let logged: BTreeMap<String, String> = h
        .job
        .store
        .logs(&query)
        .expect("logs")
        .into_iter()
        .map(|e| (e.person_id, format!("{}/{}", e.action, e.status)))
        .collect();
    assert_eq!(
        logged,
        BTreeMap::from([
            ("u-1".to_string(), "update/success".to_string()),
            ("u-3".to_string(), "update/success".to_string()),
            ("u-5".to_string(), "create/success".to_string()),
        ])
    );
    let kind = h.job.store.cycles(1).expect("cycles")[0].kind;
    assert_eq!(kind, store::CycleKind::OnDemand);

    let after = run(&h, options(false, false)).await;
    assert!(after.report.in_sync(), "{:#?}", after.report);
    assert_eq!(after.report.orphans.len(), 2);

    // Adoption: Finn's user is taken over and made what Finn should be; the guest stays.
    let adopted = run(&h, options(true, true)).await;
    assert_eq!(
        outcomes(&adopted),
        BTreeMap::from([("u-6".to_string(), "adopted".to_string())])
    );
    assert_eq!(h.record("u-6").target_id, finn["id"]);
    let finn_applied = h.record("u-6").last_applied.get("displayName").cloned();
    let finn_applied = finn_applied.expect("displayName applied").to_json();
    assert_eq!(
        h.sim.user("finn.ford@contoso.example")["displayName"],
        finn_applied
    );
    let last = run(&h, options(false, false)).await;
    assert!(last.report.in_sync(), "{:#?}", last.report);
    assert_eq!(
        orphans_of(&last.report),
        BTreeMap::from([("guest@contoso.example".to_string(), None)])
    );
    assert_eq!(h.sim.state.users().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_reenabled_by_hand_is_disabled_again() {
    let h = Harness::start(&zoom_config(Some(LICENSE), ""), &[]).await;
    let mut d = team();
    h.write(&d);
    h.cycle().await;
    d.get("u-2").enabled(false);
    h.write(&d);
    let second = h.cycle().await;
    assert_eq!(second.counts.disabled, 1);
    let ben = id_of(&h, "ben.brown@contoso.example");
    h.sim
        .state
        .edit_user(&ben, &[replace("active", json!(true))])
        .expect("re-enable Ben");

    let found = run(&h, options(false, false)).await;
    assert_eq!(
        drift_of(&found.report),
        BTreeMap::from([(
            "u-2".to_string(),
            vec![("active".to_string(), json!(false), Some(json!(true)))]
        )])
    );
    let fixed = run(&h, options(true, false)).await;
    assert_eq!(
        outcomes(&fixed),
        BTreeMap::from([("u-2".to_string(), "disabled".to_string())])
    );
    assert_eq!(h.sim.user("ben.brown@contoso.example")["active"], false);
    assert!(run(&h, options(false, false)).await.report.in_sync());
}
