//! Groups as Zoom keeps them: a unique `displayName` and members that must be users of the
//! account.

use scim::ResourceKind;
use serde_json::{Map, Value};

use crate::error::SimError;

/// Zoom's limit on a group PATCH body, in characters
/// (<https://developers.zoom.us/docs/api/scim2/>).
pub const MAX_PATCH_CHARS: usize = 100_000;

const SERVER_OWNED: &[&str] = &["id", "meta", "schemas"];

/// The attributes to store, in canonical spelling, without server-owned ones or `null`s.
pub fn normalize(body: Value) -> Result<Map<String, Value>, SimError> {
    let Value::Object(object) = body else {
        return Err(SimError::bad_request("Request body must be a JSON object"));
    };
    let core = ResourceKind::Group.core_schema();
    Ok(object
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !SERVER_OWNED.iter().any(|s| s.eq_ignore_ascii_case(k)))
        .map(|(k, v)| match core.attribute(&k) {
            Some(a) => (a.name.to_string(), v),
            None => (k, v),
        })
        .collect())
}

/// Shape checks; whether members exist is the store's job.
pub fn validate(group: &Map<String, Value>) -> Result<(), SimError> {
    let name = group
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.trim().is_empty() {
        return Err(SimError::bad_request("displayName is required"));
    }
    match group.get("members") {
        None => Ok(()),
        Some(Value::Array(members)) => {
            let bad = members
                .iter()
                .find(|m| m.get("value").and_then(Value::as_str).is_none());
            match bad {
                Some(m) => Err(SimError::bad_request(format!("Invalid member: {m}"))),
                None => Ok(()),
            }
        }
        Some(_) => Err(SimError::bad_request("members must be an array")),
    }
}

/// The member ids, first occurrence kept.
pub fn member_ids(group: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let values = group
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for id in values.filter_map(|m| m.get("value").and_then(Value::as_str)) {
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation() {
        let ok =
            normalize(json!({"DisplayName": "Eng", "members": [{"value": "a"}, {"value": "a"}]}))
                .expect("object");
        assert!(validate(&ok).is_ok());
        assert_eq!(member_ids(&ok), vec!["a".to_string()]);
        for bad in [
            json!({}),
            json!({"displayName": "x", "members": [{"display": "no value"}]}),
        ] {
            let group = normalize(bad.clone()).expect("object");
            assert!(validate(&group).is_err(), "{bad}");
        }
    }
}
