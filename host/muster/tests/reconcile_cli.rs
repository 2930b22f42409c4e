//! `muster reconcile` as a user runs it: the real binary against the Zoom simulator over
//! 127.0.0.1 and a real state file, its table, its JSON and its exit codes.

mod common;

use std::process::Command;

use common::directory::{TOKEN, Workdir, job_config};
use common::sim::Sim;
use scim::patch::{PatchOp, PatchOperation};
use serde_json::json;

fn muster(work: &Workdir, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .arg("--config")
        .arg(&work.config)
        .env("MUSTER_TARGET_TOKEN", TOKEN)
        .output()
        .expect("run muster");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn reconcile_exits_3_on_drift_and_0_once_fixed() {
    let sim = Sim::start(TOKEN);
    let work = Workdir::new("reconcile", 6, &job_config(&sim.base_url, 60, ""));
    work.write_directory(1);
    let (code, _, stderr) = muster(&work, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = muster(&work, &["reconcile"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("6 target users: 6 in sync"), "{stdout}");

    let user = sim.state.users()[0].clone();
    let id = user["id"].as_str().expect("id");
    let edit = PatchOperation {
        op: PatchOp::Replace,
        path: Some("title".into()),
        value: Some(json!("Changed in the portal")),
    };
    sim.state.edit_user(id, &[edit]).expect("edit");
    let (code, stdout, stderr) = muster(&work, &["reconcile"]);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("Changed in the portal"), "{stdout}");

    let (code, stdout, stderr) = muster(&work, &["reconcile", "--fix", "--format", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(done["drifted"][0]["attributes"][0]["attribute"], "title");
    assert_eq!(done["fix"]["people"][0]["outcome"], "updated", "{done}");
    assert_ne!(
        sim.state.user(id).expect("user")["title"],
        "Changed in the portal"
    );
    let (code, stdout, _) = muster(&work, &["reconcile"]);
    assert_eq!(code, Some(0), "{stdout}");
}
