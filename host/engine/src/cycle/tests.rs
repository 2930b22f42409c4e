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
        seats: Default::default(),
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

/// `licensed` for Zoom-Licensed, `+phone` for Zoom-Phone, else basic; Zoom's profile.
fn seats_pipeline(seats: &[(&str, u32)], max: u32) -> (Pipeline, PinnedPlugins) {
    let mut pipeline = pipeline(DeprovisioningConfig::default(), max);
    pipeline.profile = TargetProfile::new(ProfileName::Zoom, None);
    pipeline.seats = seats.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let config = r#"{"rules":[{"group":"Zoom-Licensed","plan":"licensed"},
        {"group":"Zoom-Phone","add_on":"phone"}],"default_plan":"basic"}"#;
    let plugins = PinnedPlugins {
        transforms: vec![],
        license: Some(crate::plugin_stage::Pinned {
            plugin: std::sync::Arc::new(crate::testing::LicenseByGroup::default()),
            config: config.into(),
            inputs: Default::default(),
        }),
    };
    (pipeline, plugins)
}

fn member(id: &str, created: Option<&str>, groups: &[&str]) -> Person {
    let mut p = person(id);
    if let Some(created) = created {
        p.attributes
            .insert(crate::seats::CREATED.into(), Value::Text(created.into()));
    }
    p.transitive_groups = groups
        .iter()
        .map(|g| crate::model::GroupRef {
            id: g.to_lowercase(),
            display_name: g.to_string(),
            via: None,
        })
        .collect();
    p
}

fn licensed_record(id: &str, license: License) -> ProvisionedRecord {
    let mut r = record(id, false);
    r.last_applied
        .insert("userType".into(), Value::Text("Licensed".into()));
    r.license = Some(license);
    r
}

/// The license each planned person ends with: the action's record, or the record kept.
fn licenses(plan: &Plan) -> Vec<(String, String)> {
    plan.actions
        .iter()
        .map(|a| {
            let license = a.record_after.as_ref().and_then(|r| r.license.as_ref());
            let described = license.map(crate::plugin_stage::describe);
            (a.source_id.clone(), described.unwrap_or_default())
        })
        .collect()
}

#[test]
fn seat_budgets_go_to_holders_then_first_askers() {
    let (pipeline, plugins) = seats_pipeline(&[("licensed", 2), ("phone", 1)], 500);
    let both = ["Zoom-Licensed", "Zoom-Phone"];
    let people = vec![
        member("holder", None, &["Zoom-Licensed"]),
        member("n3", None, &both),
        member("n2", Some("2021-05-01T00:00:00Z"), &both),
        member("n1", Some("2020-05-01T00:00:00Z"), &both),
        member("leaver", None, &[]),
    ];
    let records = vec![
        licensed_record("holder", License::new("licensed", [] as [&str; 0])),
        licensed_record("leaver", License::new("licensed", [] as [&str; 0])),
    ];
    let plan = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    let got = licenses(&plan);
    let want = [
        ("n3", "basic"),
        ("n2", "basic"),
        ("n1", "licensed+phone"),
        ("leaver", "basic"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want, "the leaver's seat goes to the first asker");
    let freeing: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.frees_seats)
        .map(|a| a.source_id.as_str())
        .collect();
    assert_eq!(freeing, ["leaver"], "the seat is given back first");
    // The log keeps its order and change ids; the limited people say why.
    let ids: Vec<&str> = plan.log.iter().map(|e| e.change_id.as_str()).collect();
    assert_eq!(ids, ["c-1", "c-2", "c-3", "c-4", "c-5"]);
    let n2 = &plan.log[2];
    assert_eq!(n2.source_identity.id, "n2");
    let seats = n2
        .provisioning_steps
        .iter()
        .find(|s| s.name.as_str() == "seats")
        .expect("a seats step");
    assert_eq!(
        seats.description.as_str(),
        "seat budget exhausted: licensed 2/2, phone 1/1; provisioned with basic"
    );
    assert!(
        n2.provisioning_steps
            .iter()
            .any(|s| s.name.starts_with("license:")),
        "the rule's decision stays in the log"
    );
    let Some(Action::Create { attributes }) = plan.actions.get(1).map(|a| &a.action) else {
        panic!("n2 is created");
    };
    assert_eq!(
        attributes.get("userType"),
        Some(&Value::Text("Basic".into()))
    );
    assert_eq!(
        plan.summary.seats["licensed"],
        crate::seats::SeatUse { used: 2, budget: 2 }
    );
    assert_eq!(
        plan.summary.seats["phone"],
        crate::seats::SeatUse { used: 1, budget: 1 }
    );
}

