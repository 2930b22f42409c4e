//! The configuration and snapshot snippets in the READMEs and `docs/` are artifacts, not prose:
//! every fenced `toml` block goes through the configuration's validation (a fragment laid over
//! a complete example job, replacing the tables it names), and every fenced `json` block that
//! is a directory snapshot goes through the snapshot reader. A renamed key breaks this test
//! instead of a reader's job.

use std::path::{Path, PathBuf};

use engine::config::Config;
use muster_tests::harness::workspace_root;

/// The Markdown files users read.
fn documents() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md"), root.join("plugins/README.md")];
    for dir in ["docs", "deploy", "host/engine", "host/plugin-host", "tests"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The fenced blocks of `language` in `text`, with the line each starts on.
fn blocks(text: &str, language: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.strip_prefix("```") == Some(language) => {
                current = Some((n + 1, String::new()));
            }
            Some(_) if fence.starts_with("```") => found.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    found
}

/// `${NAME}` placeholders filled the way a deployment would fill them.
fn expand(text: &str) -> String {
    muster::job::expand_env(text, |name| {
        Some(if name.contains("URL") {
            "http://127.0.0.1:9/scim2".to_string()
        } else {
            "placeholder".to_string()
        })
    })
    .expect("placeholders expand")
}

/// The example job every fragment is laid over.
fn base_job() -> toml::Table {
    let text = std::fs::read_to_string(workspace_root().join("examples/demo.toml"))
        .expect("examples/demo.toml");
    toml::from_str(&expand(&text)).expect("examples/demo.toml is TOML")
}

fn check_toml(file: &Path, line: usize, snippet: &str) -> Result<(), String> {
    let fragment: toml::Table = toml::from_str(&expand(snippet))
        .map_err(|e| format!("{}:{line}: not TOML: {e}", file.display()))?;
    let mut job = base_job();
    // The state is a file or a database: a fragment that names the database replaces the file.
    if fragment.contains_key("state_url") {
        job.remove("state_path");
    }
    for (key, value) in fragment {
        job.insert(key, value);
    }
    let text = toml::to_string(&job).map_err(|e| e.to_string())?;
    Config::from_toml_str(&text)
        .map(|_| ())
        .map_err(|e| format!("{}:{line}: {e}", file.display()))
}

fn check_json(file: &Path, line: usize, snippet: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(snippet)
        .map_err(|e| format!("{}:{line}: not JSON: {e}", file.display()))?;
    if value.get("people").is_some() {
        muster::sources::file::parse(snippet, true)
            .map_err(|e| format!("{}:{line}: not a snapshot: {e:#}", file.display()))?;
    }
    Ok(())
}

#[test]
fn every_toml_and_json_snippet_in_the_docs_is_valid() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("read a document");
        for (line, snippet) in blocks(&text, "toml") {
            checked += 1;
            problems.extend(check_toml(&file, line, &snippet).err());
        }
        for (line, snippet) in blocks(&text, "json") {
            checked += 1;
            problems.extend(check_json(&file, line, &snippet).err());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked >= 3,
        "only {checked} snippets found: the search is broken"
    );
}

#[test]
fn a_renamed_key_is_caught() {
    let file = Path::new("example.md");
    let doc = "text\n```toml\n[scope]\nnested_groups = true\n```\n";
    let (line, snippet) = blocks(doc, "toml").pop().expect("one block");
    assert_eq!(line, 2);
    assert!(check_toml(file, line, &snippet).is_ok());
    let wrong = "[source]\nkind = \"file\"\npath = \"directory.json\"\nnested_groups = true\n";
    let error = check_toml(file, line, wrong).expect_err("not a [source] key");
    assert!(error.contains("nested_groups"), "{error}");
    let snapshot = r#"{"people": [{"id": "a", "attributes": {}, "enabled": true}]}"#;
    let error = check_json(file, 1, snapshot).expect_err("unknown field");
    assert!(error.contains("enabled"), "{error}");
}

#[test]
fn every_example_job_is_valid() {
    let mut checked = 0;
    let mut problems = Vec::new();
    let dir = workspace_root().join("examples");
    for entry in std::fs::read_dir(&dir).expect("examples/").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&path).expect("read an example");
        let text = muster::job::expand_env(&text, |name| {
            Some(if name.contains("LISTEN") {
                "127.0.0.1:8080".to_string()
            } else if name.contains("URL") {
                "http://127.0.0.1:9/scim2".to_string()
            } else {
                "placeholder".to_string()
            })
        })
        .expect("placeholders expand");
        if let Err(e) = Config::from_toml_str(&text) {
            problems.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 5, "only {checked} examples found");
}

/// The `muster.toml` a deployment file carries: the block after `muster.toml: |` in a
/// Kubernetes ConfigMap, or after `content: |` in compose.yaml, without its indentation.
fn deployed_jobs(text: &str) -> Vec<String> {
    let mut jobs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed != "muster.toml: |" && trimmed != "content: |" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut job = Vec::new();
        while let Some(next) = lines.peek() {
            let deeper = next.len() - next.trim_start().len() > indent;
            if !next.trim().is_empty() && !deeper {
                break;
            }
            job.push(next.trim_start().to_string());
            lines.next();
        }
        jobs.push(job.join("\n"));
    }
    jobs
}

#[test]
fn every_deployed_job_is_valid() {
    let root = workspace_root();
    let files = [
        "deploy/kubernetes/configmap.yaml",
        "deploy/kubernetes/replicas/configmap.yaml",
        "deploy/compose.yaml",
    ];
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).expect("read a deployment file");
        let jobs = deployed_jobs(&text);
        assert_eq!(jobs.len(), 1, "{file}: one job");
        // compose.yaml escapes `$` as `$$`.
        let job = expand(&jobs[0].replace("$$", "$"))
            .replace(
                "state_url = \"http://127.0.0.1:9/scim2\"",
                "state_url = \"postgres://muster@127.0.0.1:5432/muster\"",
            )
            .replace("listen = \"placeholder\"", "listen = \"127.0.0.1:8080\"");
        if let Err(e) = Config::from_toml_str(&job) {
            problems.push(format!("{file}: {e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
