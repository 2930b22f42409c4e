//! The example plugins, compiled from `plugins/`, behave as their docs say.

mod support;

use engine::model::{License, Value};
use engine::plugin::{LicenseDecision, LicenseRule, PluginError, Transform, TransformOutcome};
use muster_artifacts as guests;
use support::{LICENSE_CONFIG, load, person};

#[test]
fn license_by_group_decides_plan_and_add_ons_by_precedence() {
    let rule = load("license-by-group", guests::LICENSE_BY_GROUP);
    let cases: &[(&[&str], &str, &[&str], &str)] = &[
        (
            &["Zoom-Licensed"],
            "licensed",
            &[],
            "member of Zoom-Licensed",
        ),
        (
            &["Zoom-Phone", "Zoom-Licensed"],
            "licensed",
            &["phone"],
            "add-ons phone: member of Zoom-Phone",
        ),
        (
            &["zoom-webinar", "Zoom-Phone"],
            "basic",
            &["phone", "webinar"],
            "no plan group matched",
        ),
        (&["Sales"], "basic", &[], "default"),
    ];
    for (groups, plan, add_ons, reason_part) in cases {
        let decision = rule
            .decide(&person("p", groups), None, LICENSE_CONFIG)
            .expect("decides");
        let LicenseDecision::Assign {
            license, reason, ..
        } = decision
        else {
            panic!("{groups:?}: {decision:?}")
        };
        assert_eq!(
            license,
            License::new(*plan, add_ons.iter().copied()),
            "{groups:?}"
        );
        assert!(reason.contains(reason_part), "{groups:?}: {reason}");
    }
}

#[test]
fn license_by_group_says_no_change_when_the_license_is_already_right() {
    let rule = load("license-by-group", guests::LICENSE_BY_GROUP);
    let current = License::new("licensed", ["phone"]);
    let decision = rule.decide(
        &person("p", &["Zoom-Licensed", "Zoom-Phone"]),
        Some(&current),
        LICENSE_CONFIG,
    );
    assert!(
        matches!(decision, Ok(LicenseDecision::NoChange { .. })),
        "{decision:?}"
    );
}

#[test]
fn license_by_group_reports_bad_config_as_a_guest_error() {
    let rule = load("license-by-group", guests::LICENSE_BY_GROUP);
    let err = rule
        .decide(&person("p", &[]), None, r#"{"rulez": []}"#)
        .expect_err("bad config");
    assert!(
        matches!(&err, PluginError::Guest { code, .. } if code == "invalid-config"),
        "{err:?}"
    );
}

fn set_value<'a>(outcome: &'a TransformOutcome, path: &str) -> Option<&'a Value> {
    let TransformOutcome::Changes { set, .. } = outcome else {
        return None;
    };
    set.iter().rev().find(|(p, _)| p == path).map(|(_, v)| v)
}

#[test]
fn normalize_attributes_tidies_names_phones_and_department() {
    let transform = load("normalize-attributes", guests::NORMALIZE_ATTRIBUTES);
    let mut p = person("p", &["Dept-Finance"]);
    p.target
        .insert("name.givenName".into(), Value::Text("  ANNE-MARIE ".into()));
    p.target
        .insert("name.familyName".into(), Value::Text("McDonald".into()));
    p.target.insert(
        "phoneNumbers[type eq \"mobile\"].value".into(),
        Value::Text("(415) 555-0100".into()),
    );
    p.target.insert(
        "phoneNumbers[type eq \"work\"].value".into(),
        Value::Text("call me".into()),
    );
    let outcome = transform
        .transform(&p, r#"{"default_country_code":"1"}"#)
        .expect("transforms");
    let text = |s: &str| Some(Value::Text(s.into()));
    assert_eq!(
        set_value(&outcome, "name.givenName").cloned(),
        text("Anne-Marie")
    );
    // Already tidy, so not returned: the transform reports only what it changes.
    assert_eq!(set_value(&outcome, "name.familyName"), None);
    assert_eq!(
        set_value(&outcome, "displayName").cloned(),
        text("Anne-Marie McDonald")
    );
    assert_eq!(
        set_value(&outcome, "phoneNumbers[type eq \"mobile\"].value").cloned(),
        text("+14155550100")
    );
    let dept = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    assert_eq!(set_value(&outcome, dept).cloned(), text("Finance"));
    let TransformOutcome::Changes { remove, .. } = &outcome else {
        unreachable!()
    };
    assert_eq!(
        remove,
        &vec!["phoneNumbers[type eq \"work\"].value".to_string()]
    );
}

#[test]
fn normalize_attributes_skips_people_without_a_usable_email() {
    let transform = load("normalize-attributes", guests::NORMALIZE_ATTRIBUTES);
    let mut p = person("p", &[]);
    p.target.clear();
    p.target
        .insert("userName".into(), Value::Text("not-an-email".into()));
    let outcome = transform.transform(&p, "{}").expect("transforms");
    assert!(
        matches!(&outcome, TransformOutcome::Skip { reason } if reason.contains("no usable email")),
        "{outcome:?}"
    );
}

/// The host lowers a person from borrowed views of its own types (`lower.rs`); a guest must
/// receive exactly what the engine holds, every value kind included.
#[test]
fn a_person_reaches_the_guest_exactly() {
    use engine::model::{Attributes, GroupRef};
    use engine::plugin::PluginInput;

    let echo = load("echo", guests::ECHO);
    let attributes = Attributes::from([
        ("none".into(), Value::Null),
        ("yes".into(), Value::Bool(true)),
        ("no".into(), Value::Bool(false)),
        ("count".into(), Value::Int(-42)),
        ("big".into(), Value::Int(i64::MAX)),
        ("name".into(), Value::Text("Zoë Ñúñez 東京".into())),
        ("empty".into(), Value::Text("".into())),
        (
            "list".into(),
            Value::TextList(vec!["a".to_string(), String::new(), "ü".to_string()].into()),
        ),
        ("no-items".into(), Value::TextList(Vec::new().into())),
    ]);
    let group = |id: &str, name: &str| GroupRef {
        id: id.into(),
        display_name: name.into(),
        via: None,
    };
    let person = PluginInput {
        id: "u-ü1".into(),
        attributes: attributes.clone(),
        direct_groups: vec![group("g-1", "Zoom-Licensed"), group("g-2", "")],
        transitive_groups: vec![group("g-3", "Everyone")],
        target: Attributes::from([("userName".into(), Value::Text("a@x.example".into()))]),
        ..PluginInput::default()
    };
    let TransformOutcome::Changes { set, remove } =
        echo.transform(&person, r#"{"k":"v"}"#).expect("echoes")
    else {
        panic!("echo never skips");
    };
    assert!(remove.is_empty());
    let list = |items: &[&str]| Value::TextList(items.iter().map(|s| s.to_string()).collect());
    let mut expected = vec![
        ("id".to_string(), Value::Text("u-ü1".into())),
        ("config".to_string(), Value::Text(r#"{"k":"v"}"#.into())),
        (
            "direct-groups".to_string(),
            list(&["g-1=Zoom-Licensed", "g-2="]),
        ),
        ("transitive-groups".to_string(), list(&["g-3=Everyone"])),
    ];
    expected.extend(
        attributes
            .iter()
            .map(|(name, value)| (format!("attributes.{name}"), value.clone())),
    );
    expected.push((
        "target.userName".to_string(),
        Value::Text("a@x.example".into()),
    ));
    assert_eq!(set, expected);
}
