//! `muster serve`'s HTTP side over real HTTP on 127.0.0.1: the admin API (auth, plugins, sync,
//! on-demand provisioning, logs, status), health, readiness and metrics, in-process through
//! `commands::serve::run`. The binary's SIGTERM test is in `host/muster/tests/serve.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use muster::commands::serve;
use muster::http::AppState;
use muster_tests::{
    Directory, Harness, Sim, component_variant as variant, wait_until, zoom_config,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TOKEN: &str = "admin-token-for-tests";
const LICENSE: &str = "license-by-group";

/// Scheduled cycles off (the tests start them), probes every second.
const SERVER: &str = "[server]\nscheduled_sync = false\nprobe_interval_secs = 1\n";

struct Served {
    base: String,
    http: reqwest::Client,
    state: AppState,
    sim: Option<Sim>,
    _dir: tempfile::TempDir,
    /// Dropped (with the rest of `Served`), it stops the server.
    stop: oneshot::Sender<()>,
}

impl Served {
    async fn start(directory: &Directory) -> Served {
        Served::start_with(directory, SERVER).await
    }

    /// With `server` as the `[server]` table.
    async fn start_with(directory: &Directory, server: &str) -> Served {
        let harness = Harness::start(&zoom_config(None, server), &[]).await;
        harness.write(directory);
        let Harness { dir, sim, job } = harness;
        Served::serve(job, dir, sim).await
    }

    async fn serve(job: muster::job::Job, dir: tempfile::TempDir, sim: Sim) -> Served {
        let state = AppState::new(Arc::new(job), Some(TOKEN.into())).expect("app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let run = serve::run(listener, state.clone(), async move {
            let _ = stopped.await;
        });
        tokio::spawn(async move {
            if let Err(e) = run.await {
                panic!("muster serve stopped: {e:#}");
            }
        });
        Served {
            base,
            http: reqwest::Client::new(),
            state,
            sim: Some(sim),
            _dir: dir,
            stop,
        }
    }

    /// Stops this server and starts another on the same configuration, folder and state, as
    /// a restart of the process would: the old job (and with it the state file it owns) is
    /// gone before the new one opens the file.
    async fn restart(self) -> Served {
        self.restart_with(|_| {}).await
    }

    /// [`Served::restart`], with the configuration file edited by `edit` in between.
    async fn restart_with(self, edit: impl FnOnce(&mut engine::config::Config)) -> Served {
        let Served {
            state,
            sim,
            _dir: dir,
            stop,
            ..
        } = self;
        // Dropping the sender stops the server as sending on it would.
        drop(stop);
        let mut config = state.job.config.clone();
        edit(&mut config);
        let job = state.job.clone();
        drop(state);
        let released = wait_until(Duration::from_secs(60), || Arc::strong_count(&job) == 1).await;
        assert!(released, "the stopped server still holds its job");
        drop(job);
        let sim = sim.expect("simulator running");
        let job = muster::job::Job::build_with_token(config, dir.path(), sim.token.clone())
            .expect("the job builds again");
        Served::serve(job, dir, sim).await
    }

    fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("simulator running")
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.admin(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.admin(reqwest::Method::POST, path).json(&body)).await
    }

    async fn upload(&self, plugin: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let path = format!("/admin/plugins/{plugin}/versions");
        send(
            self.admin(reqwest::Method::POST, &path)
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await
    }

    async fn plugin(&self, name: &str) -> Value {
        let (status, list) = self.get("/admin/plugins").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array()
            .and_then(|l| l.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no plugin {name} in {list}"))
    }

    async fn text(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Ann and Bob, both assigned, Ann licensed.
fn two_people() -> Directory {
    let mut d = Directory::new();
    d.person("u-ann", "Ann", "Archer");
    d.person("u-bob", "Bob", "Baker");
    d.join("Zoom-Users", &["u-ann", "u-bob"])
        .join("Zoom-Licensed", &["u-ann"])
        .assign("Zoom-Users");
    d
}

fn license_bytes() -> Vec<u8> {
    muster_artifacts::builtin(LICENSE)
        .expect("built-in plugin")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_requires_its_token_and_describes_itself() {
    let s = Served::start(&two_people()).await;
    let url = format!("{}/admin/status", s.base);
    let none = s.http.get(&url).send().await.expect("request");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("www-authenticate"));
    let wrong = s
        .http
        .get(&url)
        .bearer_auth("admin-token-for-tests-but-wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let short = s
        .http
        .get(&url)
        .bearer_auth("a")
        .send()
        .await
        .expect("request");
    assert_eq!(short.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = s.get("/admin/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Uploads are refused before the body is looked at.
    let upload = s
        .http
        .post(format!("{}/admin/plugins/{LICENSE}/versions", s.base))
        .body(license_bytes())
        .send()
        .await
        .expect("request");
    assert_eq!(upload.status(), StatusCode::UNAUTHORIZED);
    // Its body was refused unread, so the server closes the connection and says so: the next
    // request must not be sent into it (it would fail now and then with IncompleteMessage).
    assert_eq!(
        upload.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );

    let (status, health) = s.text("/healthz").await;
    assert_eq!((status, health.trim()), (StatusCode::OK, "ok"));
    let (status, doc) = s.text("/admin/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("JSON");
    for path in [
        "/admin/plugins",
        "/admin/plugins/{name}/versions",
        "/admin/plugins/{name}/rollback",
        "/admin/sync",
        "/admin/provision",
        "/admin/logs",
        "/admin/status",
        "/admin/test-connection",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_upload_rejects_a_broken_component_and_rolls_back() {
    let s = Served::start(&two_people()).await;
    let v1 = s.plugin(LICENSE).await;
    assert_eq!(v1["world"], "license-rule");
    let v1 = v1["active"].as_str().expect("version").to_string();

    let (status, body) = s.upload(LICENSE, variant(&license_bytes(), "v2")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v2 = body["active"].as_str().expect("version").to_string();
    assert_ne!(v1, v2);
    assert_eq!(body["history"], json!([v2, v1]));

    let (status, body) = s.upload(LICENSE, b"\0asm not really".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = body["error"].as_str().expect("error message");
    assert!(
        error.contains("invalid plugin component license-by-group"),
        "the loader's message: {error}"
    );
    let transformer = muster_artifacts::builtin("normalize-attributes").expect("built-in");
    let (status, body) = s.upload(LICENSE, transformer.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("transformer"),
        "{body}"
    );
    assert_eq!(s.plugin(LICENSE).await["active"], v2, "v2 keeps serving");

    // The version that serves is the one that decides: a sync after the rejected uploads runs v2.
    let (status, body) = s.post("/admin/sync?wait=true", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cycle = body["cycle_id"].as_i64().expect("cycle id");
    let (_, status_body) = s.get("/admin/status").await;
    assert_eq!(status_body["cycles"][0]["id"], cycle);
    assert_eq!(status_body["cycles"][0]["plugin_versions"][LICENSE], v2);

    let (status, body) = s
        .post(&format!("/admin/plugins/{LICENSE}/rollback"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], v1);
    let (status, body) = s
        .post(&format!("/admin/plugins/{LICENSE}/rollback"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "nothing left to roll back to: {body}"
    );
    let (status, _) = s.post("/admin/plugins/nope/rollback", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.upload("nope", license_bytes()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_demand_provisioning_returns_the_steps_and_the_action() {
    let s = Served::start(&two_people()).await;
    let ann = "ann.archer@contoso.example";
    let (status, body) = s
        .post(
            "/admin/provision",
            json!({"person": "ANN.Archer@contoso.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["person_id"], "u-ann");
    assert_eq!(
        (body["action"].as_str(), body["status"].as_str()),
        (Some("create"), Some("success")),
        "{body}"
    );
    let steps: Vec<&str> = body["entry"]["provisioningSteps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["provisioningStepType"].as_str())
        .collect();
    for step in ["import", "scoping", "matching", "export"] {
        assert!(steps.contains(&step), "{step} among {steps:?}");
    }
    assert!(s.sim().has_user(ann));
    assert!(
        !s.sim().has_user("bob.baker@contoso.example"),
        "only Ann was provisioned"
    );
    assert_eq!(s.state.job.store.records().expect("records").len(), 1);

    let (status, again) = s.post("/admin/provision", json!({"person": "u-ann"})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["status"], "skipped",
        "nothing to do the second time: {again}"
    );

    let (status, body) = s
        .post(
            "/admin/provision",
            json!({"person": "nobody@contoso.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // While a cycle holds the turn, another cycle is refused, and on-demand provisioning
    // still answers: it needs no turn.
    let turn = s.state.runner.try_turn().expect("idle");
    let (status, body) = s.post("/admin/sync", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "one cycle at a time: {body}");
    let (status, body) = s.post("/admin/provision", json!({"person": "u-bob"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["action"].as_str(), body["status"].as_str()),
        (Some("create"), Some("success")),
        "{body}"
    );
    drop(turn);
}

/// On-demand provisioning in the middle of a cycle. The test holds the person locks of the
/// first people the cycle applies (as many as it has in flight, `[target] concurrency` 4 × 2),
/// so the cycle is running, by construction, when the last person is provisioned on demand;
/// once let go, the cycle finds her written after its plan and does not send her again.
#[tokio::test(flavor = "multi_thread")]
async fn on_demand_provisions_during_a_cycle_which_then_does_not_redo_the_person() {
    const PEOPLE: usize = 12;
    const IN_FLIGHT: usize = 8;
    let mut d = Directory::new();
    let ids: Vec<String> = (0..PEOPLE).map(|i| format!("u-{i:02}")).collect();
    for id in &ids {
        d.person(id, &format!("Given{}", &id[2..]), "Person");
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    d.join("Zoom-Users", &refs).assign("Zoom-Users");
    let s = Arc::new(Served::start(&d).await);
    let job = s.state.job.clone();
    let mut held = Vec::new();
    for id in &ids[..IN_FLIGHT] {
        held.push(job.people.lock(id).await);
    }
    let cycle = {
        let s = s.clone();
        tokio::spawn(async move { s.post("/admin/sync?wait=true", json!({})).await })
    };
    let planned = wait_until(Duration::from_secs(60), || {
        s.state.runner.current().is_some_and(|r| r.total > 0)
    })
    .await;
    assert!(planned, "the cycle never planned");

    let last = &ids[PEOPLE - 1];
    let (status, body) = s.post("/admin/provision", json!({"person": last})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["action"].as_str(), body["status"].as_str()),
        (Some("create"), Some("success")),
        "{body}"
    );
    let running = s
        .state
        .runner
        .current()
        .expect("the cycle is still running");
    assert_eq!(running.done, 0, "the cycle is held at its first people");
    assert_eq!(
        s.sim().state.users().len(),
        1,
        "only the on-demand person so far"
    );

    drop(held);
    let (status, report) = cycle.await.expect("the cycle task");
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["counts"]["created"], PEOPLE as u64 - 1, "{report}");
    assert_eq!(report["counts"]["skipped"], 1, "{report}");
    assert_eq!(s.sim().state.users().len(), PEOPLE, "one user per person");
    let cycle_id = report["cycle_id"].as_i64().expect("cycle id");
    let (_, logs) = s
        .get(&format!("/admin/logs?cycle={cycle_id}&person={last}"))
        .await;
    let text = logs.to_string();
    assert!(
        text.contains("provisioned by another run"),
        "the cycle's entry says why it sent nothing: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_status_logs_and_metrics() {
    let s = Served::start(&two_people()).await;
    // One 429 first, retried at once: the throttling series shows it.
    s.sim()
        .state
        .inject_failures(zoom_sim::Fault::throttled(0), 1);
    let (status, body) = s.post("/admin/sync?wait=true", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "initial");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["counts"]["created"], 2, "{body}");
    let cycle = body["cycle_id"].as_i64().expect("id");

    let (status, st) = s.get("/admin/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(st["current"].is_null(), "{st}");
    assert_eq!(st["cycles"][0]["id"], cycle);
    assert_eq!(st["cycles"][0]["counts"]["created"], 2);
    assert_eq!(st["staged_deletes"], json!([]));
    assert!(st["quarantine"].is_null());

    let (_, all) = s.get(&format!("/admin/logs?cycle={cycle}")).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    let (_, bob) = s
        .get("/admin/logs?person=BOB.baker@contoso.example&status=success")
        .await;
    let bob = bob.as_array().expect("entries");
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["person_id"], "u-bob");
    assert_eq!(bob[0]["action"], "create");
    let (_, failures) = s.get("/admin/logs?status=failure").await;
    assert_eq!(failures, json!([]));
    let (_, one) = s.get("/admin/logs?limit=1").await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    // The same view as CSV, for a spreadsheet: a header, then a row per entry.
    let csv = s
        .admin(
            reqwest::Method::GET,
            &format!("/admin/logs?cycle={cycle}&format=csv"),
        )
        .send()
        .await
        .expect("csv");
    assert_eq!(
        csv.headers()["content-type"].to_str().ok(),
        Some("text/csv; charset=utf-8")
    );
    let text = csv.text().await.expect("csv body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("cycle,at,person_id,identity,action,status"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",u-bob,") && l.contains(",create,success,")),
        "{text}"
    );
    let (status, _) = s.get("/admin/logs?format=xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, probe) = s.post("/admin/test-connection", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(probe["ok"], true, "{probe}");

    let (status, metrics) = s.text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for series in [
        "muster_plugin_calls_total{plugin=\"license-by-group\"",
        "muster_plugin_calls_total{plugin=\"normalize-attributes\"",
        "outcome=\"ok\"",
        "muster_plugin_call_duration_seconds_bucket{plugin=\"license-by-group\"",
        "muster_plugin_fuel_consumed_total{plugin=\"license-by-group\"}",
        "muster_target_requests_total{method=\"POST\",status=\"201\"}",
        "muster_target_requests_total{method=\"GET\",status=\"429\"}",
        "muster_target_throttled_total",
        "muster_target_request_duration_seconds_bucket{method=\"POST\"",
        "muster_cycles_total{kind=\"initial\",status=\"succeeded\"}",
        "muster_cycle_duration_seconds_bucket{kind=\"initial\"",
        // Other tests in this process may be running one now: only the series is certain.
        "muster_cycle_running",
    ] {
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_flips_when_the_target_goes_away() {
    let mut s = Served::start(&two_people()).await;
    let ready = || async { s.text("/readyz").await };
    let mut last = (StatusCode::IM_A_TEAPOT, String::new());
    for _ in 0..100 {
        last = ready().await;
        if last.0 == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, StatusCode::OK, "{}", last.1);
    drop(s.sim.take()); // the simulator stops
    // Until a probe has found the target gone (a 503 for another reason, such as a probe that
    // is late on a loaded machine, is not the one this waits for).
    for _ in 0..600 {
        last = s.text("/readyz").await;
        if last.0 == StatusCode::SERVICE_UNAVAILABLE && last.1.contains("refused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, StatusCode::SERVICE_UNAVAILABLE, "{}", last.1);
    let body: Value = serde_json::from_str(&last.1).expect("JSON");
    assert_eq!(body["target"]["ok"], false);
    assert_eq!(body["store"]["ok"], true);
    assert_eq!(body["plugins"]["ok"], true);
    assert!(
        body["target"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{body}"
    );
}

/// Uploads and rollbacks while on-demand provisioning runs back to back: no request fails.
#[tokio::test(flavor = "multi_thread")]
async fn hot_swap_under_continuous_traffic_fails_nothing() {
    let mut d = Directory::new();
    let ids: Vec<String> = (0..40).map(|i| format!("u-{i:02}")).collect();
    for id in &ids {
        d.person(id, &format!("Given{}", &id[2..]), "Person");
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    d.join("Zoom-Users", &refs)
        .join("Zoom-Licensed", &refs[..20])
        .assign("Zoom-Users");
    let s = Arc::new(Served::start(&d).await);
    let done = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = {
        let (s, done, sent, failed) = (s.clone(), done.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0;
            while !done.load(Ordering::Relaxed) || i < ids.len() {
                let id = &ids[i % ids.len()];
                let (status, body) = s.post("/admin/provision", json!({"person": id})).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != StatusCode::OK || body["status"] == "failure" {
                    failed.fetch_add(1, Ordering::Relaxed);
                    failures.push(body);
                }
                i += 1;
            }
            failures
        })
    };
    let v1 = s.plugin(LICENSE).await["active"].clone();
    for round in 0..4 {
        let (status, body) = s
            .upload(LICENSE, variant(&license_bytes(), &format!("r{round}")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // The swap happens under traffic: roll back only once a run has pinned this version.
        let version = body["active"].as_str().expect("active version").to_string();
        let served = wait_until(Duration::from_secs(60), || {
            let cycles = s.state.job.store.cycles(1000).expect("cycles");
            cycles
                .iter()
                .any(|c| c.plugin_versions.get(LICENSE) == Some(&version))
        })
        .await;
        assert!(served, "no run pinned the uploaded version {version}");
        let (status, body) = s
            .post(&format!("/admin/plugins/{LICENSE}/rollback"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["active"], v1);
    }
    done.store(true, Ordering::Relaxed);
    let failures = traffic.await.expect("traffic task");
    assert!(failures.is_empty(), "failed requests: {failures:#?}");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(sent.load(Ordering::Relaxed) >= 40);
    assert_eq!(s.sim().state.users().len(), 40, "everyone provisioned once");
    let cycles = s.state.job.store.cycles(1000).expect("cycles");
    let versions: std::collections::BTreeSet<&str> = cycles
        .iter()
        .filter_map(|c| c.plugin_versions.get(LICENSE).map(String::as_str))
        .collect();
    assert!(
        versions.len() >= 2,
        "several versions served the traffic: {versions:?}"
    );
}

#[test]
fn the_service_example_is_valid() {
    let text = std::fs::read_to_string(
        muster_tests::harness::workspace_root().join("examples/service.toml"),
    )
    .expect("examples/service.toml");
    let config = muster_tests::harness::config_from(&text, &[]);
    assert_eq!(config.server.listen, "0.0.0.0:8080");
    assert_eq!(config.admin.token_env, "MUSTER_ADMIN_TOKEN");
}

/// With `[server] plugins_dir`, what an upload or a rollback makes active is what a restart
/// serves: uploads are saved there (a copy kept for rollbacks), and rolling back to the
/// configured version hands the decision back to the configuration.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_and_rollbacks_survive_a_restart_with_a_plugin_folder() {
    let s = Served::start_with(
        &two_people(),
        &format!("{SERVER}plugins_dir = \"plugins\"\n"),
    )
    .await;
    let folder = s._dir.path().join("plugins");
    let saved = folder.join(format!("{LICENSE}.wasm"));
    let configured = s.plugin(LICENSE).await["active"]
        .as_str()
        .expect("version")
        .to_string();

    let (v2_bytes, v3_bytes) = (
        variant(&license_bytes(), "v2"),
        variant(&license_bytes(), "v3"),
    );
    let (status, body) = s.upload(LICENSE, v2_bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v2 = body["active"].as_str().expect("version").to_string();
    assert_eq!(std::fs::read(&saved).expect("saved"), v2_bytes);
    let (status, body) = s.upload(LICENSE, v3_bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v3 = body["active"].as_str().expect("version").to_string();
    assert_eq!(std::fs::read(&saved).expect("saved"), v3_bytes);

    // A restart serves the last upload.
    let s = s.restart().await;
    assert_eq!(s.plugin(LICENSE).await["active"], v3);

    // A rollback is saved too: back to v2 (from its kept copy), then to the configured version,
    // which removes the file so that the configuration decides again.
    let rollback = format!("/admin/plugins/{LICENSE}/rollback");
    let (status, body) = s.post(&rollback, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["active"], configured,
        "after the restart, the history is [v3, configured]"
    );
    assert!(!saved.exists(), "the configured version needs no file");
    let s = s.restart().await;
    assert_eq!(s.plugin(LICENSE).await["active"], configured);

    let (status, body) = s.upload(LICENSE, v2_bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = s.upload(LICENSE, v3_bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = s.post(&rollback, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], v2);
    assert_eq!(std::fs::read(&saved).expect("restored"), v2_bytes);
    let s = s.restart().await;
    assert_eq!(s.plugin(LICENSE).await["active"], v2);

    // A rollback that could not be kept changes nothing: with v2's copy gone (deleted by hand),
    // rolling back from a fresh upload to v2 is refused.
    let (status, body) = s.upload(LICENSE, variant(&license_bytes(), "v4")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v4 = body["active"].as_str().expect("version").to_string();
    std::fs::remove_file(
        folder
            .join(".versions")
            .join(LICENSE)
            .join(format!("{v2}.wasm")),
    )
    .expect("delete the kept copy");
    let (status, body) = s.post(&rollback, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains(&format!("no copy of version {v2}")),
        "{body}"
    );
    assert_eq!(s.plugin(LICENSE).await["active"], v4, "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_reports_and_fixes_through_the_api() {
    let s = Served::start(&two_people()).await;
    let (status, body) = s.post("/admin/sync?wait=true", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s.post("/admin/reconcile", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["target_users"].clone(), body["in_sync"].clone()),
        (json!(2), json!(2)),
        "{body}"
    );
    assert!(body.get("fix").is_none(), "{body}");

    let bob = s.sim().user("bob.baker@contoso.example")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let title = scim::patch::PatchOperation {
        op: scim::patch::PatchOp::Replace,
        path: Some("title".into()),
        value: Some(json!("Edited by hand")),
    };
    s.sim().state.edit_user(&bob, &[title]).expect("edit Bob");
    let (status, body) = s.post("/admin/reconcile", json!({"fix": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["drifted"][0]["source_id"], "u-bob", "{body}");
    assert_eq!(body["drifted"][0]["attributes"][0]["attribute"], "title");
    assert_eq!(
        body["drifted"][0]["attributes"][0]["found"],
        "Edited by hand"
    );

    // A reconcile takes the cycles' turn: refused while one is held.
    let turn = s.state.runner.try_turn().expect("no cycle running");
    let (status, body) = s.post("/admin/reconcile", json!({"fix": true})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    drop(turn);

    let (status, body) = s
        .post(
            "/admin/reconcile",
            json!({"fix": true, "adopt_orphans": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["fix"]["people"],
        json!([{"source_id": "u-bob", "outcome": "updated"}]),
        "{body}"
    );
    assert_ne!(
        s.sim().user("bob.baker@contoso.example")["title"],
        "Edited by hand"
    );
    let (_, body) = s.post("/admin/reconcile", json!({})).await;
    assert_eq!(body["drifted"], json!([]), "{body}");

    let (_, doc) = s.text("/admin/openapi.json").await;
    let doc: Value = serde_json::from_str(&doc).expect("JSON");
    assert!(doc["paths"]["/admin/reconcile"]["post"].is_object());
}

/// Held by the tests that stage versions: `muster_plugin_staged` is a process-wide gauge per
/// plugin name, which one test's staging would move under another's assertion.
static STAGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `[plugins.gates]`: a harmless new version passes its preview and goes live with the preview
/// attached; one that fails people is staged, not activated, and reported; activating it needs
/// `force`. A preview through the API activates nothing and sends the target nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_gate_stages_a_version_that_fails_people_until_it_is_forced() {
    let _staging = STAGING.lock().await;
    let gated = format!("{SERVER}\n[plugins.gates]\nmax_new_failures = 0\n");
    let s = Served::start_with(&two_people(), &gated).await;
    let v1 = s.plugin(LICENSE).await["active"].clone();

    let (status, body) = s.upload(LICENSE, variant(&license_bytes(), "v2")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["preview"]["passed"], true, "{body}");
    assert_eq!(body["preview"]["impact"]["newly_failed"]["count"], 0);
    let v2 = body["active"].clone();
    assert_ne!(v1, v2);

    let trap = std::fs::read(muster_artifacts::TRAP).expect("the trap guest");
    let requests = s.sim().state.counters().requests;
    let path = format!("/admin/plugins/{LICENSE}/preview");
    let (status, report) = send(
        s.admin(reqwest::Method::POST, &path)
            .header("content-type", "application/wasm")
            .body(trap.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["impact"]["newly_failed"]["count"], 2, "{report}");
    assert_eq!(
        s.plugin(LICENSE).await["active"],
        v2,
        "a preview activates nothing"
    );
    assert_eq!(
        s.sim().state.counters().requests,
        requests,
        "a preview sends the target nothing"
    );

    let (status, body) = s.upload(LICENSE, trap).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["active"], v2, "the active version keeps serving");
    let staged = &body["staged"];
    assert_eq!(staged["origin"], "upload");
    assert!(
        staged["reason"]
            .as_str()
            .is_some_and(|r| r.contains("max_new_failures is 2")),
        "{staged}"
    );
    assert_eq!(
        s.plugin(LICENSE).await["staged"]["version"],
        staged["version"]
    );
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains(r#"muster_plugin_staged{plugin="license-by-group"} 1"#),
        "{metrics}"
    );

    let activate = format!("/admin/plugins/{LICENSE}/activate");
    let (status, body) = s.post(&activate, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("force=true")),
        "{body}"
    );
    assert_eq!(s.plugin(LICENSE).await["active"], v2);

    let (status, body) = s.post(&format!("{activate}?force=true"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], staged["version"]);
    assert!(
        body.get("staged").is_none(),
        "nothing staged any more: {body}"
    );
    let (status, _) = s.post(&format!("{activate}?force=true"), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to activate");

    let (status, body) = s.upload(LICENSE, license_bytes()).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "back to a rule that fails nobody: {body}"
    );
    let bogus = format!("/admin/plugins/{LICENSE}/versions?preview=maybe");
    let (status, _) = send(
        s.admin(reqwest::Method::POST, &bogus)
            .header("content-type", "application/wasm")
            .body(license_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// `[plugins.shadow]`: a version uploaded to run in shadow is called beside the active one on
/// every cycle and applied nowhere; after `promote_after_cycles` clean cycles it is active. A
/// shadow that fails people, or disagrees past a gate, is dropped, and the log entries say how
/// it disagreed.
#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_is_promoted_after_clean_cycles_and_dropped_when_it_disagrees() {
    let _staging = STAGING.lock().await;
    let server = format!(
        "{SERVER}\n[plugins.gates]\nmax_attribute_changes = 0\nmax_new_failures = 0\n\
         [plugins.shadow]\npromote_after_cycles = 2\n"
    );
    let s = Served::start_with(&two_people(), &server).await;
    let v1 = s.plugin(LICENSE).await["active"].clone();
    let shadow_upload = |plugin: &str| format!("/admin/plugins/{plugin}/versions?shadow=true");
    let upload_shadow = |plugin: &'static str, bytes: Vec<u8>| {
        let request = s
            .admin(reqwest::Method::POST, &shadow_upload(plugin))
            .header("content-type", "application/wasm")
            .body(bytes);
        send(request)
    };
    let sync = || s.post("/admin/sync?wait=true", json!({}));

    let (status, body) = upload_shadow(LICENSE, variant(&license_bytes(), "shadow")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let v2 = body["staged"]["version"].clone();
    assert_eq!(body["active"], v1, "a shadow is not applied");
    assert!(body["staged"]["shadow"].is_object(), "{body}");

    let (_, first) = sync().await;
    let compared = &first["counts"]["shadow"][0];
    assert_eq!(compared["plugin"], LICENSE, "{first}");
    assert_eq!(compared["version"], v2);
    assert_eq!(compared["passed"], true);
    assert_eq!(compared["license_changes"], 0);
    let view = s.plugin(LICENSE).await;
    assert_eq!(view["active"], v1, "one clean cycle of two");
    assert_eq!(view["staged"]["shadow"]["clean_runs"], 1);
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains(r#"muster_shadow_plugin_calls_total{plugin="license-by-group""#),
        "the shadow's calls are metered apart: {metrics}"
    );

    let (_, second) = sync().await;
    assert_eq!(second["counts"]["shadow"][0]["passed"], true, "{second}");
    let view = s.plugin(LICENSE).await;
    assert_eq!(
        view["active"], v2,
        "promoted after two clean cycles: {view}"
    );
    assert!(view.get("staged").is_none(), "{view}");

    // A rule that fails everyone: dropped after its first cycle, nothing applied.
    let trap = std::fs::read(muster_artifacts::TRAP).expect("the trap guest");
    let (status, body) = upload_shadow(LICENSE, trap).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, third) = sync().await;
    let compared = &third["counts"]["shadow"][0];
    assert_eq!(compared["passed"], false, "{third}");
    assert_eq!(compared["newly_failed"], 2);
    assert_eq!(third["counts"]["failed"], 0, "the live run failed nobody");
    let view = s.plugin(LICENSE).await;
    assert_eq!(view["active"], v2);
    assert!(view.get("staged").is_none(), "dropped: {view}");

    // A transform that rewrites every attribute: past `max_attribute_changes = 0`, dropped, and
    // the cycle's log entries say what it would have changed.
    let echo = std::fs::read(muster_artifacts::ECHO).expect("the echo guest");
    let (status, body) = upload_shadow("normalize-attributes", echo).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, fourth) = sync().await;
    let compared = &fourth["counts"]["shadow"][0];
    assert_eq!(compared["plugin"], "normalize-attributes", "{fourth}");
    assert_eq!(compared["passed"], false);
    assert!(
        compared["attribute_changes"].as_u64() > Some(0),
        "{compared}"
    );
    assert!(
        s.plugin("normalize-attributes")
            .await
            .get("staged")
            .is_none()
    );
    let cycle = fourth["cycle_id"].as_i64().expect("cycle id");
    let (_, logs) = s.get(&format!("/admin/logs?cycle={cycle}")).await;
    let said: Vec<&str> = logs
        .as_array()
        .expect("entries")
        .iter()
        .flat_map(|e| {
            e["detail"]["provisioningSteps"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter(|step| step["name"] == "shadow:normalize-attributes")
        .filter_map(|step| step["description"].as_str())
        .collect();
    assert!(!said.is_empty(), "shadow steps in the log: {logs}");
    assert!(said[0].contains("disagrees"), "{said:?}");
}

/// A version written to `[server] plugins_dir` passes the same gates as an upload: past one,
/// it is staged while the active version serves, at once and after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_gated_version_dropped_into_the_plugin_folder_is_staged() {
    let _staging = STAGING.lock().await;
    let server =
        format!("{SERVER}plugins_dir = \"plugins\"\n[plugins.gates]\nmax_new_failures = 0\n");
    let s = Served::start_with(&two_people(), &server).await;
    let active = s.plugin(LICENSE).await["active"].clone();
    let trap = std::fs::read(muster_artifacts::TRAP).expect("the trap guest");
    let file = s
        ._dir
        .path()
        .join("plugins")
        .join(format!("{LICENSE}.wasm"));
    std::fs::write(&file, &trap).expect("write into the plugin folder");

    let mut staged = Value::Null;
    for _ in 0..300 {
        staged = s.plugin(LICENSE).await["staged"].clone();
        if staged.is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        staged["origin"], "folder",
        "staged from the folder: {staged}"
    );
    assert_eq!(staged["preview"]["impact"]["newly_failed"]["count"], 2);
    assert_eq!(
        s.plugin(LICENSE).await["active"],
        active,
        "the active version serves"
    );

    let s = s.restart().await;
    let view = s.plugin(LICENSE).await;
    assert_eq!(
        view["active"], active,
        "a restart does not activate it either"
    );
    assert_eq!(view["staged"]["origin"], "folder", "{view}");
}

/// With `[server] plugins_dir`, an upload a gate staged is still staged after a restart, and
/// the active version still serves; once forced, it is what a restart serves.
#[tokio::test(flavor = "multi_thread")]
async fn a_staged_upload_survives_a_restart() {
    let _staging = STAGING.lock().await;
    let server =
        format!("{SERVER}plugins_dir = \"plugins\"\n[plugins.gates]\nmax_new_failures = 0\n");
    let s = Served::start_with(&two_people(), &server).await;
    let active = s.plugin(LICENSE).await["active"].clone();
    let trap = std::fs::read(muster_artifacts::TRAP).expect("the trap guest");
    let (status, body) = s.upload(LICENSE, trap).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let staged = body["staged"]["version"].clone();

    let s = s.restart().await;
    let view = s.plugin(LICENSE).await;
    assert_eq!(view["active"], active, "a restart activates nothing");
    assert_eq!(view["staged"]["version"], staged, "{view}");
    assert_eq!(view["staged"]["origin"], "upload");
    assert_eq!(
        view["staged"]["preview"]["passed"], false,
        "previewed again: {view}"
    );

    let activate = format!("/admin/plugins/{LICENSE}/activate?force=true");
    let (status, body) = s.post(&activate, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = s.restart().await;
    let view = s.plugin(LICENSE).await;
    assert_eq!(
        view["active"], staged,
        "the forced version serves after a restart"
    );
    assert!(view.get("staged").is_none(), "{view}");
}

/// A gated plugin whose configuration names a new component is previewed at start against the
/// version the last cycle ran, which serves meanwhile: past a gate, the new one is staged.
#[tokio::test(flavor = "multi_thread")]
async fn a_configured_version_past_a_gate_is_staged_at_start() {
    let _staging = STAGING.lock().await;
    let server =
        format!("{SERVER}plugins_dir = \"plugins\"\n[plugins.gates]\nmax_new_failures = 0\n");
    let s = Served::start_with(&two_people(), &server).await;
    let served = s.plugin(LICENSE).await["active"].clone();
    let (status, body) = s.post("/admin/sync?wait=true", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let trap = s._dir.path().join("trap.wasm");
    std::fs::copy(muster_artifacts::TRAP, &trap).expect("copy the trap guest");
    let s = s
        .restart_with(|config| {
            if let Some(rule) = config.license.as_mut() {
                rule.path = "trap.wasm".into();
            }
        })
        .await;
    let view = s.plugin(LICENSE).await;
    assert_eq!(
        view["active"], served,
        "the version the last cycle ran serves: {view}"
    );
    assert_eq!(view["staged"]["origin"], "configuration", "{view}");
    assert_eq!(
        view["staged"]["preview"]["impact"]["newly_failed"]["count"],
        2
    );
}

/// The folder watch reading the active version's file again (after an upload saved it, or a
/// Kubernetes volume update re-reading every file) changes nothing: a staged version stays.
#[tokio::test(flavor = "multi_thread")]
async fn rereading_the_active_file_keeps_what_is_staged() {
    let _staging = STAGING.lock().await;
    let server =
        format!("{SERVER}plugins_dir = \"plugins\"\n[plugins.gates]\nmax_new_failures = 0\n");
    let s = Served::start_with(&two_people(), &server).await;
    let v2 = variant(&license_bytes(), "v2");
    let (status, body) = s.upload(LICENSE, v2.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let trap = std::fs::read(muster_artifacts::TRAP).expect("the trap guest");
    let (status, body) = s.upload(LICENSE, trap).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // The license file again, then a new transform: the watcher handles files in order, so
    // once the transform is active, the license file has been read.
    let folder = s._dir.path().join("plugins");
    let before = s.plugin("normalize-attributes").await["active"].clone();
    std::fs::write(folder.join(format!("{LICENSE}.wasm")), &v2).expect("rewrite");
    let normalize = muster_artifacts::builtin("normalize-attributes").expect("built-in");
    std::fs::write(
        folder.join("normalize-attributes.wasm"),
        variant(normalize, "v2"),
    )
    .expect("write");
    let mut active = before.clone();
    for _ in 0..300 {
        active = s.plugin("normalize-attributes").await["active"].clone();
        if active != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(active, before, "the watcher read the folder");
    let view = s.plugin(LICENSE).await;
    assert!(view["staged"].is_object(), "still staged: {view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_job_runs_no_cycle_even_after_a_restart_until_resumed() {
    let s = Served::start(&two_people()).await;
    let (status, paused) = send(
        s.admin(reqwest::Method::POST, "/admin/pause")
            .json(&json!({"reason": "moving the directory"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["reason"], "moving the directory");
    let (status, refused) = send(s.admin(reqwest::Method::POST, "/admin/sync?wait=true")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused.to_string().contains("moving the directory"),
        "says why: {refused}"
    );
    assert_eq!(s.sim().state.users().len(), 0);

    // A restart stays paused, and says so.
    let s = s.restart().await;
    let (_, status_body) = send(s.admin(reqwest::Method::GET, "/admin/status")).await;
    assert_eq!(status_body["paused"]["reason"], "moving the directory");
    let (status, _) = send(s.admin(reqwest::Method::POST, "/admin/sync?wait=true")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, resumed) = send(s.admin(reqwest::Method::POST, "/admin/resume")).await;
    assert_eq!(
        (status, resumed["resumed"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, done) = send(s.admin(reqwest::Method::POST, "/admin/sync?wait=true")).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(s.sim().state.users().len(), 2);
    let (_, status_body) = send(s.admin(reqwest::Method::GET, "/admin/status")).await;
    assert!(status_body["paused"].is_null(), "{status_body}");
}
