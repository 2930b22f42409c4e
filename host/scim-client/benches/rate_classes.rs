//! Zoom's rate classes against the simulator over loopback: how much of each class's limit the
//! client uses, and how fast it finds the limit when configured 2× too high.
//! `cargo bench -p scim-client --bench rate_classes`.
//!
//! The simulator limits Light (get, patch, ...) and Medium (list) in a bucket each, as Zoom does,
//! and answers 429 with Zoom's headers. The client is configured as the `zoom` profile makes it:
//! a class `light` and a class `medium`. Eight tasks keep each class busy (lists; gets and
//! patches), so each class always has a request waiting for its turn, and use = requests the
//! simulator answered (not 429) per second ÷ the simulator's limit.
//!
//! 1. Configured right (the simulator's limits): use and 429s over `MUSTER_BENCH_SECONDS` (6).
//! 2. Configured 2× too high: 429s and use second by second over `MUSTER_BENCH_WRONG_SECONDS`
//!    (15); when the last 429 came, and use from then on.
//! 3. The same with 429s that carry no `Retry-After` nor `X-RateLimit-*` (Zoom has been seen
//!    to send those), so the client must find the limit by itself, over
//!    `MUSTER_BENCH_BARE_SECONDS` seconds (0 = skipped, the default: it takes about 40).
//!
//! Limits: `MUSTER_BENCH_LIGHT` (30/s) and `MUSTER_BENCH_MEDIUM` (20/s), Zoom's Pro figures.
//! Not a criterion bench: the figures wanted are rates and counts over seconds, printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use scim::patch::{PatchOp, PatchOperation};
use scim_client::{BearerToken, ClientConfig, RateClass, RequestKind, ScimClient};
use serde_json::json;
use tokio::task::JoinSet;
use zoom_sim::{Category, SimConfig, SimState};

const TOKEN: &str = "bench-token";
const TASKS_PER_CLASS: usize = 8;
const USERS: usize = 50;
/// Use after convergence is measured over the run's last seconds.
const LAST: usize = 10;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let light = env_or("MUSTER_BENCH_LIGHT", 30) as u32;
    let medium = env_or("MUSTER_BENCH_MEDIUM", 20) as u32;
    let right_secs = env_or("MUSTER_BENCH_SECONDS", 6);
    let wrong_secs = env_or("MUSTER_BENCH_WRONG_SECONDS", 15);
    let bare_secs = env_or("MUSTER_BENCH_BARE_SECONDS", 0);
    let limits = BTreeMap::from([(Category::Light, light), (Category::Medium, medium)]);
    println!(
        "rate classes bench: {} cores, profile {}, simulator light={light}/s medium={medium}/s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );

    let right = run(&limits, 1.0, right_secs, true).await?;
    println!("\nconfigured at the simulator's limits, {right_secs} s:");
    println!("| class | limit | achieved | use | 429s |");
    println!("|---|---:|---:|---:|---:|");
    for (category, limit) in &limits {
        let s = &right.per_class[category];
        let achieved = s.answered as f64 / right_secs as f64;
        println!(
            "| {} | {limit}/s | {achieved:.2}/s | {:.1} % | {} |",
            category.as_str(),
            100.0 * achieved / f64::from(*limit),
            s.throttled
        );
    }

    let wrong = run(&limits, 2.0, wrong_secs, true).await?;
    print_convergence(
        &format!("configured 2× too high, {wrong_secs} s"),
        &limits,
        &wrong,
    );
    if bare_secs > 0 {
        let bare = run(&limits, 2.0, bare_secs, false).await?;
        print_convergence(
            &format!(
                "configured 2× too high, 429s without Retry-After or X-RateLimit-*, {bare_secs} s"
            ),
            &limits,
            &bare,
        );
    }
    Ok(())
}

