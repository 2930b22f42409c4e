use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::config::Config;
use crate::cycle::{CycleInput, Pipeline, Plan, Population, plan_cycle};
use crate::matching::RecordKey;
use crate::membership::resolve_memberships;
use crate::model::{Attributes, Group, ProvisionedRecord, Value};
use crate::plan::Action;
use crate::plugin_stage::PinnedPlugins;
use crate::testing::native_plugins;

pub(crate) const CONFIG: &str = include_str!("../../testdata/zoom.toml");
const GROUPS: [&str; 5] = [
    "Zoom-Users",
    "Zoom-Licensed",
    "Zoom-Phone",
    "Dept-Sales",
    "Zoom-Webinar",
];

/// One person's state in one snapshot; `None` in a snapshot: not in the source.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// Index into a small pool, so that two people sometimes share a matching value.
    pub upn: usize,
    pub title: usize,
    pub enabled: bool,
    pub guest: bool,
    /// Bit i: member of `GROUPS[i]`.
    pub groups: u8,
}

pub(crate) fn state() -> impl Strategy<Value = Option<State>> {
    let present = (0usize..5, 0usize..3, any::<bool>(), any::<bool>(), 0u8..32).prop_map(
        |(upn, title, enabled, guest_roll, groups)| State {
            upn,
            title,
            // Mostly enabled, mostly staff, mostly assigned: the interesting paths are creates
            // and updates, with some leaving scope.
            enabled: enabled || upn % 2 == 0,
            guest: guest_roll && title == 2,
            groups: groups | u8::from(upn != 4),
        },
    );
    prop_oneof![1 => Just(None), 5 => present.prop_map(Some)]
}

/// The people of one snapshot, memberships resolved, in id order.
pub(crate) fn snapshot(states: &[Option<State>]) -> Vec<Person> {
    let mut groups: Vec<Group> = GROUPS
        .iter()
        .enumerate()
        .map(|(i, name)| Group {
            id: format!("g{i}"),
            display_name: (*name).into(),
            member_people: Vec::new(),
            member_groups: Vec::new(),
        })
        .collect();
    let mut people = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let Some(s) = state else { continue };
        let id = format!("p{i}");
        let mut a = Attributes::new();
        let mut put = |k: &str, v: String| {
            a.insert(k.into(), Value::Text(v.into()));
        };
        put("userPrincipalName", format!("user{}@example.com", s.upn));
        put("mail", format!("user{}@example.com", s.upn));
        put("displayName", format!("Person {i}"));
        put("jobTitle", format!("title {}", s.title));
        put(
            "employeeType",
            if s.guest { "Guest" } else { "Employee" }.into(),
        );
        let mut person = Person::new(id.clone(), a);
        person.enabled = s.enabled;
        people.push(person);
        for (g, group) in groups.iter_mut().enumerate() {
            if s.groups & (1 << g) != 0 {
                group.member_people.push(id.clone());
            }
        }
    }
    resolve_memberships(&mut people, &groups);
    people
}

/// What the target holds after every action of `plan` succeeded; returns the source ids whose
/// record was written (the store forgets their settled hashes).
pub(crate) fn apply(records: &mut BTreeMap<String, ProvisionedRecord>, plan: &Plan) -> Vec<String> {
    let mut written = Vec::new();
    for action in &plan.actions {
        if let Some(adopted) = &action.adopts {
            records.remove(adopted);
            written.push(adopted.clone());
        }
        match &action.record_after {
            Some(record) => {
                let mut record = record.clone();
                if matches!(action.action, Action::Create { .. }) {
                    record.target_id = format!("t-{}", action.source_id);
                }
                records.insert(action.source_id.clone(), record);
            }
            None => {
                records.remove(&action.source_id);
            }
        }
        written.push(action.source_id.clone());
    }
    written
}

/// The actions of a plan, comparable across plans: by source id, as JSON.
fn actions(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .actions
        .iter()
        .map(|a| serde_json::to_string(a).expect("an action serializes"))
        .collect();
    out.sort();
    out
}

struct World {
    records: BTreeMap<String, ProvisionedRecord>,
    settled: HashMap<String, InputHash>,
}

fn full_cycle(
    world: &mut World,
    people: &[Person],
    pipeline: &Pipeline,
    plugins: &PinnedPlugins,
) -> Plan {
    let records: Vec<ProvisionedRecord> = world.records.values().cloned().collect();
    let plan = plan_cycle(&CycleInput {
        deletion_threshold: false,
        ..CycleInput::everyone("c", people, &records, pipeline, plugins)
    });
    apply(&mut world.records, &plan);
    plan
}

