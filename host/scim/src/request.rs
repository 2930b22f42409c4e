//! What a request body must be before it is acted on: JSON that names no attribute twice
//! ([`parse_body`]), and for a User or Group a JSON object whose attributes the schemas know
//! have the types the schemas say, with `userName` / `displayName` present
//! ([`validate_resource`]). Failures are 400 [`ScimError`]s with the `scimType` that says what
//! was wrong; the HTTP side (size limit, media type) stays with the server.
//!
//! Liberal where Entra needs it (Microsoft Learn, "Known issues and resolutions with SCIM 2.0
//! protocol compliance of the Microsoft Entra user provisioning service"): booleans sent as the
//! strings `"True"` / `"False"` become booleans; attribute names are matched ignoring case;
//! attributes no schema describes (custom extensions) are kept as sent. Server-owned attributes
//! (`id`, `meta`, a User's `groups`) are dropped, as RFC 7644 §3.3 says to ignore read-only input,
//! and `password` is dropped because muster never forwards or checks one.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::resource::{ResourceKind, find_key};
use crate::schema::{AttrType, Attribute};

/// A request body as a JSON value: not empty, valid JSON, and with no two member names in one
/// object that differ only in case (all `invalidSyntax` otherwise).
pub fn parse_body(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.is_empty() {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "the request has no body",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    match case_variant_names(&value) {
        None => Ok(value),
        Some((a, b)) => Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!(
                "the body names one attribute twice, as {a:?} and {b:?}; SCIM attribute names \
                 are case-insensitive (RFC 7643 §2.1)"
            ),
        )),
    }
}

/// Two member names of one object, at any depth, that are equal ignoring case. SCIM names are
/// case-insensitive, so `{"userName": "a", "USERNAME": "b"}` names one attribute twice: a
/// uniqueness check could read one while provisioning reads the other.
pub fn case_variant_names(value: &Value) -> Option<(String, String)> {
    match value {
        Value::Object(map) => {
            let mut seen: HashMap<String, &String> = HashMap::with_capacity(map.len());
            for name in map.keys() {
                if let Some(first) = seen.insert(name.to_lowercase(), name) {
                    return Some((first.clone(), name.clone()));
                }
            }
            map.values().find_map(case_variant_names)
        }
        Value::Array(items) => items.iter().find_map(case_variant_names),
        _ => None,
    }
}

/// The normalised body, or an `invalidValue` / `invalidSyntax` error naming the attribute.
pub fn validate_resource(kind: ResourceKind, body: Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(mut obj) = body else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("a {} must be a JSON object", kind.name()),
        ));
    };
    for dropped in ["id", "meta", "password"] {
        if let Some(k) = find_key(&obj, dropped).map(str::to_string) {
            obj.remove(&k);
        }
    }
    if kind == ResourceKind::User
        && let Some(k) = find_key(&obj, "groups").map(str::to_string)
    {
        obj.remove(&k);
    }
    schemas(kind, &mut obj)?;
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        let Some(value) = obj.remove(&key) else {
            continue;
        };
        let value = if is_urn(&key) {
            extension(kind, &key, value)?
        } else {
            match kind.resolve(None, &key) {
                Some(r) => typed(r.attribute, &key, value)?,
                None => value,
            }
        };
        obj.insert(key, value);
    }
    let required = name_attribute(kind);
    match find_key(&obj, required).and_then(|k| obj.get(k)) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("{required} is required and must be a non-empty string"),
            ));
        }
    }
    Ok(obj)
}

/// `userName` for users, `displayName` for groups: required and unique.
pub fn name_attribute(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

/// The value of the unique name attribute of a normalised body.
pub fn name_of(kind: ResourceKind, obj: &Map<String, Value>) -> String {
    find_key(obj, name_attribute(kind))
        .and_then(|k| obj.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn is_urn(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// `schemas` must be a list of strings naming the core schema; absent, it is filled in.
fn schemas(kind: ResourceKind, obj: &mut Map<String, Value>) -> Result<(), ScimError> {
    let key = find_key(obj, "schemas").map(str::to_string);
    let Some(key) = key else {
        obj.insert("schemas".into(), Value::from(vec![kind.schema()]));
        return Ok(());
    };
    let list = match obj.remove(&key) {
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => list,
        _ => {
            return Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "\"schemas\" must be a list of schema URNs",
            ));
        }
    };
    let names_core = list
        .iter()
        .filter_map(Value::as_str)
        .any(|s| s.eq_ignore_ascii_case(kind.schema()));
    if !names_core {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("\"schemas\" must include {}", kind.schema()),
        ));
    }
    obj.insert("schemas".into(), Value::Array(list));
    Ok(())
}

