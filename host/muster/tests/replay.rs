//! `muster replay`: a sync cycle through Rust, Python and JavaScript plugins into the Zoom
//! simulator, then its log entries replayed from the recorded inputs. The recorded version
//! answers bit for bit as it did (the output hash, and the answer the log shows); another
//! version's answer is shown with its differences; an entry that cannot be replayed (its input
//! gone, its version not found) fails with exit code 2, saying why.
//!
//! The Python and JavaScript guests are built as `polyglot.rs` builds them (`common::guests`):
//! the pinned toolchains `.ci/test` installs must be there.

mod common;

use std::path::Path;
use std::process::Command;

use common::directory::{TOKEN, Workdir, job_config};
use common::guests::{Lang, build_example, cache_dir};
use common::sim::Sim;
use serde_json::Value as Json;

/// `muster <args>`: exit code, stdout, stderr.
fn muster(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .env("MUSTER_TARGET_TOKEN", TOKEN)
        .env("MUSTER_PLUGIN_CACHE", cache_dir().join("compiled"))
        .output()
        .expect("run muster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A job over 12 people (person 0 is licensed with the phone add-on) with these components
/// as its transform and license rule, synced once.
fn synced(sim: &Sim, label: &str, transform: &str, license: &str) -> Workdir {
    let config = job_config(&sim.base_url, 60, "")
        .replace("builtin:normalize-attributes", transform)
        .replace("builtin:license-by-group", license);
    let work = Workdir::new(label, 12, &config);
    work.write_directory(1);
    let config = work.config.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = muster(&["sync", "--config", config, "--once"]);
    assert_eq!(code, 0, "sync failed:\n{stdout}\n{stderr}");
    work
}

/// The log entry of `person` (a userName) in the last cycle.
fn entry_of(work: &Workdir, person: &str) -> Json {
    let config = work.config.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = muster(&[
        "logs", "--config", config, "--person", person, "--limit", "1", "--format", "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let entries: Json = serde_json::from_str(&stdout).expect("the log as JSON");
    entries[0]["detail"].clone()
}

fn replay(work: &Workdir, entry: &str, extra: &[&str]) -> (i32, String, String) {
    let config = work.config.to_str().expect("utf-8 path");
    let mut args = vec!["replay", "--config", config, "--log-entry", entry];
    args.extend_from_slice(extra);
    muster(&args)
}

fn replay_json(work: &Workdir, entry: &str, extra: &[&str]) -> (i32, Json) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = replay(work, entry, &args);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}), exit {code}:\n{stdout}\n{stderr}"));
    (code, report)
}

/// Replays person 0's entry and checks every plugin step is reproduced bit for bit: the
/// replayed output's hash is the recorded one, and the answer is what the log says the plugin
/// answered.
fn assert_bit_exact(work: &Workdir) -> String {
    let entry = entry_of(work, "person0@crash.example");
    let change = entry["changeId"].as_str().expect("a change id").to_string();
    let (code, report) = replay_json(work, &change, &[]);
    assert_eq!(code, 0, "{report:#}");
    let steps = report["steps"].as_array().expect("steps");
    let logged: Vec<&Json> = entry["provisioningSteps"]
        .as_array()
        .expect("the entry's steps")
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.contains(':')))
        .collect();
    assert_eq!(steps.len(), 2, "the transform and the rule: {report:#}");
    assert_eq!(logged.len(), 2);
    for (step, logged) in steps.iter().zip(logged) {
        let replayed = &step["replayed"];
        assert_eq!(replayed["identical"], true, "{step:#}");
        assert_eq!(replayed["version"], logged["details"]["version"]);
        assert_eq!(replayed["output_hash"], step["recorded_output_hash"]);
        assert_eq!(
            step["recorded_output_hash"],
            logged["details"]["outputHash"]
        );
        let output = &replayed["output"]["ok"];
        match step["world"].as_str() {
            Some("license-rule") => {
                assert_eq!(output["kind"], "assign", "{step:#}");
                assert_eq!(output["reason"], logged["description"]);
                assert_eq!(output["license"]["plan"], "licensed");
                assert_eq!(output["license"]["add_ons"], serde_json::json!(["phone"]));
                assert_eq!(logged["details"]["license"], "licensed+phone");
            }
            Some("transformer") => {
                assert_eq!(output["kind"], "changes", "{step:#}");
                let counts = format!(
                    "{} set, {} removed",
                    output["set"].as_array().map_or(0, Vec::len),
                    output["remove"].as_array().map_or(0, Vec::len)
                );
                assert_eq!(logged["description"], counts.as_str());
            }
            other => panic!("unexpected world {other:?}"),
        }
    }
    let (code, table, _) = replay(work, &change, &[]);
    assert_eq!(code, 0);
    assert!(table.contains("identical, bit for bit"), "{table}");
    change
}

