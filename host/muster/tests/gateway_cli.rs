//! The README's two gateway commands, run as a user would: `muster simulate zoom` and
//! `muster serve --config examples/gateway.toml`, a user created through the gateway lands in
//! the simulator, and SIGTERM stops the gateway with exit code 0.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use muster_test_support::{KillOnDrop as Running, free_port};

async fn eventually<F: std::future::Future<Output = bool>>(mut ready: impl FnMut() -> F) -> bool {
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        if ready().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_commands_bring_up_the_gateway_and_sigterm_stops_it() {
    let muster = env!("CARGO_BIN_EXE_muster");
    let dir = tempfile::tempdir().expect("temp dir");
    let (sim_port, gw_port) = (free_port(), free_port());
    let _sim = Running(
        Command::new(muster)
            .args([
                "simulate",
                "zoom",
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
            ])
            .args(["--token", "zoom-secret"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the simulator"),
    );
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gateway.toml");
    let mut gateway = Running(
        Command::new(muster)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env("MUSTER_SCIM_TOKEN", "entra-secret")
            .env("MUSTER_TARGET_TOKEN", "zoom-secret")
            .env(
                "MUSTER_TARGET_URL",
                format!("http://127.0.0.1:{sim_port}/scim2"),
            )
            .env("MUSTER_LISTEN", format!("127.0.0.1:{gw_port}"))
            .env("MUSTER_STATE", dir.path().join("gateway.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the gateway"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{gw_port}/scim/v2");
    let up = eventually(|| {
        let request = http
            .get(format!("{base}/ServiceProviderConfig"))
            .bearer_auth("entra-secret")
            .send();
        async move { request.await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(up, "the gateway did not come up on port {gw_port}");

    let created = http
        .post(format!("{base}/Users"))
        .bearer_auth("entra-secret")
        .header("content-type", "application/scim+json")
        .body(
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dee@contoso.example", "active": true,
                "emails": [{"type": "work", "value": "dee@contoso.example", "primary": true}],
                "name": {"givenName": "Dee", "familyName": "Dunn"},
            })
            .to_string(),
        )
        .send()
        .await
        .expect("POST /Users");
    assert_eq!(created.status(), 201);

    let sim_users = format!(
        "http://127.0.0.1:{sim_port}/scim2/Users?filter=userName%20eq%20%22dee@contoso.example%22"
    );
    let forwarded = eventually(|| {
        let request = http.get(&sim_users).bearer_auth("zoom-secret").send();
        async move {
            match request.await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["totalResults"] == 1),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(forwarded, "the user never reached the simulator");

    let pid = gateway.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(signalled.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = gateway.0.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM must stop the gateway with exit code 0: {status:?}"
    );
}
