use serde_json::{Value, json};

use super::*;

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen",
        "userName": "Bjensen@Example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "title": "Tour Guide",
        "active": true,
        "userType": "Employee",
        "logins": 42,
        "score": 2.5,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "meta": {"resourceType": "User", "lastModified": "2011-05-13T04:42:34Z",
                 "created": "2010-01-23T04:56:22+02:00"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}},
        "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser": {"loginType": {"sso": true, "workEmail": false}}
    })
}

#[test]
fn evaluates() {
    let cases: &[(&str, bool)] = &[
        ("userName eq \"bjensen@example.com\"", true),
        ("USERNAME EQ \"BJENSEN@EXAMPLE.COM\"", true),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"bjen\"",
            true,
        ),
        ("id eq \"2819C223-7F76-453A-919D-413861904646\"", false),
        ("id eq \"2819c223-7f76-453a-919d-413861904646\"", true),
        ("externalId eq \"bjensen\"", false),
        ("externalId eq \"Bjensen\"", true),
        ("name.familyName co \"ENS\"", true),
        ("name.givenName ew \"ara\"", true),
        ("title pr", true),
        ("nickName pr", false),
        ("not (nickName pr)", true),
        ("nickName eq null", true),
        ("title ne null", true),
        ("title ne \"Tour Guide\"", false),
        ("nickName ne \"x\"", true),
        ("active eq true", true),
        ("active eq \"true\"", false),
        ("active ne false", true),
        ("logins gt 41", true),
        ("logins ge 42", true),
        ("logins lt 42", false),
        ("logins le 42.0", true),
        ("score gt 2", true),
        ("score lt 2.5", false),
        ("userType gt \"Emp\"", true),
        ("userType lt \"employee\"", false),
        ("meta.lastModified gt \"2011-05-13T04:42:34Z\"", false),
        ("meta.lastModified ge \"2011-05-13T04:42:34Z\"", true),
        ("meta.lastModified gt \"2011-05-13T06:42:33+02:00\"", true),
        ("meta.lastModified lt \"2011-05-13T04:42:34.5Z\"", true),
        ("meta.created eq \"2010-01-23T02:56:22Z\"", true),
        ("emails co \"example.com\"", true),
        ("emails.value ew \"jensen.org\"", true),
        ("emails.type eq \"home\"", true),
        (
            "emails[type eq \"work\" and value co \"@example.com\"]",
            true,
        ),
        (
            "emails[type eq \"home\" and value co \"@example.com\"]",
            false,
        ),
        (
            "emails[type eq \"work\"].value eq \"BJENSEN@example.com\"",
            true,
        ),
        (
            "emails[type eq \"home\"].value eq \"bjensen@example.com\"",
            false,
        ),
        ("emails[primary eq true].value sw \"bjensen\"", true),
        (
            "emails[not (type eq \"work\")].value eq \"babs@jensen.org\"",
            true,
        ),
        (
            "phoneNumbers[type eq \"mobile\"] or emails[type eq \"home\"]",
            true,
        ),
        (
            "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
            true,
        ),
        (
            "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
            false,
        ),
        (
            "title pr and userType eq \"Intern\" or active eq true",
            true,
        ),
        (
            "title pr and (userType eq \"Intern\" or active eq false)",
            false,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"tour operations\"",
            true,
        ),
        (
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT sw \"Tour\"",
            true,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
            true,
        ),
        (
            "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso eq true",
            true,
        ),
        (
            "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.workEmail eq true",
            false,
        ),
        ("userName eq \"\\u0042jensen@example.com\"", true),
        ("missing.sub eq \"x\"", false),
        ("logins co \"4\"", false),
        ("title eq 5", false),
    ];
    let u = user();
    for &(input, want) in cases {
        let f = Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(f.matches(&u), want, "{input}");
        let again = Filter::parse(&f.to_string()).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(again, f, "{input} reparses from {f}");
    }
}

