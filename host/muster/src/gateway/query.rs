//! List and search parameters (RFC 7644 §3.4.2, §3.4.3) and the `attributes` /
//! `excludedAttributes` projection (§3.9).

use std::collections::HashMap;

use scim::resource::{ResourceKind, find_key, get_ci};
use scim::schema::Returned;
use scim::{AttrPath, Filter, ScimType};
use serde_json::{Map, Value};

use super::ApiError;

/// What a list or search asks for.
#[derive(Debug)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

impl ListParams {
    /// From a GET's query string; names are matched ignoring case.
    pub fn from_query(query: &HashMap<String, String>, max: usize) -> Result<Self, ApiError> {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str| -> Result<Option<i64>, ApiError> {
            param(name)
                .map(|v| v.trim().parse::<i64>())
                .transpose()
                .map_err(|_| {
                    ApiError::bad(ScimType::InvalidValue, format!("{name} must be an integer"))
                })
        };
        Ok(ListParams {
            filter: param("filter").map(Filter::parse).transpose()?,
            start_index: start_index(number("startIndex")?),
            count: count(number("count")?, max),
            projection: Projection::from_query(query)?,
        })
    }

    /// From a SearchRequest body (`POST /.search`).
    pub fn from_search(body: &Value, max: usize) -> Result<Self, ApiError> {
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad(
                ScimType::InvalidSyntax,
                "a SearchRequest must be a JSON object",
            )
        })?;
        let number = |name: &str| -> Result<Option<i64>, ApiError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    ApiError::bad(ScimType::InvalidValue, format!("{name} must be an integer"))
                }),
            }
        };
        let filter = match get_ci(obj, "filter") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) => Some(Filter::parse(f)?),
            Some(_) => {
                return Err(ApiError::bad(
                    ScimType::InvalidFilter,
                    "filter must be a string",
                ));
            }
        };
        Ok(ListParams {
            filter,
            start_index: start_index(number("startIndex")?),
            count: count(number("count")?, max),
            projection: Projection {
                attributes: names(get_ci(obj, "attributes"))?,
                excluded: names(get_ci(obj, "excludedAttributes"))?,
            },
        })
    }
}

fn start_index(n: Option<i64>) -> usize {
    usize::try_from(n.unwrap_or(1).max(1)).unwrap_or(usize::MAX)
}

fn count(n: Option<i64>, max: usize) -> usize {
    n.map_or(max, |n| usize::try_from(n.max(0)).unwrap_or(0).min(max))
}

/// A SearchRequest's `attributes`: a list of strings (a comma-separated string is accepted).
fn names(value: Option<&Value>) -> Result<Vec<Selector>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => selectors(s),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let s = item.as_str().ok_or_else(|| {
                    ApiError::bad(ScimType::InvalidValue, "attribute names must be strings")
                })?;
                out.extend(selectors(s)?);
            }
            Ok(out)
        }
        Some(_) => Err(ApiError::bad(
            ScimType::InvalidValue,
            "attributes must be a list of attribute names",
        )),
    }
}

fn selectors(list: &str) -> Result<Vec<Selector>, ApiError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Selector::parse)
        .collect()
}

/// One name in `attributes` / `excludedAttributes`.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The extension holding the attribute; None for the core schema.
    urn: Option<String>,
    /// Empty for a whole extension.
    attr: String,
    sub: Option<String>,
}

impl Selector {
    fn parse(name: &str) -> Result<Selector, ApiError> {
        let known_extension = [ResourceKind::User, ResourceKind::Group]
            .iter()
            .flat_map(|k| k.extensions())
            .find(|u| u.eq_ignore_ascii_case(name));
        if let Some(urn) = known_extension {
            return Ok(Selector {
                urn: Some(urn.to_string()),
                attr: String::new(),
                sub: None,
            });
        }
        let path = AttrPath::parse(name).map_err(|e| {
            ApiError::bad(
                ScimType::InvalidValue,
                format!("attribute {name:?}: {}", e.detail),
            )
        })?;
        let core = path.urn().is_some_and(|u| {
            [ResourceKind::User, ResourceKind::Group]
                .iter()
                .any(|k| k.schema().eq_ignore_ascii_case(u))
        });
        Ok(Selector {
            urn: path.urn().filter(|_| !core).map(str::to_string),
            attr: path.attribute().to_string(),
            sub: path.sub_attribute().map(str::to_string),
        })
    }
}

