//! `muster serve` as the binary: JSON logs, the listener on a configured address, and SIGTERM
//! while a cycle runs → it stops accepting, lets the cycle finish and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use zoom_sim::{SimConfig, SimState};

const CONFIG: &str = r#"
state_path = "muster.db"
sync_interval_secs = 3600

[server]
listen = "127.0.0.1:0"
probe_interval_secs = 1

[source]
kind = "file"
path = "directory.json"

[target]
base_url = "${MUSTER_TARGET_URL}"
token_env = "MUSTER_TARGET_TOKEN"
rate_limit_per_second = 20
profile = "zoom"

[scope]
mode = "all"

[[mappings]]
source = "userPrincipalName"
target = "userName"
matching_precedence = 1

[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [] }
limits = { timeout_ms = 2000 }
"#;

/// 60 people at 20 requests a second: the first cycle takes a few seconds, long enough to be
/// in flight when SIGTERM comes.
fn directory() -> muster_test_support::Directory {
    let mut d = muster_test_support::Directory::new();
    for i in 0..60 {
        d.person(&format!("u-{i}"), &format!("P{i}"), "Person");
    }
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_json_and_exits_zero_on_sigterm() {
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim_addr = sim_listener.local_addr().expect("address");
    let sim = SimState::new(&SimConfig::new("sim-token"));
    let sim_url = format!("http://{sim_addr}{}", sim.base_path());
    tokio::spawn(zoom_sim::serve_state(
        sim_listener,
        sim.clone(),
        std::future::pending(),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    directory().write(&dir.path().join("directory.json"));
    let config = dir.path().join("muster.toml");
    std::fs::write(&config, CONFIG).expect("write config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config)
        .env("MUSTER_TARGET_URL", &sim_url)
        .env("MUSTER_TARGET_TOKEN", "sim-token")
        .env("MUSTER_ADMIN_TOKEN", "admin")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn muster");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log: Vec<Value> = Vec::new();
    let next = |log: &mut Vec<Value>| -> Option<Value> {
        let line = lines.recv_timeout(Duration::from_secs(60)).ok()?;
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        log.push(value.clone());
        Some(value)
    };
    let address = loop {
        let entry = next(&mut log).expect("muster logs that it listens");
        if entry["fields"]["message"] == "listening" {
            break entry["fields"]["address"]
                .as_str()
                .expect("address")
                .to_string();
        }
    };
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(health.status().is_success());
    // The scheduled cycle starts at once; wait until it has sent something, then stop muster.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sim.users().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            child.try_wait().expect("wait").is_none(),
            "muster exited early: {log:#?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no user created within 60 s: {log:#?}"
        );
    }
    let pid = child.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    while next(&mut log).is_some() {}
    assert_eq!(status.code(), Some(0), "exit status; log: {log:#?}");
    let messages: Vec<&str> = log
        .iter()
        .filter_map(|e| e["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"shutting down: no new connections"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"cycle done"),
        "the cycle in flight finished: {messages:?}"
    );
    assert!(messages.contains(&"stopped"), "{messages:?}");
    assert_eq!(sim.users().len(), 60, "the cycle in flight completed");
}
