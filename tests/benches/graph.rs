//! The Graph source at scale: a directory of 50,000 users in 500 groups in the fake Graph, read
//! by muster and provisioned into the in-process Zoom simulator (no rate limit, concurrency 16).
//!
//! `cargo bench -p muster-tests --bench graph` (release). Prints, in one run: the Graph read
//! alone, the initial cycle, a no-change incremental cycle (the same-run baseline), and an
//! incremental cycle after 100 directory changes, each with its Graph requests, next to the
//! request count and the time Entra's documented model implies. Sizes:
//! `MUSTER_BENCH_GRAPH_USERS` (50000), `MUSTER_BENCH_GRAPH_GROUPS` (500).

use muster_test_support::env_or;
use std::time::{Duration, Instant};

use muster::job::Job;
use muster::sources::graph::GraphSource;
use muster::sync::{CycleOptions, CycleReport, run_cycle};
use muster_tests::harness::config_from;
use muster_tests::{FakeGraph, Sim, zoom_config};
use serde_json::json;

/// Entra's published estimate for an initial cycle: 0.01–0.08 minutes per object (users,
/// groups and group members in scope), from Microsoft Learn's "Check the status of user
/// provisioning".
const ENTRA_MIN_PER_OBJECT: (f64, f64) = (0.01, 0.08);
/// Page sizes of the Graph model: listings up to `$top=999`; delta pages of at most 200
/// objects and 500 directory links (group members), as Microsoft's Q&A moderators state it.
const LIST_PAGE: usize = 999;
const DELTA_OBJECTS: usize = 200;
const DELTA_LINKS: usize = 500;

