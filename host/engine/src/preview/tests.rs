use std::sync::Arc;

use super::*;
use crate::config::{
    ApplyMode, DeprovisioningConfig, MappingConfig, ProfileName, ScopeConfig, ScopeMode,
};
use crate::cycle::{CycleInput, Pipeline, plan_cycle};
use crate::model::{GroupRef, Person};
use crate::plugin::{PluginError, PluginId, PluginInput, Transform, TransformOutcome};
use crate::plugin_stage::{Pinned, PinnedPlugins};
use crate::scope::Scope;
use crate::testing::LicenseByGroup;

fn pipeline() -> Pipeline {
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
        profile: TargetProfile::new(ProfileName::Zoom, None),
        deprovisioning: DeprovisioningConfig::default(),
        deletion_threshold: Default::default(),
        seats: [("phone".to_string(), 10)].into(),
    }
}

fn person(id: &str, groups: &[&str]) -> Person {
    let upn = Value::Text(format!("{id}@x.com").into());
    let mut p = Person::new(id, Attributes::from([("userPrincipalName".into(), upn)]));
    p.transitive_groups = groups
        .iter()
        .map(|g| GroupRef {
            id: g.to_lowercase(),
            display_name: g.to_string(),
            via: None,
        })
        .collect();
    p
}

