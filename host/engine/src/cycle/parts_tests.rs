//! Planning a cycle in parts ([`CyclePlanner::take_part`]) plans exactly what planning it whole
//! does: over random snapshot sequences (the delta tests' generator), with part sizes from one
//! person up, the deletion threshold on or off, and the present people's records loaded up
//! front or with their part ([`CyclePlanner::plan_people_with`]).

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::matching::RecordKey;

use super::*;
use crate::config::Config;
use crate::delta::tests::{CONFIG, apply, snapshot, state};
use crate::testing::native_plugins;

/// A plan's parts put back together: every action, the held ones, the log in change order.
struct Whole {
    actions: Vec<String>,
    staged: Vec<String>,
    log: Vec<String>,
    summary: Summary,
}

fn sorted_json<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(i).expect("serializes"))
        .collect();
    out.sort();
    out
}

fn whole(plan: &Plan) -> Whole {
    Whole {
        actions: sorted_json(&plan.actions),
        staged: sorted_json(&plan.staged),
        log: sorted_json(&plan.log),
        summary: plan.summary.clone(),
    }
}

/// Plans `input` in parts of `part` people. With `by_part`, `input` holds only the records of
/// people gone, the others' keys in `unloaded`, and each part is planned with its people's
/// records from `by_part`.
fn in_parts(
    input: &CycleInput,
    part: usize,
    by_part: Option<&BTreeMap<String, ProvisionedRecord>>,
) -> (Whole, Plan) {
    let mut planner = CyclePlanner::new(input);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < input.people.len() {
        let end = (start + part).min(input.people.len());
        match by_part {
            Some(records) => {
                let batch = input.people[start..end]
                    .iter()
                    .filter_map(|p| records.get(&p.id).cloned())
                    .collect();
                planner.plan_people_with(start..end, batch);
            }
            None => planner.plan_people(start..end),
        }
        parts.push(planner.take_part());
        start = end;
    }
    let rest = planner.finish();
    let mut actions = Vec::new();
    let mut log = Vec::new();
    for p in &parts {
        actions.extend(p.actions.iter().cloned());
        log.extend(p.log.iter().cloned());
    }
    actions.extend(rest.actions.iter().cloned());
    log.extend(rest.log.iter().cloned());
    let together = Whole {
        actions: sorted_json(&actions),
        staged: sorted_json(&rest.staged),
        log: sorted_json(&log),
        summary: rest.summary.clone(),
    };
    (together, rest)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn planning_in_parts_reaches_the_same_plan_as_planning_whole(
        snapshots in proptest::collection::vec(proptest::collection::vec(state(), 8), 1..6),
        part in 1usize..5,
        threshold in any::<bool>(),
        records_by_part in any::<bool>(),
    ) {
        let config = Config::from_toml_str(CONFIG).expect("config");
        let mut pipeline = Pipeline::build(&config).expect("pipeline");
        // Low enough that people leaving in one snapshot cross it.
        pipeline.deletion_threshold.max = 2;
        let plugins = native_plugins(&config);
        let mut records = BTreeMap::new();
        for (cycle, states) in snapshots.iter().enumerate() {
            let people = snapshot(states);
            let loaded: Vec<ProvisionedRecord> = records.values().cloned().collect();
            let input = CycleInput {
                deletion_threshold: threshold,
                ..CycleInput::everyone("c", &people, &loaded, &pipeline, &plugins)
            };
            let planned = plan_cycle(&input);
            let present: std::collections::HashSet<&str> =
                people.iter().map(|p| p.id.as_str()).collect();
            let (gone, unloaded): (Vec<ProvisionedRecord>, Vec<ProvisionedRecord>) = loaded
                .iter()
                .cloned()
                .partition(|r| !present.contains(r.source_id.as_str()));
            let keys: Vec<RecordKey> = unloaded
                .iter()
                .map(|r| RecordKey {
                    source_id: r.source_id.clone(),
                    matching_value: r.matching_value.clone(),
                })
                .collect();
            let by_part_input = CycleInput {
                unloaded: &keys,
                ..CycleInput::everyone("c", &people, &gone, &pipeline, &plugins)
            };
            let (together, rest) = if records_by_part {
                in_parts(
                    &CycleInput { deletion_threshold: threshold, ..by_part_input },
                    part,
                    Some(&records),
                )
            } else {
                in_parts(&input, part, None)
            };
            let expected = whole(&planned);
            prop_assert_eq!(&expected.actions, &together.actions, "cycle {}", cycle);
            prop_assert_eq!(&expected.staged, &together.staged, "cycle {}", cycle);
            prop_assert_eq!(&expected.log, &together.log, "cycle {}", cycle);
            prop_assert_eq!(&expected.summary, &together.summary, "cycle {}", cycle);
            prop_assert_eq!(&planned.deletion_hold, &rest.deletion_hold, "cycle {}", cycle);
            apply(&mut records, &planned);
        }
    }
}

/// With seat budgets nothing is taken early: the allocation needs every claim.
#[test]
fn seat_budgets_keep_the_plan_whole() {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let mut pipeline = Pipeline::build(&config).expect("pipeline");
    pipeline.seats.insert("licensed".into(), 1);
    let plugins = native_plugins(&config);
    let people = snapshot(&[
        Some(crate::delta::tests::State {
            upn: 0,
            title: 0,
            enabled: true,
            guest: false,
            groups: 0b11,
        }),
        Some(crate::delta::tests::State {
            upn: 1,
            title: 0,
            enabled: true,
            guest: false,
            groups: 0b11,
        }),
    ]);
    let input = CycleInput::everyone("c", &people, &[], &pipeline, &plugins);
    let mut planner = CyclePlanner::new(&input);
    assert!(!planner.takes_parts());
    planner.plan_people(0..1);
    assert!(planner.take_part().log.is_empty());
    planner.plan_people(1..2);
    let rest = planner.finish();
    assert_eq!(rest.log.len(), 2);
    assert_eq!(whole(&rest).log, whole(&plan_cycle(&input)).log);
}