struct Measured {
    elapsed: Duration,
    graph_requests: usize,
    report: Option<CycleReport>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let users = env_or::<usize>("MUSTER_BENCH_GRAPH_USERS", 50_000);
    let groups = env_or::<usize>("MUSTER_BENCH_GRAPH_GROUPS", 500).max(3);
    let departments = groups - 2;
    anyhow::ensure!(users >= 5_000, "the 100 changes need at least 5,000 users");
    println!(
        "muster Graph bench: {users} users, {groups} groups, {} cores, profile {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    let fake = FakeGraph::start().await;
    let seeded = Instant::now();
    let memberships = seed(&fake, users, departments);
    println!("seeded the fake Graph in {:.1?}", seeded.elapsed());

    let sim = Sim::start().await;
    let dir = tempfile::tempdir()?;
    let text = zoom_config(None, "")
        .replace(
            "[source]\nkind = \"file\"\npath = \"directory.json\"\n",
            &fake.source_toml(),
        )
        .replace(
            "rate_limit_per_second = 1000\nconcurrency = 4",
            "rate_limit_per_second = 1000000\nconcurrency = 16",
        );
    let config = config_from(&text, &[("MUSTER_TARGET_URL", &sim.url)]);

    // The Graph read alone, into a store of its own.
    let read_only = GraphSource::new(&config, fake.secret.clone())?;
    let scratch = store::Store::open_in_memory()?;
    fake.clear_requests();
    let started = Instant::now();
    let read = read_only.read(&scratch, false).await?;
    let read_alone = Measured {
        elapsed: started.elapsed(),
        graph_requests: graph_requests(&fake),
        report: None,
    };
    anyhow::ensure!(
        read.directory.people.len() == users,
        "the read saw every user"
    );

    let job = Job::build_with_secrets(
        config,
        dir.path(),
        sim.token.clone(),
        Some(fake.secret.clone()),
    )?;
    let initial = measure(&fake, &job).await?;
    let no_change = measure(&fake, &job).await?;
    change_100(&fake);
    // The Graph side of the incremental cycle alone: the scratch store's mirror moves on too.
    scratch.commit_graph_mirror(&read.changes)?;
    fake.clear_requests();
    let started = Instant::now();
    let delta = read_only.read(&scratch, false).await?;
    let delta_alone = Measured {
        elapsed: started.elapsed(),
        graph_requests: graph_requests(&fake),
        report: None,
    };
    anyhow::ensure!(
        delta.full_reason.is_none(),
        "the second read is incremental"
    );
    println!(
        "full read: {:?}\nincremental read: {:?}",
        read.timings, delta.timings
    );
    let changed = measure(&fake, &job).await?;
    let r = changed.report.as_ref().map(|r| &r.counts);
    println!("after 100 changes: {r:?}");

    let objects = users + groups + memberships;
    let list_model = users.div_ceil(LIST_PAGE)
        + 1
        + departments * (users / departments).div_ceil(LIST_PAGE).max(1)
        + 1
        + 1;
    let delta_model = users.div_ceil(DELTA_OBJECTS)
        + groups
            .div_ceil(DELTA_OBJECTS)
            .max(memberships.div_ceil(DELTA_LINKS))
        + 2;
    println!();
    println!("| cycle | time | Graph requests | Graph model |");
    println!("|---|---:|---:|---|");
    println!(
        "| Graph full read alone (users/delta + groups/delta with members + assignments) | {:.2} s | {} | delta pages of 200 objects / 500 links: ≈ {delta_model}; listings at $top=999 with /members per group: ≈ {list_model} |",
        read_alone.elapsed.as_secs_f64(),
        read_alone.graph_requests
    );
    row(
        "initial cycle (read + plan + 100,000 SCIM requests)",
        &initial,
        &format!(
            "Entra: {objects} objects × 0.01–0.08 min = {:.0}–{:.0} min",
            objects as f64 * ENTRA_MIN_PER_OBJECT.0,
            objects as f64 * ENTRA_MIN_PER_OBJECT.1
        ),
    );
    row(
        "Graph incremental read alone (100 changes)",
        &delta_alone,
        "users/delta + groups/delta + assignments + app roles",
    );
    row(
        "incremental, no change (baseline)",
        &no_change,
        "1 users/delta + 1 groups/delta + 2 (assignments, app roles)",
    );
    row(
        "incremental, 100 changes",
        &changed,
        "same 4; Entra: one cycle every ~40 min",
    );
    Ok(())
}

/// Requests to Graph since the last clear, the token endpoint left out.
fn graph_requests(fake: &FakeGraph) -> usize {
    fake.requests()
        .iter()
        .filter(|r| !r.uri.contains("/oauth2/"))
        .count()
}

fn row(name: &str, m: &Measured, model: &str) {
    println!(
        "| {name} | {:.2} s | {} | {model} |",
        m.elapsed.as_secs_f64(),
        m.graph_requests
    );
}

async fn measure(fake: &FakeGraph, job: &Job) -> anyhow::Result<Measured> {
    fake.clear_requests();
    let started = Instant::now();
    let report = run_cycle(job, &CycleOptions::default())
        .await?
        .ok_or_else(|| anyhow::anyhow!("cycle skipped"))?;
    let elapsed = started.elapsed();
    println!(
        "{:?} cycle: {:.2?}, {:?}",
        report.kind, elapsed, report.plan.summary
    );
    Ok(Measured {
        elapsed,
        graph_requests: fake
            .requests()
            .iter()
            .filter(|r| !r.uri.contains("/oauth2/"))
            .count(),
        report: Some(report),
    })
}

/// User i is in department group i mod D; every 10th is in Zoom-Licensed, every 20th in
/// Zoom-Phone; the department groups are assigned to the app. Returns the membership count.
fn seed(fake: &FakeGraph, users: usize, departments: usize) -> usize {
    for d in 0..departments {
        fake.add_group(&format!("g-{d:03}"), &format!("Dept-{d:03}"));
    }
    fake.add_group("g-licensed", "Zoom-Licensed");
    fake.add_group("g-phone", "Zoom-Phone");
    let mut memberships = 0;
    for i in 0..users {
        let id = format!("u-{i:06}");
        let mail = format!("user{i}@contoso.example");
        fake.add_user(
            &id,
            json!({"userPrincipalName": mail, "mail": mail, "givenName": format!("Given{i}"),
                "surname": format!("Family{i}"), "displayName": format!("User {i}"),
                "jobTitle": "Engineer", "department": format!("Dept-{:03}", i % departments),
                "accountEnabled": true}),
        );
        fake.add_member(&format!("g-{:03}", i % departments), &id);
        memberships += 1;
        if i % 10 == 0 {
            fake.add_member("g-licensed", &id);
            memberships += 1;
        }
        if i % 20 == 0 {
            fake.add_member("g-phone", &id);
            memberships += 1;
        }
    }
    for d in 0..departments {
        fake.assign(&format!("g-{d:03}"), Some("User"));
    }
    memberships
}

/// 40 renames, 15 join Zoom-Licensed, 10 leave it, 20 disables, 10 soft deletes, 5 hard
/// deletes: 65 updates, 30 disables, 5 deletes.
fn change_100(fake: &FakeGraph) {
    let id = |i: usize| format!("u-{i:06}");
    for i in 1..=40 {
        fake.update_user(&id(i), json!({"displayName": format!("Renamed {i}")}));
    }
    for i in (41..=60).filter(|i| i % 10 != 0).take(15) {
        fake.add_member("g-licensed", &id(i));
    }
    for k in 1..=10 {
        fake.remove_member("g-licensed", &id(k * 10 + 1000));
    }
    for i in 2001..=2020 {
        fake.update_user(&id(i), json!({"accountEnabled": false}));
    }
    for i in 3001..=3010 {
        fake.soft_delete_user(&id(i));
    }
    for i in 4001..=4005 {
        fake.hard_delete_user(&id(i));
    }
}
