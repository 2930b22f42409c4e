//! Interop: the demo directory provisioned with `examples/sync-generic.toml` into an
//! independent SCIM 2.0 server (`scim2-server` from PyPI, see `src/scim2_server.rs`), then read
//! back through its own API.

use engine::plan::to_flat;
use muster::job::Job;
use muster::sync::{CycleOptions, run_cycle};
use muster_tests::Scim2Server;
use muster_tests::harness::{config_from, workspace_root};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_directory_lands_in_scim2_server() {
    let server = Scim2Server::start();
    let dir = tempfile::tempdir().unwrap();
    let examples = workspace_root().join("examples");
    std::fs::copy(
        examples.join("directory.json"),
        dir.path().join("directory.json"),
    )
    .unwrap();
    let text = std::fs::read_to_string(examples.join("sync-generic.toml")).unwrap();
    let state = dir.path().join("muster.db");
    let mut config = config_from(
        &text,
        &[
            ("MUSTER_TARGET_URL", &server.url),
            ("MUSTER_STATE", state.to_str().unwrap()),
        ],
    );
    // The example's 20 requests/s would make this test take 20 s; the server keeps up.
    config.target.rate_limit_per_second = Some(1000.0);
    let job = Job::build_with_token(config, dir.path(), server.token.clone()).unwrap();

    let report = run_cycle(&job, &CycleOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.counts.failed, 0, "{:?}", report.counts);
    let records = job.store.records().unwrap();
    assert!(records.len() > 150, "only {} provisioned", records.len());
    assert_eq!(report.counts.created as usize, records.len());

    let users = server.users(50).await;
    assert_eq!(users.len(), records.len());
    for record in records.values() {
        let user = users
            .iter()
            .find(|u| u["id"] == record.target_id.as_str())
            .unwrap_or_else(|| panic!("no user {} on the server", record.target_id));
        let sent = to_flat(&record.last_applied);
        let at = |path: &str| sent.get(path).cloned().unwrap_or(Value::Null);
        assert_eq!(user["userName"], at("userName"), "{user}");
        assert_eq!(user["name"]["givenName"], at("name.givenName"), "{user}");
        assert_eq!(user["name"]["familyName"], at("name.familyName"), "{user}");
        // People without `mail` in the directory get no email at all.
        let work_email = user["emails"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["type"] == "work"))
            .map_or(Value::Null, |e| e["value"].clone());
        assert_eq!(work_email, at("emails[type eq \"work\"].value"), "{user}");
        assert_eq!(user["active"], !record.disabled, "{user}");
        let plan = record.license.as_ref().expect("a licence").plan.as_str();
        assert_eq!(user["userType"], plan, "{user}");
        assert_eq!(user["userType"], at("userType"), "{user}");
    }
    drop(server);
}