/// Which attributes a response carries.
#[derive(Debug, Default)]
pub struct Projection {
    pub attributes: Vec<Selector>,
    pub excluded: Vec<Selector>,
}

impl Projection {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Ok(Projection {
            attributes: param("attributes")
                .map(selectors)
                .transpose()?
                .unwrap_or_default(),
            excluded: param("excludedAttributes")
                .map(selectors)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The resource as the request asked to see it. `id`, `schemas`, `meta` and attributes
    /// whose schema says `returned: always` are always there.
    pub fn apply(&self, kind: ResourceKind, resource: Value) -> Value {
        let Value::Object(full) = resource else {
            return resource;
        };
        let mut out = if self.attributes.is_empty() {
            full.clone()
        } else {
            let mut out = Map::new();
            for (key, value) in &full {
                if always_returned(kind, key) {
                    out.insert(key.clone(), value.clone());
                }
            }
            for sel in &self.attributes {
                include(&full, &mut out, sel);
            }
            out
        };
        for sel in &self.excluded {
            if sel.urn.is_none() && sel.sub.is_none() && always_returned(kind, &sel.attr) {
                continue;
            }
            exclude(&mut out, sel);
        }
        Value::Object(out)
    }
}

fn always_returned(kind: ResourceKind, key: &str) -> bool {
    ["id", "schemas", "meta"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
        || kind
            .resolve(None, key)
            .is_some_and(|r| r.attribute.returned == Returned::Always)
}

/// The object holding the selected attribute: the root, or the extension's object.
fn container<'a>(root: &'a Map<String, Value>, sel: &Selector) -> Option<&'a Map<String, Value>> {
    match &sel.urn {
        None => Some(root),
        Some(urn) => get_ci(root, urn).and_then(Value::as_object),
    }
}

fn include(full: &Map<String, Value>, out: &mut Map<String, Value>, sel: &Selector) {
    let Some(from) = container(full, sel) else {
        return;
    };
    if sel.attr.is_empty() {
        if let Some(urn) = &sel.urn
            && let Some(key) = find_key(full, urn)
        {
            out.insert(key.to_string(), Value::Object(from.clone()));
        }
        return;
    }
    let Some(key) = find_key(from, &sel.attr) else {
        return;
    };
    let value = &from[key];
    let picked = match &sel.sub {
        None => value.clone(),
        Some(sub) => match value {
            Value::Object(o) => only_sub(o, sub),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|o| only_sub(o, sub))
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    .collect(),
            ),
            other => other.clone(),
        },
    };
    let target = match &sel.urn {
        None => out,
        Some(urn) => {
            let urn_key = find_key(full, urn).unwrap_or(urn).to_string();
            let entry = out
                .entry(urn_key)
                .or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(o) => o,
                None => return,
            }
        }
    };
    match (target.get_mut(key), picked) {
        // Asked for both `name` and `name.givenName`: the whole one wins.
        (Some(_), _) if sel.sub.is_some() => merge_sub(target, key, value, sel),
        (_, picked) => {
            target.insert(key.to_string(), picked);
        }
    }
}

