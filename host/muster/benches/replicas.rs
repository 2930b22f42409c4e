//! What PostgreSQL and replicas cost: `MUSTER_BENCH_POSTGRES=postgres://user@host/db cargo bench
//! -p muster --bench replicas` (`.ci/postgres` starts a throwaway server; sourcing it sets
//! `MUSTER_TEST_POSTGRES`, which is used when `MUSTER_BENCH_POSTGRES` is not set).
//!
//! **Gateway** (`MUSTER_BENCH_PART=gateway`): Entra-shaped PATCHes (`MUSTER_BENCH_REQUESTS`,
//! 4,000, from `MUSTER_BENCH_CLIENTS`, 16, in flight) spread round-robin over the gateways of
//! one state: SQLite with one gateway (the baseline), PostgreSQL with one, and PostgreSQL with
//! three. The three are three jobs in this process, each with its own connection and replica
//! id, sharing the database as three pods would (one machine's cores serve all three, so this
//! measures what sharing the database costs, not what more machines add). Reported: accepted
//! requests/s, p50 and p99, and the end-to-end rate (every change forwarded to the simulator).
//! `MUSTER_BENCH_ROUNDS` (2) rounds alternate the three set-ups (the VM's speed swings).
//!
//! **Cycle** (`MUSTER_BENCH_PART=cycle`): an initial cycle and a no-change cycle of
//! `MUSTER_BENCH_PEOPLE` (100,000) people into the simulator, unthrottled, with the state in
//! SQLite and in PostgreSQL, one after the other in this run.

use muster_test_support::{Directory, env_or};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use engine::config::Config;
use muster::gateway::{self, GatewayState};
use muster::job::{Job, expand_env};
use muster::sync::{CycleOptions, run_cycle};
use serde_json::{Value, json};
use zoom_sim::{SimConfig, SimState};

const TARGET_TOKEN: &str = "bench-target";
const SCIM_TOKEN: &str = "bench-gateway";

const GATEWAY: &str = r#"
${STATE}
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
source = "title"
target = "title"
[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [{ group = "Zoom-Licensed", plan = "licensed" }] }
"#;

/// Where a set-up keeps its state.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn postgres_url() -> anyhow::Result<String> {
    ["MUSTER_BENCH_POSTGRES", "MUSTER_TEST_POSTGRES"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .context("set MUSTER_BENCH_POSTGRES to a PostgreSQL server (source .ci/postgres for one)")
}

/// The state lines of a job: a file, or a fresh schema of the server.
fn state_lines(backend: Backend, schema: &str) -> anyhow::Result<String> {
    Ok(match backend {
        Backend::Sqlite => "state_path = \"muster.db\"".into(),
        Backend::Postgres => format!(
            "state_url = \"{}\"\n[postgres]\nschema = \"{schema}\"",
            postgres_url()?
        ),
    })
}

fn fresh_schema(what: &str) -> String {
    format!(
        "bench_{what}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let part = std::env::var("MUSTER_BENCH_PART").unwrap_or_default();
    println!(
        "muster replicas bench: {} cores, profile {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    if part.is_empty() || part == "gateway" {
        gateways().await?;
    }
    if part.is_empty() || part == "cycle" {
        cycles().await?;
    }
    Ok(())
}

async fn gateways() -> anyhow::Result<()> {
    let requests = env_or::<usize>("MUSTER_BENCH_REQUESTS", 4_000);
    let clients = env_or::<usize>("MUSTER_BENCH_CLIENTS", 16);
    let rounds = env_or::<usize>("MUSTER_BENCH_ROUNDS", 2);
    let users = 200;
    let setups = [
        ("SQLite, 1 gateway", Backend::Sqlite, 1),
        ("PostgreSQL, 1 gateway", Backend::Postgres, 1),
        ("PostgreSQL, 3 gateways", Backend::Postgres, 3),
    ];
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); setups.len()];
    for round in 0..rounds {
        for (i, (name, backend, replicas)) in setups.iter().enumerate() {
            let measured = one_setup(*backend, *replicas, users, requests, clients).await?;
            eprintln!(
                "round {}: {name}: {:.0}/s accepted, p99 {:.2} ms, {:.0}/s end to end",
                round + 1,
                measured.rate,
                ms(measured.p99),
                measured.end_to_end
            );
            results[i].push(measured);
        }
    }
    println!(
        "\n{requests} PATCHes from {clients} clients, spread over the gateways; the median of \
         {rounds} alternating rounds\n"
    );
    println!("| set-up | accepted/s | p50 | p99 | forwarded end to end/s |");
    println!("|---|---:|---:|---:|---:|");
    for ((name, _, _), runs) in setups.iter().zip(&results) {
        let median = |f: &dyn Fn(&Measured) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0} |",
            median(&|m| m.rate),
            median(&|m| ms(m.p50)),
            median(&|m| ms(m.p99)),
            median(&|m| m.end_to_end)
        );
    }
    Ok(())
}

#[derive(Clone)]
struct Measured {
    rate: f64,
    p50: Duration,
    p99: Duration,
    end_to_end: f64,
}

