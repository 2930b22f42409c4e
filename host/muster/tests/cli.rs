//! The `muster` binary's plugin and config commands, run as a user would.

use std::process::Command;

fn muster(args: &[&str]) -> (bool, String, String) {
    muster_test_support::output(Command::new(env!("CARGO_BIN_EXE_muster")).args(args))
}

#[test]
fn plugin_check_accepts_the_example_rule() {
    let served = "(this host serves muster:plugin@0.1.x, muster:plugin@0.2.x)";
    let (ok, stdout, stderr) = muster(&["plugin", "check", muster_artifacts::LICENSE_BY_GROUP]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("world:     license-rule"), "{stdout}");
    assert!(
        stdout.contains(&format!("interface: muster:plugin@0.2.0 {served}")),
        "{stdout}"
    );
    // The same rule built for 0.1.0 says so.
    let (ok, stdout, stderr) = muster(&["plugin", "check", muster_artifacts::LICENSE_BY_GROUP_0_1]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("interface: muster:plugin@0.1.0 {served}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("purity:    pure: the same person gets the same answer"),
        "{stdout}"
    );
}

#[test]
fn plugin_check_refuses_a_plugin_built_for_an_interface_this_host_does_not_serve() {
    let (ok, _, stderr) = muster(&["plugin", "check", muster_artifacts::FUTURE_VERSION]);
    assert!(!ok, "must exit non-zero");
    assert!(
        stderr.contains("is built for muster:plugin@0.3.0")
            && stderr.contains("it serves muster:plugin@0.1.x, muster:plugin@0.2.x"),
        "names both versions: {stderr}"
    );
}

#[test]
fn plugin_check_rejects_an_import_outside_the_world() {
    let (ok, _, stderr) = muster(&["plugin", "check", muster_artifacts::EXTRA_IMPORT]);
    assert!(!ok, "must exit non-zero");
    assert!(
        stderr.contains("test:evil/net"),
        "names the import: {stderr}"
    );
}

#[test]
fn plugin_run_prints_the_decision_and_its_costs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("person.json");
    std::fs::write(
        &input,
        r#"{"id": "u-1", "attributes": {}, "direct_groups": [{"id": "g", "display_name": "Zoom-Licensed"}],
            "transitive_groups": [{"id": "g", "display_name": "Zoom-Licensed"}], "target": {}}"#,
    )
    .expect("write");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"rules": [{"group": "Zoom-Licensed", "plan": "licensed"}]}"#,
    )
    .expect("write");
    let (ok, stdout, stderr) = muster(&[
        "plugin",
        "run",
        muster_artifacts::LICENSE_BY_GROUP,
        "--input",
        input.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["outcome"]["license"]["plan"], "licensed");
    assert!(
        report["fuel_used"].as_u64().is_some_and(|f| f > 0),
        "{report}"
    );
    assert!(
        report["peak_memory_bytes"].as_u64().is_some_and(|m| m > 0),
        "{report}"
    );
    assert_eq!(report["limits"]["deadline_ms"], 50);
}

#[test]
fn plugin_run_reports_a_trap_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("person.json");
    std::fs::write(&input, r#"{"id": "u-9", "attributes": {}, "direct_groups": [], "transitive_groups": [], "target": {}}"#)
        .expect("write");
    let (ok, stdout, _) = muster(&[
        "plugin",
        "run",
        muster_artifacts::TRAP,
        "--input",
        input.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["error"]["kind"], "trap");
}

#[test]
fn validate_reports_every_problem_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("job.toml");
    std::fs::write(
        &config,
        r#"
[source]
kind = "file"
path = "d.json"
[target]
base_url = "not a url"
token_env = "a token pasted here"
[[mappings]]
source = "userPrincipalName"
target = "emails[type eq"
"#,
    )
    .expect("write");
    let (ok, _, stderr) = muster(&["validate", "--config", config.to_str().expect("utf-8")]);
    assert!(!ok);
    for location in ["target.base_url", "target.token_env", "mappings[0].target"] {
        assert!(
            stderr.contains(location),
            "{location} missing from: {stderr}"
        );
    }
}

#[test]
fn validate_names_a_missing_secret_of_a_valid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("job.toml");
    std::fs::write(
        &config,
        r#"
[source]
kind = "file"
path = "d.json"
[target]
base_url = "https://api.zoom.us/scim2"
[target.auth]
kind = "oauth_client_credentials"
style = "zoom"
token_url = "https://zoom.us/oauth/token"
client_id = "c"
account_id = "a"
client_secret_env = "MUSTER_TEST_UNSET_ZOOM_SECRET"
[[mappings]]
source = "userPrincipalName"
target = "userName"
matching_precedence = 1
"#,
    )
    .expect("write");
    let (ok, _, stderr) = muster(&["validate", "--config", config.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(
        stderr.contains("MUSTER_TEST_UNSET_ZOOM_SECRET is not set"),
        "{stderr}"
    );
}

#[test]
fn validate_names_the_line_of_a_bad_profile_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("job.toml");
    std::fs::write(
        &config,
        r#"
[source]
kind = "file"
path = "d.json"
[target]
base_url = "https://api.zoom.us/scim2"
token_env = "PATH"
profile_file = "my-zoom.toml"
[[mappings]]
source = "userPrincipalName"
target = "userName"
matching_precedence = 1
"#,
    )
    .expect("write");
    let path = config.to_str().expect("utf-8");
    let (ok, _, stderr) = muster(&["validate", "--config", path]);
    assert!(!ok);
    assert!(
        stderr.contains("my-zoom.toml"),
        "names the missing file: {stderr}"
    );
    // A copy of the built-in profile with a broken check on line 3.
    let profile = "default_plan = \"basic\"\n[[checks]]\npattern = \"([0-9\"\npath = \"title\"\nmessage = \"m\"\n";
    std::fs::write(dir.path().join("my-zoom.toml"), profile).expect("write");
    let (ok, _, stderr) = muster(&["validate", "--config", path]);
    assert!(!ok);
    assert!(
        stderr.contains("my-zoom.toml, line 3 (checks[0].pattern)"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("my-zoom.toml"), engine::profile::ZOOM_FILE).expect("write");
    let (ok, stdout, stderr) = muster(&["validate", "--config", path]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");
}

/// The README's main command, then the log commands it points at.
#[test]
fn demo_runs_both_cycles_and_its_logs_can_be_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo");
    let demo_dir = demo_dir.to_str().expect("utf-8");
    let (ok, stdout, stderr) = muster(&["demo", "--dir", demo_dir]);
    assert!(ok, "{stderr}");
    for expected in [
        "Cycle 1 (Initial)",
        "Cycle 2 (Incremental)",
        "plan licensed",
        "add-on phone",
        "What changed:",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    let config = format!("{demo_dir}/demo.toml");
    // kara.moreno4 is disabled in the second snapshot.
    let (ok, stdout, stderr) = muster(&[
        "logs",
        "--config",
        &config,
        "--person",
        "KARA.MORENO4@contoso.example",
        "--format",
        "json",
    ]);
    assert!(ok, "{stderr}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON log");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["disable", "create"], "newest first: {stdout}");
    let (ok, stdout, _) = muster(&[
        "logs", "--config", &config, "--cycle", "2", "--status", "success", "--format", "csv",
    ]);
    assert!(ok);
    let rows = stdout.lines().count() - 1;
    assert_eq!(
        rows, 4,
        "two updates and two disables in cycle 2:\n{stdout}"
    );
}
