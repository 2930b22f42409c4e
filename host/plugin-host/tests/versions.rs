//! The host serves `muster:plugin@0.1.0` and `@0.2.0` side by side: the example plugins as they
//! were built for 0.1.0 (`tests/guests/0.1.0/`) give exactly the answers the 0.2.0 examples
//! (`plugins/`) give, over a directory of people with nested groups, and each build reports
//! its own version.

mod support;

use engine::model::{Attributes, License, Manager, Value};
use engine::plugin::{LicenseDecision, LicenseRule, PluginInput, Transform};
use engine::testing::synthetic_directory;
use muster_artifacts as guests;
use plugin_host::Interface;
use support::{LICENSE_CONFIG, load};

/// The people of the synthetic directory as a plugin is sent them, with a target for the
/// transform to tidy (some names in capitals, some phone numbers unusable).
fn people(n: usize) -> Vec<PluginInput> {
    synthetic_directory(n)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let text = |name: &str| p.attributes.get(name).cloned().unwrap_or(Value::Null);
            let mut target = Attributes::new();
            target.insert("userName".into(), text("userPrincipalName"));
            target.insert(r#"emails[type eq "work"].value"#.into(), text("mail"));
            let given = match (i % 3, text("givenName")) {
                (0, Value::Text(t)) => Value::Text(t.to_uppercase().into()),
                (_, v) => v,
            };
            target.insert("name.givenName".into(), given);
            target.insert("name.familyName".into(), text("surname"));
            let mobile = if i % 7 == 0 {
                Value::Text("call me".into())
            } else {
                text("mobile")
            };
            target.insert(r#"phoneNumbers[type eq "mobile"].value"#.into(), mobile);
            PluginInput {
                id: p.id,
                attributes: p.attributes,
                direct_groups: p.direct_groups,
                transitive_groups: p.transitive_groups,
                app_roles: vec!["User".into()],
                manager: Some(Manager {
                    id: "boss".into(),
                    user_principal_name: None,
                }),
                target,
            }
        })
        .collect()
}

/// A 0.2.0 decision without what 0.1.0 cannot say.
fn without_why(decision: LicenseDecision) -> LicenseDecision {
    match decision {
        LicenseDecision::NoChange { reason, .. } => LicenseDecision::no_change(reason),
        LicenseDecision::Assign {
            license, reason, ..
        } => LicenseDecision::assign(license, reason),
    }
}

#[test]
fn each_build_reports_its_interface_version() {
    for (path, interface) in [
        (guests::LICENSE_BY_GROUP_0_1, Interface::V0_1),
        (guests::NORMALIZE_ATTRIBUTES_0_1, Interface::V0_1),
        (guests::LICENSE_BY_GROUP, Interface::V0_2),
        (guests::NORMALIZE_ATTRIBUTES, Interface::V0_2),
    ] {
        assert_eq!(load("example", path).interface(), interface, "{path}");
    }
    assert_eq!(Interface::V0_2.to_string(), "muster:plugin@0.2.0");
}

#[test]
fn license_rules_on_both_versions_decide_alike() {
    let old = load("license-by-group", guests::LICENSE_BY_GROUP_0_1);
    let new = load("license-by-group", guests::LICENSE_BY_GROUP);
    let mut nested = 0;
    for person in people(600) {
        let before = old
            .decide(&person, None, LICENSE_CONFIG)
            .expect("0.1.0 decides");
        let after = new
            .decide(&person, None, LICENSE_CONFIG)
            .expect("0.2.0 decides");
        let LicenseDecision::Assign {
            license,
            rule,
            because,
            ..
        } = &after
        else {
            panic!("{}: {after:?}", person.id)
        };
        assert!(!rule.is_empty() && !because.is_empty(), "{after:?}");
        if because.iter().any(|b| b.contains(" ← ")) {
            nested += 1;
        }
        assert_eq!(before, without_why(after.clone()), "{}", person.id);
        // And with the license already held: no change, on both.
        let held = old.decide(&person, Some(license), LICENSE_CONFIG);
        let held_now = new
            .decide(&person, Some(license), LICENSE_CONFIG)
            .map(without_why);
        assert!(
            matches!(held, Ok(LicenseDecision::NoChange { .. })),
            "{held:?}"
        );
        assert_eq!(held, held_now, "{}", person.id);
    }
    assert!(nested > 0, "some people reach Zoom-Licensed through Dept-4");
}

#[test]
fn transforms_on_both_versions_change_alike() {
    let old = load("normalize-attributes", guests::NORMALIZE_ATTRIBUTES_0_1);
    let new = load("normalize-attributes", guests::NORMALIZE_ATTRIBUTES);
    let config = r#"{"default_country_code": "44"}"#;
    let mut removed = 0;
    for person in people(300) {
        let before = old.transform(&person, config).expect("0.1.0 transforms");
        let after = new.transform(&person, config).expect("0.2.0 transforms");
        if matches!(&after, engine::plugin::TransformOutcome::Changes { remove, .. } if !remove.is_empty())
        {
            removed += 1;
        }
        assert_eq!(before, after, "{}", person.id);
    }
    assert!(removed > 0, "some phone numbers are unusable");
}