#[test]
fn a_person_kept_off_a_seat_with_nothing_else_to_change_is_skipped_with_the_reason() {
    let (pipeline, plugins) = seats_pipeline(&[("licensed", 1)], 500);
    let basic = License::new("basic", [] as [&str; 0]);
    let mut asker = licensed_record("asker", basic);
    asker
        .last_applied
        .insert("userType".into(), Value::Text("Basic".into()));
    let records = vec![
        licensed_record("holder", License::new("licensed", [] as [&str; 0])),
        asker,
    ];
    let people = vec![
        member("holder", None, &["Zoom-Licensed"]),
        member("asker", None, &["Zoom-Licensed"]),
    ];
    let plan = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let info = &plan.log[1].provisioning_status_info;
    assert_eq!(info.status, Status::Skipped);
    assert_eq!(info.error_code.as_deref(), Some(SEAT_BUDGET_EXHAUSTED));
    assert_eq!(plan.summary.skipped, 1);
}

#[test]
fn a_downgrade_held_by_the_deletion_threshold_frees_no_seat() {
    let (pipeline, plugins) = seats_pipeline(&[("licensed", 1)], 0);
    let people = vec![
        member("newcomer", None, &["Zoom-Licensed"]),
        member("leaver", None, &[]),
    ];
    let records = vec![licensed_record(
        "leaver",
        License::new("licensed", [] as [&str; 0]),
    )];
    let plan = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    assert!(plan.deletion_hold.is_some());
    assert_eq!(
        licenses(&plan),
        [("newcomer".to_string(), "basic".to_string())]
    );
    assert_eq!(plan.staged.len(), 1, "the leaver's downgrade is held back");
}

#[test]
fn create_defaults_are_sent_once_and_checks_fail_the_person() {
    let mut pipeline = pipeline(DeprovisioningConfig::default(), 500);
    let login = "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso";
    let overrides = crate::config::ProfileConfig {
        create_defaults: Attributes::from([(login.into(), Value::Bool(true))]),
        checks: vec![crate::config::ValueCheck {
            path: "userName".into(),
            pattern: "^[a-z0-9]+@x\\.com$".into(),
            message: "must be a lower-case address at x.com".into(),
        }],
        ..Default::default()
    };
    pipeline.profile = TargetProfile::new(ProfileName::Generic, Some(&overrides));
    let plugins = PinnedPlugins::default();
    let mut bad = person("b");
    bad.attributes.insert(
        "userPrincipalName".into(),
        Value::Text("Bad Name@x.com".into()),
    );
    let people = vec![person("new"), person("old"), bad];
    let records = vec![record("old", false)];
    let plan = plan_cycle(&CycleInput::everyone(
        "c", &people, &records, &pipeline, &plugins,
    ));
    let Some(Action::Create { attributes }) = plan.actions.first().map(|a| &a.action) else {
        panic!("a create first: {:?}", plan.actions);
    };
    assert_eq!(attributes.get(login), Some(&Value::Bool(true)));
    // The existing user is not rewritten with the default.
    assert_eq!(plan.actions.len(), 1, "{:?}", plan.actions);
    let failed = &plan.log[2].provisioning_status_info;
    assert_eq!(failed.error_code.as_deref(), Some(PROFILE_CHECK_FAILED));
    assert!(
        failed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("userName = `Bad Name@x.com` must be")),
        "{failed:?}"
    );
}

#[test]
fn plugins_run_on_several_threads_plan_exactly_what_one_thread_plans() {
    use crate::testing::{native_plugins, records_after, synthetic_directory};
    let config = Config::from_toml_str(include_str!("../../testdata/zoom.toml")).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let people = synthetic_directory(3_000);
    let first = plan_cycle(&CycleInput::everyone(
        "c1",
        &people,
        &[],
        &pipeline,
        &plugins,
    ));
    // Half the people change groups, so the second plan has updates, no-changes and creates.
    let records: Vec<ProvisionedRecord> = records_after(&first)
        .into_iter()
        .filter(|r| !r.source_id.ends_with('7'))
        .collect();
    let mut changed = people.clone();
    for person in changed.iter_mut().step_by(2) {
        person
            .transitive_groups
            .retain(|g| g.display_name != "Zoom-Phone");
    }
    let plan = |threads: usize| {
        let mut plan = plan_cycle(&CycleInput {
            threads,
            record: true,
            deletion_threshold: false,
            ..CycleInput::everyone("c2", &changed, &records, &pipeline, &plugins)
        });
        plan.blobs.sort_by(|a, b| a.hash.cmp(&b.hash));
        serde_json::to_value(&plan).expect("a plan serializes")
    };
    let one = plan(1);
    assert!(
        one["summary"]["updates"].as_u64().unwrap_or(0) > 0,
        "{}",
        one["summary"]
    );
    assert!(
        one["summary"]["creates"].as_u64().unwrap_or(0) > 0,
        "{}",
        one["summary"]
    );
    assert_eq!(one, plan(4));
}
