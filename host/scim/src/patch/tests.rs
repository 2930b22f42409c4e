use serde_json::{Value, json};

use super::*;
use crate::error::ScimType;
use crate::resource::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

fn op(op: PatchOp, path: Option<&str>, value: Option<Value>) -> PatchOperation {
    PatchOperation {
        op,
        path: path.map(str::to_string),
        value,
    }
}

#[test]
fn parses_entra_default_dialect() {
    let got = parse_request(&body(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Remove", "path": "members", "value": [{"value": "u1091"}]},
        {"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m1", "value": "m1"}]},
        {"op": "REPLACE", "path": "emails[type eq \"work\"].primary", "value": "True"},
        {"op": "replace", "path": "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso", "value": "true"},
        {"op": "replace", "path": "title", "value": "False"},
    ])))
    .expect("parses");
    let want = vec![
        op(PatchOp::Replace, Some("active"), Some(json!(false))),
        op(PatchOp::Add, Some("nickName"), Some(json!("Babs"))),
        op(
            PatchOp::Remove,
            Some("members"),
            Some(json!([{"value": "u1091"}])),
        ),
        op(
            PatchOp::Add,
            Some("manager"),
            Some(json!({"$ref": "http://x/Users/m1", "value": "m1"})),
        ),
        op(
            PatchOp::Replace,
            Some("emails[type eq \"work\"].primary"),
            Some(json!(true)),
        ),
        op(
            PatchOp::Replace,
            Some("urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso"),
            Some(json!(true)),
        ),
        op(PatchOp::Replace, Some("title"), Some(json!("False"))),
    ];
    assert_eq!(got, want);
}

#[test]
fn parses_pathless_dotted_keys() {
    let got = parse_request(&body(json!([{"op": "replace", "value": {
        "displayName": "Babs",
        "name.givenName": "Barbara",
        "name.familyName": "Jensen",
        "active": "True",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"},
        "emails[type eq \"work\"].value": "b@x",
    }}])))
    .expect("parses");
    let want = vec![
        op(
            PatchOp::Replace,
            None,
            Some(
                json!({"displayName": "Babs", "name": {"givenName": "Barbara", "familyName": "Jensen"}, "active": true,
                        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Ops"}}),
            ),
        ),
        op(
            PatchOp::Replace,
            Some("emails[type eq \"work\"].value"),
            Some(json!("b@x")),
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn parse_rejects() {
    let many: Vec<Value> = (0..=MAX_OPERATIONS)
        .map(|_| json!({"op": "add", "path": "title", "value": "x"}))
        .collect();
    let cases: Vec<(Value, ScimType)> = vec![
        (json!([]), ScimType::InvalidSyntax),
        (json!({"schemas": [PATCH_SCHEMA]}), ScimType::InvalidSyntax),
        (
            body(json!([{"op": "move", "path": "title"}])),
            ScimType::InvalidSyntax,
        ),
        (body(json!([{"path": "title"}])), ScimType::InvalidSyntax),
        (body(json!(["add"])), ScimType::InvalidSyntax),
        (
            body(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])),
            ScimType::InvalidPath,
        ),
        (
            body(json!([{"op": "add", "path": 5, "value": "x"}])),
            ScimType::InvalidPath,
        ),
        (
            body(json!([{"op": "add", "value": "x"}])),
            ScimType::InvalidValue,
        ),
        (
            body(json!([{"op": "replace", "value": {"bad key": 1}}])),
            ScimType::InvalidPath,
        ),
        (body(Value::Array(many)), ScimType::InvalidSyntax),
    ];
    for (input, want) in cases {
        let e = parse_request(&input).expect_err("rejects");
        assert_eq!(e.scim_type, Some(want), "{input}");
    }
}

fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "id": "u1",
        "meta": {"resourceType": "User"},
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "active": true,
        "emails": [{"type": "work", "value": "b@x", "primary": true}, {"type": "home", "value": "h@x"}],
        "groups": [{"value": "g1"}]
    })
}

/// Applies an Entra- or RFC-shaped body to `start` and returns the result or the scimType.
fn run(start: &Value, ops: Value) -> Result<Value, Option<ScimType>> {
    let ops = parse_request(&body(ops)).map_err(|e| e.scim_type)?;
    let mut r = start.clone();
    match apply(&mut r, &ops) {
        Ok(()) => Ok(r),
        Err(e) => {
            assert_eq!(&r, start, "failed PATCH left the resource unchanged");
            Err(e.scim_type)
        }
    }
}

