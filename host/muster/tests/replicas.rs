//! Three replicas of `muster serve` on one PostgreSQL database (`MUSTER_TEST_POSTGRES`, which
//! `.ci/test` starts): the leader of the scheduled cycles is `kill -9`'d twice while its cycle
//! runs, and each time another replica takes the lead within the lease and resumes the work.
//! Afterwards the target holds exactly what a clean run makes (one user per person, the right
//! attributes, every record linked), no two cycles overlapped, and cycles write nothing more.
//!
//! The kills land in a running cycle by construction: the test waits until the leader's cycle
//! is `running` in the database (a 400-person initial cycle, then a 100-person update, each
//! longer than the poll). Waits poll the database with generous deadlines; the only bound on
//! time is the takeover's, which holds by construction (a lease of 3 s, renewed and polled
//! every second) with 5 s of slack for a loaded machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::{CycleStatus, PgTarget, Store};

mod common;
use common::converged::assert_target_state_in;
use common::directory::{CleanRun, TOKEN, Workdir, job_config};
use common::sim::Sim;

const PEOPLE: usize = 400;
const REPLICAS: usize = 3;
const LEASE: Duration = Duration::from_secs(3);
/// Lease + one renewal period: by then an expired lease has been taken (plus slack).
const TAKEOVER_BOUND: Duration = Duration::from_secs(3 + 1 + 5);
const DEADLINE: Duration = Duration::from_secs(300);

const SERVER: &str = r#"
[server]
listen = "127.0.0.1:0"
scheduled_sync = true
probe_interval_secs = 3600
"#;

