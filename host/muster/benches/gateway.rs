//! Gateway throughput and scale: `cargo bench -p muster --bench gateway`.
//!
//! **Throughput** (`MUSTER_BENCH_PART=throughput`): Entra-shaped PATCH requests (a user
//! attribute change) at muster's SCIM gateway on loopback, each forwarded through the pipeline
//! (the example plugins) to the Zoom simulator. Baseline in the same run: the same load
//! generator sending the same PATCHes straight to the simulator. Sizes: `MUSTER_BENCH_USERS`
//! (500 users), `MUSTER_BENCH_REQUESTS` (10,000 PATCHes), `MUSTER_BENCH_CLIENTS` (16 in flight).
//!
//! **Scale** (`MUSTER_BENCH_PART=scale`): the latency of Entra's requests with few and with many
//! users stored, to show that the work on the request path does not grow with the directory.
//! For each size of `MUSTER_BENCH_SIZES` (`1000,100000`) a gateway is seeded directly through
//! the store (users, and one group of `MUSTER_BENCH_GROUP_MEMBERS` (500) of them), then, in
//! `MUSTER_BENCH_ROUNDS` (2) rounds alternating between the sizes (the VM's speed swings
//! between runs), `MUSTER_BENCH_SCALE_REQUESTS` (300) of each from `MUSTER_BENCH_SCALE_CLIENTS`
//! (1) clients: `GET /Users?filter=userName eq "…"` (a random stored user), `POST /Users`, a
//! `PATCH /Groups/{id}` adding one member, and `GET /Users?startIndex=…&count=100` (a page from
//! the middle). The outbox is drained after each kind of request, so each is measured alone.
//! Without `MUSTER_BENCH_PART`, both parts run.
//!
//! A small load generator rather than criterion: the figures wanted are a rate and latency
//! percentiles under concurrent load.

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
    let part = std::env::var("MUSTER_BENCH_PART").unwrap_or_default();
    if part.is_empty() || part == "throughput" {
        throughput().await?;
    }
    if part.is_empty() || part == "scale" {
        scale().await?;
    }
    Ok(())
}

