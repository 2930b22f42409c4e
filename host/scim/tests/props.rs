//! Property tests: the filter evaluator against a naive reference, and the flat view's round
//! trips (`flatten ∘ unflatten`, and the engine's diff → PATCH → flatten).

use proptest::prelude::*;
use scim::Filter;
use scim::flat::{Flat, flatten, unflatten};
use scim::patch::{PatchOp, PatchOperation, apply};
use scim::resource::ResourceKind;
use serde_json::{Map, Value, json};

// ---------- filters ----------

const STRS: &[&str] = &["a", "A", "ab", "aB", "b", "ba", ""];

fn s() -> impl Strategy<Value = Value> {
    prop::sample::select(STRS).prop_map(Value::from)
}

fn resource() -> impl Strategy<Value = Value> {
    let email = (
        prop::option::of(prop::sample::select(&["work", "home", "Work"][..])),
        prop::option::of(s()),
        prop::option::of(any::<bool>()),
    );
    (
        prop::option::of(s()),
        prop::option::of(s()),
        prop::option::of(-2i64..3),
        prop::option::of(any::<bool>()),
        prop::option::of(s()),
        prop::collection::vec(email, 0..3),
    )
        .prop_map(|(title, ext, logins, active, given, emails)| {
            let mut r = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    r.insert(k.to_string(), v);
                }
            };
            put("title", title);
            put("externalId", ext);
            put("logins", logins.map(Value::from));
            put("active", active.map(Value::from));
            put("name", given.map(|g| json!({ "givenName": g })));
            let emails: Vec<Value> = emails
                .into_iter()
                .map(|(t, v, p)| {
                    let mut e = Map::new();
                    if let Some(t) = t {
                        e.insert("type".into(), t.into());
                    }
                    if let Some(v) = v {
                        e.insert("value".into(), v);
                    }
                    if let Some(p) = p {
                        e.insert("primary".into(), p.into());
                    }
                    Value::Object(e)
                })
                .collect();
            if !emails.is_empty() {
                r.insert("emails".into(), Value::Array(emails));
            }
            Value::Object(r)
        })
}

const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        s(),
        (-2i64..3).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null)
    ]
}

/// Reference filter AST over a fixed vocabulary.
#[derive(Debug, Clone)]
enum RF {
    Cmp(RPath, &'static str, Value),
    Pr(RPath),
    Emails(Box<RF>),
    And(Box<RF>, Box<RF>),
    Or(Box<RF>, Box<RF>),
    Not(Box<RF>),
}

#[derive(Debug, Clone)]
enum RPath {
    /// (rendered name, field getter key, caseExact)
    Plain(&'static str, bool),
    GivenName,
    EmailsSub(&'static str),
    EmailsWhole,
    EmailsFilteredValue(Box<RF>),
}

fn leaf(in_vf: bool) -> BoxedStrategy<RF> {
    let path: BoxedStrategy<RPath> = if in_vf {
        prop::sample::select(&[("type", false), ("value", false), ("primary", false)][..])
            .prop_map(|(n, ce)| RPath::Plain(n, ce))
            .boxed()
    } else {
        prop_oneof![
            prop::sample::select(
                &[
                    ("title", false),
                    ("externalId", true),
                    ("logins", false),
                    ("active", false),
                    ("nickName", false)
                ][..]
            )
            .prop_map(|(n, ce)| RPath::Plain(n, ce)),
            Just(RPath::GivenName),
            prop::sample::select(&["value", "type", "primary"][..]).prop_map(RPath::EmailsSub),
            Just(RPath::EmailsWhole),
            vf().prop_map(|f| RPath::EmailsFilteredValue(Box::new(f))),
        ]
        .boxed()
    };
    prop_oneof![
        4 => (path.clone(), prop::sample::select(OPS), literal()).prop_map(|(p, o, l)| RF::Cmp(p, o, l)),
        1 => path.prop_map(RF::Pr),
    ]
    .boxed()
}

fn combine(leaf: BoxedStrategy<RF>) -> BoxedStrategy<RF> {
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| RF::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| RF::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| RF::Not(Box::new(a))),
        ]
    })
    .boxed()
}

fn vf() -> BoxedStrategy<RF> {
    combine(leaf(true))
}

fn rf() -> BoxedStrategy<RF> {
    let top =
        prop_oneof![4 => leaf(false), 1 => vf().prop_map(|f| RF::Emails(Box::new(f)))].boxed();
    combine(top)
}

fn render(f: &RF) -> String {
    match f {
        RF::Cmp(p, op, lit) => format!("{} {op} {lit}", render_path(p)),
        RF::Pr(p) => format!("{} pr", render_path(p)),
        RF::Emails(inner) => format!("emails[{}]", render(inner)),
        RF::And(a, b) => format!("({}) and ({})", render(a), render(b)),
        RF::Or(a, b) => format!("({}) or ({})", render(a), render(b)),
        RF::Not(a) => format!("not ({})", render(a)),
    }
}