/// Fails for one person: a candidate transform with a bug.
struct FailsFor(&'static str);

impl Transform for FailsFor {
    fn id(&self) -> PluginId {
        PluginId {
            name: "fails-for".into(),
            version: "candidate".into(),
        }
    }

    fn transform(&self, person: &PluginInput, _: &str) -> Result<TransformOutcome, PluginError> {
        if person.id == self.0 {
            return Err(PluginError::OutOfFuel {
                plugin: self.id(),
                limit: 1,
            });
        }
        Ok(TransformOutcome::Changes {
            set: vec![("title".into(), Value::Text("Engineer".into()))],
            remove: vec![],
        })
    }
}

fn rule(config: &str) -> PinnedPlugins {
    PinnedPlugins {
        transforms: vec![],
        license: Some(Pinned {
            plugin: Arc::new(LicenseByGroup::default()),
            config: config.into(),
            inputs: Default::default(),
        }),
    }
}

const ACTIVE: &str = r#"{"rules":[{"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Zoom-Phone","add_on":"phone"}],"default_plan":"basic"}"#;
/// Phone now follows Sales, not Zoom-Phone.
const CANDIDATE: &str = r#"{"rules":[{"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Sales","add_on":"phone"}],"default_plan":"basic"}"#;

fn people() -> Vec<Person> {
    vec![
        person("a", &["Zoom-Licensed", "Zoom-Phone"]),
        person("b", &["Zoom-Phone", "Sales"]),
        person("c", &["Sales"]),
        person("d", &["Zoom-Phone"]),
        person("e", &[]),
    ]
}

fn plan(people: &[Person], pipeline: &Pipeline, plugins: &PinnedPlugins) -> Plan {
    plan_cycle(&CycleInput::everyone("c1", people, &[], pipeline, plugins))
}

fn impact(before: &PinnedPlugins, after: &PinnedPlugins, gates: &Gates) -> Impact {
    let (pipeline, people) = (pipeline(), people());
    let (old, new) = (
        plan(&people, &pipeline, before),
        plan(&people, &pipeline, after),
    );
    let sides = Sides {
        before: &old,
        after: &new,
        records: &[],
        profile: &pipeline.profile,
        seats: &pipeline.seats,
    };
    compare(&sides, gates, 2)
}

#[test]
fn a_rule_change_moves_licenses_person_by_person() {
    let impact = impact(&rule(ACTIVE), &rule(CANDIDATE), &Gates::default());
    assert_eq!(impact.people, 5);
    let count = |name: &str| {
        let c = impact.licenses.iter().find(|c| c.name == name).expect(name);
        (c.kind, c.before, c.after, c.budget)
    };
    // Phone: a, b, d before; b, c after.
    assert_eq!(count("phone"), (LicenseKind::AddOn, 3, 2, Some(10)));
    assert_eq!(count("licensed"), (LicenseKind::Plan, 1, 1, None));
    assert_eq!(count("basic"), (LicenseKind::Plan, 4, 4, None));
    // a and d lose phone, c gains it; b keeps it.
    assert_eq!(impact.license_changes.count, 3);
    let samples: Vec<_> = impact
        .license_changes
        .samples
        .iter()
        .map(|c| (c.person.id.as_str(), c.before.clone(), c.after.clone()))
        .collect();
    assert_eq!(
        samples,
        [
            ("a", Some("licensed+phone".into()), Some("licensed".into())),
            ("c", Some("basic".into()), Some("basic+phone".into())),
        ],
        "the first two, by source id"
    );
    assert_eq!(
        impact.license_changes.samples[1].reason_after.as_deref(),
        Some("no plan rule matched → default basic; member of Sales → +phone"),
        "why, in the candidate rule's words"
    );
    assert_eq!(impact.attribute_changes.count, 0);
    assert_eq!(impact.newly_failed.count, 0);
    assert!(impact.passed(), "no gates configured");
}

#[test]
fn the_same_rule_changes_nothing() {
    let impact = impact(&rule(ACTIVE), &rule(ACTIVE), &Gates::default());
    assert_eq!(impact.license_changes.count, 0);
    assert!(impact.licenses.iter().all(|c| c.delta() == 0));
}

#[test]
fn gates_bound_counts_and_shares() {
    let gates = |toml: &str| -> Gates { toml::from_str(toml).expect("gates") };
    let passing = gates("max_license_changes = 3\nmax_seat_delta = { phone = 1 }");
    let impact = impact(&rule(ACTIVE), &rule(CANDIDATE), &passing);
    assert!(impact.passed(), "{:?}", impact.gates);
    assert_eq!(impact.gates.len(), 2);

    // 3 of 5 people is 60 %; phone moved by 1 of 3 holders (33 %).
    let failing = gates(
        r#"max_license_changes = "50%"
max_seat_delta = { phone = "30%", webinar = 0 }"#,
    );
    let impact = super::tests::impact(&rule(ACTIVE), &rule(CANDIDATE), &failing);
    let verdicts: Vec<_> = impact
        .gates
        .iter()
        .map(|g| (g.gate.as_str(), g.allowed, g.actual, g.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("max_license_changes", 2, 3, false),
            ("max_seat_delta.phone", 0, 1, false),
            ("max_seat_delta.webinar", 0, 0, true),
        ]
    );
    assert!(!impact.passed());
    assert!(
        impact
            .failed_gates()
            .contains("max_license_changes is 3 (bound 50%, at most 2)"),
        "{}",
        impact.failed_gates()
    );
}

#[test]
fn a_candidate_that_fails_people_is_counted_by_kind() {
    let mut candidate = rule(ACTIVE);
    candidate.transforms.push(Pinned {
        plugin: Arc::new(FailsFor("b")),
        config: "{}".into(),
        inputs: Default::default(),
    });
    let gates: Gates = toml::from_str("max_new_failures = 0").expect("gates");
    let impact = impact(&rule(ACTIVE), &candidate, &gates);
    assert_eq!(impact.newly_failed.count, 1);
    let failed = &impact.newly_failed.samples[0];
    assert_eq!(
        (failed.person.id.as_str(), failed.after.as_str()),
        ("b", "failure")
    );
    assert_eq!(
        impact.errors,
        [ErrorCount {
            code: "PluginFailed:out-of-fuel".into(),
            before: 0,
            after: 1
        }]
    );
    // The four others gain a title.
    assert_eq!(impact.attribute_changes.count, 4);
    assert_eq!(
        impact.attribute_changes.samples[0].changes,
        [AttributeDiff {
            path: "title".into(),
            before: None,
            after: Some("Engineer".into())
        }]
    );
    assert!(!impact.passed());
}

#[test]
fn bounds_parse_from_counts_and_percentages() {
    let parse = |toml: &str| toml::from_str::<Gates>(toml).map_err(|e| e.to_string());
    let gates = parse(r#"max_new_failures = "2.5%""#).expect("percentage");
    assert_eq!(gates.max_new_failures, Some(Bound::Percent(2.5)));
    assert_eq!(Bound::Percent(2.5).allowed(200), 5);
    for bad in [r#""lots""#, r#""120%""#, "-1"] {
        let err = parse(&format!("max_new_failures = {bad}")).expect_err(bad);
        assert!(
            err.contains("not a bound") || err.contains("did not match"),
            "{err}"
        );
    }
    let global: Gates = toml::from_str("max_new_failures = 0\nmax_license_changes = 9").unwrap();
    let own: Gates = toml::from_str("max_license_changes = 1").unwrap();
    let both = global.overlaid(&own);
    assert_eq!(both.max_license_changes, Some(Bound::Count(1)));
    assert_eq!(both.max_new_failures, Some(Bound::Count(0)));
}

#[test]
fn a_license_reason_names_the_rule_and_what_it_rests_on_where_given() {
    use crate::log::{Status, Step, StepType};
    let mut step = Step::new(
        StepType::Processing,
        "license:rule",
        Status::Success,
        "plan pro: app role Admin",
    );
    assert_eq!(super::license_reason(&step), "plan pro: app role Admin");
    step.details
        .insert(crate::plugin_stage::RULE, "admins-get-pro");
    step.details
        .insert(crate::plugin_stage::BECAUSE, "app role Admin");
    assert_eq!(
        super::license_reason(&step),
        "plan pro: app role Admin [rule admins-get-pro; because app role Admin]"
    );
}