/// Second by second, then when the last 429 came and the use after it.
fn print_convergence(title: &str, limits: &BTreeMap<Category, u32>, run: &Run) {
    println!("\n{title}, second by second (answered / 429s / the client's rate):");
    for category in limits.keys() {
        let seconds = &run.seconds[category];
        let line: Vec<String> = seconds
            .iter()
            .map(|s| format!("{}/{}/{:.0}", s.answered, s.throttled, s.rate))
            .collect();
        println!("{}: {}", category.as_str(), line.join(" "));
    }
    println!(
        "| class | limit | configured | 429s | last 429 in second | use over the last {LAST} s | rate at the end |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (category, limit) in limits {
        let seconds = &run.seconds[category];
        let last_429 = seconds.iter().rposition(|s| s.throttled > 0);
        let tail = &seconds[seconds.len().saturating_sub(LAST)..];
        let answered: u64 = tail.iter().map(|s| s.answered).sum();
        let throttled: u64 = seconds.iter().map(|s| s.throttled).sum();
        println!(
            "| {} | {limit}/s | {}/s | {throttled} | {} | {:.1} % | {:.1}/s |",
            category.as_str(),
            2 * limit,
            last_429.map_or("none".to_string(), |i| (i + 1).to_string()),
            100.0 * answered as f64 / tail.len().max(1) as f64 / f64::from(*limit),
            seconds.last().map_or(0.0, |s| s.rate),
        );
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    answered: u64,
    throttled: u64,
    /// The client's rate for the class at the end of the second.
    rate: f64,
}

struct Run {
    per_class: BTreeMap<Category, Tally>,
    seconds: BTreeMap<Category, Vec<Tally>>,
}

/// Loads both classes for `secs` seconds with the client configured at `factor` × the limits.
/// `announce`: whether the simulator's 429s carry `Retry-After` and `X-RateLimit-*`.
async fn run(
    limits: &BTreeMap<Category, u32>,
    factor: f64,
    secs: u64,
    announce: bool,
) -> Result<Run, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/scim2", listener.local_addr()?);
    let sim = SimState::new(&SimConfig::new(TOKEN));
    let ids: Vec<String> = (0..USERS)
        .map(|i| {
            let user = sim
                .seed_user(json!({"userName": format!("u{i}@bench.example"), "active": true}))
                .map_err(|e| e.to_string())?;
            Ok(user["id"].as_str().unwrap_or_default().to_string())
        })
        .collect::<Result<_, String>>()?;
    sim.set_category_limits(limits);
    sim.set_announce_limits(announce);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(zoom_sim::serve_state(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));

    let rate = |c: Category| f64::from(limits[&c]) * factor;
    let mut config = ClientConfig::new(base, BearerToken::new(TOKEN));
    config.rate_limit_per_sec = None;
    config.rate_classes = vec![
        RateClass::new(
            "light",
            rate(Category::Light),
            &[
                RequestKind::Get,
                RequestKind::Create,
                RequestKind::Replace,
                RequestKind::Patch,
                RequestKind::Delete,
            ],
        ),
        RateClass::new("medium", rate(Category::Medium), &[RequestKind::List]),
    ];
    config.concurrency = 2 * TASKS_PER_CLASS;
    config.max_attempts = 10;
    let client = ScimClient::new(config)?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = JoinSet::new();
    for t in 0..TASKS_PER_CLASS {
        let (lister, reader) = (client.clone(), client.clone());
        let ids = ids.clone();
        tasks.spawn(async move {
            let mut i = t;
            while Instant::now() < deadline {
                let _ = lister
                    .find_users("userName", &format!("u{}@bench.example", i % USERS))
                    .await;
                i += TASKS_PER_CLASS;
            }
        });
        tasks.spawn(async move {
            let mut i = t;
            while Instant::now() < deadline {
                let id = &ids[i % USERS];
                if i % 2 == 0 {
                    let _ = reader.get_user(id).await;
                } else {
                    let op = PatchOperation {
                        op: PatchOp::Replace,
                        path: Some("displayName".into()),
                        value: Some(json!(format!("User {i}"))),
                    };
                    let _ = reader.patch_user(id, &[op]).await;
                }
                i += TASKS_PER_CLASS;
            }
        });
    }

    let mut seconds: BTreeMap<Category, Vec<Tally>> = BTreeMap::new();
    let mut last = BTreeMap::new();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(started) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    for _ in 0..secs {
        tick.tick().await;
        let counters = sim.counters();
        let rates = client.rate_classes();
        for category in limits.keys() {
            let now = counters
                .by_category
                .get(category)
                .copied()
                .unwrap_or_default();
            let before: zoom_sim::CategoryCounters =
                last.get(category).copied().unwrap_or_default();
            let name = category.as_str().to_lowercase();
            seconds.entry(*category).or_default().push(Tally {
                answered: (now.requests - now.throttled) - (before.requests - before.throttled),
                throttled: now.throttled - before.throttled,
                rate: rates
                    .iter()
                    .find(|r| r.name == name)
                    .map_or(0.0, |r| r.current),
            });
            last.insert(*category, now);
        }
    }
    while tasks.join_next().await.is_some() {}
    let _ = stop.send(());
    let per_class = seconds
        .iter()
        .map(|(c, s)| {
            let total = s.iter().fold(Tally::default(), |a, t| Tally {
                answered: a.answered + t.answered,
                throttled: a.throttled + t.throttled,
                rate: t.rate,
            });
            (*c, total)
        })
        .collect();
    Ok(Run { per_class, seconds })
}