fn render_path(p: &RPath) -> String {
    match p {
        RPath::Plain(n, _) => n.to_string(),
        RPath::GivenName => "name.givenName".into(),
        RPath::EmailsSub(s) => format!("emails.{s}"),
        RPath::EmailsWhole => "emails".into(),
        RPath::EmailsFilteredValue(f) => format!("emails[{}].value", render(f)),
    }
}

/// Whether the reference considers the filter well-formed.
fn valid(f: &RF) -> bool {
    match f {
        RF::Cmp(p, op, lit) => {
            let ok = match *op {
                "eq" | "ne" => true,
                "co" | "sw" | "ew" => lit.is_string(),
                _ => lit.is_string() || lit.is_number(),
            };
            ok && valid_path(p)
        }
        RF::Pr(p) => valid_path(p),
        RF::Emails(a) | RF::Not(a) => valid(a),
        RF::And(a, b) | RF::Or(a, b) => valid(a) && valid(b),
    }
}

fn valid_path(p: &RPath) -> bool {
    match p {
        RPath::EmailsFilteredValue(f) => valid(f),
        _ => true,
    }
}

fn field<'a>(o: &'a Value, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn emails(r: &Value) -> Vec<&Value> {
    r.get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Values of a path and whether comparisons on it are case-exact.
fn ref_values<'a>(r: &'a Value, p: &RPath) -> (Vec<&'a Value>, bool) {
    match p {
        RPath::Plain(n, ce) => (field(r, n).into_iter().collect(), *ce),
        RPath::GivenName => (
            r.get("name")
                .and_then(|n| field(n, "givenName"))
                .into_iter()
                .collect(),
            false,
        ),
        RPath::EmailsSub(s) => (
            emails(r).into_iter().filter_map(|e| field(e, s)).collect(),
            false,
        ),
        RPath::EmailsWhole => (emails(r), false),
        RPath::EmailsFilteredValue(f) => (
            emails(r)
                .into_iter()
                .filter(|e| reference(f, e))
                .filter_map(|e| field(e, "value"))
                .collect(),
            false,
        ),
    }
}

fn is_present(v: &Value) -> bool {
    !(v.is_null()
        || v == ""
        || v.as_array().is_some_and(Vec::is_empty)
        || v.as_object().is_some_and(Map::is_empty))
}

fn reference(f: &RF, r: &Value) -> bool {
    match f {
        RF::And(a, b) => reference(a, r) && reference(b, r),
        RF::Or(a, b) => reference(a, r) || reference(b, r),
        RF::Not(a) => !reference(a, r),
        RF::Emails(vf) => emails(r).into_iter().any(|e| reference(vf, e)),
        RF::Pr(p) => ref_values(r, p).0.into_iter().any(is_present),
        RF::Cmp(p, op, lit) => {
            let (vals, ce) = ref_values(r, p);
            // A complex value compared whole stands for its `value`.
            let vals: Vec<&Value> = vals
                .into_iter()
                .filter_map(|v| {
                    if v.is_object() {
                        field(v, "value")
                    } else {
                        Some(v)
                    }
                })
                .collect();
            if lit.is_null() {
                let any = vals.iter().any(|v| is_present(v));
                return match *op {
                    "eq" => !any,
                    "ne" => any,
                    _ => false,
                };
            }
            match *op {
                "ne" => !vals.iter().any(|v| ref_cmp("eq", v, lit, ce)),
                op => vals.iter().any(|v| ref_cmp(op, v, lit, ce)),
            }
        }
    }
}

