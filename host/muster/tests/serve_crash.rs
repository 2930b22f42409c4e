//! Crash safety of `muster serve` as a gateway: `kill -9` while it acknowledges Entra's requests
//! and while its outbox forwards them, then a restart, must deliver every acknowledged change to
//! the target exactly once: one user per userName, each with the last title acknowledged.
//!
//! The test plays Entra: it creates users and changes their titles through the gateway, and
//! after a kill it sends again every request that got no answer, as Entra retries a failed
//! export. The first kill lands while the outbox forwards, by construction: the simulator stores
//! a forwarded create and withholds its answer until the gateway is dead, so the restarted outbox
//! must find that user rather than create it twice. Later kills land after a random number of
//! acknowledgements while four senders have requests in flight. `MUSTER_CRASH_SEED` replays a
//! seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value as Json, json};

mod common;
use common::kills::{Rng, clock_seed, seed};
use common::sim::Sim;

const TARGET_TOKEN: &str = "serve-crash-target";
const ENTRA_TOKEN: &str = "serve-crash-entra";
const USERS: usize = 40;
/// Kills after the first: each lands after a random number of acknowledged requests.
const RANDOM_KILLS: usize = 3;

#[test]
fn gateway_killed_while_acknowledging_and_forwarding_delivers_every_acknowledged_change_once() {
    let seed = seed(clock_seed);
    let mut rng = Rng::new(seed);
    let sim = Sim::start(TARGET_TOKEN);
    let work = tempfile::Builder::new()
        .prefix("muster-serve-crash-")
        .tempdir()
        .expect("temp dir");
    let client = Entra::new();

    // Kill 1: the outbox's fourth forwarded create is stored by the target, its answer withheld.
    let mut held = sim.state.hold_answer(Method::POST, "Users", 3);
    let mut gateway = Gateway::start(work.path(), &sim.base_url, &client);
    let mut pending: Vec<Change> = (0..USERS).map(Change::Create).collect();
    client.send_all(&mut pending, 4, None, &mut gateway);
    assert!(pending.is_empty(), "the gateway answered every create");
    let until = Instant::now() + Duration::from_secs(60);
    while !held.has_landed() {
        assert!(
            Instant::now() < until,
            "the outbox never forwarded a fourth create"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    gateway.kill();
    held.release();

    // Then title changes, killed at random while four senders have requests in flight.
    for round in 0..RANDOM_KILLS {
        gateway = Gateway::start(work.path(), &sim.base_url, &client);
        // What a kill left unanswered is sent again first.
        pending.extend((0..USERS).map(|i| Change::Title(i, round)));
        let answers = 1 + rng.below(USERS as u64) as usize;
        client.send_all(&mut pending, 4, Some(answers), &mut gateway);
        println!(
            "kill {}: after {answers} acknowledgements, {} changes to send again or still to send",
            round + 2,
            pending.len()
        );
    }

    gateway = Gateway::start(work.path(), &sim.base_url, &client);
    client.send_all(&mut pending, 4, None, &mut gateway);
    assert!(pending.is_empty());

    // Every change was acknowledged by now; the outbox delivers them.
    let expected: BTreeMap<String, String> = (0..USERS)
        .map(|i| (user_name(i), title(i, RANDOM_KILLS - 1)))
        .collect();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let actual = titles_by_user_name(&sim, work.path());
        if actual
            == expected
                .iter()
                .map(|(k, v)| (k.clone(), vec![v.clone()]))
                .collect()
        {
            break;
        }
        if Instant::now() > until {
            let wrong: Vec<String> = expected
                .iter()
                .filter(|(name, title)| actual.get(*name) != Some(&vec![(*title).clone()]))
                .map(|(name, title)| {
                    format!("{name}: want [{title}], target has {:?}", actual.get(name))
                })
                .collect();
            panic!(
                "seed {seed}: the target did not converge ({} users there, {} wrong):\n{}\n\ngateway log:\n{}",
                actual.len(),
                wrong.len(),
                wrong.join("\n"),
                gateway.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(gateway);
}

fn user_name(i: usize) -> String {
    format!("u{i:03}@kill.example")
}

fn title(i: usize, round: usize) -> String {
    format!("Title {round} of {i}")
}

/// The target's users by userName, with every title each name has (two would be a duplicate).
fn titles_by_user_name(sim: &Sim, dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attrs in sim.raw_users(dir).values() {
        let name = attrs["userName"].as_str().unwrap_or_default().to_string();
        let title = attrs
            .get("title")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        found.entry(name).or_default().push(title);
    }
    found
}

/// One request Entra would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Create(usize),
    /// The title of user `.0` in round `.1`.
    Title(usize, usize),
}

impl Change {
    fn user(&self) -> usize {
        match self {
            Change::Create(i) | Change::Title(i, _) => *i,
        }
    }
}

/// `muster serve --config examples/gateway.toml`, its output in a log file.
struct Gateway {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Gateway {
    fn start(dir: &Path, target: &str, client: &Entra) -> Gateway {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gateway.toml");
        let port = muster_test_support::free_port();
        let log = dir.join("gateway.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("MUSTER_SCIM_TOKEN", ENTRA_TOKEN)
            .env("MUSTER_TARGET_TOKEN", TARGET_TOKEN)
            .env("MUSTER_TARGET_URL", target)
            .env("MUSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("MUSTER_STATE", dir.join("gateway.db"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start muster serve");
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}/scim/v2"),
            log,
        };
        let until = Instant::now() + Duration::from_secs(60);
        while !client.is_up(&gateway) {
            assert!(
                Instant::now() < until,
                "the gateway did not come up:\n{}",
                gateway.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test's side of the SCIM conversation.
struct Entra {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    ids: Mutex<BTreeMap<usize, String>>,
}

impl Entra {
    fn new() -> Entra {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let _context = runtime.enter();
        Entra {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            ids: Mutex::new(BTreeMap::new()),
            runtime,
        }
    }

    fn is_up(&self, gateway: &Gateway) -> bool {
        self.runtime.block_on(async {
            self.http
                .get(format!("{}/ServiceProviderConfig", gateway.base))
                .bearer_auth(ENTRA_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
    }

    /// Sends `pending` with `senders` requests in flight, never two for one user at once and
    /// each user's in order, until none is left; or, when `kill_after` acknowledgements have
    /// come, kills the gateway at once, with requests in flight. A change that got no answer
    /// stays in `pending`, to be sent again.
    fn send_all(
        &self,
        pending: &mut Vec<Change>,
        senders: usize,
        kill_after: Option<usize>,
        gateway: &mut Gateway,
    ) {
        let book = Arc::new(Mutex::new(Book {
            queue: std::mem::take(pending),
            in_flight: Vec::new(),
            ids: std::mem::take(&mut *self.ids.lock().expect("ids")),
            acknowledged: 0,
        }));
        let base = gateway.base.clone();
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..senders)
                .map(|_| tokio::spawn(sender(book.clone(), self.http.clone(), base.clone())))
                .collect();
            let until = Instant::now() + Duration::from_secs(120);
            loop {
                let (acknowledged, idle) = {
                    let book = book.lock().expect("book");
                    (
                        book.acknowledged,
                        book.queue.is_empty() && book.in_flight.is_empty(),
                    )
                };
                if kill_after.is_some_and(|n| acknowledged >= n) {
                    gateway.kill_now();
                    break;
                }
                if idle {
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "the gateway stopped answering:\n{}",
                    gateway.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            for task in tasks {
                task.abort();
                let _ = task.await;
            }
        });
        let mut book = book.lock().expect("book");
        // What was in flight came before what is queued for the same user.
        let mut left = std::mem::take(&mut book.in_flight);
        left.append(&mut book.queue);
        *pending = left;
        *self.ids.lock().expect("ids") = std::mem::take(&mut book.ids);
    }
}

/// The senders' shared account of what is queued, in flight and acknowledged.
struct Book {
    queue: Vec<Change>,
    in_flight: Vec<Change>,
    /// The gateway's id of each user it acknowledged.
    ids: BTreeMap<usize, String>,
    acknowledged: usize,
}

async fn sender(book: Arc<Mutex<Book>>, http: reqwest::Client, base: String) {
    loop {
        let next = {
            let mut book = book.lock().expect("book");
            if book.queue.is_empty() {
                return;
            }
            let busy: Vec<usize> = book.in_flight.iter().map(|c| c.user()).collect();
            let mut seen = Vec::new();
            let index = book.queue.iter().position(|c| {
                let free = !busy.contains(&c.user()) && !seen.contains(&c.user());
                seen.push(c.user());
                free
            });
            index.map(|i| {
                let change = book.queue.remove(i);
                book.in_flight.push(change);
                (change, book.ids.get(&change.user()).cloned())
            })
        };
        let Some((change, id)) = next else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let answer = send(&http, &base, change, id).await;
        let mut book = book.lock().expect("book");
        book.in_flight.retain(|c| *c != change);
        match answer {
            Ok(id) => {
                book.ids.insert(change.user(), id);
                book.acknowledged += 1;
            }
            Err(_) => book.queue.insert(0, change),
        }
    }
}

/// Sends one change; the user's id on a 2xx (or, for a create the gateway already has, the id it
/// has).
async fn send(
    http: &reqwest::Client,
    base: &str,
    change: Change,
    id: Option<String>,
) -> Result<String, String> {
    let scim = |request: reqwest::RequestBuilder| {
        request
            .bearer_auth(ENTRA_TOKEN)
            .header("content-type", "application/scim+json")
    };
    let response = match (change, &id) {
        (Change::Create(i), _) => {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name(i), "active": true,
                "emails": [{"type": "work", "value": user_name(i), "primary": true}],
                "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
                "displayName": format!("Given{i} Family{i}"),
            });
            scim(http.post(format!("{base}/Users")))
                .body(body.to_string())
                .send()
                .await
        }
        (Change::Title(i, round), Some(id)) => {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": title(i, round)}],
            });
            scim(http.patch(format!("{base}/Users/{id}")))
                .body(body.to_string())
                .send()
                .await
        }
        (Change::Title(..), None) => return Err("no id yet".into()),
    }
    .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Json = response.json().await.unwrap_or(Json::Null);
    match (change, status.as_u16()) {
        (Change::Create(_), 201) => body["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no id in {body}")),
        // Stored before the kill cut its answer: Entra finds the user and goes on.
        (Change::Create(i), 409) => {
            let filter = format!("userName eq \"{}\"", user_name(i));
            let found: Json = scim(http.get(format!("{base}/Users")))
                .query(&[("filter", filter)])
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            found["Resources"][0]["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("409, then not found: {found}"))
        }
        (Change::Title(..), 200 | 204) => Ok(id.unwrap_or_default()),
        (_, status) => Err(format!("{change:?}: {status} {body}")),
    }
}