/// The PostgreSQL server the replicas share, or a failure naming what is missing.
fn postgres_url() -> String {
    std::env::var("MUSTER_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
        .expect(
            "MUSTER_TEST_POSTGRES is not set: the replica tests need a PostgreSQL server \
             (.ci/test starts a throwaway one)",
        )
}

/// A schema of its own for this run.
fn schema() -> String {
    format!(
        "replicas_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

/// The crash tests' job, its state in PostgreSQL instead of the file.
fn replicated_config(sim: &Sim, url: &str, schema: &str) -> String {
    let text = job_config(&sim.base_url, 1, SERVER);
    let text = text.replace(
        "state_path = \"muster.db\"",
        &format!("state_url = \"{url}\""),
    );
    assert!(
        text.contains("state_url"),
        "the template's state_path moved"
    );
    format!(
        "{text}\n[postgres]\nschema = \"{schema}\"\nleader_lease_secs = {}\n",
        LEASE.as_secs()
    )
}

/// One replica: `muster serve` with its own HOSTNAME, so its lease holder id names it.
struct Replica {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(work: &Workdir, n: usize) -> Replica {
        Replica::spawn(&work.config, work.path(), n, &[])
    }

    /// `muster serve --config config`, logging to `<dir>/replica-<n>.log`.
    fn spawn(config: &Path, dir: &Path, n: usize, env: &[(&str, String)]) -> Replica {
        let name = format!("replica-{n}");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["serve", "--config"])
            .arg(config)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("MUSTER_TARGET_TOKEN", TOKEN)
            .env("HOSTNAME", &name)
            .env("RUST_LOG", "warn,muster=info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start muster serve");
        Replica { name, child, log }
    }

    fn holds(&self, holder: &str) -> bool {
        holder.starts_with(&format!("{}-", self.name))
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("poll muster serve") {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "{} exited by itself ({status}):\n{}",
                self.name,
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `what` every 50 ms until it gives a value, or fails after [`DEADLINE`].
fn wait_for<T>(description: &str, mut what: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = what() {
            return value;
        }
        assert!(Instant::now() < until, "gave up waiting for {description}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_the_leader_twice_hands_the_cycles_over_with_nothing_lost_or_doubled() {
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let work = Workdir::new("replicas", PEOPLE, &replicated_config(&sim, &url, &schema));
    let clean = CleanRun::new(&sim.base_url, PEOPLE);
    let expected = [clean.expected_state(1), clean.expected_state(2)];
    let store = store_of(&url, &schema);

    work.write_directory(1);
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|n| Replica::start(&work, n)).collect();
    let mut takeovers = Vec::new();
    // Cycles up to this one belong to leaders already killed.
    let mut old_cycles = 0;
    for round in 1..=2 {
        if round == 2 {
            // Work for the next leader's cycles: a quarter of the people change.
            work.write_directory(2);
        }
        // The leader, once its cycle is running.
        let leader = wait_for("a leader with a running cycle", || {
            for r in &mut replicas {
                r.assert_alive();
            }
            let lease = store.lease("leader").ok()??;
            let running = store
                .cycles(3)
                .ok()?
                .iter()
                .any(|c| c.status == CycleStatus::Running && c.id > old_cycles);
            running.then_some(lease)
        });
        let index = replicas
            .iter()
            .position(|r| r.holds(&leader.holder))
            .unwrap_or_else(|| panic!("no replica holds {leader:?}"));
        replicas[index].child.kill().expect("kill -9 the leader");
        replicas[index].child.wait().expect("reap the leader");
        let killed = Instant::now();
        old_cycles = store.last_cycle().expect("cycles").map_or(0, |c| c.id);
        eprintln!("round {round}: killed the leader {}", leader.holder);
        let next = wait_for("a new leader", || {
            let lease = store.lease("leader").ok()??;
            (lease.holder != leader.holder).then_some(lease)
        });
        let took = killed.elapsed();
        eprintln!(
            "  {} leads after {took:?} (term {})",
            next.holder, next.term
        );
        assert!(next.term > leader.term, "{next:?} after {leader:?}");
        assert!(
            took <= TAKEOVER_BOUND,
            "the new leader took {took:?}, more than {TAKEOVER_BOUND:?}"
        );
        takeovers.push(took);
        // The killed replica comes back, as its Deployment would bring it back.
        replicas[index] = Replica::start(&work, index + 10 * round);
    }

    // Converged: two idle cycles in a row, the target untouched between them.
    let mut seen = 0;
    let mut quiet: Option<u64> = None;
    wait_for("cycles that write nothing", || {
        for r in &mut replicas {
            r.assert_alive();
        }
        let mut cycles = store.cycles(20).ok()?;
        cycles.sort_by_key(|c| c.id);
        let after = seen;
        for cycle in cycles.iter().filter(|c| c.id > after) {
            if cycle.status == CycleStatus::Running {
                break;
            }
            seen = cycle.id;
            let idle = cycle.status == CycleStatus::Succeeded
                && cycle
                    .counts
                    .as_ref()
                    .is_some_and(|c| c.writes == 0 && c.failed == 0 && c.created + c.updated == 0);
            let writes = sim.state.counters().writes;
            match quiet {
                Some(before) if idle && before == writes => return Some(()),
                _ => quiet = idle.then_some(writes),
            }
        }
        None
    });
    assert_target_state_in(&sim, &work, &expected[1], &store);

    // No two cycles at once: each started once the one before had ended (an interrupted one
    // ended when the next leader marked it so, before its own first cycle).
    let mut cycles = store.cycles(1_000).expect("cycles");
    cycles.sort_by_key(|c| c.id);
    let interrupted = cycles
        .iter()
        .filter(|c| c.status == CycleStatus::Interrupted)
        .count();
    assert!(
        interrupted >= 2,
        "both kills interrupted a cycle: {cycles:?}"
    );
    for pair in cycles.windows(2) {
        let ended = pair[0].finished_at.expect("a finished cycle");
        assert!(
            pair[1].started_at >= ended,
            "cycle {} started at {} before cycle {} ended at {ended}",
            pair[1].id,
            pair[1].started_at,
            pair[0].id
        );
    }
    eprintln!("takeovers: {takeovers:?}; {} cycles", cycles.len());
}

/// Users in the gateway test, and the changes Entra sends each (a create, then PATCHes).
const GATEWAY_PEOPLE: usize = 60;
const GATEWAY_PATCHES: usize = 12;
/// Changes from this one on wait until both kills happened, so the second kill lands while
/// a third of the load is still to come, by construction.
const GATED_FROM: usize = 2 * GATEWAY_PATCHES / 3;
const SCIM_TOKEN: &str = "entra-secret";

/// examples/gateway.toml with its state in PostgreSQL, short leases and claims.
fn gateway_config(url: &str, schema: &str) -> String {
    let example = include_str!("../../../examples/gateway.toml");
    let text = example.replace(
        "state_path = \"${MUSTER_STATE:-muster-gateway.db}\"",
        &format!("state_url = \"{url}\""),
    );
    assert!(
        text.contains("state_url"),
        "examples/gateway.toml's state_path moved"
    );
    format!(
        "{text}\n[postgres]\nschema = \"{schema}\"\nleader_lease_secs = {}\noutbox_claim_secs = 5\n",
        LEASE.as_secs()
    )
}

/// Each userName at the target (lower case) with the titles of its users: one, if no user was
/// created twice.
fn titles_at_target(sim: &Sim, dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut titles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attrs in sim.raw_users(dir).values() {
        let name = attrs["userName"]
            .as_str()
            .expect("a userName")
            .to_lowercase();
        let title = attrs.get("title").and_then(|t| t.as_str()).unwrap_or("");
        titles.entry(name).or_default().push(title.to_string());
    }
    titles
}

/// What Entra was told was accepted, per userName: the title of the last acknowledged change.
type Acknowledged = Arc<Mutex<BTreeMap<String, String>>>;

/// Entra's side: each person's changes in order, each sent to the replica after the last
/// one that answered, moving on to the next replica when one cannot be reached (a load
/// balancer's retry). A change counts once a replica acknowledged it (2xx).
async fn entra(
    bases: Arc<Vec<String>>,
    person: usize,
    acknowledged: Acknowledged,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let user_name = format!("user{person}@contoso.example");
    let mut id: Option<String> = None;
    let mut at = person;
    for change in 0..=GATEWAY_PATCHES {
        if change == GATED_FROM {
            gate.wait_for(|open| *open).await.expect("the gate");
        }
        let title = format!("Title {change}");
        loop {
            let base = &bases[at % bases.len()];
            let request = match &id {
                None => http.post(format!("{base}/Users")).json(&serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name, "active": true, "title": title,
                    "displayName": format!("User {person}"),
                    "emails": [{"type": "work", "value": user_name, "primary": true}],
                    "name": {"givenName": "User", "familyName": format!("{person}")},
                })),
                Some(id) => http
                    .patch(format!("{base}/Users/{id}"))
                    .json(&serde_json::json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "Replace", "path": "title", "value": title}],
                    })),
            };
            let answer = request.bearer_auth(SCIM_TOKEN).send().await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    if id.is_none() {
                        let body: serde_json::Value = r.json().await.expect("a created user");
                        id = body["id"].as_str().map(str::to_owned);
                    }
                    acknowledged
                        .lock()
                        .expect("acknowledged")
                        .insert(user_name.clone(), title.clone());
                    break;
                }
                // A POST whose answer was lost with its replica: the user exists, as Entra
                // finds when it matches before creating again.
                Ok(r) if r.status() == 409 && id.is_none() => {
                    let filter = format!("userName eq \"{user_name}\"");
                    let found: serde_json::Value = http
                        .get(format!("{base}/Users"))
                        .query(&[("filter", filter)])
                        .bearer_auth(SCIM_TOKEN)
                        .send()
                        .await
                        .expect("a look-up")
                        .json()
                        .await
                        .expect("a list");
                    id = found["Resources"][0]["id"].as_str().map(str::to_owned);
                    assert!(id.is_some(), "409 for {user_name}, whom no replica lists");
                    // The lost create's title stands only if it was the one acknowledged;
                    // send this change again as a PATCH.
                }
                // Unreachable (killed) or a 5xx while it died: the next replica.
                _ => {
                    at += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        at += 1;
    }
}

