use super::*;
use crate::config::ScopingFilterConfig;
use crate::model::{Attributes, GroupRef};

fn clause(attribute: &str, operator: Operator, value: Option<&str>) -> ClauseConfig {
    ClauseConfig {
        attribute: attribute.into(),
        operator,
        value: value.map(Into::into),
    }
}

fn person(attrs: &[(&str, Value)]) -> Person {
    let attributes: Attributes = attrs
        .iter()
        .map(|(k, v)| (crate::model::Key::from(*k), v.clone()))
        .collect();
    let mut p = Person::new("p1", attributes);
    p.assigned_directly = true;
    p
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn every_operator() {
    use Operator::*;
    let dept = |v: Value| person(&[("department", v)]);
    // (operator, value, attribute value, expected)
    let cases: Vec<(Operator, Option<&str>, Value, bool)> = vec![
        (IsPresent, None, text("Sales"), true),
        (IsPresent, None, text(""), true),
        (IsPresent, None, Value::Null, false),
        (IsNotPresent, None, Value::Null, true),
        (IsNotPresent, None, text("x"), false),
        (Equals, Some("Sales"), text("Sales"), true),
        (Equals, Some("Sales"), text("sales"), false),
        (Equals, Some("Sales"), Value::Null, false),
        (NotEquals, Some("Sales"), text("HR"), true),
        (NotEquals, Some("Sales"), text("Sales"), false),
        (NotEquals, Some("Sales"), Value::Null, false),
        (EndsWith, Some("es"), text("Sales"), true),
        (EndsWith, Some("ES"), text("Sales"), false),
        (GreaterThan, Some("10"), Value::Int(11), true),
        (GreaterThan, Some("10"), Value::Int(10), false),
        (GreaterThan, Some("10"), text("12"), true),
        (GreaterThan, Some("10"), text("twelve"), false),
        (GreaterThanOrEquals, Some("10"), Value::Int(10), true),
        (GreaterThanOrEquals, Some("10"), Value::Int(9), false),
        (Includes, Some("al"), text("Sales"), true),
        (Includes, Some("AL"), text("Sales"), false),
        (IsTrue, None, Value::Bool(true), true),
        (IsTrue, None, text("True"), true),
        (IsTrue, None, Value::Bool(false), false),
        (IsFalse, None, Value::Bool(false), true),
        (IsFalse, None, Value::Null, false),
        (IsNull, None, Value::Null, true),
        (IsNull, None, text(""), true),
        (IsNull, None, Value::TextList(Box::default()), true),
        (IsNull, None, text("x"), false),
        (IsNotNull, None, text("x"), true),
        (IsNotNull, None, text(""), false),
        (RegexMatch, Some("^S.*s$"), text("Sales"), true),
        (RegexMatch, Some("^S.*s$"), text("Support"), false),
        (RegexMatch, Some("ale"), text("Sales"), true),
        (NotRegexMatch, Some("^S"), text("HR"), true),
        (NotRegexMatch, Some("^S"), text("Sales"), false),
        (NotRegexMatch, Some("^S"), Value::Null, false),
        (NotRegexMatch, Some("^S"), text(""), false),
        // multi-valued attributes are not supported in scoping
        (
            Equals,
            Some("a"),
            Value::TextList(vec!["a".into()].into()),
            false,
        ),
        (Equals, Some("True"), Value::Bool(true), true),
        (Equals, Some("42"), Value::Int(42), true),
    ];
    for (i, (op, value, attr, expected)) in cases.into_iter().enumerate() {
        let config = ScopeConfig {
            filters: vec![ScopingFilterConfig {
                name: None,
                clauses: vec![clause("department", op, value)],
            }],
            ..Default::default()
        };
        let scope = Scope::build(&config).expect("valid");
        let evaluation = scope.evaluate(&dept(attr.clone()));
        assert_eq!(
            evaluation.in_scope(),
            expected,
            "case {i}: {op:?} {value:?} on {attr:?}"
        );
    }
}

#[test]
fn clauses_and_filters_combine() {
    let sales_in_us = ScopingFilterConfig {
        name: Some("us-sales".into()),
        clauses: vec![
            clause("department", Operator::Equals, Some("Sales")),
            clause("country", Operator::Equals, Some("US")),
        ],
    };
    let engineers = ScopingFilterConfig {
        name: Some("engineers".into()),
        clauses: vec![clause("jobTitle", Operator::Includes, Some("Engineer"))],
    };
    let scope = Scope::build(&ScopeConfig {
        filters: vec![sales_in_us, engineers],
        ..Default::default()
    })
    .expect("valid");
    // (attributes, in scope, reason)
    type Case = (Vec<(&'static str, Value)>, bool, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![("department", text("Sales")), ("country", text("US"))],
            true,
            "EffectivelyEntitled, Active = True, Assigned = True, ScopingFilter = True (us-sales)",
        ),
        (
            vec![("department", text("Sales")), ("country", text("FR"))],
            false,
            "NotEffectivelyEntitled, Active = True, Assigned = True, ScopingFilter = False (us-sales: country \
             EQUALS \"US\" is false; engineers: jobTitle Includes \"Engineer\" is false)",
        ),
        (
            vec![("jobTitle", text("Staff Engineer"))],
            true,
            "EffectivelyEntitled, Active = True, Assigned = True, ScopingFilter = True (engineers)",
        ),
    ];
    for (i, (attrs, in_scope, reason)) in cases.into_iter().enumerate() {
        let evaluation = scope.evaluate(&person(&attrs));
        assert_eq!(evaluation.in_scope(), in_scope, "case {i}");
        assert_eq!(evaluation.reason(), reason, "case {i}");
    }
}

#[test]
fn assignment_activity_and_causes() {
    let group = |id: &str, name: &str| GroupRef {
        id: id.into(),
        display_name: name.into(),
        via: None,
    };
    let config = ScopeConfig {
        assigned_groups: vec!["Zoom-Users".into()],
        assigned_users: vec!["vip@example.com".into()],
        ..Default::default()
    };
    let assigned = Scope::build(&config).expect("valid");
    let nested = Scope::build(&ScopeConfig {
        nested_groups: true,
        ..config.clone()
    })
    .expect("valid");
    let all = Scope::build(&ScopeConfig {
        mode: ScopeMode::All,
        ..Default::default()
    })
    .expect("valid");

    let mut unassigned = person(&[]);
    unassigned.assigned_directly = false;
    let mut via_group = unassigned.clone();
    via_group.direct_groups = vec![group("g1", "Zoom-Users")];
    via_group.transitive_groups = via_group.direct_groups.clone();
    let mut via_nested = unassigned.clone();
    via_nested.direct_groups = vec![group("g2", "Team")];
    via_nested.transitive_groups = vec![group("g2", "Team"), group("g1", "Zoom-Users")];
    let vip = person(&[("userPrincipalName", text("vip@example.com"))]);
    let mut vip = vip;
    vip.assigned_directly = false;
    let mut disabled = person(&[]);
    disabled.enabled = false;
    let mut soft_deleted = unassigned.clone();
    soft_deleted.soft_deleted = true;

    // (scope, person, cause, reason)
    let cases: Vec<(&Scope, &Person, Option<OutOfScopeCause>, &str)> = vec![
        (
            &assigned,
            &unassigned,
            Some(OutOfScopeCause::OutOfScope),
            "NotEffectivelyEntitled, Active = True, Assigned = False",
        ),
        (
            &assigned,
            &via_group,
            None,
            "EffectivelyEntitled, Active = True, Assigned = True",
        ),
        (
            &assigned,
            &via_nested,
            Some(OutOfScopeCause::OutOfScope),
            "NotEffectivelyEntitled, Active = True, Assigned = False",
        ),
        (
            &nested,
            &via_nested,
            None,
            "EffectivelyEntitled, Active = True, Assigned = True",
        ),
        (
            &assigned,
            &vip,
            None,
            "EffectivelyEntitled, Active = True, Assigned = True",
        ),
        (
            &all,
            &unassigned,
            None,
            "EffectivelyEntitled, Active = True, Assigned = True",
        ),
        (
            &assigned,
            &disabled,
            Some(OutOfScopeCause::SourceDisabled),
            "NotEffectivelyEntitled, Active = False, Assigned = True",
        ),
        (
            &all,
            &soft_deleted,
            Some(OutOfScopeCause::SourceDisabled),
            "NotEffectivelyEntitled, Active = False, Assigned = True, SoftDeleted = True",
        ),
    ];
    for (i, (scope, person, cause, reason)) in cases.into_iter().enumerate() {
        let evaluation = scope.evaluate(person);
        assert_eq!(evaluation.cause(), cause, "case {i}");
        assert_eq!(evaluation.reason(), reason, "case {i}");
    }
}
