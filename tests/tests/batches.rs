//! A cycle planned, applied and logged in batches (`CycleOptions::batch`) does what the same
//! cycle planned whole does: two jobs, each with its own simulator, one planning 3 people at a
//! time and one everyone at once, go through the same directory changes (creates, a matching
//! value two people share across batches, updates, departures held by the deletion threshold
//! and then released, delta cycles, full plans, an orphan adopted) and must log, count, send and
//! record the same.

use std::collections::BTreeMap;

use muster::sync::{CycleOptions, CycleReport};
use muster_tests::{Directory, Harness, crowd, zoom_config};
use store::CycleCounts;

const BATCH: usize = 3;

/// What a cycle did, comparable across the two jobs: its counts without the timing-free
/// extras, its stored log as person → action/status, and the records without target ids.
#[derive(Debug, PartialEq)]
struct Outcome {
    counts: CycleCounts,
    logged: BTreeMap<String, String>,
    records: BTreeMap<String, String>,
    reasons: BTreeMap<(String, String), usize>,
}

fn outcome(h: &Harness, report: &CycleReport) -> Outcome {
    let mut counts = report.counts.clone();
    // Requests sent can differ only by retries; both simulators answer without faults.
    counts.writes = 0;
    let logged = h
        .logs(report)
        .into_values()
        .map(|e| (e.person_id, format!("{}/{}", e.action, e.status)))
        .collect();
    let records = h
        .records()
        .into_iter()
        .map(|(id, mut r)| {
            r.target_id.clear();
            (id, serde_json::to_string(&r).expect("a record serializes"))
        })
        .collect();
    Outcome {
        counts,
        logged,
        records,
        reasons: report.reasons.clone(),
    }
}

async fn both(
    batched: &Harness,
    whole: &Harness,
    d: &Directory,
    options: CycleOptions,
) -> (CycleReport, CycleReport) {
    batched.write(d);
    whole.write(d);
    let b = batched
        .cycle_with(&CycleOptions {
            batch: Some(BATCH),
            ..options.clone()
        })
        .await;
    let w = whole
        .cycle_with(&CycleOptions {
            batch: Some(muster::sync::WHOLE),
            ..options
        })
        .await;
    assert_eq!(outcome(batched, &b), outcome(whole, &w));
    assert_eq!(b.plan.summary, w.plan.summary);
    assert_eq!(b.status, w.status);
    (b, w)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_in_batches_does_what_the_whole_cycle_does() {
    let config = zoom_config(None, "[deletion_threshold]\nmax = 2\n");
    let batched = Harness::start(&config, &[]).await;
    let whole = Harness::start(&config, &[]).await;

    // Initial: 11 people; p-10 takes p-2's userName, three batches later.
    let mut d = crowd(11);
    let taken = d.get("p-2").user_name().to_string();
    let own = d.get("p-10").user_name().to_string();
    d.get("p-10").set("userPrincipalName", taken);
    let (b, w) = both(&batched, &whole, &d, CycleOptions::default()).await;
    assert_eq!(b.counts.created, 10, "{:?}", b.reasons);
    assert_eq!(b.counts.failed, 1, "{:?}", b.reasons);
    assert!(
        b.reasons
            .keys()
            .any(|(_, r)| r.starts_with("DuplicateSourceEntries")),
        "{:?}",
        b.reasons
    );
    // Batched, the report's plan holds only the last part; whole, everyone.
    assert_eq!(w.plan.log.len(), 11);
    assert!(b.plan.log.is_empty(), "{:?}", b.plan.log);
    assert_eq!(batched.sim.state.users().len(), 10);

    // Updates in several batches (p-10 gets its own userName back and is created), and four
    // departures: over the threshold, held.
    d.get("p-10").set("userPrincipalName", own);
    d.get("p-3").set("jobTitle", "Manager");
    d.get("p-7").set("jobTitle", "Manager");
    d.join("Zoom-Phone", &["p-4"]);
    for id in ["p-5", "p-8"] {
        d.remove(id);
    }
    for id in ["p-6", "p-9"] {
        d.get(id).enabled(false);
    }
    let (b, _) = both(&batched, &whole, &d, CycleOptions::default()).await;
    assert_eq!(
        (b.counts.created, b.counts.updated, b.counts.staged),
        (1, 3, 4),
        "{:?}",
        b.counts
    );
    assert_eq!(b.plan.staged.len(), 4);

    // Released by an admin.
    let release = CycleOptions {
        allow_deletes: true,
        ..CycleOptions::default()
    };
    let (b, _) = both(&batched, &whole, &d, release).await;
    assert_eq!(
        (b.counts.deleted, b.counts.disabled),
        (2, 2),
        "{:?}",
        b.counts
    );

    // Nothing changed: a delta cycle plans only the two people disabled by the release (their
    // plan was held, so not settled); then one person changes, and only they are planned.
    let (b, _) = both(&batched, &whole, &d, CycleOptions::default()).await;
    assert_eq!(b.counts.planned, Some(2), "{:?}", b.counts);
    d.get("p-11").set("jobTitle", "Lead");
    let (b, _) = both(&batched, &whole, &d, CycleOptions::default()).await;
    assert_eq!((b.counts.planned, b.counts.updated), (Some(1), 1));

    // A full plan in batches settles everyone again (its first batch's settlement replaces
    // the earlier ones, the later batches' add to it): the next delta cycle plans nobody.
    let full = CycleOptions {
        full_plan: true,
        ..CycleOptions::default()
    };
    let (b, _) = both(&batched, &whole, &d, full.clone()).await;
    assert_eq!(b.counts.unchanged, 7, "{:?}", b.counts);
    let (b, _) = both(&batched, &whole, &d, CycleOptions::default()).await;
    assert_eq!(b.counts.planned, Some(0), "{:?}", b.counts);

    // A full plan in batches reads each batch's records with it, and those of people gone up
    // front: p-1 leaves, and a newcomer at the end of the source takes p-1's userName and
    // adopts its account, three batches after the first.
    let gone_name = d.get("p-1").user_name().to_string();
    d.remove("p-1");
    d.get("p-3").set("jobTitle", "Director");
    d.person("p-12", "Given12", "Family12");
    d.get("p-12").set("userPrincipalName", gone_name);
    d.join("Zoom-Users", &["p-12"]);
    let (b, _) = both(&batched, &whole, &d, full).await;
    assert_eq!(
        (b.counts.created, b.counts.updated, b.counts.deleted),
        (0, 2, 0),
        "{:?}",
        b.counts
    );
    // The account moved to the newcomer with the orphan's record, in one transaction.
    let records = batched.records();
    assert!(!records.contains_key("p-1"), "{:?}", records.keys());
    assert!(records.contains_key("p-12"), "{:?}", records.keys());
    assert_eq!(
        batched.sim.state.users().len(),
        whole.sim.state.users().len()
    );
}
