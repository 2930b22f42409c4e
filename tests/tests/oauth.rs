//! A Zoom target that takes only OAuth access tokens living 2 s: `muster serve`, running
//! scheduled cycles and, as a gateway, forwarding Entra's changes, keeps provisioning across
//! several token lifetimes with no failed request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use muster::commands::serve;
use muster::gateway::GatewayState;
use muster::http::AppState;
use muster::job::{Job, target_auth};
use muster_tests::harness::config_from;
use muster_tests::{Directory, zoom_config};
use serde_json::{Value, json};
use store::LogQuery;
use tokio::sync::oneshot;
use zoom_sim::{OAuthApp, SimConfig, SimState};

const TTL_SECS: u64 = 2;
/// Tokens to see issued: the first and one per lifetime after it.
const LIFETIMES: u64 = 4;
const SECRET: &str = "s2s-5ecret";
const SECRET_ENV: &str = "MUSTER_TEST_ZOOM_SECRET";
const PEOPLE: usize = 20;

const AUTH: &str = r#"
[target.auth]
kind = "oauth_client_credentials"
style = "zoom"
token_url = "${MUSTER_TOKEN_URL}"
client_id = "s2s-client"
account_id = "acct-1"
client_secret_env = "MUSTER_TEST_ZOOM_SECRET"
"#;

/// The simulator with the OAuth app; its SCIM base URL and token endpoint.
async fn zoom() -> (SimState, String, String) {
    let sim = SimState::new(&SimConfig {
        oauth: Some(OAuthApp {
            client_id: "s2s-client".into(),
            client_secret: SECRET.into(),
            account_id: "acct-1".into(),
            token_ttl_secs: TTL_SECS,
        }),
        ..SimConfig::new("never-accepted")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(zoom_sim::serve_state(
        listener,
        sim.clone(),
        std::future::pending(),
    ));
    (
        sim,
        format!("{origin}/scim2"),
        format!("{origin}/oauth/token"),
    )
}

/// A job from `toml` signing in with the OAuth app, in `dir`.
fn job(toml: &str, dir: &std::path::Path, base_url: &str, token_url: &str) -> Job {
    let config = config_from(
        toml,
        &[
            ("MUSTER_TARGET_URL", base_url),
            ("MUSTER_TOKEN_URL", token_url),
        ],
    );
    let auth = target_auth(&config.target, dir, |name| {
        (name == SECRET_ENV).then(|| SECRET.to_string())
    })
    .expect("the target's sign-in");
    Job::build_with_auth(config, dir, auth, None)
        .unwrap_or_else(|e| panic!("building the job: {e:#}"))
}

fn failures(job: &Job) -> Vec<Value> {
    let query = LogQuery {
        status: Some("failure".into()),
        limit: 100,
        ..LogQuery::default()
    };
    let logs = job.store.logs(&query).expect("logs");
    logs.iter()
        .map(|l| serde_json::to_value(l).expect("json"))
        .collect()
}

/// Waits for `done`, polling; panics with `what` after a minute.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn directory(round: u64) -> Directory {
    let mut d = Directory::new();
    for i in 0..PEOPLE {
        let id = format!("u-{i}");
        d.person(&id, &format!("P{i}"), "Person")
            .set("jobTitle", format!("round {round}"));
        d.assign(&id);
    }
    d
}

fn titles(sim: &SimState) -> Vec<String> {
    sim.users()
        .iter()
        .map(|u| u["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_cycles_outlive_their_tokens() {
    let (sim, base_url, token_url) = zoom().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = zoom_config(None, AUTH)
        .replace("token_env = \"MUSTER_TARGET_TOKEN\"\n", "")
        .replace(
            "state_path = \"muster.db\"",
            "state_path = \"muster.db\"\nsync_interval_secs = 1",
        );
    directory(0).write(&dir.path().join("directory.json"));
    let job = Arc::new(job(&toml, dir.path(), &base_url, &token_url));
    let state = AppState::new(job.clone(), None).expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve::run(listener, state, async move {
        let _ = stopped.await;
    }));

    // A new title every few hundred milliseconds: every cycle has writes to send, whatever
    // moment the token is renewed at.
    let mut round = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.tokens_issued() <= LIFETIMES {
        assert!(Instant::now() < deadline, "tokens were not renewed");
        round += 1;
        directory(round).write(&dir.path().join("directory.json"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let last = format!("round {round}");
    until("the last round to reach the target", || {
        titles(&sim).len() == PEOPLE && titles(&sim).iter().all(|t| *t == last)
    })
    .await;
    let _ = stop.send(());
    served.await.expect("join").expect("serve");

    assert_eq!(failures(&job), Vec::<Value>::new(), "no failed request");
    let cycles = job.store.cycles(1000).expect("cycles");
    assert!(cycles.len() as u64 > LIFETIMES, "{} cycles", cycles.len());
    assert!(
        cycles
            .iter()
            .filter_map(|c| c.counts.as_ref())
            .all(|c| c.failed == 0),
        "{cycles:?}"
    );
}

const GATEWAY: &str = r#"
state_path = "muster.db"

[source]
kind = "gateway"

[gateway]
token_env = "MUSTER_SCIM_TOKEN"
retry_min_ms = 50
retry_max_ms = 300

[target]
base_url = "${MUSTER_TARGET_URL}"
rate_limit_per_second = 1000
concurrency = 4
profile = "zoom"

[[mappings]]
source = "userName"
target = "userName"
matching_precedence = 1

[[mappings]]
source = "displayName"
target = "displayName"

[[mappings]]
source = "title"
target = "title"

[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_forwards_across_token_lifetimes() {
    const ENTRA: &str = "entra-secret-token";
    let (sim, base_url, token_url) = zoom().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let job = Arc::new(job(
        &format!("{GATEWAY}{AUTH}"),
        dir.path(),
        &base_url,
        &token_url,
    ));
    let gateway = GatewayState::new(job.clone(), ENTRA).expect("gateway");
    let state = AppState::new(job.clone(), None)
        .expect("app state")
        .with_gateway(gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let scim = format!("http://{}/scim/v2", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve::run(listener, state, async move {
        let _ = stopped.await;
    }));

    // Entra creates the users, then keeps changing their titles.
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, url: String, body: Value| {
        let request = http
            .request(method, url)
            .bearer_auth(ENTRA)
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        async move {
            let response = request.send().await.expect("the gateway answers");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert!(status.is_success(), "{status}: {body}");
            body
        }
    };
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("p{i}@example.com"), "displayName": format!("P{i}"),
            "title": "round 0", "active": true,
        });
        let created = send(reqwest::Method::POST, format!("{scim}/Users"), user).await;
        ids.push(created["id"].as_str().expect("id").to_string());
    }
    let mut round = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.tokens_issued() <= LIFETIMES {
        assert!(Instant::now() < deadline, "tokens were not renewed");
        round += 1;
        for id in &ids {
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "title", "value": format!("round {round}")}],
            });
            send(reqwest::Method::PATCH, format!("{scim}/Users/{id}"), patch).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = format!("round {round}");
    until("the outbox to drain", || {
        job.store.outbox_len().expect("outbox") == 0
            && titles(&sim).len() == PEOPLE
            && titles(&sim).iter().all(|t| *t == last)
    })
    .await;
    let _ = stop.send(());
    served.await.expect("join").expect("serve");

    assert!(job.store.outbox_dropped(10).expect("dropped").is_empty());
    assert_eq!(failures(&job), Vec::<Value>::new(), "no failed request");
}