/// A delta cycle as `muster sync` runs one: plan the changed people against their records and
/// the gone ones, apply, forget the written people's hashes, settle what is settled.
fn delta_cycle(
    world: &mut World,
    people: &[Person],
    pipeline: &Pipeline,
    plugins: &PinnedPlugins,
) -> (Plan, usize) {
    let hashes: Vec<InputHash> = people.iter().map(person_hash).collect();
    let changed = changed(people, &hashes, |id| world.settled.get(id).copied());
    let present: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
    let (mut loaded, mut unloaded) = (Vec::new(), Vec::new());
    for record in world.records.values() {
        if changed.contains(&record.source_id) || !present.contains(record.source_id.as_str()) {
            loaded.push(record.clone());
        } else {
            unloaded.push(RecordKey {
                source_id: record.source_id.clone(),
                matching_value: record.matching_value.clone(),
            });
        }
    }
    let plan = plan_cycle(&CycleInput {
        deletion_threshold: false,
        unloaded: &unloaded,
        population: Population::Changed(&changed),
        ..CycleInput::everyone("c", people, &loaded, pipeline, plugins)
    });
    for id in apply(&mut world.records, &plan) {
        world.settled.remove(&id);
    }
    let hash_of: HashMap<&str, InputHash> = people
        .iter()
        .zip(&hashes)
        .map(|(p, h)| (p.id.as_str(), *h))
        .collect();
    for entry in &plan.log {
        let id = entry.source_identity.id.as_str();
        match hash_of.get(id) {
            Some(hash) if is_settled(entry) => {
                world.settled.insert(id.to_string(), *hash);
            }
            Some(_) => {}
            None => {
                world.settled.remove(id);
            }
        }
    }
    (plan, people.len() - changed.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Over any sequence of snapshots, a delta cycle sends exactly what a full cycle sends, and
    /// the target ends up the same.
    #[test]
    fn delta_planning_reaches_the_same_plan_as_full_planning(
        snapshots in proptest::collection::vec(proptest::collection::vec(state(), 8), 1..7)
    ) {
        let config = Config::from_toml_str(CONFIG).expect("config");
        let pipeline = Pipeline::build(&config).expect("pipeline");
        let plugins = native_plugins(&config);
        let mut full = World { records: BTreeMap::new(), settled: HashMap::new() };
        let mut delta = World { records: BTreeMap::new(), settled: HashMap::new() };
        for (cycle, states) in snapshots.iter().enumerate() {
            let people = snapshot(states);
            let full_plan = full_cycle(&mut full, &people, &pipeline, &plugins);
            let (delta_plan, _) = delta_cycle(&mut delta, &people, &pipeline, &plugins);
            prop_assert_eq!(actions(&full_plan), actions(&delta_plan), "cycle {}", cycle);
            prop_assert_eq!(&full.records, &delta.records, "cycle {}", cycle);
        }
    }
}

#[test]
fn an_unchanged_snapshot_plans_nobody() {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let states: Vec<Option<State>> = (0..5)
        .map(|i| {
            Some(State {
                upn: i,
                title: 0,
                enabled: true,
                guest: false,
                groups: 0b11,
            })
        })
        .collect();
    let people = snapshot(&states);
    let mut world = World {
        records: BTreeMap::new(),
        settled: HashMap::new(),
    };
    let (first, unchanged) = delta_cycle(&mut world, &people, &pipeline, &plugins);
    assert_eq!((first.summary.creates, unchanged), (5, 0));
    let (second, unchanged) = delta_cycle(&mut world, &people, &pipeline, &plugins);
    assert_eq!((second.log.len(), unchanged), (0, 5));
    // One person joins Zoom-Phone: only they are planned, to an update.
    let mut changed_states = states.clone();
    if let Some(s) = changed_states[2].as_mut() {
        s.groups |= 0b100;
    }
    let (third, unchanged) =
        delta_cycle(&mut world, &snapshot(&changed_states), &pipeline, &plugins);
    assert_eq!(
        (third.log.len(), third.summary.updates, unchanged),
        (1, 1, 4)
    );
}

#[test]
fn the_hash_covers_what_a_plan_reads() {
    let people = snapshot(&[Some(State {
        upn: 0,
        title: 0,
        enabled: true,
        guest: false,
        groups: 0b11,
    })]);
    let base = person_hash(&people[0]);
    assert_eq!(base, person_hash(&people[0].clone()));
    let mut disabled = people[0].clone();
    disabled.enabled = false;
    let mut regrouped = people[0].clone();
    regrouped.transitive_groups.pop();
    let mut retitled = people[0].clone();
    retitled
        .attributes
        .insert("jobTitle".into(), Value::Text("x".into()));
    for other in [disabled, regrouped, retitled] {
        assert_ne!(base, person_hash(&other));
    }
}

#[test]
fn a_failed_person_is_planned_again_when_what_failed_them_goes_away() {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let staff = |upn| State {
        upn,
        title: 0,
        enabled: true,
        guest: false,
        groups: 0b11,
    };
    // p0 and p1 share a matching value: p0 is created, p1 fails as a duplicate.
    let both = snapshot(&[Some(staff(0)), Some(staff(0))]);
    let mut world = World {
        records: BTreeMap::new(),
        settled: HashMap::new(),
    };
    let (first, _) = delta_cycle(&mut world, &both, &pipeline, &plugins);
    assert_eq!((first.summary.creates, first.summary.failed), (1, 1));
    // p0 leaves: p1, unchanged, is planned again and adopts p0's record.
    let alone = snapshot(&[None, Some(staff(0))]);
    let (second, unchanged) = delta_cycle(&mut world, &alone, &pipeline, &plugins);
    assert_eq!(unchanged, 0, "{:?}", second.log);
    assert!(
        second
            .actions
            .iter()
            .any(|a| a.adopts.as_deref() == Some("p0")),
        "{:?}",
        second.actions
    );
}