#[test]
fn rust_replays_are_bit_exact_and_another_version_shows_its_differences() {
    let sim = Sim::start(TOKEN);
    let work = synced(
        &sim,
        "replay-rust",
        "builtin:normalize-attributes",
        "builtin:license-by-group",
    );
    let change = assert_bit_exact(&work);

    // Another license rule on the same input: the recorded version still replays identically,
    // and the other's answer is shown beside it with what differs.
    let other = format!("license-by-group={}", muster_artifacts::SELECTIVE_TRAP);
    let (code, report) = replay_json(&work, &change, &["--plugin", &other]);
    assert_eq!(code, 0, "{report:#}");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "only the named plugin's step: {report:#}");
    let step = &steps[0];
    assert_eq!(step["replayed"]["identical"], true);
    let other = &step["other"];
    assert_ne!(other["version"], step["version"]);
    // The selective-trap guest refuses the rule's configuration.
    assert_eq!(
        other["output"]["error"]["code"], "invalid-config",
        "{other:#}"
    );
    let differences = other["differences"].as_array().expect("differences");
    let facts: Vec<&str> = differences
        .iter()
        .filter_map(|d| d["fact"].as_str())
        .collect();
    assert!(
        facts.contains(&"license") && facts.contains(&"error"),
        "{facts:?}"
    );
    let license = differences
        .iter()
        .find(|d| d["fact"] == "license")
        .expect("the license differs");
    assert_eq!(license["before"], "licensed+phone");
    assert_eq!(license["after"], Json::Null);
    let (code, table, _) = replay(&work, &change, &["--plugin", &other_spec_echo()]);
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains("differs from the recorded version:"),
        "{table}"
    );
    assert!(
        table.contains("set target.userName: (none) → "),
        "the echo sets what it was sent: {table}"
    );
}

/// The echo transformer, which returns everything it is sent as target attributes.
fn other_spec_echo() -> String {
    format!("normalize-attributes={}", muster_artifacts::ECHO)
}

#[test]
fn python_and_javascript_replays_are_bit_exact() {
    let sim = Sim::start(TOKEN);
    let transform_py = build_example(
        Lang::Python,
        "plugins/normalize-attributes-py",
        "transformer",
    );
    let rule_js = build_example(Lang::Js, "plugins/license-by-group-js", "license-rule");
    let work = synced(
        &sim,
        "replay-py-js",
        transform_py.to_str().expect("utf-8"),
        rule_js.to_str().expect("utf-8"),
    );
    let change = assert_bit_exact(&work);
    // The Rust build of the same rule is another version with the same answer.
    let rust = format!("license-by-group={}", muster_artifacts::LICENSE_BY_GROUP);
    let (code, report) = replay_json(&work, &change, &["--plugin", &rust]);
    assert_eq!(code, 0, "{report:#}");
    let step = &report["steps"][0];
    assert_ne!(step["other"]["version"], step["version"]);
    assert_eq!(step["other"]["differences"], serde_json::json!([]));
    assert_eq!(step["other"]["output_hash"], step["recorded_output_hash"]);

    let transform_js = build_example(Lang::Js, "plugins/normalize-attributes-js", "transformer");
    let rule_py = build_example(Lang::Python, "plugins/license-by-group-py", "license-rule");
    let work = synced(
        &sim,
        "replay-js-py",
        transform_js.to_str().expect("utf-8"),
        rule_py.to_str().expect("utf-8"),
    );
    assert_bit_exact(&work);
}

#[test]
fn an_entry_that_cannot_be_replayed_fails_saying_why() {
    let sim = Sim::start(TOKEN);
    let work = synced(
        &sim,
        "replay-errors",
        "builtin:normalize-attributes",
        "builtin:license-by-group",
    );
    let entry = entry_of(&work, "person0@crash.example");
    let change = entry["changeId"].as_str().expect("a change id");

    let (code, _, stderr) = replay(&work, "999-1", &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no log entry 999-1"), "{stderr}");

    // The rule's configured path now holds another version, and no plugin folder keeps the
    // recorded one: the replay says where it looked, and still runs --plugin's version.
    let config = std::fs::read_to_string(&work.config).expect("read the config");
    let moved = config.replace("builtin:license-by-group", muster_artifacts::SELECTIVE_TRAP);
    std::fs::write(&work.config, moved).expect("write the config");
    let rust = format!("license-by-group={}", muster_artifacts::LICENSE_BY_GROUP);
    let (code, stdout, stderr) = replay(&work, change, &["--plugin", &rust]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stdout.contains("is not available"), "{stdout}");
    assert!(
        stdout.contains("[server] plugins_dir is not set"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} is version", muster_artifacts::SELECTIVE_TRAP)),
        "names the configured file and its version: {stdout}"
    );
    assert!(
        stdout.contains("other     version"),
        "--plugin still runs: {stdout}"
    );
    std::fs::write(&work.config, config).expect("restore the config");

    // The input blob is gone (as a prune leaves an entry written without one).
    let input = entry["provisioningSteps"]
        .as_array()
        .and_then(|steps| {
            steps
                .iter()
                .find(|s| s["name"] == "license:license-by-group")
        })
        .and_then(|s| s["details"]["inputHash"].as_str())
        .expect("the rule's input hash");
    delete_blob(&work.state(), input);
    let (code, _, stderr) = replay(&work, change, &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("the recorded input {input}")) && stderr.contains("pruned"),
        "{stderr}"
    );
}

fn delete_blob(state: &Path, hash: &str) {
    let conn = rusqlite::Connection::open(state).expect("open the state");
    let n = conn
        .execute("DELETE FROM replay_blobs WHERE hash = ?1", [hash])
        .expect("delete the blob");
    assert_eq!(n, 1);
}
