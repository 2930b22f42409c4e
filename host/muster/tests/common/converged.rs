//! The end state a crash test must reach: one target user per person with exactly the clean
//! run's attributes, every record linked to its person's user, no intent left pending, and the
//! users a lost answer left behind adopted.

use std::collections::{BTreeMap, BTreeSet};

use scim::flat::Flat;
use serde_json::{Map, Value as Json, json};

use super::directory::Workdir;
use super::sim::Sim;

/// Exactly one target user per person, each with exactly the clean run's attributes (licence
/// fields included), and every record in the state store linked to the right user.
pub fn assert_target_state(sim: &Sim, work: &Workdir, expected: &BTreeMap<String, Flat>) {
    let store = store::Store::open(&work.state()).expect("open the state");
    assert_target_state_in(sim, work, expected, &store);
}

/// [`assert_target_state`] with the state in `store` (a PostgreSQL one, say).
#[allow(dead_code)] // Not every test binary sharing `common` uses both.
pub fn assert_target_state_in(
    sim: &Sim,
    work: &Workdir,
    expected: &BTreeMap<String, Flat>,
    store: &store::Store,
) {
    let users = sim.raw_users(work.path());
    let mut by_name: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for (id, attrs) in &users {
        let name = attrs["userName"]
            .as_str()
            .expect("a userName")
            .to_lowercase();
        by_name.entry(name).or_default().push(id);
    }
    let duplicates: Vec<_> = by_name.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(duplicates.is_empty(), "duplicate users: {duplicates:?}");
    let missing: Vec<_> = expected
        .keys()
        .filter(|n| !by_name.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{} people missing: {missing:?}",
        missing.len()
    );
    assert_eq!(users.len(), expected.len(), "users nobody asked for");

    let mut wrong = Vec::new();
    for (id, attrs) in &users {
        let mut user = attrs.clone();
        user.insert("schemas".into(), json!([scim::resource::USER_SCHEMA]));
        let actual = scim::flat::flatten(&Json::Object(user));
        let name = attrs["userName"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if actual != expected[&name] {
            wrong.push(diff(id, &actual, &expected[&name]));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} users differ from a clean run, e.g.:\n{}",
        wrong.len(),
        wrong.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_records_linked(store, &users, expected.len());
}

fn diff(id: &str, actual: &Flat, expected: &Flat) -> String {
    let paths: BTreeSet<&String> = actual.keys().chain(expected.keys()).collect();
    let lines: Vec<String> = paths
        .into_iter()
        .filter(|p| actual.get(*p) != expected.get(*p))
        .map(|p| format!("    {p}: {:?} (want {:?})", actual.get(p), expected.get(p)))
        .collect();
    format!("  user {id}:\n{}", lines.join("\n"))
}

fn assert_records_linked(
    store: &store::Store,
    users: &BTreeMap<String, Map<String, Json>>,
    people: usize,
) {
    let records = store.records().expect("records");
    assert_eq!(records.len(), people, "one record per person");
    for record in records.values() {
        let user = users.get(&record.target_id).unwrap_or_else(|| {
            panic!(
                "{} is linked to {}, which the target does not have",
                record.source_id, record.target_id
            )
        });
        assert!(
            user["userName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&record.matching_value)),
            "{} is linked to someone else's user {}",
            record.source_id,
            record.target_id
        );
    }
    assert!(
        store.pending_intents().expect("intents").is_empty(),
        "intents left pending after a completed cycle"
    );
}

/// Provisioning log entries (all cycles) whose export adopted an existing user.
pub fn adopted_count(work: &Workdir) -> usize {
    let store = store::Store::open(&work.state()).expect("open the state");
    let query = store::LogQuery {
        limit: usize::MAX,
        ..store::LogQuery::default()
    };
    let logs = store.logs(&query).expect("read the provisioning log");
    logs.iter()
        .filter(|l| l.action == "create" && l.detail.to_string().contains("\"adopted\""))
        .count()
}

/// The users the target has but the state has no record of, taken while no muster runs: writes
/// whose answers a kill lost (a held create's at least, by construction). userName → target id.
pub struct LostAnswers(pub BTreeMap<String, String>);

impl LostAnswers {
    pub fn now(sim: &Sim, work: &Workdir) -> LostAnswers {
        let store = store::Store::open(&work.state()).expect("open the state");
        let linked: BTreeSet<String> = store
            .records()
            .expect("records")
            .into_values()
            .map(|r| r.target_id)
            .collect();
        let lost = sim
            .state
            .users()
            .iter()
            .filter_map(|u| {
                let id = u["id"].as_str()?.to_string();
                let name = u["userName"].as_str()?.to_lowercase();
                (!linked.contains(&id)).then_some((name, id))
            })
            .collect();
        LostAnswers(lost)
    }

    /// Each of these users is the one its person's record links to now: adopted by a look-up,
    /// neither created twice nor left behind.
    pub fn assert_adopted(&self, work: &Workdir) {
        assert!(
            !self.0.is_empty(),
            "the held create left no user without a record"
        );
        let store = store::Store::open(&work.state()).expect("open the state");
        let by_name: BTreeMap<String, String> = store
            .records()
            .expect("records")
            .into_values()
            .map(|r| (r.matching_value.to_lowercase(), r.target_id))
            .collect();
        for (name, id) in &self.0 {
            assert_eq!(
                by_name.get(name),
                Some(id),
                "{name}: the user a lost answer left behind was not adopted"
            );
        }
    }
}