fn ref_cmp(op: &str, v: &Value, lit: &Value, ce: bool) -> bool {
    match (v, lit) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if ce {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                "eq" => a == b,
                "co" => a.contains(&b),
                "sw" => a.starts_with(&b),
                "ew" => a.ends_with(&b),
                "gt" => a > b,
                "ge" => a >= b,
                "lt" => a < b,
                _ => a <= b,
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            match op {
                "eq" => a == b,
                "gt" => a > b,
                "ge" => a >= b,
                "lt" => a < b,
                "le" => a <= b,
                _ => false,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => op == "eq" && a == b,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn filter_agrees_with_reference(r in resource(), f in rf()) {
        let text = render(&f);
        match Filter::parse(&text) {
            Ok(parsed) => {
                prop_assert!(valid(&f), "accepted an invalid filter: {}", text);
                prop_assert_eq!(parsed.matches(&r), reference(&f, &r), "{} on {}", text, r);
                let again = Filter::parse(&parsed.to_string());
                prop_assert_eq!(again.as_ref(), Ok(&parsed), "canonical form of {}", text);
            }
            Err(e) => prop_assert!(!valid(&f), "rejected {}: {}", text, e),
        }
    }
}

// ---------- flat view ----------

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ZOOM: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";
const LOGIN: &str = "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser";

fn text() -> impl Strategy<Value = Value> {
    prop::sample::select(&["x", "y", "Jill", "a\"b", "é"][..]).prop_map(Value::from)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![3 => text(), 1 => any::<bool>().prop_map(Value::from), 1 => (0i64..5).prop_map(Value::from)]
}

/// How a multi-valued attribute appears in a flat map.
fn multi(attr: &'static str) -> BoxedStrategy<Vec<(String, Value)>> {
    let typed = prop::collection::btree_map(
        prop::sample::select(&["work", "home", "other", "a\"b"][..]),
        prop::collection::btree_map(
            prop::sample::select(&["value", "display", "primary"][..]),
            text(),
            1..3,
        )
        .prop_flat_map(|subs| {
            // `primary` is a boolean: the schema refuses anything else.
            let primary = subs.contains_key("primary");
            (Just(subs), any::<bool>()).prop_map(move |(mut subs, p)| {
                if primary {
                    subs.insert("primary", Value::Bool(p));
                }
                subs
            })
        }),
        1..3,
    )
    .prop_map(move |m| {
        let mut out = Vec::new();
        for (t, subs) in m {
            for (sub, v) in subs {
                out.push((format!("{attr}[type eq {}].{sub}", Value::from(t)), v));
            }
        }
        out
    });
    let primary = prop::collection::btree_map(
        prop::sample::select(&["value", "display"][..]),
        text(),
        1..3,
    )
    .prop_map(move |m| {
        m.into_iter()
            .map(|(sub, v)| (format!("{attr}[primary eq true].{sub}"), v))
            .collect()
    });
    let whole = prop::collection::vec(text(), 1..3).prop_map(move |vs| {
        vec![(
            attr.to_string(),
            Value::Array(vs.into_iter().map(|v| json!({ "value": v })).collect()),
        )]
    });
    prop_oneof![Just(Vec::new()), typed, primary, whole].boxed()
}

fn flat_user() -> impl Strategy<Value = Flat> {
    // (path, is boolean, schema-less: any scalar)
    let singles = prop::collection::btree_map(
        prop::sample::select(
            &[
                ("displayName", false, false),
                ("title", false, false),
                ("active", true, false),
                ("name.givenName", false, false),
                ("name.familyName", false, false),
                ("x-custom", false, true),
                (
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                    false,
                    false,
                ),
                (
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                    false,
                    false,
                ),
                (
                    "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhone",
                    true,
                    false,
                ),
                (
                    "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso",
                    true,
                    false,
                ),
                (
                    "urn:ietf:params:scim:schemas:extension:Custom:2.0:User:costBucket",
                    false,
                    true,
                ),
            ][..],
        ),
        (text(), any::<bool>(), scalar()),
        0..8,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|((k, boolean, any), (t, b, s))| {
                let v = if boolean {
                    Value::Bool(b)
                } else if any {
                    s
                } else {
                    t
                };
                (k, v)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    (text(), singles, multi("emails"), multi("phoneNumbers")).prop_map(
        |(user_name, singles, emails, phones)| {
            let mut f: Flat = singles
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            f.insert("userName".into(), user_name);
            f.extend(emails);
            f.extend(phones);
            f
        },
    )
}

/// The RFC-shaped operations the engine sends to turn `a` into `b`: removes first (so that a
/// value switching between the keyed and the whole form is cleared before it is rewritten).
fn diff(a: &Flat, b: &Flat) -> Vec<PatchOperation> {
    let removes = a
        .keys()
        .filter(|k| !b.contains_key(*k))
        .map(|k| PatchOperation {
            op: PatchOp::Remove,
            path: Some(k.clone()),
            value: None,
        });
    let replaces = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(v))
        .map(|(k, v)| PatchOperation {
            op: PatchOp::Replace,
            path: Some(k.clone()),
            value: Some(v.clone()),
        });
    removes.chain(replaces).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn flatten_inverts_unflatten(m in flat_user()) {
        let resource = unflatten(&m, ResourceKind::User).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(flatten(&resource), m);
        let schemas = resource["schemas"].as_array().cloned().unwrap_or_default();
        for urn in [ENTERPRISE, ZOOM, LOGIN] {
            prop_assert_eq!(schemas.contains(&Value::from(urn)), resource.get(urn).is_some());
        }
    }

    #[test]
    fn diff_patch_flatten_round_trip(a in flat_user(), b in flat_user()) {
        let mut resource = unflatten(&a, ResourceKind::User).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ops = diff(&a, &b);
        apply(&mut resource, &ops).map_err(|e| TestCaseError::fail(format!("{e} applying {ops:?}")))?;
        prop_assert_eq!(flatten(&resource), b, "ops {:?}", ops);
    }
}