fn extension(kind: ResourceKind, urn: &str, value: Value) -> Result<Value, ScimError> {
    let Value::Object(attrs) = value else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the extension {urn} must be a JSON object"),
        ));
    };
    let mut out = Map::new();
    for (name, v) in attrs {
        let v = match kind.resolve(Some(urn), &name) {
            Some(r) if r.extension.is_some() => typed(r.attribute, &name, v)?,
            _ => v,
        };
        out.insert(name, v);
    }
    Ok(Value::Object(out))
}

fn invalid(path: &str, expected: &str) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, format!("{path} must be {expected}"))
}

/// Checks (and for Entra's string booleans, converts) one attribute value.
fn typed(attr: &Attribute, path: &str, value: Value) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(value);
    }
    if attr.multi_valued {
        let Value::Array(items) = value else {
            return Err(invalid(path, "a list"));
        };
        return items
            .into_iter()
            .map(|v| single(attr, path, v))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    single(attr, path, value)
}

fn single(attr: &Attribute, path: &str, value: Value) -> Result<Value, ScimError> {
    match (attr.ty, value) {
        (_, Value::Null) => Ok(Value::Null),
        (AttrType::Complex, Value::Object(o)) => {
            let mut out = Map::new();
            for (name, v) in o {
                let v = match attr.sub(&name) {
                    Some(sub) => single(sub, &format!("{path}.{name}"), v)?,
                    None => v,
                };
                out.insert(name, v);
            }
            Ok(Value::Object(out))
        }
        (AttrType::Complex, _) => Err(invalid(path, "an object")),
        (AttrType::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (AttrType::Boolean, _) => Err(invalid(path, "a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
        (AttrType::Integer, _) => Err(invalid(path, "an integer")),
        (AttrType::Decimal, Value::Number(n)) => Ok(Value::Number(n)),
        (AttrType::Decimal, _) => Err(invalid(path, "a number")),
        (
            AttrType::String | AttrType::Reference | AttrType::DateTime | AttrType::Binary,
            Value::String(s),
        ) => Ok(Value::String(s)),
        (_, _) => Err(invalid(path, "a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_differ_only_in_case_are_found_at_any_depth() {
        let top = json!({"userName": "a@x", "USERNAME": "victim@x"});
        assert_eq!(
            case_variant_names(&top),
            Some(("userName".into(), "USERNAME".into()))
        );
        let nested = json!({"Operations": [{"op": "add", "value": {"title": "a", "Title": "b"}}]});
        assert!(case_variant_names(&nested).is_some());
        let fine = json!({"userName": "a", "name": {"givenName": "A"}, "emails": [{"value": "v"}]});
        assert_eq!(case_variant_names(&fine), None);
    }

    #[test]
    fn bodies_that_are_empty_not_json_or_name_an_attribute_twice_are_invalid_syntax() {
        for (body, expected) in [
            (&b""[..], "the request has no body"),
            (b"{\"userName\": ", "the body is not valid JSON"),
            (
                b"{\"userName\": \"a\", \"USERNAME\": \"b\"}",
                "names one attribute twice",
            ),
        ] {
            let err = parse_body(body).expect_err("invalid");
            assert_eq!(
                (err.status, err.scim_type),
                (400, Some(ScimType::InvalidSyntax))
            );
            assert!(err.detail.contains(expected), "{}", err.detail);
        }
        assert_eq!(
            parse_body(b"{\"userName\": \"a\"}"),
            Ok(json!({"userName": "a"}))
        );
    }

    #[test]
    fn normalises_entra_input_and_drops_server_attributes() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "mine", "meta": {"resourceType": "User"}, "password": "secret",
            "userName": "a@x.example", "active": "False",
            "emails": [{"type": "work", "value": "a@x.example", "primary": "True"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"},
            "urn:custom:ext": {"anything": [1, 2]},
        });
        let obj = validate_resource(ResourceKind::User, body).expect("valid");
        assert!(obj.get("id").is_none() && obj.get("meta").is_none());
        assert!(obj.get("password").is_none());
        assert_eq!(obj["active"], json!(false));
        assert_eq!(obj["emails"][0]["primary"], json!(true));
        assert_eq!(obj["urn:custom:ext"]["anything"], json!([1, 2]));
    }

    #[test]
    fn wrong_types_and_missing_names_are_invalid_values() {
        let cases = [
            (
                json!({"userName": "a", "active": 3}),
                "active must be a boolean",
            ),
            (
                json!({"userName": "a", "emails": "a@x"}),
                "emails must be a list",
            ),
            (
                json!({"userName": "a", "name": {"givenName": 5}}),
                "name.givenName must be a string",
            ),
            (json!({"displayName": "A"}), "userName is required"),
            (
                json!({"userName": "a", "schemas": ["urn:other"]}),
                "must include",
            ),
        ];
        for (body, expected) in cases {
            let err = validate_resource(ResourceKind::User, body.clone()).expect_err("invalid");
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{body}");
            assert!(err.detail.contains(expected), "{}: {}", body, err.detail);
        }
        let err = validate_resource(ResourceKind::Group, json!([])).expect_err("not an object");
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
    }
}