async fn throughput() -> anyhow::Result<()> {
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
    let gw = start_gateway().await?;
    let (target, state, gw_base) = (&gw.target, gw.state.clone(), gw.base.clone());
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
    let accepted = load(&http, clients, requests, SCIM_TOKEN, move |n| {
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
    gw.stop().await?;

    println!();
    println!("| PATCH /Users/{{id}} over loopback | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, r) in [
        ("Zoom simulator alone (baseline)", &baseline),
        ("muster gateway (accepted: stored + queued)", &accepted),
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
    for (durable, r) in [(true, &accepted)]
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

/// A gateway on loopback, forwarding to its own simulator.
struct Gateway {
    target: Sim,
    state: GatewayState,
    base: String,
    _dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        Ok(())
    }
}

async fn start_gateway() -> anyhow::Result<Gateway> {
    let target = start_sim().await?;
    let dir = tempfile::tempdir()?;
    let text = expand_env(CONFIG, |n| (n == "URL").then(|| target.url.clone()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let config = Config::from_toml_str(&text)?;
    let job = Job::build_with_token(config, dir.path(), TARGET_TOKEN.into())?;
    let state = GatewayState::new(Arc::new(job), SCIM_TOKEN)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/scim/v2", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(Gateway {
        target,
        state,
        base,
        _dir: dir,
        stop,
        server,
    })
}

/// A gateway holding `users` users (`user{i}@…`, created in that order) and one group,
/// `Zoom-Licensed`, of the first `members` of them, written straight into the store as the
/// gateway would have accepted them (nothing to forward). Returns the user ids and the group's.
fn seed(
    state: &GatewayState,
    users: usize,
    members: usize,
) -> anyhow::Result<(Vec<String>, String)> {
    use scim::resource::ResourceKind;
    let store = &state.job().store;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let ids: Vec<String> = (0..users).map(|i| format!("seeded-{i:07}")).collect();
    for chunk in (0..users).collect::<Vec<_>>().chunks(10_000) {
        let mut write = store::GatewayWrite::default();
        for &i in chunk {
            let body = scim::request::validate_resource(ResourceKind::User, user_body(i))?;
            let name = scim::request::name_of(ResourceKind::User, &body);
            write.upserts.push(seed_upsert(
                store::GatewayKind::User,
                &ids[i],
                Value::Object(body),
                name,
                start + i as i64,
                Vec::new(),
            ));
        }
        store.gateway_write(&write)?;
    }
    let group_id = "seeded-group".to_string();
    let members: Vec<String> = ids.iter().take(members).cloned().collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Zoom-Licensed",
        "members": members.iter().map(|id| json!({"value": id})).collect::<Vec<_>>(),
    });
    let body = scim::request::validate_resource(ResourceKind::Group, body)?;
    store.gateway_write(&store::GatewayWrite {
        upserts: vec![seed_upsert(
            store::GatewayKind::Group,
            &group_id,
            Value::Object(body),
            "Zoom-Licensed".into(),
            start + users as i64,
            members,
        )],
        ..store::GatewayWrite::default()
    })?;
    Ok((ids, group_id))
}

/// One resource as the gateway stores it, with the given member index.
fn seed_upsert(
    kind: store::GatewayKind,
    id: &str,
    body: Value,
    name: String,
    created: i64,
    members: Vec<String>,
) -> store::GatewayUpsert {
    store::GatewayUpsert {
        resource: store::GatewayResource {
            kind,
            id: id.to_string(),
            body,
            version: 1,
            created,
            last_modified: created,
        },
        name,
        external_id: None,
        members_added: members,
        members_removed: Vec::new(),
    }
}

/// `requests` requests from `clients` concurrent loops; request `n` is `request(n)`, and must
/// answer `status`.
async fn timed(
    clients: usize,
    requests: usize,
    status: u16,
    request: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, request) = (next.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return anyhow::Ok(latencies);
                }
                let builder = request(n);
                let t = Instant::now();
                let response = builder.send().await?;
                let got = response.status();
                let _ = response.bytes().await?;
                latencies.push(t.elapsed());
                ensure!(got.as_u16() == status, "answered {got}, not {status}");
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

/// One seeded gateway of the scale part, and what its requests have used up so far.
struct Seeded {
    users: usize,
    gw: Gateway,
    ids: Arc<Vec<String>>,
    group: String,
    /// Users created by the POSTs so far.
    created: usize,
    /// Users added to the group so far (they follow the seeded members).
    joined: usize,
    runs: Vec<(&'static str, Run)>,
}

async fn scale() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("MUSTER_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("MUSTER_BENCH_SIZES: comma-separated numbers of users")?;
    let members = env_or::<usize>("MUSTER_BENCH_GROUP_MEMBERS", 500);
    let rounds = env_or::<usize>("MUSTER_BENCH_ROUNDS", 2);
    let requests = env_or::<usize>("MUSTER_BENCH_SCALE_REQUESTS", 300);
    let clients = env_or::<usize>("MUSTER_BENCH_SCALE_CLIENTS", 1);
    println!(
        "\nmuster gateway scale bench: {} cores, sizes {sizes:?}, a group of {members}, \
         {rounds} rounds of {requests} requests of each kind, {clients} client(s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let mut gateways = Vec::new();
    for &users in &sizes {
        ensure!(
            members + rounds * requests <= users,
            "{users} users cannot supply a group of {members} and {} joins",
            rounds * requests
        );
        let gw = start_gateway().await?;
        let t = Instant::now();
        let (ids, group) = seed(&gw.state, users, members)?;
        println!(
            "seeded {users} users and a group of {members} in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        gateways.push(Seeded {
            users,
            gw,
            ids: Arc::new(ids),
            group,
            created: 0,
            joined: 0,
            runs: Vec::new(),
        });
    }
    for round in 0..rounds {
        for g in &mut gateways {
            let base = g.gw.base.clone();
            let (h, b, ids) = (http.clone(), base.clone(), g.ids.clone());
            let salt = round as u64 * 7919 + 17;
            let filter = timed(clients, requests, 200, move |n| {
                // A stored user picked at random (a fixed sequence per round).
                let i = (salt.wrapping_mul(n as u64 + 1).wrapping_mul(2_654_435_761) as usize)
                    % ids.len();
                h.get(format!(
                    "{b}/Users?filter=userName%20eq%20%22user{i}@contoso.example%22"
                ))
                .bearer_auth(SCIM_TOKEN)
            })
            .await?;
            g.runs.push(("GET /Users?filter=userName eq", filter));

            let (h, b, first) = (http.clone(), base.clone(), g.users + g.created);
            let post = timed(clients, requests, 201, move |n| {
                h.post(format!("{b}/Users"))
                    .bearer_auth(SCIM_TOKEN)
                    .header("content-type", "application/scim+json")
                    .body(user_body(first + n).to_string())
            })
            .await?;
            g.created += requests;
            drain(&g.gw.state).await?;
            g.runs.push(("POST /Users", post));

            let (h, b, ids) = (http.clone(), base.clone(), g.ids.clone());
            let (group, first) = (g.group.clone(), members + g.joined);
            let patch = timed(clients, requests, 200, move |n| {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members",
                                    "value": [{"value": ids[first + n]}]}],
                });
                h.patch(format!("{b}/Groups/{group}"))
                    .bearer_auth(SCIM_TOKEN)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
            })
            .await?;
            g.joined += requests;
            drain(&g.gw.state).await?;
            g.runs.push(("PATCH /Groups/{id} (add one member)", patch));

            let (h, b, middle) = (http.clone(), base.clone(), g.users / 2);
            let page = timed(clients, requests, 200, move |_| {
                h.get(format!("{b}/Users?startIndex={middle}&count=100"))
                    .bearer_auth(SCIM_TOKEN)
            })
            .await?;
            g.runs.push(("GET /Users?startIndex=…&count=100", page));
        }
    }

    println!("\n| request | users stored | round | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    for g in &gateways {
        for (i, (name, r)) in g.runs.iter().enumerate() {
            println!(
                "| {name} | {} | {} | {:.2} ms | {:.2} ms |",
                g.users,
                i / 4 + 1,
                ms(r.percentile(50.0)),
                ms(r.percentile(99.0))
            );
        }
    }
    for g in gateways {
        g.gw.stop().await?;
    }
    Ok(())
}