#[test]
fn a_0_2_rule_sees_app_roles_and_the_group_path() {
    let rule = load("license-by-group", guests::LICENSE_BY_GROUP);
    let mut person = people(47).remove(46);
    person.app_roles = vec!["Admin".into()];
    let config = r#"{"rules": [{"app_role": "Admin", "plan": "pro"},
                                {"group": "Zoom-Licensed", "add_on": "phone"}]}"#;
    let decision = rule.decide(&person, None, config).expect("decides");
    let LicenseDecision::Assign {
        license, because, ..
    } = decision
    else {
        panic!("{decision:?}")
    };
    assert_eq!(license, License::new("pro", ["phone"]));
    // Person 46 is in Zoom-Phone and Dept-4, which Zoom-Licensed nests.
    assert_eq!(because, ["app role Admin", "Zoom-Licensed ← Dept-4"]);
}

#[test]
fn a_person_reaches_a_0_2_guest_exactly() {
    use engine::model::GroupRef;
    use engine::plugin::TransformOutcome;

    let echo = load("echo", guests::ECHO_0_2);
    assert_eq!(echo.interface(), Interface::V0_2);
    let group = |id: &str, name: &str, via: Option<&str>| GroupRef {
        id: id.into(),
        display_name: name.into(),
        via: via.map(str::to_string),
    };
    let attributes = Attributes::from([
        ("none".into(), Value::Null),
        ("yes".into(), Value::Bool(true)),
        ("count".into(), Value::Int(-42)),
        ("name".into(), Value::Text("Zoë Ñúñez 東京".into())),
        (
            "list".into(),
            Value::TextList(vec!["a".to_string(), String::new()].into()),
        ),
    ]);
    let text = |s: &str| Value::Text(s.into());
    let person = PluginInput {
        id: "u-ü1".into(),
        attributes: attributes.clone(),
        direct_groups: vec![
            group("g-1", "Sales", None),
            group("g-2", "Zoom-Phone", None),
        ],
        transitive_groups: vec![
            group("g-1", "Sales", None),
            group("g-3", "Zoom-Licensed", Some("Sales")),
        ],
        app_roles: vec!["Admin".into(), "User".into()],
        manager: Some(Manager {
            id: "m-1".into(),
            user_principal_name: Some("boss@x.example".into()),
        }),
        target: Attributes::from([
            ("userName".into(), text("a@x.example")),
            ("Name.GivenName".into(), text("Zoë")),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter".into(),
                text("CC-1"),
            ),
            ("nickName2".into(), text("z")),
        ]),
    };
    let TransformOutcome::Changes { set, remove } =
        echo.transform(&person, r#"{"k":"v"}"#).expect("echoes")
    else {
        panic!("echo never skips");
    };
    assert!(remove.is_empty());
    let list = |items: &[&str]| Value::TextList(items.iter().map(|s| s.to_string()).collect());
    let mut expected = vec![
        ("id".to_string(), text("u-ü1")),
        ("config".to_string(), text(r#"{"k":"v"}"#)),
        (
            "groups".to_string(),
            // Each group once: the transitive list, then the direct group it lacked.
            list(&[
                "g-1=Sales direct",
                "g-3=Zoom-Licensed via Sales",
                "g-2=Zoom-Phone direct",
            ]),
        ),
        ("app-roles".to_string(), list(&["Admin", "User"])),
        ("manager".to_string(), text("m-1/boss@x.example")),
    ];
    expected.extend(
        attributes
            .iter()
            .map(|(name, value)| (format!("attributes.{name}"), value.clone())),
    );
    // The target in its own order; the well-known paths arrive as their cases, whatever
    // their spelling.
    let sent_as = |path: &str| match path {
        "userName" => "target.WellKnown::UserName".to_string(),
        "Name.GivenName" => "target.WellKnown::GivenName".to_string(),
        "nickName2" => "target.path.nickName2".to_string(),
        _ => "target.WellKnown::CostCenter".to_string(),
    };
    expected.extend(
        person
            .target
            .iter()
            .map(|(path, value)| (sent_as(path), value.clone())),
    );
    expected.push(("title".to_string(), text("echo")));
    assert_eq!(set, expected);

    // What the plugin is not shown does not reach it.
    let bare = PluginInput {
        manager: None,
        app_roles: Vec::new(),
        ..person.clone()
    };
    let TransformOutcome::Changes { set, .. } = echo.transform(&bare, "{}").expect("echoes") else {
        panic!("echo never skips");
    };
    assert!(set.iter().all(|(path, _)| path != "manager"));
    assert!(set.contains(&("app-roles".to_string(), list(&[]))));
}