#[test]
fn gateway_replicas_forward_every_acknowledged_change_once_through_two_leader_kills() {
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, gateway_config(&url, &schema)).expect("write the config");
    let ports: Vec<u16> = (0..REPLICAS)
        .map(|_| muster_test_support::free_port())
        .collect();
    let env = |port: u16| {
        vec![
            ("MUSTER_SCIM_TOKEN", SCIM_TOKEN.to_string()),
            ("MUSTER_TARGET_URL", sim.base_url.clone()),
            ("MUSTER_LISTEN", format!("127.0.0.1:{port}")),
        ]
    };
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|n| Replica::spawn(&config, dir.path(), n, &env(ports[n])))
        .collect();
    let bases: Arc<Vec<String>> = Arc::new(
        ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}/scim/v2"))
            .collect(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let http = reqwest::Client::new();
    for base in bases.iter() {
        wait_for("a replica answering SCIM", || {
            let answer = runtime.block_on(
                http.get(format!("{base}/ServiceProviderConfig"))
                    .bearer_auth(SCIM_TOKEN)
                    .send(),
            );
            answer.ok().filter(|r| r.status() == 200).map(|_| ())
        });
    }
    let store = store_of(&url, &schema);

    let acknowledged: Acknowledged = Arc::default();
    let (open, gate) = tokio::sync::watch::channel(false);
    let load: Vec<_> = (0..GATEWAY_PEOPLE)
        .map(|person| {
            runtime.spawn(entra(
                bases.clone(),
                person,
                acknowledged.clone(),
                gate.clone(),
            ))
        })
        .collect();
    // Two kills of the leader while the load runs, after a quarter and a third of the changes
    // were acknowledged (the last third waits for both); the killed replica comes back on its
    // port.
    let total = GATEWAY_PEOPLE * (GATEWAY_PATCHES + 1);
    let count = || -> usize {
        let acked = acknowledged.lock().expect("acknowledged");
        acked
            .values()
            .map(|t| t.trim_start_matches("Title ").parse::<usize>().unwrap_or(0) + 1)
            .sum()
    };
    for round in 1..=2 {
        wait_for("acknowledged changes", || {
            (count() >= total * (round + 2) / 12).then_some(())
        });
        // A live leader: after the first kill, the one that took over.
        let (index, leader) = wait_for("a live leader", || {
            let lease = store.lease("leader").ok()??;
            let index = replicas.iter().position(|r| r.holds(&lease.holder))?;
            Some((index, lease))
        });
        replicas[index].child.kill().expect("kill -9 the leader");
        replicas[index].child.wait().expect("reap the leader");
        eprintln!(
            "round {round}: killed {} after {} changes",
            leader.holder,
            count()
        );
        replicas[index] =
            Replica::spawn(&config, dir.path(), index + 10 * round, &env(ports[index]));
    }
    open.send(true).expect("open the gate");
    for task in load {
        runtime.block_on(task).expect("a person's changes");
    }
    for r in &mut replicas {
        r.assert_alive();
    }
    wait_for("the outbox to empty", || {
        (store.outbox_len().ok()? == 0).then_some(())
    });

    // Exactly one user per person at the target, with the last acknowledged change.
    let acknowledged = acknowledged.lock().expect("acknowledged").clone();
    assert_eq!(acknowledged.len(), GATEWAY_PEOPLE);
    let by_name = titles_at_target(&sim, dir.path());
    let wrong: Vec<String> = acknowledged
        .iter()
        .filter(|(name, title)| by_name.get(*name) != Some(&vec![(*title).clone()]))
        .map(|(name, title)| format!("{name}: want [{title}], target has {:?}", by_name.get(name)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} people differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(by_name.len(), GATEWAY_PEOPLE, "users nobody sent");
    assert!(
        store.outbox_dropped(10).expect("dropped").is_empty(),
        "no change dropped"
    );
}

/// The backends a load balancer sends to: replicas leave it before they are stopped, as a
/// Kubernetes Service drops a terminating pod's endpoint.
type Backends = Arc<Mutex<Vec<String>>>;

/// What the load balancer saw: requests answered 2xx, and requests that failed after they
/// reached a replica (a connection refused is retried on the next backend, as any load
/// balancer does for a request that was never sent).
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: Vec<String>,
}

