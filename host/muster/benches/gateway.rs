//! Gateway throughput: Entra-shaped PATCH requests (a user attribute change) at muster's SCIM
//! gateway on loopback, each forwarded through the pipeline (the example plugins) to the Zoom
//! simulator: `cargo bench -p muster --bench gateway`.
//!
//! A small load generator rather than criterion: the figures wanted are a rate and latency
//! percentiles under concurrent load. Baseline in the same run: the same load generator sending
//! the same PATCHes straight to the simulator. Sizes: `MUSTER_BENCH_USERS` (500 users),
//! `MUSTER_BENCH_REQUESTS` (10,000 PATCHes), `MUSTER_BENCH_CLIENTS` (16 in flight).

use muster_test_support::env_or;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use engine::config::Config;
use muster::gateway::{self, GatewayState};
use muster::job::{Job, expand_env};
use serde_json::{Value, json};
use zoom_sim::{SimConfig, SimState};

const TARGET_TOKEN: &str = "bench-target";
const SCIM_TOKEN: &str = "bench-gateway";

const CONFIG: &str = r#"
state_path = "muster.db"
[source]
kind = "gateway"
[gateway]
[target]
base_url = "${URL}"
token_env = "UNUSED"
rate_limit_per_second = 1000000
concurrency = 16
profile = "zoom"
[[mappings]]
source = "userName"
target = "userName"
matching_precedence = 1
[[mappings]]
source = 'emails[type eq "work"].value'
target = 'emails[type eq "work"].value'
[[mappings]]
source = "name.givenName"
target = "name.givenName"
[[mappings]]
source = "name.familyName"
target = "name.familyName"
[[mappings]]
source = "title"
target = "title"
[[transforms]]
name = "normalize-attributes"
path = "builtin:normalize-attributes"
[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [{ group = "Zoom-Licensed", plan = "licensed" }] }
"#;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let users = env_or::<usize>("MUSTER_BENCH_USERS", 500);
    let requests = env_or::<usize>("MUSTER_BENCH_REQUESTS", 10_000);
    let clients = env_or::<usize>("MUSTER_BENCH_CLIENTS", 16);
    println!(
        "muster gateway bench: {} cores, profile {}, {users} users, {requests} PATCHes, \
         {clients} in flight",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    // Baseline: the simulator alone, the same PATCHes.
    let sim = start_sim().await?;
    let mut sim_ids = Vec::new();
    for i in 0..users {
        let user = sim
            .state
            .seed_user(user_body(i))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sim_ids.push(user["id"].as_str().context("id")?.replace('&', "%26"));
    }
    let base = sim.url.clone();
    let baseline = load(&http, clients, requests, TARGET_TOKEN, move |n| {
        format!("{base}/Users/{}", sim_ids[n % sim_ids.len()])
    })
    .await?;

    // The gateway, forwarding to a fresh simulator.
    let target = start_sim().await?;
    let dir = tempfile::tempdir()?;
    let text = expand_env(CONFIG, |n| (n == "URL").then(|| target.url.clone()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let config = Config::from_toml_str(&text)?;
    let job = Job::build_with_token(config, dir.path(), TARGET_TOKEN.into())?;
    let state = GatewayState::new(Arc::new(job), SCIM_TOKEN)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw_base = format!("http://{}/scim/v2", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let mut ids = Vec::new();
    for i in 0..users {
        let response = http
            .post(format!("{gw_base}/Users"))
            .bearer_auth(SCIM_TOKEN)
            .header("content-type", "application/scim+json")
            .body(user_body(i).to_string())
            .send()
            .await?;
        ensure!(response.status() == 201, "create: {}", response.status());
        let user: Value = response.json().await?;
        ids.push(user["id"].as_str().context("id")?.to_string());
    }
    drain(&state).await?;
    let forwarded_before = target.state.counters().writes;

    let (gw_base_for_rerun, ids_for_rerun) = (gw_base.clone(), ids.clone());
    let started = Instant::now();
    let gw = load(&http, clients, requests, SCIM_TOKEN, move |n| {
        format!("{gw_base}/Users/{}", ids[n % ids.len()])
    })
    .await?;
    drain(&state).await?;
    let end_to_end = started.elapsed();
    let forwarded = target.state.counters().writes - forwarded_before;

    // What the fsync before each answer costs: the same load with it off, then on again, in
    // this run (the VM's speed swings between runs).
    let mut durability = Vec::new();
    for durable in [false, true, false] {
        state.job().store.set_durable_commits(durable);
        let base = gw_base_for_rerun.clone();
        let ids = ids_for_rerun.clone();
        let run = load(&http, clients, requests, SCIM_TOKEN, move |n| {
            format!("{base}/Users/{}", ids[n % ids.len()])
        })
        .await?;
        drain(&state).await?;
        durability.push((durable, run));
    }
    state.job().store.set_durable_commits(true);
    let _ = stop.send(());
    server.await??;

    println!();
    println!("| PATCH /Users/{{id}} over loopback | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, r) in [
        ("Zoom simulator alone (baseline)", &baseline),
        ("muster gateway (accepted: stored + queued)", &gw),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms |",
            r.rate(),
            ms(r.percentile(50.0)),
            ms(r.percentile(99.0))
        );
    }
    println!(
        "\nforwarded to the simulator: {forwarded} PATCHes for {requests} accepted, all \
         delivered {:.2} s after the load started ({:.0} changes/s end to end)",
        end_to_end.as_secs_f64(),
        requests as f64 / end_to_end.as_secs_f64()
    );
    println!("\n| the same load, acknowledged changes | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (durable, r) in [(true, &gw)]
        .into_iter()
        .chain(durability.iter().map(|(d, r)| (*d, r)))
    {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms |",
            if durable {
                "synced to disk before the answer (synchronous=FULL)"
            } else {
                "not synced (synchronous=NORMAL)"
            },
            r.rate(),
            ms(r.percentile(50.0)),
            ms(r.percentile(99.0))
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn user_body(i: usize) -> Value {
    let name = format!("user{i}@contoso.example");
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "active": true,
        "emails": [{"type": "work", "value": name, "primary": true}],
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "title": "Engineer",
    })
}

struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p / 100.0).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// `requests` PATCHes (Entra's default dialect: one Replace of `title`) from `clients`
/// concurrent loops; each must answer 200.
async fn load(
    http: &reqwest::Client,
    clients: usize,
    requests: usize,
    token: &'static str,
    url: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(url);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, next, url) = (http.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return anyhow::Ok(latencies);
                }
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "title", "value": format!("Title {n}")}],
                });
                let t = Instant::now();
                let response = http
                    .patch(url(n))
                    .bearer_auth(token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await?;
                let status = response.status();
                let _ = response.bytes().await?;
                latencies.push(t.elapsed());
                ensure!(status == 200, "PATCH answered {status}");
            }
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Run { elapsed, latencies })
}

async fn drain(state: &GatewayState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while state.job().store.outbox_len()? > 0 {
        ensure!(
            Instant::now() < deadline,
            "the outbox did not drain in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

struct Sim {
    state: SimState,
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_sim() -> anyhow::Result<Sim> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = SimState::new(&SimConfig::new(TARGET_TOKEN.to_string()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(zoom_sim::serve_state(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(Sim {
        url: format!("http://{addr}{}", state.base_path()),
        state,
        _stop: stop,
    })
}
