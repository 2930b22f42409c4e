//! The Microsoft Graph source end to end: the fake Graph and the Zoom simulator on 127.0.0.1,
//! the real store and plugins.

use std::collections::BTreeMap;
use std::time::Duration;

use engine::model::ProvisionedRecord;
use muster::job::Job;
use muster::sources::graph::{ClientAuth, ClientCertificate, GraphSource, check};
use muster_tests::fake_graph::{Expiry, FakeGraph};
use muster_tests::harness::{config_from, expected, workspace_root};
use muster_tests::{Harness, Sim, zoom_config};
use store::{CycleKind, CycleStatus, MirrorChanges};

const FILE_SOURCE: &str = "[source]\nkind = \"file\"\npath = \"directory.json\"\n";

/// The harness's Zoom job with `[source]` replaced by the fake Graph; `extra` is appended.
fn graph_config(fake: &FakeGraph, extra: &str) -> String {
    zoom_config(None, extra).replace(FILE_SOURCE, &fake.source_toml())
}

/// What a cycle changed in the target, by person: the log without people left alone
/// ("no changes", or skipped because they stay out of scope).
fn changes(h: &Harness, report: &muster::sync::CycleReport) -> BTreeMap<String, String> {
    h.actions(report)
        .into_iter()
        .filter(|(_, a)| !a.ends_with("/skipped"))
        .collect()
}

/// Records without their target ids (two simulators hand out different ones).
/// A full read is an initial cycle whose report says first why it was one.
fn assert_full_read(report: &muster::sync::CycleReport, why: &str) {
    assert_eq!(
        report.kind,
        CycleKind::Initial,
        "a full read ({why}) is an initial cycle"
    );
    assert!(
        report
            .source_warnings
            .first()
            .is_some_and(|w| w.contains(why)),
        "{:?}",
        report.source_warnings
    );
}

fn comparable(records: BTreeMap<String, ProvisionedRecord>) -> BTreeMap<String, ProvisionedRecord> {
    records
        .into_iter()
        .map(|(k, mut r)| {
            r.target_id.clear();
            (k, r)
        })
        .collect()
}

fn without_ids(mut users: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    for u in &mut users {
        if let Some(o) = u.as_object_mut() {
            o.remove("id");
            o.remove("meta");
        }
    }
    users.sort_by_key(|u| u["userName"].as_str().unwrap_or_default().to_string());
    users
}

#[tokio::test(flavor = "multi_thread")]
async fn an_initial_graph_cycle_equals_the_same_directory_from_a_snapshot() {
    let snapshot_path = workspace_root().join("examples/directory.json");
    let text = std::fs::read_to_string(&snapshot_path).expect("demo directory");
    let snapshot: serde_json::Value = serde_json::from_str(&text).expect("json");
    let fake = FakeGraph::start().await;
    fake.load_snapshot(&snapshot);
    // Entra's default scope, then nested groups, then everyone.
    let scopes = [
        "[scope]\nmode = \"assigned\"\n",
        "[scope]\nmode = \"assigned\"\nnested_groups = true\n",
        "[scope]\nmode = \"all\"\n",
    ];
    for scope in scopes {
        let default_scope = "[scope]\nmode = \"assigned\"\n";
        let graph_toml = graph_config(&fake, "").replace(default_scope, scope);
        let file_toml = zoom_config(None, "").replace(default_scope, scope);
        let g = {
            let sim = Sim::start().await;
            let dir = tempfile::tempdir().expect("temp dir");
            let config = config_from(&graph_toml, &[("MUSTER_TARGET_URL", &sim.url)]);
            let job = Job::build_with_secrets(
                config,
                dir.path(),
                sim.token.clone(),
                Some(fake.secret.clone()),
            )
            .expect("graph job");
            Harness { dir, sim, job }
        };
        let f = Harness::start(&file_toml, &[]).await;
        std::fs::copy(&snapshot_path, f.snapshot_path()).expect("copy the snapshot");

        let from_graph = g.cycle().await;
        let from_file = f.cycle().await;
        assert_eq!(from_graph.kind, CycleKind::Initial);
        assert_eq!(from_graph.status, CycleStatus::Succeeded);
        assert!(from_graph.counts.created > 100, "{:?}", from_graph.counts);
        assert_eq!(from_graph.counts, from_file.counts, "{scope}");
        assert_eq!(comparable(g.records()), comparable(f.records()));
        assert_eq!(
            without_ids(g.sim.state.users()),
            without_ids(f.sim.state.users())
        );
        assert_eq!(g.actions(&from_graph), f.actions(&from_file));
    }
}

