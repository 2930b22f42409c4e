//! Evaluation of a parsed filter against a JSON resource.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{CompareOp, Filter};
use crate::path::AttrPath;
use crate::resource::{GROUP_SCHEMA, USER_SCHEMA, get_ci};
use crate::schema::{AttrType, Attribute, AttributeLookup};

/// Where paths are resolved: at the resource root, or inside one value of a multi-valued
/// attribute (`parent`), whose characteristics then qualify the relative names.
pub(crate) struct Scope<'a> {
    schema: &'a dyn AttributeLookup,
    parent: Option<(Option<&'a str>, &'a str)>,
}

impl<'a> Scope<'a> {
    pub(crate) fn root(schema: &'a dyn AttributeLookup) -> Self {
        Scope {
            schema,
            parent: None,
        }
    }

    fn attribute(&self, path: &AttrPath) -> &Attribute {
        match self.parent {
            Some((urn, attr)) => self.schema.attribute(urn, attr, Some(path.attribute())),
            None => self
                .schema
                .attribute(path.urn(), path.attribute(), path.sub_attribute()),
        }
    }
}

pub(crate) fn matches(filter: &Filter, resource: &Value, scope: &Scope<'_>) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|t| matches(t, resource, scope)),
        Filter::Or(terms) => terms.iter().any(|t| matches(t, resource, scope)),
        Filter::Not(inner) => !matches(inner, resource, scope),
        Filter::Present(path) => values(resource, path, scope).into_iter().any(present),
        Filter::ValuePath(path) => !values(resource, path, scope).is_empty(),
        Filter::Compare { path, op, value } => {
            let attr = scope.attribute(path);
            // A complex value compared as a whole stands for its `value` sub-attribute.
            let vals: Vec<&Value> = values(resource, path, scope)
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(o) => get_ci(o, "value").filter(|v| !v.is_null()),
                    v => Some(v),
                })
                .collect();
            compare(*op, value, &vals, attr)
        }
    }
}

fn is_core_urn(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(USER_SCHEMA) || urn.eq_ignore_ascii_case(GROUP_SCHEMA)
}

/// The non-null values a path designates in `resource`, arrays flattened.
pub(crate) fn values<'v>(
    resource: &'v Value,
    path: &AttrPath,
    scope: &Scope<'_>,
) -> Vec<&'v Value> {
    let Some(container) = container(resource, path.urn()) else {
        return Vec::new();
    };
    let Some(v) = get_ci(container, path.attribute()) else {
        return Vec::new();
    };
    let mut vals = one_or_many(v);
    if let Some(f) = path.value_filter() {
        let inner = Scope {
            schema: scope.schema,
            parent: Some((path.urn(), path.attribute())),
        };
        vals.retain(|e| e.is_object() && matches(f, e, &inner));
    }
    if let Some(sub) = path.sub_attribute() {
        vals = vals
            .into_iter()
            .filter_map(|e| e.as_object().and_then(|o| get_ci(o, sub)))
            .flat_map(one_or_many)
            .collect();
    }
    vals.retain(|v| !v.is_null());
    vals
}

/// The object holding a path's attribute: the resource, or its extension object.
fn container<'v>(resource: &'v Value, urn: Option<&str>) -> Option<&'v Map<String, Value>> {
    let root = resource.as_object()?;
    match urn {
        Some(u) if !is_core_urn(u) => get_ci(root, u)?.as_object(),
        _ => Some(root),
    }
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

/// RFC 7643 §2.5: null, "", [] and {} are unassigned.
pub(crate) fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(op: CompareOp, lit: &Value, vals: &[&Value], attr: &Attribute) -> bool {
    if lit.is_null() {
        let any = vals.iter().any(|v| present(v));
        return match op {
            CompareOp::Eq => !any,
            CompareOp::Ne => any,
            _ => false,
        };
    }
    let any = |f: &dyn Fn(&Value) -> bool| vals.iter().any(|v| f(v));
    match op {
        CompareOp::Eq => any(&|v| order(v, lit, attr) == Some(Ordering::Equal)),
        CompareOp::Ne => !any(&|v| order(v, lit, attr) == Some(Ordering::Equal)),
        CompareOp::Gt => any(&|v| order(v, lit, attr) == Some(Ordering::Greater)),
        CompareOp::Ge => any(&|v| {
            matches!(
                order(v, lit, attr),
                Some(Ordering::Greater | Ordering::Equal)
            )
        }),
        CompareOp::Lt => any(&|v| order(v, lit, attr) == Some(Ordering::Less)),
        CompareOp::Le => {
            any(&|v| matches!(order(v, lit, attr), Some(Ordering::Less | Ordering::Equal)))
        }
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => any(&|v| text_match(op, v, lit, attr)),
    }
}

/// How an attribute value orders against a literal; `None` when they do not compare.
fn order(v: &Value, lit: &Value, attr: &Attribute) -> Option<Ordering> {
    match (v, lit) {
        (Value::String(a), Value::String(b)) => {
            if attr.ty == AttrType::DateTime
                && let (Some(x), Some(y)) = (datetime(a), datetime(b))
            {
                return Some(x.cmp(&y));
            }
            Some(if attr.case_exact {
                a.as_str().cmp(b.as_str())
            } else {
                fold(a).cmp(&fold(b))
            })
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        // Booleans only compare for equality (the parser refuses ordering against them).
        (Value::Bool(a), Value::Bool(b)) => (a == b).then_some(Ordering::Equal),
        _ => None,
    }
}

fn text_match(op: CompareOp, v: &Value, lit: &Value, attr: &Attribute) -> bool {
    let (Value::String(a), Value::String(b)) = (v, lit) else {
        return false;
    };
    let (a, b) = if attr.case_exact {
        (a.clone(), b.clone())
    } else {
        (fold(a), fold(b))
    };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        _ => a.ends_with(&b),
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// An RFC 3339 date-time (xsd:dateTime as RFC 7643 §2.3.5 uses it) as (UTC seconds, nanos).
pub(crate) fn datetime(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if sep(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let padded: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = padded.parse().ok()?;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let sign = if b.get(i) == Some(&b'-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset, nanos))
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether one value of the multi-valued attribute `urn:attr` matches a value filter.
pub(crate) fn matches_element(
    filter: &Filter,
    element: &Value,
    schema: &dyn AttributeLookup,
    urn: Option<&str>,
    attr: &str,
) -> bool {
    element.is_object()
        && matches(
            filter,
            element,
            &Scope {
                schema,
                parent: Some((urn, attr)),
            },
        )
}