#[test]
fn applies_to_users() {
    // (operations, JSON pointer, expected value there)
    let cases: Vec<(Value, &str, Value)> = vec![
        (
            json!([{"op": "Replace", "path": "userName", "value": "b2"}]),
            "/userName",
            json!("b2"),
        ),
        (
            json!([{"op": "Replace", "path": "USERNAME", "value": "b2"}]),
            "/userName",
            json!("b2"),
        ),
        (
            json!([{"op": "Add", "path": "nickName", "value": "Babs"}]),
            "/nickName",
            json!("Babs"),
        ),
        (
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            "/active",
            json!(false),
        ),
        (
            json!([{"op": "replace", "value": {"active": false}}]),
            "/active",
            json!(false),
        ),
        (
            json!([{"op": "replace", "path": "name.familyName", "value": "J"}]),
            "/name",
            json!({"givenName": "Barbara", "familyName": "J"}),
        ),
        (
            json!([{"op": "replace", "path": "name", "value": {"familyName": "J"}}]),
            "/name",
            json!({"givenName": "Barbara", "familyName": "J"}),
        ),
        (
            json!([{"op": "remove", "path": "name.givenName"}]),
            "/name",
            Value::Null,
        ),
        (
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}]),
            "/emails/0",
            json!({"type": "work", "value": "new@x", "primary": true}),
        ),
        (
            json!([{"op": "Replace", "path": "emails[type eq \"other\"].value", "value": "o@x"}]),
            "/emails/2",
            json!({"type": "other", "value": "o@x"}),
        ),
        (
            json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"}]),
            "/phoneNumbers",
            json!([{"type": "mobile", "value": "555"}]),
        ),
        (
            json!([{"op": "remove", "path": "emails[type eq \"home\"].value"}]),
            "/emails",
            json!([{"type": "work", "value": "b@x", "primary": true}]),
        ),
        (
            json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]),
            "/emails/0",
            json!({"type": "work", "primary": true}),
        ),
        (
            json!([{"op": "remove", "path": "emails[type eq \"nope\"]"}]),
            "/emails/1/type",
            json!("home"),
        ),
        (
            json!([{"op": "remove", "path": "emails[value ew \"@x\"]"}]),
            "/emails",
            Value::Null,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "n@x", "type": "home"}}]),
            "/emails/1",
            json!({"value": "n@x", "type": "home"}),
        ),
        (
            json!([{"op": "add", "path": "emails", "value": [{"type": "home", "value": "h@x"}, {"type": "other", "value": "o@x"}]}]),
            "/emails/2",
            json!({"type": "other", "value": "o@x"}),
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": [{"type": "other", "value": "o@x"}]}]),
            "/emails",
            json!([{"type": "other", "value": "o@x"}]),
        ),
        (
            json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"}]),
            "/schemas",
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]),
        ),
        (
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": "m1"}]}]),
            "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager",
            json!({"$ref": null, "value": "m1"}),
        ),
        (
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"},
                                              "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso": "True"}}]),
            "/urn:us:zoom:scim:schemas:extension:1.0:ZoomUser",
            json!({"loginType": {"sso": true}}),
        ),
        (
            json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
                {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]),
            "/schemas",
            json!([USER_SCHEMA]),
        ),
        (
            json!([{"op": "replace", "path": "nickName", "value": null}]),
            "/nickName",
            Value::Null,
        ),
        (
            json!([{"op": "replace", "value": {"id": "u1", "displayName": "B"}}]),
            "/displayName",
            json!("B"),
        ),
        (
            json!([{"op": "add", "path": "x-custom", "value": {"a": 1}}]),
            "/x-custom",
            json!({"a": 1}),
        ),
    ];
    for (ops, pointer, want) in cases {
        let got = run(&user(), ops.clone()).unwrap_or_else(|e| panic!("{ops}: {e:?}"));
        assert_eq!(
            got.pointer(pointer).cloned().unwrap_or(Value::Null),
            want,
            "{ops}"
        );
    }
}

