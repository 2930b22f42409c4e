use serde_json::json;

use super::*;
use crate::resource::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA, ZOOM_LOGIN_SCHEMA, ZOOM_USER_SCHEMA};

fn zoom_user() -> Value {
    json!({
        "id": "k&KdKr6TLWuxdDtk0hjSzL",
        "meta": {"resourceType": "User"},
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ZOOM_LOGIN_SCHEMA],
        "name": {"givenName": "Jill", "familyName": "Chill"},
        "emails": [{"type": "work", "value": "jill@example.com", "primary": true}],
        "phoneNumbers": [{"type": "mobile", "value": "+1 555"}, {"type": "work", "value": "+1 666"}],
        "displayName": "Jill Chill",
        "UserName": "jill@example.com",
        "active": true,
        "nickName": "",
        "title": null,
        "roles": [],
        "groups": [{"value": "g1"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering"},
        "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser": {"loginType": {"workEmail": true, "sso": true}},
        "urn:ietf:params:scim:schemas:extension:zoom:1.0:user": {"zoomPhone": true}
    })
}

fn flat(pairs: &[(&str, Value)]) -> Flat {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn flattens_zoom_user() {
    let want = flat(&[
        ("name.givenName", json!("Jill")),
        ("name.familyName", json!("Chill")),
        ("emails[type eq \"work\"].value", json!("jill@example.com")),
        ("emails[type eq \"work\"].primary", json!(true)),
        ("phoneNumbers[type eq \"mobile\"].value", json!("+1 555")),
        ("phoneNumbers[type eq \"work\"].value", json!("+1 666")),
        ("displayName", json!("Jill Chill")),
        ("userName", json!("jill@example.com")),
        ("active", json!(true)),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            json!("Engineering"),
        ),
        (
            "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.workEmail",
            json!(true),
        ),
        (
            "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso",
            json!(true),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhone",
            json!(true),
        ),
    ]);
    let got = flatten(&zoom_user());
    assert_eq!(got, want);
    let back = unflatten(&got, ResourceKind::User).expect("unflatten");
    assert_eq!(
        back["schemas"],
        json!([
            USER_SCHEMA,
            ENTERPRISE_USER_SCHEMA,
            ZOOM_USER_SCHEMA,
            ZOOM_LOGIN_SCHEMA
        ])
    );
    assert_eq!(
        back["emails"],
        json!([{"type": "work", "value": "jill@example.com", "primary": true}])
    );
    assert_eq!(flatten(&back), want);
}

#[test]
fn multi_valued_keying() {
    // (attribute value, expected flat entries)
    let cases: Vec<(Value, Flat)> = vec![
        (
            json!([{"value": "a@x", "primary": true}]),
            flat(&[("emails[primary eq true].value", json!("a@x"))]),
        ),
        (
            json!([{"value": "a@x", "primary": true}, {"type": "home", "value": "b@x"}]),
            flat(&[
                ("emails[primary eq true].value", json!("a@x")),
                ("emails[type eq \"home\"].value", json!("b@x")),
            ]),
        ),
        // Untyped and not primary: kept whole.
        (
            json!([{"value": "a@x"}]),
            flat(&[("emails", json!([{"value": "a@x"}]))]),
        ),
        // Two of one type: kept whole.
        (
            json!([{"type": "work", "value": "a"}, {"type": "Work", "value": "b"}]),
            flat(&[(
                "emails",
                json!([{"type": "work", "value": "a"}, {"type": "Work", "value": "b"}]),
            )]),
        ),
        // Nothing but the key: kept whole.
        (
            json!([{"type": "work"}]),
            flat(&[("emails", json!([{"type": "work"}]))]),
        ),
        // Quotes in a type are escaped as in a filter literal.
        (
            json!([{"type": "a\"b", "value": "v"}]),
            flat(&[("emails[type eq \"a\\\"b\"].value", json!("v"))]),
        ),
    ];
    for (value, want) in cases {
        let resource = json!({"emails": value});
        let got = flatten(&resource);
        assert_eq!(got, want, "{resource}");
        let back = unflatten(&got, ResourceKind::User).expect("unflatten");
        assert_eq!(flatten(&back), want, "{back}");
    }
}

#[test]
fn group() {
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "Sales",
                   "members": [{"value": "u1"}, {"value": "u2"}]});
    let f = flatten(&g);
    assert_eq!(
        f,
        flat(&[
            ("displayName", json!("Sales")),
            ("members", json!([{"value": "u1"}, {"value": "u2"}]))
        ])
    );
    let back = unflatten(&f, ResourceKind::Group).expect("unflatten");
    assert_eq!(
        back["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    assert_eq!(back["members"], g["members"]);
}

#[test]
fn unflatten_rejects() {
    let cases: &[(&[(&str, Value)], ScimType)] = &[
        (
            &[("name", json!("x")), ("name.givenName", json!("y"))],
            ScimType::InvalidValue,
        ),
        (
            &[
                ("emails", json!([{"value": "a"}])),
                ("emails[type eq \"work\"].value", json!("b")),
            ],
            ScimType::InvalidValue,
        ),
        (
            &[("userName", json!("a")), ("USERNAME", json!("b"))],
            ScimType::InvalidValue,
        ),
        (
            &[("emails[type ne \"work\"].value", json!("b"))],
            ScimType::InvalidPath,
        ),
        (
            &[("emails[type eq \"work\"].type", json!("home"))],
            ScimType::InvalidValue,
        ),
        (&[("bad key", json!(1))], ScimType::InvalidPath),
    ];
    for (pairs, want) in cases {
        let e = unflatten(&flat(pairs), ResourceKind::User).expect_err("conflict");
        assert_eq!(e.scim_type, Some(*want), "{pairs:?}");
    }
}

#[test]
fn unflatten_canonicalises() {
    let f = flat(&[
        ("USERNAME", json!("a")),
        (
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT",
            json!("d"),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:Custom:2.0:User:costBucket",
            json!("c"),
        ),
        ("nickName", Value::Null),
    ]);
    let u = unflatten(&f, ResourceKind::User).expect("unflatten");
    assert_eq!(
        u,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:Custom:2.0:User"],
               "userName": "a",
               ENTERPRISE_USER_SCHEMA: {"department": "d"},
               "urn:ietf:params:scim:schemas:extension:Custom:2.0:User": {"costBucket": "c"}})
    );
}
