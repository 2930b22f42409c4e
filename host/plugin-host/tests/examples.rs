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
        let LicenseDecision::Assign { license, reason } = decision else {
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
    assert_eq!(
        set_value(&outcome, "name.familyName").cloned(),
        text("McDonald")
    );
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