#[test]
fn group_members() {
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales",
                   "members": [{"value": "u1", "display": "A"}, {"value": "u2"}]});
    let cases: &[(&str, bool)] = &[
        ("displayName eq \"sales\"", true),
        ("members[value eq \"u2\"]", true),
        ("members[value eq \"u3\"]", false),
        ("members eq \"u1\"", true),
        ("members.display pr", true),
    ];
    for &(input, want) in cases {
        assert_eq!(
            Filter::parse(input).map(|f| f.matches(&g)),
            Ok(want),
            "{input}"
        );
    }
}

#[test]
fn canonical_form() {
    let cases: &[(&str, &str)] = &[
        ("a EQ \"x\"", "a eq \"x\""),
        ("(a pr)", "a pr"),
        ("a pr or b pr and c pr", "a pr or b pr and c pr"),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("NOT(a pr)", "not (a pr)"),
        ("a eq TRUE", "a eq true"),
        ("a gt 1e3", "a gt 1000.0"),
        ("a eq \"q\\\"\"", "a eq \"q\\\"\""),
        // Long mantissas must round-trip through the canonical form.
        ("a gt 444444444244444444444", "a gt 4.4444444424444445e+20"),
        (
            "a eq 77777766666666666777777666666666666767667",
            "a eq 7.777776666666667e+40",
        ),
    ];
    for &(input, want) in cases {
        assert_eq!(
            Filter::parse(input).map(|f| f.to_string()),
            Ok(want.to_string()),
            "{input}"
        );
    }
}

#[test]
fn rejects() {
    let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    let deep = format!(
        "{}a pr{}",
        "(".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    let deep_not = format!(
        "{}a pr{}",
        "not(".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    let cases = [
        "",
        "userName",
        "userName eq",
        "userName eq bjensen",
        "userName xx \"a\"",
        "userName eq \"a\" and",
        "userName eq \"a\" or or b pr",
        "(userName pr",
        "userName pr)",
        "active gt true",
        "title lt null",
        "title co 5",
        "title sw true",
        "emails[type eq \"work\"",
        "emails[emails[type pr]]",
        "emails[type eq \"work\"] eq",
        "not title pr",
        "a eq 'x'",
        "a eq \"x\" b pr",
        "1a pr",
        long.as_str(),
        deep.as_str(),
        deep_not.as_str(),
    ];
    for input in cases {
        let e = Filter::parse(input).expect_err(input);
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::InvalidFilter)),
            "{input}"
        );
    }
    let ok_depth = format!(
        "{}a pr{}",
        "(".repeat(MAX_FILTER_DEPTH),
        ")".repeat(MAX_FILTER_DEPTH)
    );
    assert!(Filter::parse(&ok_depth).is_ok());
}

#[test]
fn long_chains_are_flat() {
    let chain = vec!["a pr"; 800].join(" and ");
    match Filter::parse(&chain) {
        Ok(Filter::And(terms)) => assert_eq!(terms.len(), 800),
        other => panic!("{other:?}"),
    }
}

#[test]
fn equality_templates() {
    let t = |s: &str| {
        let f = Filter::parse(s).expect(s);
        f.equality_template().map(|v| {
            v.into_iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        t("type eq \"work\""),
        Some(vec![("type".into(), json!("work"))])
    );
    assert_eq!(
        t("type eq \"work\" and primary eq true"),
        Some(vec![
            ("type".into(), json!("work")),
            ("primary".into(), json!(true))
        ])
    );
    assert_eq!(t("type ne \"work\""), None);
    assert_eq!(t("type eq \"a\" or type eq \"b\""), None);
    assert_eq!(t("type eq null"), None);
}

#[test]
fn datetimes() {
    use super::eval::datetime;
    assert_eq!(datetime("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(datetime("1970-01-01T01:00:00+01:00"), Some((0, 0)));
    assert_eq!(
        datetime("2000-03-01T00:00:00.25Z"),
        Some((951_868_800, 250_000_000))
    );
    for bad in [
        "2000-13-01T00:00:00Z",
        "2000-01-01",
        "2000-01-01T00:00:00",
        "2000-01-01T00:00:00+0100",
        "x",
    ] {
        assert_eq!(datetime(bad), None, "{bad}");
    }
}
