//! The flat view of a resource: a map from SCIM path to value, what the engine diffs and what
//! attribute mappings write (`userName`, `name.givenName`, `emails[type eq "work"].value`,
//! `urn:…:enterprise:2.0:User:department`, `urn:…:ZoomUser:loginType.sso`).
//!
//! Rules of [`flatten`]:
//! - `id`, `meta`, `schemas` (and a User's read-only `groups`) are skipped: the server owns them.
//! - Unassigned values (null, `""`, `[]`, `{}`, RFC 7643 §2.5) produce no entry.
//! - A singular complex attribute gives one entry per sub-attribute (`name.givenName`).
//! - An extension object gives `urn:attr` entries, and `urn:attr.sub` for its complex attributes.
//! - A multi-valued complex attribute is keyed per value by its `type`
//!   (`emails[type eq "work"].value`; Entra forbids two values of one type), or by
//!   `[primary eq true]` for the one untyped primary value. If any value has neither, shares its
//!   key with another, or has nothing but its key, the attribute is kept whole (`emails` → the
//!   array), as are multi-valued simple attributes.
//! - Names known to [`crate::schema`] are spelled canonically (`USERNAME` → `userName`); keys that
//!   are not valid attribute names cannot be written as paths and are skipped.
//!
//! [`unflatten`] is the inverse on maps of that shape: `flatten(&unflatten(m)?) == m`.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::eval::present;
use crate::filter::parser::check_name;
use crate::path::AttrPath;
use crate::resource::{ResourceKind, find_key, get_ci};

/// SCIM path → value.
pub type Flat = BTreeMap<String, Value>;

/// Top-level attributes the flat view leaves to the server.
const SKIPPED: [&str; 3] = ["id", "meta", "schemas"];

fn skipped(kind: ResourceKind, name: &str) -> bool {
    SKIPPED.iter().any(|s| s.eq_ignore_ascii_case(name))
        || (kind == ResourceKind::User && name.eq_ignore_ascii_case("groups"))
}

/// The flat view of a resource (rules in the module docs).
pub fn flatten(resource: &Value) -> Flat {
    let kind = ResourceKind::of(resource);
    let mut out = Flat::new();
    let Some(root) = resource.as_object() else {
        return out;
    };
    for (key, value) in root {
        if skipped(kind, key) {
            continue;
        }
        let is_urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        match value {
            Value::Object(ext) if is_urn => {
                let urn = kind.canonical_urn(key).unwrap_or(key);
                for (name, v) in ext {
                    flatten_attr(kind, Some(urn), name, v, &mut out);
                }
            }
            _ => flatten_attr(kind, None, key, value, &mut out),
        }
    }
    out
}

/// Canonical spellings of an attribute and a sub-attribute name.
fn canonical(kind: ResourceKind, urn: Option<&str>, name: &str) -> String {
    match kind.resolve(urn, name) {
        Some(r) => r.attribute.name.to_string(),
        None => name.to_string(),
    }
}

fn canonical_sub(kind: ResourceKind, urn: Option<&str>, attr: &str, sub: &str) -> String {
    match kind.resolve(urn, attr).and_then(|r| r.attribute.sub(sub)) {
        Some(a) => a.name.to_string(),
        None => sub.to_string(),
    }
}

fn flatten_attr(kind: ResourceKind, urn: Option<&str>, name: &str, value: &Value, out: &mut Flat) {
    if !present(value) || check_name(name).is_err() {
        return;
    }
    let attr = canonical(kind, urn, name);
    let prefix = match urn {
        Some(u) => format!("{u}:{attr}"),
        None => attr.clone(),
    };
    match value {
        Value::Object(o) if o.keys().all(|k| check_name(k).is_ok()) => {
            for (sub, v) in o.iter().filter(|(_, v)| present(v)) {
                let sub = canonical_sub(kind, urn, &attr, sub);
                out.insert(format!("{prefix}.{sub}"), v.clone());
            }
        }
        Value::Array(values) => match keyed(values) {
            Some(keyed) => {
                for (key, skip, o) in keyed {
                    for (sub, v) in o
                        .iter()
                        .filter(|(k, v)| present(v) && !k.eq_ignore_ascii_case(skip))
                    {
                        let sub = canonical_sub(kind, urn, &attr, sub);
                        out.insert(format!("{prefix}[{key}].{sub}"), v.clone());
                    }
                }
            }
            None => {
                out.insert(prefix, value.clone());
            }
        },
        _ => {
            out.insert(prefix, value.clone());
        }
    }
}

/// A value of a multi-valued attribute, its filter (`type eq "work"`) and the sub-attribute the
/// filter names.
type Keyed<'a> = (String, &'static str, &'a Map<String, Value>);

