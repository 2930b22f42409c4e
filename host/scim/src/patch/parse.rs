//! Parsing a PatchOp body, both dialects, into RFC-shaped operations.
//!
//! Entra's default dialect (Microsoft Learn, "Known issues and resolutions with SCIM 2.0 protocol
//! compliance of the Microsoft Entra user provisioning service") is normalised here so that
//! [`super::apply`] sees one shape: `op` in any case; `"True"`/`"False"` strings for boolean
//! attributes become booleans; a singular complex attribute sent as a one-element array (Entra's
//! `manager` PATCH) is unwrapped; dotted and URN-qualified keys inside a path-less value are
//! expanded into nested objects, and keys carrying a value filter become operations of their own.
//! `remove` of a multi-valued attribute with a `value` list is kept as is: `apply` removes just
//! those values.

use serde_json::{Map, Value};

use super::{MAX_OPERATIONS, PatchOp, PatchOperation};
use crate::error::{ScimError, ScimType};
use crate::path::AttrPath;
use crate::resource::{ResourceKind, get_ci};
use crate::schema::{AttrType, Attribute, characteristics};

/// Parses a PatchOp request body. Malformed bodies are `invalidSyntax`, bad paths `invalidPath`,
/// path-less `add`/`replace` without an object `invalidValue`.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let syntax = |d: String| ScimError::bad_request(ScimType::InvalidSyntax, d);
    let obj = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH body must be a JSON object".into()))?;
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs an \"Operations\" array".into()))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(syntax(format!(
            "{} operations, the limit is {MAX_OPERATIONS}",
            ops.len()
        )));
    }
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        parse_operation(op, &mut out).map_err(|e| ScimError {
            detail: format!("operation {i}: {}", e.detail),
            ..e
        })?;
    }
    if out.len() > MAX_OPERATIONS {
        return Err(syntax(format!(
            "{} operations once expanded, the limit is {MAX_OPERATIONS}",
            out.len()
        )));
    }
    Ok(out)
}

fn parse_operation(op: &Value, out: &mut Vec<PatchOperation>) -> Result<(), ScimError> {
    let syntax = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d);
    let obj = op
        .as_object()
        .ok_or_else(|| syntax("an operation must be an object"))?;
    let name = get_ci(obj, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| syntax("\"op\" is missing"))?;
    let kind = match name.to_ascii_lowercase().as_str() {
        "add" => PatchOp::Add,
        "replace" => PatchOp::Replace,
        "remove" => PatchOp::Remove,
        other => return Err(syntax(&format!("unknown op {other:?}"))),
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(AttrPath::parse(p)?),
        Some(_) => {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                "\"path\" must be a string",
            ));
        }
    };
    let value = get_ci(obj, "value").cloned();
    match (path, value) {
        (Some(path), value) => {
            let value = value.map(|v| normalise(v, target(&path)));
            out.push(PatchOperation {
                op: kind,
                path: Some(path.to_string()),
                value,
            });
        }
        (None, _) if kind == PatchOp::Remove => {
            out.push(PatchOperation {
                op: kind,
                path: None,
                value: None,
            });
        }
        (None, Some(Value::Object(map))) => expand(kind, map, out)?,
        (None, _) => {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                "an add or replace without a path needs an object value",
            ));
        }
    }
    Ok(())
}

/// What a path designates, for normalisation: users first, then groups.
fn target(path: &AttrPath) -> &'static Attribute {
    let look = |kind| {
        let attr = characteristics(kind, path.urn(), path.attribute(), None);
        match path.sub_attribute() {
            Some(s) => attr.sub(s).unwrap_or(&Attribute::UNKNOWN),
            // One value of a multi-valued attribute normalises like the attribute.
            None => attr,
        }
    };
    let user = look(ResourceKind::User);
    if user.name.is_empty() {
        look(ResourceKind::Group)
    } else {
        user
    }
}

/// Entra's value quirks into RFC shape, guided by the attribute's definition.
pub(crate) fn normalise(value: Value, attr: &Attribute) -> Value {
    match (attr.ty, value) {
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (AttrType::Complex, Value::Array(mut items)) if !attr.multi_valued && items.len() == 1 => {
            normalise(items.remove(0), attr)
        }
        (AttrType::Complex, Value::Array(items)) => {
            Value::Array(items.into_iter().map(|v| normalise_subs(v, attr)).collect())
        }
        (AttrType::Complex, v) => normalise_subs(v, attr),
        (_, v) => v,
    }
}

fn normalise_subs(value: Value, attr: &Attribute) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match attr.sub(&k) {
                        Some(sub) => normalise(v, sub),
                        None => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        v => v,
    }
}

/// A path-less value with dotted / URN-qualified keys as one nested object, plus one operation
/// per key with a value filter.
fn expand(
    op: PatchOp,
    map: Map<String, Value>,
    out: &mut Vec<PatchOperation>,
) -> Result<(), ScimError> {
    let mut nested = Map::new();
    let mut filtered = Vec::new();
    for (key, value) in map {
        if key.contains('[') {
            let path = AttrPath::parse(&key)?;
            let value = normalise(value, target(&path));
            filtered.push(PatchOperation {
                op,
                path: Some(path.to_string()),
                value: Some(value),
            });
            continue;
        }
        if let Some(urn) = extension_key(&key, &value) {
            let Value::Object(inner) = value else {
                continue;
            };
            for (k, v) in inner {
                let path = AttrPath::parse(&format!("{urn}:{k}"))?;
                insert_path(&mut nested, &path, v);
            }
            continue;
        }
        insert_path(&mut nested, &AttrPath::parse(&key)?, value);
    }
    out.push(PatchOperation {
        op,
        path: None,
        value: Some(Value::Object(nested)),
    });
    out.extend(filtered);
    Ok(())
}

/// `key` if it names a whole extension object (a known extension URN, or any URN whose value
/// is an object: Entra's custom extension attributes are never complex).
fn extension_key(key: &str, value: &Value) -> Option<String> {
    let known = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find_map(|k| k.canonical_urn(key));
    match known {
        Some(u) => Some(u.to_string()),
        None if value.is_object()
            && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) =>
        {
            Some(key.to_string())
        }
        None => None,
    }
}

/// Puts a normalised `value` at `urn → attr → sub` in `nested`, merging objects.
fn insert_path(nested: &mut Map<String, Value>, path: &AttrPath, value: Value) {
    let value = normalise(value, target(path));
    let map = match path.urn() {
        Some(urn) => object_in(nested, ResourceKind::User.canonical_urn(urn).unwrap_or(urn)),
        None => Some(nested),
    };
    let Some(map) = map else { return };
    match path.sub_attribute() {
        Some(sub) => {
            if let Some(m) = object_in(map, path.attribute()) {
                merge(m, sub, value);
            }
        }
        None => merge(map, path.attribute(), value),
    }
}

/// The object under `key`, replacing whatever non-object was there (later keys win).
fn object_in<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Map<String, Value>> {
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

fn merge(map: &mut Map<String, Value>, key: &str, value: Value) {
    match (map.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
        (_, value) => {
            map.insert(key.to_string(), value);
        }
    }
}