/// One set-up: `replicas` gateways on one state, `users` users created, then the load.
async fn one_setup(
    backend: Backend,
    replicas: usize,
    users: usize,
    requests: usize,
    clients: usize,
) -> anyhow::Result<Measured> {
    let target = start_sim().await?;
    let dir = tempfile::tempdir()?;
    let schema = fresh_schema("gw");
    let state = state_lines(backend, &schema)?;
    let text = expand_env(GATEWAY, |n| match n {
        "URL" => Some(target.url.clone()),
        "STATE" => Some(state.clone()),
        _ => None,
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    let mut gateways = Vec::new();
    for _ in 0..replicas {
        let config = Config::from_toml_str(&text)?;
        let job = Job::build_with_token(config, dir.path(), TARGET_TOKEN.into())?;
        let state = GatewayState::new(Arc::new(job), SCIM_TOKEN)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/scim/v2", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        gateways.push((state, base, stop, server));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let bases: Vec<String> = gateways.iter().map(|g| g.1.clone()).collect();
    let mut ids = Vec::new();
    for i in 0..users {
        let response = http
            .post(format!("{}/Users", bases[i % bases.len()]))
            .bearer_auth(SCIM_TOKEN)
            .header("content-type", "application/scim+json")
            .body(user_body(i).to_string())
            .send()
            .await?;
        ensure!(response.status() == 201, "create: {}", response.status());
        let user: Value = response.json().await?;
        ids.push(user["id"].as_str().context("id")?.to_string());
    }
    let store = gateways[0].0.job().store.clone();
    drain(&store).await?;
    let started = Instant::now();
    let run = load(&http, clients, requests, move |n| {
        format!("{}/Users/{}", bases[n % bases.len()], ids[n % ids.len()])
    })
    .await?;
    drain(&store).await?;
    let end_to_end = requests as f64 / started.elapsed().as_secs_f64();
    for (_, _, stop, server) in gateways {
        let _ = stop.send(());
        server.await??;
    }
    Ok(Measured {
        rate: run.rate(),
        p50: run.percentile(50.0),
        p99: run.percentile(99.0),
        end_to_end,
    })
}

async fn cycles() -> anyhow::Result<()> {
    let people = env_or::<usize>("MUSTER_BENCH_PEOPLE", 100_000);
    println!("\nOne job, {people} people, unthrottled, into the Zoom simulator\n");
    println!("| state | initial cycle | people/s | no-change cycle |");
    println!("|---|---:|---:|---:|");
    for (name, backend) in [
        ("SQLite", Backend::Sqlite),
        ("PostgreSQL", Backend::Postgres),
    ] {
        let target = start_sim().await?;
        let dir = tempfile::tempdir()?;
        Directory::population(
            people,
            "bench.example",
            |i| i.is_multiple_of(3),
            |i| i.is_multiple_of(5),
        )
        .write(&dir.path().join("directory.json"));
        let lookup = |n: &str| match n {
            "MUSTER_TARGET_URL" => Some(target.url.clone()),
            "RATE" => Some("1000000.0".into()),
            "CONCURRENCY" => Some("16".into()),
            _ => None,
        };
        let text = expand_env(include_str!("../tests/data/job.toml"), lookup)
            .map_err(|e| anyhow::anyhow!(e))?;
        let text = match backend {
            Backend::Sqlite => text,
            Backend::Postgres => {
                let schema = fresh_schema("cycle");
                let lines = state_lines(backend, &schema)?;
                // [postgres] must come after the top-level keys.
                let (state_url, postgres) = lines.split_once('\n').context("two parts")?;
                format!(
                    "{}\n{postgres}\n",
                    text.replace("state_path = \"muster.db\"", state_url)
                )
            }
        };
        let config = Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let job = Job::build_with_token(config, dir.path(), TARGET_TOKEN.into())?;
        let started = Instant::now();
        let initial = run_cycle(&job, &CycleOptions::default())
            .await?
            .context("no cycle")?;
        let initial_time = started.elapsed();
        ensure!(
            initial.counts.created == people as u64 && initial.counts.failed == 0,
            "{name}: initial cycle {:?}",
            initial.counts
        );
        let started = Instant::now();
        let no_change = run_cycle(&job, &CycleOptions::default())
            .await?
            .context("no cycle")?;
        let no_change_time = started.elapsed();
        ensure!(
            no_change.counts.writes == 0,
            "{name}: {:?}",
            no_change.counts
        );
        println!(
            "| {name} | {:.1} s | {:.0} | {:.2} s |",
            initial_time.as_secs_f64(),
            people as f64 / initial_time.as_secs_f64(),
            no_change_time.as_secs_f64()
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

/// `requests` PATCHes (one Replace of `title`) from `clients` concurrent loops.
async fn load(
    http: &reqwest::Client,
    clients: usize,
    requests: usize,
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
                    .bearer_auth(SCIM_TOKEN)
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

async fn drain(store: &store::Store) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while store.outbox_len()? > 0 {
        ensure!(
            Instant::now() < deadline,
            "the outbox did not drain in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

struct Sim {
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
        _stop: stop,
    })
}