/// Each value of a multi-valued attribute with its filter key and the sub-attribute the key uses,
/// or `None` if the values cannot all be keyed uniquely (see the module docs).
fn keyed(values: &[Value]) -> Option<Vec<Keyed<'_>>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let o = v.as_object()?;
        let (key, skip) = match get_ci(o, "type") {
            Some(Value::String(t)) if !t.is_empty() => {
                (format!("type eq {}", Value::String(t.clone())), "type")
            }
            None | Some(Value::Null) if get_ci(o, "primary") == Some(&Value::Bool(true)) => {
                ("primary eq true".to_string(), "primary")
            }
            _ => return None,
        };
        let has_content = o
            .iter()
            .any(|(k, v)| present(v) && !k.eq_ignore_ascii_case(skip));
        let names_ok = o.keys().all(|k| check_name(k).is_ok());
        if !has_content || !names_ok || !seen.insert(key.to_ascii_lowercase()) {
            return None;
        }
        out.push((key, skip, o));
    }
    Some(out)
}

/// Builds the full resource from a flat view: `schemas` lists the core schema and each extension
/// used. Unassigned values are skipped. Keys that do not parse are `invalidPath`; keys that
/// contradict each other (`name` and `name.givenName`) are `invalidValue`.
pub fn unflatten(flat: &Flat, kind: ResourceKind) -> Result<Value, ScimError> {
    let mut body = Map::new();
    let mut extensions: Vec<String> = Vec::new();
    let mut whole: HashSet<(Option<String>, String)> = HashSet::new();
    for (key, value) in flat.iter().filter(|(_, v)| present(v)) {
        let path = AttrPath::parse(key)?;
        let urn = match path.urn() {
            Some(u) if !u.eq_ignore_ascii_case(kind.schema()) => {
                let urn = kind.canonical_urn(u).unwrap_or(u).to_string();
                if !extensions.iter().any(|e| e.eq_ignore_ascii_case(&urn)) {
                    extensions.push(urn.clone());
                }
                Some(urn)
            }
            _ => None,
        };
        if urn.is_none() && path.attribute().eq_ignore_ascii_case("schemas") {
            continue;
        }
        let attr = canonical(kind, urn.as_deref(), path.attribute());
        let container = match &urn {
            Some(u) => object_at(&mut body, u, key)?,
            None => &mut body,
        };
        let whole_key = (urn.clone(), attr.to_ascii_lowercase());
        let is_whole = path.sub_attribute().is_none() && path.value_filter().is_none();
        if whole.contains(&whole_key) || (is_whole && find_key(container, &attr).is_some()) {
            return Err(conflict(key));
        }
        if is_whole {
            whole.insert(whole_key);
            container.insert(attr, value.clone());
            continue;
        }
        let sub = path.sub_attribute().unwrap_or_default();
        let sub = canonical_sub(kind, urn.as_deref(), &attr, sub);
        let target = match path.value_filter() {
            None => object_at(container, &attr, key)?,
            Some(filter) => element_at(container, &attr, filter, key)?,
        };
        if find_key(target, &sub).is_some() {
            return Err(conflict(key));
        }
        target.insert(sub, value.clone());
    }
    let mut schemas = vec![Value::from(kind.schema())];
    let known = kind
        .extensions()
        .iter()
        .filter(|k| extensions.iter().any(|e| e == *k));
    schemas.extend(known.map(|k| Value::from(*k)));
    let unknown = extensions
        .iter()
        .filter(|e| !kind.extensions().contains(&e.as_str()));
    schemas.extend(unknown.map(|e| Value::from(e.as_str())));
    let mut resource = Map::new();
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.extend(body);
    Ok(Value::Object(resource))
}

fn conflict(key: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("{key} conflicts with another key"),
    )
}

/// The object under `name` (created if absent).
fn object_at<'m>(
    map: &'m mut Map<String, Value>,
    name: &str,
    key: &str,
) -> Result<&'m mut Map<String, Value>, ScimError> {
    let k = find_key(map, name).unwrap_or(name).to_string();
    map.entry(k)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| conflict(key))
}

/// The element of the array under `name` that the equality filter designates (created if absent).
fn element_at<'m>(
    map: &'m mut Map<String, Value>,
    name: &str,
    filter: &crate::filter::Filter,
    key: &str,
) -> Result<&'m mut Map<String, Value>, ScimError> {
    let template = filter.equality_template().ok_or_else(|| {
        ScimError::bad_request(
            ScimType::InvalidPath,
            format!("{key}: flat keys filter by equality only"),
        )
    })?;
    let k = find_key(map, name).unwrap_or(name).to_string();
    let array = map
        .entry(k)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| conflict(key))?;
    // The value flatten would key the same way: a `[primary eq true]` key never names a typed
    // value, even a primary one.
    let typed = template.iter().any(|(a, _)| a.eq_ignore_ascii_case("type"));
    let fits = |e: &Value| {
        e.as_object().is_some_and(|o| {
            template.iter().all(|(a, v)| get_ci(o, a) == Some(*v))
                && (typed || get_ci(o, "type").is_none_or(Value::is_null))
        })
    };
    let index = match array.iter().position(fits) {
        Some(i) => i,
        None => {
            let element = template
                .iter()
                .map(|(a, v)| (a.to_string(), (*v).clone()))
                .collect();
            array.push(Value::Object(element));
            array.len() - 1
        }
    };
    array
        .get_mut(index)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| conflict(key))
}

#[cfg(test)]
mod tests;
