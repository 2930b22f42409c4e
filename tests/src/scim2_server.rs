//! `scim2-server` (PyPI), an independent SCIM 2.0 server, run as a child process.
//!
//! Found through `MUSTER_SCIM2_SERVER` (the executable's path), which `.ci/test` sets after
//! installing the pinned version into `.venv`. A missing server fails the test: an interop
//! test that skips silently proves nothing.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ENV: &str = "MUSTER_SCIM2_SERVER";

/// Keep the version in step with `.ci/test`.
const HOW_TO_INSTALL: &str = "run .ci/test, which does it, or: python3 -m venv .venv && \
     .venv/bin/pip install scim2-server==0.8.3 && export MUSTER_SCIM2_SERVER=$PWD/.venv/bin/scim2-server";

/// A running server; killed when dropped.
pub struct Scim2Server {
    child: Child,
    /// The SCIM base URL, `http://127.0.0.1:PORT/v2`.
    pub url: String,
    pub token: String,
}

impl Scim2Server {
    /// Starts the server on a free port and waits (up to 30 s: Python starts slowly) until it
    /// accepts connections.
    pub fn start() -> Scim2Server {
        let program = executable();
        let port = muster_test_support::free_port();
        let token = "scim2-e2e-token".to_string();
        let child = Command::new(&program)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", &token])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let mut server = Scim2Server {
            child,
            url: format!("http://127.0.0.1:{port}/v2"),
            token,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{} exited before listening: {status}", program.display());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within 30 s",
                program.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every user, read with `GET /Users` page by page (`count` per page).
    pub async fn users(&self, count: usize) -> Vec<Value> {
        let client = reqwest::Client::new();
        let mut users = Vec::new();
        let mut start = 1;
        loop {
            let page: Value = client
                .get(format!("{}/Users", self.url))
                .query(&[("startIndex", start), ("count", count)])
                .bearer_auth(&self.token)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("GET /Users")
                .json()
                .await
                .expect("a JSON list response");
            let total = page["totalResults"].as_u64().expect("totalResults") as usize;
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            assert!(
                resources.len() <= count,
                "a page larger than asked: {}",
                resources.len()
            );
            let got = resources.len();
            users.extend(resources);
            if got == 0 || users.len() >= total {
                assert_eq!(users.len(), total, "paging lost or repeated users");
                return users;
            }
            start += got;
        }
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn executable() -> PathBuf {
    let Some(path) = std::env::var_os(ENV) else {
        panic!(
            "{ENV} is not set: it must name the scim2-server executable. Install it: {HOW_TO_INSTALL}"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{ENV}={} does not exist. Install it: {HOW_TO_INSTALL}",
        path.display()
    );
    path
}