/// Adds one more sub-attribute to a value already partly projected.
fn merge_sub(target: &mut Map<String, Value>, key: &str, full: &Value, sel: &Selector) {
    let Some(sub) = &sel.sub else {
        return;
    };
    match (target.get_mut(key), full) {
        (Some(Value::Object(have)), Value::Object(o)) => {
            if let Some(k) = find_key(o, sub) {
                have.insert(k.to_string(), o[k].clone());
            }
        }
        (Some(Value::Array(have)), Value::Array(items)) if have.len() == items.len() => {
            for (h, o) in have.iter_mut().zip(items) {
                if let (Some(h), Some(o)) = (h.as_object_mut(), o.as_object())
                    && let Some(k) = find_key(o, sub)
                {
                    h.insert(k.to_string(), o[k].clone());
                }
            }
        }
        _ => {}
    }
}

fn only_sub(o: &Map<String, Value>, sub: &str) -> Value {
    let mut picked = Map::new();
    if let Some(k) = find_key(o, sub) {
        picked.insert(k.to_string(), o[k].clone());
    }
    Value::Object(picked)
}

fn exclude(out: &mut Map<String, Value>, sel: &Selector) {
    let holder = match &sel.urn {
        None => Some(out),
        Some(urn) => {
            let Some(urn_key) = find_key(out, urn).map(str::to_string) else {
                return;
            };
            if sel.attr.is_empty() {
                out.remove(&urn_key);
                return;
            }
            out.get_mut(&urn_key).and_then(Value::as_object_mut)
        }
    };
    let Some(holder) = holder else {
        return;
    };
    let Some(key) = find_key(holder, &sel.attr).map(str::to_string) else {
        return;
    };
    match &sel.sub {
        None => {
            holder.remove(&key);
        }
        Some(sub) => match holder.get_mut(&key) {
            Some(Value::Object(o)) => remove_ci(o, sub),
            Some(Value::Array(items)) => {
                for o in items.iter_mut().filter_map(Value::as_object_mut) {
                    remove_ci(o, sub);
                }
            }
            _ => {}
        },
    }
}

fn remove_ci(o: &mut Map<String, Value>, name: &str) {
    if let Some(k) = find_key(o, name).map(str::to_string) {
        o.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn projection(attributes: &str, excluded: &str) -> Projection {
        let q: HashMap<String, String> = [
            ("attributes".to_string(), attributes.to_string()),
            ("excludedAttributes".to_string(), excluded.to_string()),
        ]
        .into();
        Projection::from_query(&q).expect("valid")
    }

    #[test]
    fn attributes_keep_what_was_asked_and_what_is_always_returned() {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1",
            "meta": {"resourceType": "User"}, "userName": "a", "displayName": "A",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"type": "work", "value": "a@x"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops", "costCenter": "7"},
        });
        let got = projection(
            "name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "",
        )
        .apply(ResourceKind::User, user.clone());
        assert_eq!(
            got,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1",
                "meta": {"resourceType": "User"}, "name": {"givenName": "Ann"},
                "emails": [{"value": "a@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"},
            })
        );
        let got = projection("", "name.familyName,emails,id").apply(ResourceKind::User, user);
        assert_eq!(got["id"], "1", "id cannot be excluded");
        assert!(got.get("emails").is_none());
        assert_eq!(got["name"], json!({"givenName": "Ann"}));
    }

    #[test]
    fn excluded_members_leave_groups_without_members() {
        let group = json!({"id": "g", "displayName": "G", "members": [{"value": "1"}]});
        let got = projection("", "members").apply(ResourceKind::Group, group);
        assert_eq!(got, json!({"id": "g", "displayName": "G"}));
    }

    #[test]
    fn paging_parameters_are_clamped() {
        let q: HashMap<String, String> = [
            ("STARTINDEX".to_string(), "-3".to_string()),
            ("count".to_string(), "5000".to_string()),
        ]
        .into();
        let p = ListParams::from_query(&q, 200).expect("valid");
        assert_eq!((p.start_index, p.count), (1, 200));
        let q: HashMap<String, String> =
            [("filter".to_string(), "userName xx \"a\"".to_string())].into();
        let err = ListParams::from_query(&q, 200).expect_err("bad filter");
        assert_eq!(err.0.scim_type, Some(ScimType::InvalidFilter));
    }
}