/// Seven people assigned through `Zoom-Users` (Gil through its nested group `Contractors`),
/// Fay assigned directly; the app's license rule gives `Zoom-Licensed` members a licence.
fn seed(fake: &FakeGraph) {
    for (id, given, family) in [
        ("u-a", "Ann", "Adams"),
        ("u-b", "Ben", "Brown"),
        ("u-c", "Cy", "Cole"),
        ("u-d", "Dan", "Diaz"),
        ("u-e", "Eve", "Evans"),
        ("u-f", "Fay", "Ford"),
        ("u-g", "Gil", "Gray"),
        ("u-h", "Hal", "Hill"),
    ] {
        let mail = format!("{}.{}@contoso.example", given, family).to_lowercase();
        fake.add_user(
            id,
            serde_json::json!({"userPrincipalName": mail, "mail": mail, "givenName": given,
                "surname": family, "displayName": format!("{given} {family}"), "jobTitle": "Engineer",
                "department": "R&D", "accountEnabled": true}),
        );
    }
    fake.add_group("g-users", "Zoom-Users");
    fake.add_group("g-contractors", "Contractors");
    fake.add_group("g-licensed", "Zoom-Licensed");
    for m in ["u-a", "u-b", "u-c", "u-d", "u-e", "g-contractors"] {
        fake.add_member("g-users", m);
    }
    fake.add_member("g-contractors", "u-g");
    fake.assign("g-users", Some("User"));
    fake.assign("u-f", None);
}

const NESTED: &str = "[scope]\nmode = \"assigned\"\nnested_groups = true\n";