#[test]
fn failures() {
    let cases: Vec<(Value, ScimType)> = vec![
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": null}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "meta"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": "g2"}]}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "value": {"id": "other"}}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "schemas", "value": []}]),
            ScimType::Mutability,
        ),
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (
            json!([{"op": "replace", "path": "emails[value co \"zzz\"].value", "value": "a"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"a\" or type eq \"b\"].value", "value": "a"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "userName[type eq \"a\"].value", "value": "a"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "yes"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": 5}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "emails", "value": [{"value": 5}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "title"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName.sub", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        // Atomic: the first operation is valid, the second fails, nothing is applied.
        (
            json!([{"op": "replace", "path": "displayName", "value": "B"}, {"op": "remove", "path": "userName"}]),
            ScimType::Mutability,
        ),
    ];
    for (ops, want) in cases {
        assert_eq!(run(&user(), ops.clone()).err(), Some(Some(want)), "{ops}");
    }
}

#[test]
fn group_membership() {
    let group = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "Sales",
                       "members": [{"value": "u1"}, {"value": "u2", "display": "B"}, {"value": "u3"}]});
    let members = |ops: Value| run(&group, ops).map(|g| g["members"].clone());
    let cases: Vec<(Value, Value)> = vec![
        // Entra's default dialect: remove with a value list removes just those members.
        (
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u2"}, {"value": "u3"}]}]),
            json!([{"value": "u1"}]),
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            json!([{"value": "u2", "display": "B"}, {"value": "u3"}]),
        ),
        (json!([{"op": "remove", "path": "members"}]), Value::Null),
        (
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u4"}]}]),
            json!([{"value": "u1"}, {"value": "u2", "display": "B"}, {"value": "u3"}, {"value": "u4"}]),
        ),
        (
            json!([{"op": "remove", "path": "members", "value": [{"value": null}]}]),
            json!([{"value": "u1"}, {"value": "u2", "display": "B"}, {"value": "u3"}]),
        ),
    ];
    for (ops, want) in cases {
        assert_eq!(members(ops.clone()), Ok(want), "{ops}");
    }
    let refused = [
        json!([{"op": "remove", "path": "displayName"}]),
        json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u9"}]),
    ];
    for ops in refused {
        assert_eq!(
            run(&group, ops.clone()).err(),
            Some(Some(ScimType::Mutability)),
            "{ops}"
        );
    }
}

/// Adding and removing many values among many: what is already there is skipped (also among
/// the values added), a value with a field the stored one lacks is new, and a remove list
/// removes every value it is a subset of, in order. Large enough that a scan per value would
/// show, but asserting only the outcome.
#[test]
fn many_members_added_and_removed_keep_the_dedup_rules() {
    let existing: Vec<Value> = (0..20_000)
        .map(|i| match i % 1000 {
            0 => json!({"value": format!("u{i}"), "display": format!("D{i}")}),
            _ => json!({"value": format!("u{i}")}),
        })
        .collect();
    let group = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "All",
                       "members": existing});
    let mut added: Vec<Value> = (10_000..30_000)
        .map(|j| json!({"$ref": null, "value": format!("u{j}")}))
        .collect();
    added.push(json!({"value": "u25000"}));
    added.push(json!({"value": "u1000", "display": "D1000"}));
    added.push(json!({"value": "u5", "display": "other"}));
    let grown = run(
        &group,
        json!([{"op": "Add", "path": "members", "value": added}]),
    )
    .expect("add");
    let members = grown["members"].as_array().expect("members");
    assert_eq!(members.len(), 30_001);
    assert_eq!(
        members[..20_000],
        group["members"].as_array().expect("m")[..]
    );
    assert_eq!(members[20_000], json!({"$ref": null, "value": "u20000"}));
    assert_eq!(members[29_999], json!({"$ref": null, "value": "u29999"}));
    assert_eq!(members[30_000], json!({"value": "u5", "display": "other"}));

    let removed: Vec<Value> = (0..10_000)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let shrunk = run(
        &grown,
        json!([{"op": "Remove", "path": "members", "value": removed}]),
    )
    .expect("remove");
    let values: Vec<&str> = shrunk["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    let want: Vec<String> = (10_000..30_000).map(|i| format!("u{i}")).collect();
    assert_eq!(values, want, "u5 went with both of its values");
}

/// Simple values (a list of strings) are deduplicated the same way.
#[test]
fn simple_values_are_added_once() {
    let user = json!({"schemas": [USER_SCHEMA], "userName": "a", "x-tags": ["a", "b", 1]});
    let got = run(
        &user,
        json!([{"op": "add", "path": "x-tags", "value": ["b", "c", "c", 1, "1", true]}]),
    )
    .expect("add");
    assert_eq!(got["x-tags"], json!(["a", "b", 1, "c", "1", true]));
}

#[test]
fn request_body_round_trips() {
    let ops = vec![
        op(
            PatchOp::Replace,
            Some("emails[type eq \"work\"].value"),
            Some(json!("a@x")),
        ),
        op(PatchOp::Remove, Some("title"), None),
    ];
    assert_eq!(parse_request(&PatchOperation::request_body(&ops)), Ok(ops));
}
