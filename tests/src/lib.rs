//! Support code for the end-to-end tests: muster driven in-process through its library against
//! real HTTP servers on 127.0.0.1, real wasm components and a real SQLite store.
//!
//! - [`directory`]: [`Directory`], a small builder for directory snapshots (the file source).
//! - [`sim`]: [`Sim`], the Zoom simulator served on port 0, stopped on drop.
//! - [`harness`]: [`Harness`], one test's world: a temp folder, a simulator, a job built from a
//!   TOML string, and helpers to run cycles and read back users, records and logs.
//! - [`fake_graph`]: [`FakeGraph`], Microsoft Graph and its token endpoint, faithful to what
//!   muster relies on, with what it leaves out listed in place.
//! - [`scim2_server`]: [`Scim2Server`], the independent SCIM server from PyPI, killed on drop.
//!
//! Cycles use `block_in_place`, so tests run on a multi-threaded runtime:
//! `#[tokio::test(flavor = "multi_thread")]`.

pub mod fake_graph;
pub mod fake_smtp;
pub mod harness;
pub mod scim2_server;
pub mod sim;
pub mod webhook;

pub use fake_graph::FakeGraph;
pub use harness::{Harness, zoom_config};
pub use muster_test_support::{Directory, directory, env_or, free_port};
pub use scim2_server::Scim2Server;
pub use sim::Sim;

use std::time::{Duration, Instant};

/// Polls `ready` every 50 ms until it holds or `deadline` passes; the only way these tests wait.
pub async fn wait_until(deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same component under another version: a custom section appended changes the content
/// hash and nothing else (a WebAssembly custom section: id 0, size, name, payload). Hot-swap
/// tests upload these.
pub fn component_variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"muster-test";
    let payload = tag.as_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128 && name.len() < 128, "one-byte LEB128 sizes");
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0, size as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

/// `n` people `p-1`, … in Zoom-Users; every third one licensed, every fourth with the phone add-on.
pub fn crowd(n: usize) -> Directory {
    let mut d = Directory::new();
    let ids: Vec<String> = (1..=n).map(|i| format!("p-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        d.person(id, &format!("Given{i}"), &format!("Family{i}"));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    d.join("Zoom-Users", &refs).assign("Zoom-Users");
    d.join(
        "Zoom-Licensed",
        &refs.iter().step_by(3).copied().collect::<Vec<_>>(),
    );
    d.join(
        "Zoom-Phone",
        &refs.iter().step_by(4).copied().collect::<Vec<_>>(),
    );
    d
}

/// Five people assigned through Zoom-Users; Ben is licensed.
pub fn team() -> Directory {
    let mut d = Directory::new();
    d.person("u-1", "Anna", "Adams");
    d.person("u-2", "Ben", "Brown");
    d.person("u-3", "Cara", "Cruz");
    d.person("u-4", "Dan", "Diaz");
    d.person("u-5", "Eve", "Evans");
    d.join("Zoom-Users", &["u-1", "u-2", "u-3", "u-4", "u-5"])
        .join("Zoom-Licensed", &["u-2"])
        .assign("Zoom-Users");
    d
}

/// Signs in to the console at `base` with `token`; the session cookie (`name=value`) to send.
pub async fn console_sign_in(base: &str, token: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = client
        .post(format!("{base}/ui/sign-in"))
        .form(&[("token", token), ("next", "/ui")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status().as_u16(), 303, "signed in and sent on");
    answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}