async fn nested_harness(fake: &FakeGraph) -> Harness {
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = graph_config(fake, "").replace("[scope]\nmode = \"assigned\"\n", NESTED);
    let config = config_from(&text, &[("MUSTER_TARGET_URL", &sim.url)]);
    let job = Job::build_with_secrets(
        config,
        dir.path(),
        sim.token.clone(),
        Some(fake.secret.clone()),
    )
    .expect("graph job");
    Harness { dir, sim, job }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_directory_edit_produces_exactly_its_change_in_the_next_incremental_cycle() {
    let fake = FakeGraph::start().await;
    // Small delta pages and every entry sent twice, reversed: paging and replays throughout.
    fake.set_delta_page_size(2);
    fake.set_replay(true);
    seed(&fake);
    let h = nested_harness(&fake).await;
    let first = h.cycle().await;
    assert_eq!(first.kind, CycleKind::Initial);
    let created: Vec<(&str, &str)> = ["u-a", "u-b", "u-c", "u-d", "u-e", "u-f", "u-g"]
        .into_iter()
        .map(|id| (id, "create/success"))
        .collect();
    assert_eq!(changes(&h, &first), expected(&created));
    assert_eq!(h.sim.user("ann.adams@contoso.example")["userType"], "Basic");

    type Edit = fn(&FakeGraph);
    type Step = (&'static str, Edit, Vec<(&'static str, &'static str)>);
    let steps: Vec<Step> = vec![
        (
            "rename",
            |f| {
                f.update_user(
                    "u-a",
                    serde_json::json!({"displayName": "Ann Archer", "surname": "Archer"}),
                )
            },
            vec![("u-a", "update/success")],
        ),
        (
            "an unselected property changes: nothing to do",
            |f| f.update_user("u-a", serde_json::json!({"department": "Ops"})),
            vec![],
        ),
        (
            "disable",
            |f| f.update_user("u-b", serde_json::json!({"accountEnabled": false})),
            vec![("u-b", "disable/success")],
        ),
        (
            "soft delete",
            |f| f.soft_delete_user("u-c"),
            vec![("u-c", "disable/success")],
        ),
        (
            "hard delete",
            |f| f.hard_delete_user("u-d"),
            vec![("u-d", "delete/success")],
        ),
        (
            "join a licensed group",
            |f| f.add_member("g-licensed", "u-e"),
            vec![("u-e", "update/success")],
        ),
        (
            "leave the licensed group",
            |f| f.remove_member("g-licensed", "u-e"),
            vec![("u-e", "update/success")],
        ),
        (
            "a newcomer in the nested group",
            |f| f.add_member("g-contractors", "u-h"),
            vec![("u-h", "create/success")],
        ),
        (
            "leave the nested group",
            |f| f.remove_member("g-contractors", "u-g"),
            vec![("u-g", "disable/success")],
        ),
        (
            "join the licensed group again",
            |f| f.add_member("g-licensed", "u-e"),
            vec![("u-e", "update/success")],
        ),
        (
            "rename the licensed group",
            |f| f.rename_group("g-licensed", "Zoom-Licensed-Old"),
            vec![("u-e", "update/success")],
        ),
        (
            "unassign",
            |f| f.unassign("u-f"),
            vec![("u-f", "disable/success")],
        ),
        (
            "restore the soft-deleted",
            |f| f.restore_user("u-c"),
            vec![("u-c", "update/success")],
        ),
    ];
    for (name, edit, want) in steps {
        let writes = h.sim.writes();
        edit(&fake);
        let report = h.cycle().await;
        assert_eq!(report.kind, CycleKind::Incremental, "{name}");
        assert_eq!(report.status, CycleStatus::Succeeded, "{name}");
        assert_eq!(changes(&h, &report), expected(&want), "{name}");
        assert_eq!(
            h.sim.writes() - writes,
            want.len() as u64,
            "{name}: one write per change"
        );
    }
    assert_eq!(
        h.sim.user("ann.adams@contoso.example")["displayName"],
        "Ann Archer"
    );
    assert_eq!(h.sim.user("ben.brown@contoso.example")["active"], false);
    assert!(!h.sim.has_user("dan.diaz@contoso.example"));
    assert_eq!(h.sim.user("eve.evans@contoso.example")["userType"], "Basic");
    assert_eq!(h.sim.user("hal.hill@contoso.example")["active"], true);
    assert_eq!(h.sim.user("gil.gray@contoso.example")["active"], false);
    assert_eq!(h.sim.user("fay.ford@contoso.example")["active"], false);
    assert_eq!(h.sim.user("cy.cole@contoso.example")["active"], true);
    // Delta rounds only read what changed: no listing of users or members was needed.
    assert!(fake.requests().iter().all(|r| !r.uri.contains("/members")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_delta_token_means_a_full_cycle_without_duplicate_or_lost_changes() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    let mut user_count = h.sim.state.users().len();
    for (round, how) in [Expiry::Gone, Expiry::SyncStateNotFound]
        .into_iter()
        .enumerate()
    {
        let newcomer = ["u-h", "u-f"][round];
        fake.update_user(
            "u-a",
            serde_json::json!({"jobTitle": format!("Lead {round}")}),
        );
        if round == 0 {
            fake.hard_delete_user("u-d");
            fake.add_member("g-contractors", newcomer);
        } else {
            fake.unassign("u-f");
            fake.hard_delete_user("u-e");
        }
        fake.expire_delta_tokens(how);
        let report = h.cycle().await;
        assert_full_read(&report, "refused the saved delta token");
        let want = if round == 0 {
            vec![
                ("u-a", "update/success"),
                ("u-d", "delete/success"),
                ("u-h", "create/success"),
            ]
        } else {
            vec![
                ("u-a", "update/success"),
                ("u-e", "delete/success"),
                ("u-f", "disable/success"),
            ]
        };
        assert_eq!(changes(&h, &report), expected(&want), "{how:?}");
        user_count = user_count + usize::from(round == 0) - 1;
        assert_eq!(
            h.sim.state.users().len(),
            user_count,
            "{how:?}: no duplicate, no leftover"
        );
        assert_eq!(
            h.sim.user("ann.adams@contoso.example")["title"],
            format!("Lead {round}")
        );
        // And the next cycle is incremental again, with nothing to do.
        let after = h.cycle().await;
        assert_eq!(after.kind, CycleKind::Incremental);
        assert_eq!(changes(&h, &after), expected(&[]), "{how:?}");
    }
}

/// `sync --full-read` (or `full_read=true` on the admin API) reads the whole directory even
/// though the delta links are good, and changes only what changed: the mirror is rebuilt, not
/// added to.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_read_on_request_rebuilds_the_mirror_without_duplicate_or_lost_changes() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    let users = h.sim.state.users().len();
    fake.update_user("u-a", serde_json::json!({"jobTitle": "Lead"}));
    fake.hard_delete_user("u-d");

    let full = muster::sync::CycleOptions {
        full_read: true,
        ..Default::default()
    };
    let report = h.cycle_with(&full).await;
    assert_full_read(&report, "a full read was asked for");
    assert_eq!(
        changes(&h, &report),
        expected(&[("u-a", "update/success"), ("u-d", "delete/success")])
    );
    assert_eq!(
        h.sim.state.users().len(),
        users - 1,
        "no duplicate, no leftover"
    );
    // The mirror is current again: the next cycle is incremental, with nothing to do.
    let after = h.cycle().await;
    assert_eq!(after.kind, CycleKind::Incremental);
    assert_eq!(changes(&h, &after), expected(&[]));
}

/// Graph traffic shows in `/metrics`: requests, tokens, reads by kind, read duration.
#[tokio::test(flavor = "multi_thread")]
async fn graph_reads_are_metered() {
    let metrics = muster::meters::install().expect("recorder");
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    fake.update_user("u-a", serde_json::json!({"jobTitle": "Metered"}));
    h.cycle().await;
    let text = metrics.render();
    // The recorder is the process's, shared with the other tests here: counts only grow.
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
    };
    assert!(value("muster_graph_requests_total") >= 4.0, "{text}");
    assert!(value("muster_graph_tokens_total") >= 1.0, "{text}");
    assert!(
        value("muster_graph_reads_total{kind=\"full\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("muster_graph_reads_total{kind=\"incremental\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("muster_graph_read_duration_seconds_count{kind=\"full\"}") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("# HELP muster_graph_requests_total"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_429_and_503_bursts_are_waited_out_as_retry_after_says() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    fake.inject(429, Some(1), 3);
    fake.inject(503, Some(1), 1);
    let report = h.cycle().await;
    assert_eq!(report.status, CycleStatus::Succeeded);
    assert_eq!(report.counts.created, 7);
    let requests = fake.requests();
    let throttled: Vec<_> = requests
        .iter()
        .filter(|r| r.status == 429 || r.status == 503)
        .collect();
    assert_eq!(throttled.len(), 4);
    let graph = h.job.graph.as_ref().expect("graph source");
    assert_eq!(
        graph
            .client
            .stats
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    // Each throttled URL was asked again only after its Retry-After.
    for t in &throttled {
        let retry = requests
            .iter()
            .find(|r| r.at > t.at && r.uri == t.uri && r.status == 200)
            .unwrap_or_else(|| panic!("{} was never retried", t.uri));
        assert!(
            retry.at - t.at >= Duration::from_millis(990),
            "{} retried after {:?}",
            t.uri,
            retry.at - t.at
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_applying_and_saving_the_delta_link_replays_safely() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    fake.update_user("u-a", serde_json::json!({"jobTitle": "CTO"}));
    fake.add_member("g-licensed", "u-e");
    fake.hard_delete_user("u-d");
    fake.add_member("g-contractors", "u-h");
    let before = h.job.store.graph_mirror().expect("mirror");
    let applied = h.cycle().await;
    assert_eq!(changes(&h, &applied).len(), 4);
    let after = h.job.store.graph_mirror().expect("mirror");
    assert_ne!(before, after);
    // The state a crash after the target writes and before the mirror commit leaves: the
    // records moved on, the mirror and its delta links did not.
    h.job
        .store
        .commit_graph_mirror(&MirrorChanges {
            full: true,
            users: before
                .users
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            groups: before
                .groups
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            users_delta_link: before.users_delta_link.clone().expect("link"),
            groups_delta_link: before.groups_delta_link.clone().expect("link"),
        })
        .expect("roll the mirror back");
    let writes = h.sim.writes();
    let users = h.sim.state.users().len();
    let replay = h.cycle().await;
    assert_eq!(replay.kind, CycleKind::Incremental);
    assert_eq!(
        changes(&h, &replay),
        expected(&[]),
        "the replayed delta finds nothing to do"
    );
    assert_eq!(h.sim.writes(), writes);
    assert_eq!(h.sim.state.users().len(), users);
    assert_eq!(
        h.job.store.graph_mirror().expect("mirror").users,
        after.users
    );
    assert_eq!(
        h.job.store.graph_mirror().expect("mirror").groups,
        after.groups
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_cached_and_refreshed_before_it_expires() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    // Long enough that two small cycles fit in 3/4 of it (6 s) on a loaded machine, and that a
    // request checked just before the refresh point still arrives 2 s before expiry.
    fake.set_token_lifetime(8);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    h.cycle().await;
    assert_eq!(fake.token_requests(), 1, "one token for both cycles");
    // Refreshed at 3/4 of its 8 s life, so no request ever carries an expired token.
    tokio::time::sleep(Duration::from_millis(6400)).await;
    h.cycle().await;
    assert_eq!(fake.token_requests(), 2);
    assert!(fake.requests().iter().all(|r| r.status != 401));
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_says_what_to_fix_on_the_graph_side() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let run = |text: String, secret: &str| {
        let config = config_from(&text, &[("MUSTER_TARGET_URL", "http://127.0.0.1:9/scim2")]);
        let engine::config::SourceConfig::Graph(settings) = config.source.clone() else {
            panic!("graph config")
        };
        let source = GraphSource::new(&config, secret.to_string()).expect("source");
        async move {
            check::run(&source, &settings)
                .await
                .into_iter()
                .map(|c| (c.name, c.outcome))
                .collect::<Vec<_>>()
        }
    };
    let good = graph_config(&fake, "");
    let all_ok = run(good.clone(), &fake.secret).await;
    assert_eq!(all_ok.len(), 4, "{all_ok:?}");
    assert!(all_ok.iter().all(|(_, o)| o.is_ok()), "{all_ok:?}");

    let failure = |checks: &[(&str, Result<String, String>)], name: &str| -> String {
        checks
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, o)| o.clone().err())
            .unwrap_or_else(|| panic!("{name} did not fail: {checks:?}"))
    };
    let bad_tenant = run(
        good.replace(
            &format!("tenant_id = \"{}\"", fake.tenant),
            "tenant_id = \"nope\"",
        ),
        &fake.secret,
    )
    .await;
    assert!(failure(&bad_tenant, "token").contains("tenant \"nope\" was not found"));
    assert_eq!(bad_tenant.len(), 1, "nothing else is tried without a token");
    let bad_secret = run(good.clone(), "wrong").await;
    assert!(failure(&bad_secret, "token").contains("MUSTER_GRAPH_SECRET"));
    let bad_sp = run(good.replace(&fake.sp_id, "not-the-sp"), &fake.secret).await;
    assert!(failure(&bad_sp, "service principal").contains("Enterprise application's Object ID"));

    fake.grant(&["GroupMember.Read.All", "Application.Read.All"]);
    assert!(failure(&run(good.clone(), &fake.secret).await, "users").contains("User.Read.All"));
    fake.grant(&["User.Read.All", "Application.Read.All"]);
    assert!(
        failure(&run(good.clone(), &fake.secret).await, "groups").contains("GroupMember.Read.All")
    );
    fake.grant(&["User.Read.All", "GroupMember.Read.All"]);
    assert!(
        failure(&run(good.clone(), &fake.secret).await, "service principal")
            .contains("Application.Read.All")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_signs_in_instead_of_a_secret() {
    let testdata = workspace_root().join("tests/testdata");
    let (cert, key) = (
        testdata.join("graph-client.crt"),
        testdata.join("graph-client.key"),
    );
    let read = |p: &std::path::Path| std::fs::read(p).expect("test certificate");
    let fake = FakeGraph::start().await;
    seed(&fake);
    fake.register_certificate(&read(&cert), &read(&key));
    let with_certificate = |fake: &FakeGraph| {
        graph_config(fake, "").replace(
            "client_secret_env = \"MUSTER_GRAPH_SECRET\"",
            &format!(
                "certificate_path = {:?}\nprivate_key_path = {:?}",
                cert.display().to_string(),
                key.display().to_string()
            ),
        )
    };

    // A whole cycle signs in with the certificate: no secret is given or sent.
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_from(&with_certificate(&fake), &[("MUSTER_TARGET_URL", &sim.url)]);
    let job = Job::build_with_secrets(config, dir.path(), sim.token.clone(), None)
        .expect("a job signing in with the certificate");
    let h = Harness { dir, sim, job };
    let first = h.cycle().await;
    assert_eq!(first.status, CycleStatus::Succeeded, "{first:?}");
    assert_eq!(h.sim.user("ann.adams@contoso.example")["userType"], "Basic");

    // One PEM holding both the certificate and the key is enough on its own.
    let both = h.dir.path().join("muster.pem");
    std::fs::write(&both, [read(&cert), read(&key)].concat()).expect("combined PEM");
    let combined = ClientCertificate::load(&both, &both).expect("certificate and key in one file");
    let separate = ClientCertificate::load(&cert, &key).expect("separate files");
    assert_eq!(combined.thumbprint(), separate.thumbprint());
    let err = ClientCertificate::load(&cert, &cert).expect_err("no key in the certificate file");
    assert!(err.to_string().contains("no PEM private key"), "{err}");

    // A certificate Entra does not know is refused, and test-connection says what to do.
    let stranger = FakeGraph::start().await;
    seed(&stranger);
    let config = config_from(
        &with_certificate(&stranger),
        &[("MUSTER_TARGET_URL", "http://127.0.0.1:9/scim2")],
    );
    let engine::config::SourceConfig::Graph(settings) = config.source.clone() else {
        panic!("graph config")
    };
    let source =
        GraphSource::new(&config, ClientAuth::Certificate(separate.into())).expect("source");
    let checks = check::run(&source, &settings).await;
    let token = checks[0]
        .outcome
        .clone()
        .expect_err("an unknown certificate");
    assert!(
        token.contains("upload") && token.contains("graph-client.crt") && token.contains("700027"),
        "{token}"
    );
    // The thumbprint the portal lists (SHA-1, hex; `openssl x509 -fingerprint -sha1`).
    assert!(
        token.contains("certificate thumbprint 81C6FEB8966715B34644355A33C73D25C77BFFD6"),
        "{token}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn select_asks_graph_for_the_mapped_attributes_only() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let h = nested_harness(&fake).await;
    h.cycle().await;
    let delta = fake
        .requests()
        .into_iter()
        .find(|r| r.uri.contains("/users/delta"))
        .expect("a users/delta request");
    let select = delta
        .uri
        .split("$select=")
        .nth(1)
        .expect("$select")
        .to_string();
    let mut names: Vec<&str> = select.split(',').collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accountEnabled",
            "displayName",
            "givenName",
            "jobTitle",
            "mail",
            "manager",
            "surname",
            "userPrincipalName"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_graph_job_runs_against_the_fake_graph() {
    let snapshot_path = workspace_root().join("examples/directory.json");
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot_path).expect("demo directory"))
            .expect("json");
    let fake = FakeGraph::start().await;
    fake.load_snapshot(&snapshot);
    let text = std::fs::read_to_string(workspace_root().join("examples/sync-graph.toml"))
        .expect("example")
        .replace("https://graph.microsoft.com/v1.0", &fake.graph_url)
        .replace("https://login.microsoftonline.com", &fake.url);
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_from(
        &text,
        &[
            ("MUSTER_TARGET_URL", sim.url.as_str()),
            ("MUSTER_TENANT_ID", fake.tenant.as_str()),
            ("MUSTER_CLIENT_ID", fake.client_id.as_str()),
            ("MUSTER_SP_ID", fake.sp_id.as_str()),
        ],
    );
    let job = Job::build_with_secrets(
        config,
        dir.path(),
        sim.token.clone(),
        Some(fake.secret.clone()),
    )
    .expect("the example builds");
    let h = Harness { dir, sim, job };
    let report = h.cycle().await;
    assert_eq!(report.status, CycleStatus::Succeeded);
    assert!(report.counts.created > 100, "{:?}", report.counts);
    assert_eq!(report.counts.failed, 0, "{:?}", h.failures(&report));
    assert_eq!(h.cycle().await.kind, CycleKind::Incremental);
}

/// The fake's own protocol, as a client other than muster sees it.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_graph_pages_projects_expands_and_tracks_changes() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/{}/oauth2/v2.0/token", fake.url, fake.tenant))
        .form(&[
            ("client_id", fake.client_id.as_str()),
            ("client_secret", fake.secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(token["expires_in"], 3599);
    let bearer = token["access_token"].as_str().expect("token").to_string();
    let get = |url: String| {
        let (http, bearer) = (http.clone(), bearer.clone());
        async move {
            let r = http.get(url).bearer_auth(bearer).send().await.expect("GET");
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let g = &fake.graph_url;

    let (_, page) = get(format!("{g}/users?$top=3&$select=id,mail")).await;
    assert_eq!(page["value"].as_array().expect("value").len(), 3);
    assert_eq!(
        page["value"][0].as_object().expect("user").len(),
        2,
        "{page}"
    );
    let mut seen = 3;
    let mut next = page["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(url) = next {
        let (_, page) = get(url).await;
        seen += page["value"].as_array().expect("value").len();
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 8);
    assert_eq!(get(format!("{g}/users?$top=1000")).await.0, 400);

    let ids = |v: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = v["value"]
            .as_array()
            .expect("value")
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_string())
            .collect();
        ids.sort();
        ids
    };
    let direct = get(format!("{g}/groups/g-users/members")).await.1;
    assert!(ids(&direct).contains(&"g-contractors".to_string()));
    assert!(!ids(&direct).contains(&"u-g".to_string()));
    let transitive = get(format!("{g}/groups/g-users/transitiveMembers")).await.1;
    assert!(ids(&transitive).contains(&"u-g".to_string()));

    let (_, latest) = get(format!(
        "{g}/users/delta?$deltatoken=latest&$select=jobTitle"
    ))
    .await;
    assert_eq!(latest["value"], serde_json::json!([]));
    let link = latest["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    fake.update_user("u-a", serde_json::json!({"jobTitle": "CEO"}));
    fake.update_user("u-b", serde_json::json!({"department": "not selected"}));
    let (_, changes) = get(link.clone()).await;
    assert_eq!(
        changes["value"],
        serde_json::json!([{"id": "u-a", "jobTitle": "CEO"}])
    );
    fake.expire_delta_tokens(Expiry::Gone);
    assert_eq!(get(link).await.0, 410);

    let sp = get(format!(
        "{g}/servicePrincipals/{}/appRoleAssignedTo",
        fake.sp_id
    ))
    .await
    .1;
    let mut principals: Vec<(&str, &str)> = sp["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|a| {
            (
                a["principalId"].as_str().unwrap_or_default(),
                a["principalType"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    principals.sort();
    assert_eq!(principals, [("g-users", "Group"), ("u-f", "User")]);
}

/// A person's manager (`manager@delta`, with the manager's userPrincipalName from the mirror)
/// and app roles reach the pipeline's person, and a removed manager is gone in the next round.
#[tokio::test(flavor = "multi_thread")]
async fn managers_and_app_roles_come_from_graph() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    fake.update_user("u-b", serde_json::json!({"manager": "u-a"}));
    fake.update_user("u-c", serde_json::json!({"manager": "u-gone"}));
    let config = config_from(
        &graph_config(&fake, ""),
        &[("MUSTER_TARGET_URL", "http://127.0.0.1:9/scim2")],
    );
    let source = GraphSource::new(&config, fake.secret.clone()).expect("source");
    let store = store::Store::open_in_memory().expect("store");
    let read = source.read(&store, false).await.expect("read");
    let person = |read: &muster::sources::graph::GraphRead, id: &str| {
        read.directory
            .people
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in the directory"))
    };
    let ben = person(&read, "u-b");
    assert_eq!(
        ben.manager,
        Some(engine::model::Manager {
            id: "u-a".into(),
            user_principal_name: Some("ann.adams@contoso.example".into()),
        })
    );
    assert_eq!(ben.app_roles, ["User"], "through Zoom-Users");
    // A manager who is not (or not yet) a user in the mirror: the id alone.
    let cy = person(&read, "u-c").manager.expect("a manager");
    assert_eq!((cy.id.as_str(), cy.user_principal_name), ("u-gone", None));
    assert_eq!(person(&read, "u-a").manager, None);

    store.commit_graph_mirror(&read.changes).expect("commit");
    fake.update_user("u-b", serde_json::json!({"manager": null}));
    let next = source.read(&store, false).await.expect("incremental read");
    assert!(next.full_reason.is_none(), "{:?}", next.full_reason);
    assert_eq!(person(&next, "u-b").manager, None);
    assert_eq!(
        person(&next, "u-c").manager.map(|m| m.id).as_deref(),
        Some("u-gone")
    );
}