/// One person's changes through the load balancer until `stop` is set: a create, then PATCHes
/// of the title; the last acknowledged title is kept.
async fn entra_through_balancer(
    backends: Backends,
    person: usize,
    acknowledged: Acknowledged,
    tally: Arc<Mutex<Tally>>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // A connection per request: a request never waits on a pooled connection a stopping
    // replica has closed.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let user_name = format!("rolling{person}@contoso.example");
    let mut id: Option<String> = None;
    let mut pick = person;
    let mut change = 0usize;
    while change < 2 || !*stop.borrow() {
        let title = format!("Title {change}");
        let base = {
            let backends = backends.lock().expect("backends");
            pick += 1;
            backends[pick % backends.len()].clone()
        };
        let request = match &id {
            None => http.post(format!("{base}/Users")).json(&serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name, "active": true, "title": title,
                "emails": [{"type": "work", "value": user_name, "primary": true}],
                "name": {"givenName": "Rolling", "familyName": format!("{person}")},
            })),
            Some(id) => http
                .patch(format!("{base}/Users/{id}"))
                .json(&serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "title", "value": title}],
                })),
        };
        match request.bearer_auth(SCIM_TOKEN).send().await {
            Err(e) if e.is_connect() => continue,
            Ok(r) if r.status().is_success() => {
                if id.is_none() {
                    let body: serde_json::Value = r.json().await.expect("a created user");
                    id = body["id"].as_str().map(str::to_owned);
                }
                acknowledged
                    .lock()
                    .expect("acknowledged")
                    .insert(user_name.clone(), title);
                tally.lock().expect("tally").ok += 1;
                change += 1;
            }
            Ok(r) => {
                let failure = format!("{user_name} change {change} at {base}: {}", r.status());
                tally.lock().expect("tally").failed.push(failure);
                return;
            }
            Err(e) => {
                let failure = format!("{user_name} change {change} at {base}: {e}");
                tally.lock().expect("tally").failed.push(failure);
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends SIGTERM and waits for the process to exit; its exit status.
fn terminate(replica: &mut Replica) -> std::process::ExitStatus {
    let pid = replica.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = replica.child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < until,
            "{} did not stop on SIGTERM",
            replica.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, gateway_config(&url, &schema)).expect("write the config");
    let env = |port: u16| {
        vec![
            ("MUSTER_SCIM_TOKEN", SCIM_TOKEN.to_string()),
            ("MUSTER_TARGET_URL", sim.base_url.clone()),
            ("MUSTER_LISTEN", format!("127.0.0.1:{port}")),
        ]
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let http = reqwest::Client::new();
    let ready = |base: &str| {
        wait_for("a replica answering SCIM", || {
            let answer = runtime.block_on(
                http.get(format!("{base}/ServiceProviderConfig"))
                    .bearer_auth(SCIM_TOKEN)
                    .send(),
            );
            answer.ok().filter(|r| r.status() == 200).map(|_| ())
        })
    };
    let start = |n: usize| {
        let port = muster_test_support::free_port();
        let replica = Replica::spawn(&config, dir.path(), n, &env(port));
        (replica, format!("http://127.0.0.1:{port}/scim/v2"))
    };
    let mut replicas: Vec<(Replica, String)> = (0..REPLICAS).map(start).collect();
    for (_, base) in &replicas {
        ready(base);
    }
    let store = store_of(&url, &schema);
    let backends: Backends = Arc::new(Mutex::new(
        replicas.iter().map(|(_, base)| base.clone()).collect(),
    ));

    let acknowledged: Acknowledged = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let load: Vec<_> = (0..GATEWAY_PEOPLE)
        .map(|person| {
            runtime.spawn(entra_through_balancer(
                backends.clone(),
                person,
                acknowledged.clone(),
                tally.clone(),
                stopping.clone(),
            ))
        })
        .collect();
    // Replace each replica in turn while the load runs (it stops only after the last): the new
    // one joins the balancer once it answers, the old one leaves it, then gets SIGTERM.
    for (i, slot) in replicas.iter_mut().enumerate() {
        let before = tally.lock().expect("tally").ok;
        wait_for("more acknowledged changes", || {
            (tally.lock().expect("tally").ok >= before + GATEWAY_PEOPLE).then_some(())
        });
        let (new, base) = start(10 + i);
        ready(&base);
        let (mut old, old_base) = std::mem::replace(slot, (new, base.clone()));
        {
            let mut backends = backends.lock().expect("backends");
            backends.retain(|b| *b != old_base);
            backends.push(base);
        }
        let led = store
            .lease("leader")
            .expect("lease")
            .is_some_and(|l| old.holds(&l.holder));
        let status = terminate(&mut old);
        assert!(
            status.success(),
            "{} exited with {status} on SIGTERM",
            old.name
        );
        if led {
            // It gave the lease up: another replica leads at its next renewal, well within
            // a lease.
            let next = wait_for("a new leader", || {
                let lease = store.lease("leader").ok()??;
                (!old.holds(&lease.holder)).then_some(lease)
            });
            eprintln!("{} handed the lead to {}", old.name, next.holder);
        }
        eprintln!("replaced {} by replica-{}", old.name, 10 + i);
    }
    stop.send(true).expect("stop the load");
    for task in load {
        runtime.block_on(task).expect("a person's changes");
    }
    let tally = std::mem::take(&mut *tally.lock().expect("tally"));
    assert!(
        tally.failed.is_empty(),
        "{} requests failed:\n{}",
        tally.failed.len(),
        tally.failed.join("\n")
    );
    wait_for("the outbox to empty", || {
        (store.outbox_len().ok()? == 0).then_some(())
    });
    let acknowledged = acknowledged.lock().expect("acknowledged").clone();
    let titles = titles_at_target(&sim, dir.path());
    for (name, title) in &acknowledged {
        assert_eq!(titles.get(name), Some(&vec![title.clone()]), "{name}");
    }
    eprintln!("{} requests, none failed", tally.ok);
}

fn store_of(url: &str, schema: &str) -> Store {
    let target = PgTarget::new(url, None, Some(schema)).expect("the test's PostgreSQL URL");
    Store::open_postgres(&target).expect("open the shared state")
}

/// A plugin version uploaded to one replica is served by all of them within seconds, and a
/// rollback on another replica reaches every one too.
#[test]
fn a_plugin_uploaded_to_one_replica_reaches_the_others() {
    const ADMIN_TOKEN: &str = "admin-secret";
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, gateway_config(&url, &schema)).expect("write the config");
    let ports: Vec<u16> = (0..2).map(|_| muster_test_support::free_port()).collect();
    let _replicas: Vec<Replica> = ports
        .iter()
        .enumerate()
        .map(|(n, port)| {
            let env = vec![
                ("MUSTER_SCIM_TOKEN", SCIM_TOKEN.to_string()),
                ("MUSTER_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
                ("MUSTER_TARGET_URL", sim.base_url.clone()),
                ("MUSTER_LISTEN", format!("127.0.0.1:{port}")),
            ];
            Replica::spawn(&config, dir.path(), n, &env)
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let http = reqwest::Client::new();
    let active = |port: u16| -> Option<String> {
        let answer = runtime
            .block_on(
                http.get(format!("http://127.0.0.1:{port}/admin/plugins"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send(),
            )
            .ok()?;
        let plugins: serde_json::Value = runtime.block_on(answer.json()).ok()?;
        plugins
            .as_array()?
            .iter()
            .find(|p| p["name"] == "license-by-group")?["active"]
            .as_str()
            .map(str::to_owned)
    };
    let configured = wait_for("both replicas up", || {
        let (a, b) = (active(ports[0])?, active(ports[1])?);
        (a == b).then_some(a)
    });

    let component = std::fs::read(muster_artifacts::LICENSE_BY_GROUP_0_1).expect("a 0.1.0 build");
    let uploaded = runtime
        .block_on(
            http.post(format!(
                "http://127.0.0.1:{}/admin/plugins/license-by-group/versions",
                ports[0]
            ))
            .bearer_auth(ADMIN_TOKEN)
            .body(component)
            .send(),
        )
        .expect("upload");
    assert_eq!(
        uploaded.status(),
        201,
        "the upload is active on the first replica"
    );
    let new = active(ports[0]).expect("the first replica's version");
    assert_ne!(new, configured);
    let started = Instant::now();
    wait_for("the second replica to serve the upload", || {
        (active(ports[1])? == new).then_some(())
    });
    let took = started.elapsed();
    eprintln!("the upload reached the other replica after {took:?}");

    // Rolled back on the second replica: the first follows.
    let rolled = runtime
        .block_on(
            http.post(format!(
                "http://127.0.0.1:{}/admin/plugins/license-by-group/rollback",
                ports[1]
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send(),
        )
        .expect("rollback");
    assert_eq!(rolled.status(), 200);
    wait_for("the first replica to roll back too", || {
        (active(ports[0])? == configured).then_some(())
    });
}

/// `muster sync --once` on a shared state runs only as the leader: refused, naming the leader,
/// while a replica leads; run, and the lease given back, when none does.
#[test]
fn muster_sync_on_a_shared_state_runs_only_as_the_leader() {
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let work = Workdir::new("sync-lead", 20, &replicated_config(&sim, &url, &schema));
    work.write_directory(1);
    let store = store_of(&url, &schema);
    let sync = || {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["sync", "--once", "--config"])
            .arg(&work.config)
            .env("MUSTER_TARGET_TOKEN", TOKEN)
            .output()
            .expect("run muster sync")
    };
    store
        .claim_lease("leader", "replica-elsewhere", 60_000)
        .expect("another replica leads");
    let refused = sync();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("replica-elsewhere leads"), "{stderr}");
    assert!(
        store.last_cycle().expect("cycles").is_none(),
        "no cycle ran"
    );

    store
        .release_lease("leader", "replica-elsewhere")
        .expect("release");
    let ran = sync();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let cycle = store.last_cycle().expect("cycles").expect("a cycle");
    assert_eq!(cycle.status, CycleStatus::Succeeded);
    let lease = store.lease("leader").expect("lease").expect("taken");
    assert!(
        lease.holder != "replica-elsewhere" && lease.until_ms == 0,
        "the lease is given back: {lease:?}"
    );
}

/// `POST /admin/sync` on a replica that does not lead: accepted (202, naming the leader), and
/// the leader runs the cycle. Scheduled cycles are off, so the request is the only way one runs.
#[test]
fn a_cycle_asked_of_a_replica_that_does_not_lead_is_run_by_the_leader() {
    const ADMIN_TOKEN: &str = "admin-secret";
    let url = postgres_url();
    let schema = schema();
    let sim = Sim::start(TOKEN);
    let config = replicated_config(&sim, &url, &schema)
        .replace("scheduled_sync = true", "scheduled_sync = false")
        + "\n[admin]\ntoken_env = \"MUSTER_ADMIN_TOKEN\"\n";
    let work = Workdir::new("requested", 20, &config);
    work.write_directory(1);
    let ports: Vec<u16> = (0..2).map(|_| muster_test_support::free_port()).collect();
    let config_text = std::fs::read_to_string(&work.config).expect("the config");
    let _replicas: Vec<Replica> = ports
        .iter()
        .enumerate()
        .map(|(n, port)| {
            let config = work.path().join(format!("replica-{n}.toml"));
            let text = config_text.replace(
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"127.0.0.1:{port}\""),
            );
            std::fs::write(&config, text).expect("write the config");
            let env = vec![("MUSTER_ADMIN_TOKEN", ADMIN_TOKEN.to_string())];
            Replica::spawn(&config, work.path(), n, &env)
        })
        .collect();
    let store = store_of(&url, &schema);
    let leader = wait_for("a leader", || store.lease("leader").ok()?);
    let follower = if leader.holder.starts_with("replica-0-") {
        ports[1]
    } else {
        ports[0]
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let http = reqwest::Client::new();
    let asked = wait_for("the other replica's admin API", || {
        runtime
            .block_on(
                http.post(format!("http://127.0.0.1:{follower}/admin/sync"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send(),
            )
            .ok()
    });
    assert_eq!(asked.status(), 202);
    let answer: serde_json::Value = runtime.block_on(asked.json()).expect("an answer");
    assert_eq!(
        answer["requested_of"].as_str(),
        Some(leader.holder.as_str()),
        "{answer}"
    );
    let cycle = wait_for("the leader to run the requested cycle", || {
        let cycle = store.last_cycle().ok()??;
        (cycle.status != CycleStatus::Running).then_some(cycle)
    });
    assert_eq!(cycle.status, CycleStatus::Succeeded, "{cycle:?}");
    assert_eq!(
        sim.state.users().len(),
        20,
        "the cycle provisioned everyone"
    );
}
