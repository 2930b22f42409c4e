//! `muster sync --dry-run` on a large plan: the terminal gets the first actions and the
//! summary, the whole plan goes to a JSON file; nothing is sent (the target is a closed port).

mod common;

use std::process::Command;

use common::directory::{TOKEN, Workdir, job_config};
use serde_json::Value;

fn dry_run(work: &Workdir, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["sync", "--dry-run", "--config"])
        .arg(&work.config)
        .args(args)
        .env("MUSTER_TARGET_TOKEN", TOKEN)
        .output()
        .expect("run muster");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn action_lines(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with("  create ") || l.starts_with("  update "))
        .count()
}

#[test]
fn a_large_dry_run_prints_the_first_actions_and_writes_the_whole_plan() {
    let people = 120;
    let work = Workdir::new(
        "dry-run",
        people,
        &job_config("http://127.0.0.1:9/scim2", 60, ""),
    );
    work.write_directory(1);
    let (code, stdout, stderr) = dry_run(&work, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(action_lines(&stdout), 50, "{stdout}");
    assert!(
        stdout.contains(&format!("... and {} more actions", people - 50)),
        "{stdout}"
    );
    let file = work.path().join("dry-run-plan.json");
    assert!(
        stdout.contains(&format!(
            "The whole plan (actions, log): {}",
            file.display()
        )),
        "{stdout}"
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("the plan file"))
        .expect("JSON");
    assert_eq!(plan["actions"].as_array().map(Vec::len), Some(people));
    assert_eq!(plan["log"].as_array().map(Vec::len), Some(people));
    assert_eq!(plan["summary"]["creates"], people as u64);

    // A small one prints everything, and writes a file only when asked.
    let small = Workdir::new(
        "dry-run-small",
        5,
        &job_config("http://127.0.0.1:9/scim2", 60, ""),
    );
    small.write_directory(1);
    let (code, stdout, _) = dry_run(&small, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(action_lines(&stdout), 5, "{stdout}");
    assert!(!stdout.contains("more actions"), "{stdout}");
    assert!(!small.path().join("dry-run-plan.json").exists());
    let asked = small.path().join("plan.json");
    let (code, stdout, _) = dry_run(&small, &["--plan-file", asked.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("The whole plan"), "{stdout}");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&asked).expect("the plan file"))
            .expect("JSON");
    assert_eq!(plan["actions"].as_array().map(Vec::len), Some(5));
}

/// A dry run planned in batches (`batch_people`) spools each batch's part of the plan and
/// writes the same whole plan, and prints the same first actions, as one planned whole.
#[test]
fn a_dry_run_in_batches_writes_the_same_plan() {
    let people = 120;
    let whole = Workdir::new(
        "dry-run-whole",
        people,
        &job_config("http://127.0.0.1:9/scim2", 60, ""),
    );
    let batched = Workdir::new(
        "dry-run-batched",
        people,
        &format!(
            "batch_people = 7\n{}",
            job_config("http://127.0.0.1:9/scim2", 60, "")
        ),
    );
    let mut plans = Vec::new();
    let mut printed = Vec::new();
    for work in [&whole, &batched] {
        work.write_directory(1);
        let (code, stdout, stderr) = dry_run(work, &[]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let file = work.path().join("dry-run-plan.json");
        let plan: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("the plan file"))
                .expect("JSON");
        plans.push(plan);
        // The actions shown, without the file's path (each run has its own folder) or the time
        // it took.
        printed.push(
            stdout
                .lines()
                .filter(|l| !l.starts_with("The whole plan") && !l.starts_with("Planned in"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    let sorted = |plan: &Value, key: &str| {
        let mut items: Vec<String> = plan[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a list"))
            .iter()
            .map(Value::to_string)
            .collect();
        items.sort();
        items
    };
    assert_eq!(sorted(&plans[1], "actions").len(), people);
    assert_eq!(sorted(&plans[1], "log").len(), people);
    for key in ["actions", "log", "staged"] {
        assert_eq!(sorted(&plans[0], key), sorted(&plans[1], key), "{key}");
    }
    assert_eq!(plans[0]["summary"], plans[1]["summary"]);
    assert_eq!(printed[0], printed[1]);
}
