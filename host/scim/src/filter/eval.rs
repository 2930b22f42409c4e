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

/// An RFC 3339 date-time (SCIM's `dateTime`, RFC 7643 §2.3.5) as unix seconds and
/// nanoseconds, for comparing two whatever their offsets; `None` when it is not one.
pub(crate) fn datetime(s: &str) -> Option<(i64, u32)> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp(), t.nanosecond()))
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
