use super::*;
use crate::config::{ApplyMode, DeletionThresholdConfig, ProfileName, ScopeConfig, ScopeMode};
use crate::model::{Attributes, License};

fn pipeline(deprovisioning: DeprovisioningConfig, max: u32) -> Pipeline {
    let mapping = MappingConfig {
        target: "userName".into(),
        source: Some("userPrincipalName".into()),
        constant: None,
        default: None,
        apply: ApplyMode::Always,
        matching_precedence: Some(1),
    };
    Pipeline {
        scope: Scope::build(&ScopeConfig {
            mode: ScopeMode::All,
            ..Default::default()
        })
        .expect("scope"),
        mappings: vec![mapping.clone()],
        matching: vec![mapping],
        profile: TargetProfile::new(ProfileName::Generic, None),
        deprovisioning,
        deletion_threshold: DeletionThresholdConfig {
            max,
            ..DeletionThresholdConfig::default()
        },
    }
}

fn person(id: &str) -> Person {
    let upn = Value::Text(format!("{id}@x.com").into());
    Person::new(id, Attributes::from([("userPrincipalName".into(), upn)]))
}

fn record(id: &str, disabled: bool) -> ProvisionedRecord {
    ProvisionedRecord {
        source_id: id.into(),
        target_id: format!("t-{id}"),
        matching_value: format!("{id}@x.com"),
        last_applied: Attributes::from([
            ("active".into(), Value::Bool(!disabled)),
            ("userName".into(), Value::Text(format!("{id}@x.com").into())),
        ]),
        license: None::<License>,
        plugin_versions: Default::default(),
        disabled,
    }
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.log
        .iter()
        .map(|e| format!("{}:{:?}", e.source_identity.id, e.provisioning_action).to_lowercase())
        .collect()
}

#[test]
fn deprovisioning_policy() {
    let default = DeprovisioningConfig::default();
    let delete_all = DeprovisioningConfig {
        on_source_disable: DeprovisionAction::Delete,
        on_out_of_scope: DeprovisionAction::Delete,
        ..default.clone()
    };
    let skip = DeprovisioningConfig {
        skip_out_of_scope_deletions: true,
        ..default.clone()
    };
    let mut disabled = person("b");
    disabled.enabled = false;
    let mut soft = person("c");
    soft.soft_deleted = true;
    let mut out_of_scope = person("d");
    out_of_scope.attributes.clear();
    let people = vec![person("a"), disabled, soft, out_of_scope];
    // "d" has no userPrincipalName: ImportSkipped, not out of scope; use a filter scope for it.
    let records = vec![
        record("a", false),
        record("b", false),
        record("c", true),
        record("e", false),
    ];
    // (policy, expected log)
    let cases = [
        (
            &default,
            vec!["a:other", "b:disable", "c:other", "d:other", "e:delete"],
        ),
        (
            &delete_all,
            vec!["a:other", "b:delete", "c:delete", "d:other", "e:delete"],
        ),
        (
            &skip,
            vec!["a:other", "b:disable", "c:other", "d:other", "e:delete"],
        ),
    ];
    for (i, (policy, expected)) in cases.into_iter().enumerate() {
        let pipeline = pipeline(policy.clone(), 100);
        let plugins = PinnedPlugins::default();
        let input = CycleInput::everyone("c", &people, &records, &pipeline, &plugins);
        assert_eq!(kinds(&plan_cycle(&input)), expected, "case {i}");
    }
}

#[test]
fn out_of_scope_and_skip_out_of_scope_deletions() {
    let filter = crate::config::ScopingFilterConfig {
        name: None,
        clauses: vec![crate::config::ClauseConfig {
            attribute: "userPrincipalName".into(),
            operator: crate::config::Operator::EndsWith,
            value: Some("@keep.com".into()),
        }],
    };
    let scope = ScopeConfig {
        mode: ScopeMode::All,
        filters: vec![filter],
        ..Default::default()
    };
    let people = vec![person("a")];
    let records = vec![record("a", false)];
    for (skip, expected) in [(false, "a:disable"), (true, "a:other")] {
        let mut pipeline = pipeline(
            DeprovisioningConfig {
                skip_out_of_scope_deletions: skip,
                ..Default::default()
            },
            10,
        );
        pipeline.scope = Scope::build(&scope).expect("scope");
        let plugins = PinnedPlugins::default();
        let input = CycleInput::everyone("c", &people, &records, &pipeline, &plugins);
        assert_eq!(kinds(&plan_cycle(&input)), vec![expected], "skip = {skip}");
    }
}

