//! `muster plugin preview` as a rule author's CI runs it: the real binary, a job whose target
//! is a closed port (a preview never contacts it), a candidate component and configuration,
//! each report format, and the exit codes (0 within the gates, 3 past one, 2 on errors).

mod common;

use std::path::Path;
use std::process::Command;

use common::directory::{Workdir, job_config};
use serde_json::{Value, json};

const PEOPLE: usize = 30;

fn preview(work: &Workdir, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["plugin", "preview", "--config"])
        .arg(&work.config)
        .args(args)
        // A preview needs no target credentials.
        .env_remove("MUSTER_TARGET_TOKEN")
        .output()
        .expect("run muster");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A candidate configuration for the selective-trap guest, written next to the job.
fn candidate_config(work: &Workdir, file: &str, trap_for: &[&str]) -> String {
    let path = work.path().join(file);
    let config = json!({"plan": "licensed", "trap_for": trap_for});
    std::fs::write(&path, config.to_string()).expect("write the candidate config");
    format!("license-by-group={}", path.display())
}

fn first_person(work: &Workdir) -> String {
    let text = std::fs::read_to_string(work.path().join("directory.json")).expect("snapshot");
    let directory: Value = serde_json::from_str(&text).expect("JSON");
    directory["people"][0]["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

#[test]
fn preview_reports_the_impact_and_exits_by_the_gates() {
    // Port 9 (discard) on loopback: nothing listens, and nothing may be sent.
    let gates = "[plugins.gates]\nmax_new_failures = 0\n";
    let work = Workdir::new(
        "preview",
        PEOPLE,
        &job_config("http://127.0.0.1:9/scim2", 60, gates),
    );
    work.write_directory(1);
    let component = format!(
        "license-by-group={}",
        Path::new(muster_artifacts::SELECTIVE_TRAP).display()
    );
    let trapped = first_person(&work);

    // Everyone on `licensed`, one person failing: past `max_new_failures = 0`.
    let config = candidate_config(&work, "trap-one.json", &[&trapped]);
    let (code, stdout, stderr) = preview(
        &work,
        &[
            "--plugin",
            &component,
            "--plugin-config",
            &config,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["passed"], false);
    assert_eq!(report["impact"]["newly_failed"]["count"], 1);
    assert_eq!(
        report["impact"]["newly_failed"]["samples"][0]["person"]["id"],
        trapped.as_str()
    );
    let licensed = report["impact"]["licenses"]
        .as_array()
        .expect("licenses")
        .iter()
        .find(|c| c["name"] == "licensed")
        .expect("a licensed row")
        .clone();
    // No state yet: nobody holds a license before; everyone but the trapped person after.
    assert_eq!(licensed["after"], (PEOPLE - 1) as u64, "{licensed}");
    assert_eq!(report["impact"]["gates"][0]["gate"], "max_new_failures");

    let (code, stdout, _) = preview(
        &work,
        &[
            "--plugin",
            &component,
            "--plugin-config",
            &config,
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code, Some(3));
    assert!(
        stdout.starts_with("### muster plugin preview: EXCEEDS THE GATES"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| `max_new_failures` | 1 | 0 | 0 | **exceeded** |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<details><summary>Newly failed: 1"),
        "{stdout}"
    );

    // Nobody failing: within the gates.
    let config = candidate_config(&work, "trap-none.json", &[]);
    let (code, stdout, stderr) =
        preview(&work, &["--plugin", &component, "--plugin-config", &config]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("within the gates"), "{stdout}");
    assert!(stdout.contains("max_new_failures"), "{stdout}");

    // The same people from a given snapshot, fewer of them.
    let snapshot = work.path().join("five.json");
    common::directory::directory(5, 1).write(&snapshot);
    let (code, stdout, _) = preview(
        &work,
        &[
            "--plugin",
            &component,
            "--plugin-config",
            &config,
            "--source",
            snapshot.to_str().expect("utf-8 path"),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0));
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["people_read"], 5);

    // A pull request's configuration: the licensed plan now follows Zoom-Phone. In the test
    // population every third person is licensed and every fifth has a phone.
    let text = std::fs::read_to_string(&work.config).expect("the job");
    let moved = text.replace(
        r#"{ group = "Zoom-Licensed", plan = "licensed" }"#,
        r#"{ group = "Zoom-Phone", plan = "licensed" }"#,
    );
    assert_ne!(moved, text, "the rule is in the template");
    let head = work.path().join("head.toml");
    std::fs::write(&head, moved).expect("write the candidate job");
    let (code, stdout, stderr) = preview(
        &work,
        &[
            "--candidate-config",
            head.to_str().expect("utf-8 path"),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let moving = (0..PEOPLE).filter(|i| (i % 3 == 0) != (i % 5 == 0)).count();
    assert_eq!(report["impact"]["license_changes"]["count"], moving as u64);
    assert_eq!(
        report["plugins"][1]["config_changed"], true,
        "{}",
        report["plugins"]
    );
    assert_eq!(report["plugins"][0]["config_changed"], false);

    // Errors: exit 2, with the reason.
    let (code, _, stderr) = preview(&work, &["--plugin", "license-by-group=/nonexistent.wasm"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent.wasm"), "{stderr}");
    let (code, _, stderr) = preview(
        &work,
        &["--plugin", &component.replace("license-by-group", "nope")],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no plugin named \"nope\""), "{stderr}");
    let (code, _, stderr) = preview(&work, &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nothing to preview"), "{stderr}");
}

/// A reader that stops early (`muster plugin preview ... | head`) ends muster quietly, as it
/// would any Unix tool: no panic on the closed pipe.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_report_quietly() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;

    // Enough people that the report outgrows a pipe's buffer (64 KiB) long before it ends.
    let work = Workdir::new(
        "pipe",
        2000,
        &job_config("http://127.0.0.1:9/scim2", 60, ""),
    );
    work.write_directory(1);
    let text = std::fs::read_to_string(&work.config).expect("the job");
    let head = work.path().join("head.toml");
    let moved = text.replace(
        r#"{ group = "Zoom-Licensed", plan = "licensed" }"#,
        r#"{ group = "Zoom-Phone", plan = "licensed" }"#,
    );
    std::fs::write(&head, moved).expect("write the candidate job");
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["plugin", "preview", "--config"])
        .arg(&work.config)
        .arg("--candidate-config")
        .arg(&head)
        .args(["--samples", "2000", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run muster");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first line");
    assert_eq!(first.trim(), "{", "the report started");
    // The reader is gone now: the rest of the report meets a closed pipe.
    let output = child.wait_with_output().expect("muster ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        output.status.signal() == Some(libc::SIGPIPE) || output.status.success(),
        "ended by SIGPIPE, not an error: {:?} {stderr}",
        output.status
    );
}