#[test]
fn deletion_threshold_holds_back_every_deprovisioning() {
    let records: Vec<ProvisionedRecord> =
        (0..4).map(|i| record(&format!("gone{i}"), false)).collect();
    let people = vec![person("new")];
    let plugins = PinnedPlugins::default();
    // (threshold, actions sent, staged)
    for (max, sent, staged) in [(4, 5, 0), (3, 1, 4)] {
        let pipeline = pipeline(DeprovisioningConfig::default(), max);
        let input = CycleInput::everyone("c", &people, &records, &pipeline, &plugins);
        let plan = plan_cycle(&input);
        assert_eq!(
            (plan.actions.len(), plan.staged.len()),
            (sent, staged),
            "max {max}"
        );
        assert_eq!(plan.deletion_hold.is_some(), staged > 0);
        let held = plan
            .log
            .iter()
            .filter(|e| e.provisioning_action == ProvisioningAction::StagedDelete)
            .count();
        assert_eq!(held, staged);
    }
}

#[test]
fn reenable_adopt_and_duplicates() {
    let people = [person("a"), person("b"), person("b2")];
    let mut b2_upn = people[2].clone();
    b2_upn
        .attributes
        .insert("userPrincipalName".into(), Value::Text("b@x.com".into()));
    let people = vec![people[0].clone(), people[1].clone(), b2_upn];
    // "a" was disabled and is back: re-enabled. "old" is gone but "new" has its userName: adopted.
    let mut old = record("old", false);
    old.matching_value = "new@x.com".into();
    let records = vec![record("a", true), old];
    let mut people = people;
    people.push(person("new"));
    let pipeline = pipeline(DeprovisioningConfig::default(), 10);
    let plugins = PinnedPlugins::default();
    let input = CycleInput::everyone("c", &people, &records, &pipeline, &plugins);
    let plan = plan_cycle(&input);
    assert_eq!(
        kinds(&plan),
        vec!["a:update", "b:create", "b2:other", "new:update"]
    );
    let adopted = plan
        .actions
        .iter()
        .find(|a| a.source_id == "new")
        .expect("new");
    assert_eq!(adopted.adopts.as_deref(), Some("old"));
    let reenabled = plan.actions.iter().find(|a| a.source_id == "a").expect("a");
    assert_eq!(
        reenabled.record_after.as_ref().map(|r| r.disabled),
        Some(false)
    );
}

#[test]
fn only_listed_people_are_planned_and_only_their_records_can_be_gone() {
    // "a" is listed and present, "gone" is listed without a person (its delete), "e" is not
    // listed and has no person: in a whole cycle it would be deleted, here it is left alone.
    let people = vec![person("a"), person("b")];
    let records = vec![record("gone", false), record("e", false)];
    let pipeline = pipeline(DeprovisioningConfig::default(), 1);
    let plugins = PinnedPlugins::default();
    let only: std::collections::HashSet<String> =
        ["a", "gone"].into_iter().map(String::from).collect();
    let input = CycleInput {
        population: Population::Only(&only),
        ..CycleInput::everyone("c", &people, &records, &pipeline, &plugins)
    };
    let plan = plan_cycle(&input);
    assert_eq!(kinds(&plan), vec!["a:create", "gone:delete"]);
    assert_eq!(plan.summary.creates, 1);
    assert_eq!(plan.summary.deletes, 1);
    // The whole cycle plans "b" and deletes "e" too: two deletes, over the threshold of 1,
    // which holds both back.
    let everyone = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    assert_eq!(everyone.summary.creates, 2);
    assert_eq!(everyone.summary.staged, 2);
}

#[test]
fn the_deletion_threshold_switch_turns_the_hold_off() {
    let records = vec![record("x", false), record("y", false)];
    let pipeline = pipeline(DeprovisioningConfig::default(), 1);
    let plugins = PinnedPlugins::default();
    let held = plan_cycle(&CycleInput::everyone(
        "c",
        &[],
        &records,
        &pipeline,
        &plugins,
    ));
    assert_eq!((held.actions.len(), held.staged.len()), (0, 2));
    let input = CycleInput {
        deletion_threshold: false,
        ..CycleInput::everyone("c", &[], &records, &pipeline, &plugins)
    };
    let sent = plan_cycle(&input);
    assert_eq!((sent.actions.len(), sent.staged.len()), (2, 0));
    assert!(sent.deletion_hold.is_none());
}

#[test]
fn a_create_carries_the_path_it_was_matched_by() {
    let people = vec![person("a")];
    let pipeline = pipeline(DeprovisioningConfig::default(), 10);
    let plugins = PinnedPlugins::default();
    let plan = plan_cycle(&CycleInput::everyone(
        "c",
        &people,
        &[],
        &pipeline,
        &plugins,
    ));
    assert_eq!(plan.actions[0].lookup_path.as_deref(), Some("userName"));
    let records = vec![record("a", true)];
    let again = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    // Re-enabled: an update, which needs no look-up.
    assert_eq!(kinds(&again), vec!["a:update"]);
    assert!(again.actions.iter().all(|a| a.lookup_path.is_none()));
}
