//! Resource kinds, schema URNs and the ListResponse envelope (RFC 7644 §3.4.2).
//!
//! Resources themselves stay `serde_json::Value`: SCIM resources are open-ended (extensions,
//! vendor attributes), so a typed struct would drop what it does not know.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Zoom's licence and profile extension.
pub const ZOOM_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";
/// Zoom's older extension carrying `loginType`.
pub const ZOOM_LOGIN_SCHEMA: &str = "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The resource types muster provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The core schema URN.
    pub fn schema(self) -> &'static str {
        match self {
            ResourceKind::User => USER_SCHEMA,
            ResourceKind::Group => GROUP_SCHEMA,
        }
    }

    /// The extension URNs this crate knows for the kind (Entra may send others).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::User => &[ENTERPRISE_USER_SCHEMA, ZOOM_USER_SCHEMA, ZOOM_LOGIN_SCHEMA],
            ResourceKind::Group => &[],
        }
    }

    /// The `meta.resourceType` name, also the endpoint stem (`/Users`, `/Groups`).
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    /// Guesses the kind of a resource from its `schemas` (then `meta.resourceType`); a resource
    /// that says nothing is taken for a User, the common case.
    pub fn of(resource: &Value) -> ResourceKind {
        let says =
            |s: &str| s.eq_ignore_ascii_case(GROUP_SCHEMA) || s.eq_ignore_ascii_case("Group");
        let in_schemas = resource
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().filter_map(Value::as_str).any(says));
        let in_meta = resource
            .pointer("/meta/resourceType")
            .and_then(Value::as_str)
            .is_some_and(says);
        if in_schemas || in_meta {
            ResourceKind::Group
        } else {
            ResourceKind::User
        }
    }
}

/// The ListResponse envelope. `Resources` is capitalised on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    pub schemas: Vec<String>,
    pub total_results: u64,
    #[serde(default = "one")]
    pub start_index: u64,
    #[serde(default)]
    pub items_per_page: u64,
    #[serde(rename = "Resources", default)]
    pub resources: Vec<Value>,
}

fn one() -> u64 {
    1
}

impl ListResponse {
    /// A page of `resources` out of `total_results`, starting at 1-based `start_index`.
    pub fn new(resources: Vec<Value>, total_results: u64, start_index: u64) -> Self {
        ListResponse {
            schemas: vec![LIST_RESPONSE_SCHEMA.to_string()],
            total_results,
            start_index: start_index.max(1),
            items_per_page: resources.len() as u64,
            resources,
        }
    }
}

/// Case-insensitive lookup of a key in a JSON object (RFC 7643 §2.1: attribute names and URNs
/// are case-insensitive). Returns the key as stored.
pub fn find_key<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    if object.contains_key(name) {
        return object.get_key_value(name).map(|(k, _)| k.as_str());
    }
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(String::as_str)
}

/// The value under `name`, matched case-insensitively.
pub fn get_ci<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    find_key(object, name).and_then(|k| object.get(k))
}

/// The resource's `id`, if any.
pub fn id(resource: &Value) -> Option<&str> {
    resource.get("id").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_response_wire_form() {
        let page = ListResponse::new(vec![json!({"id": "1"})], 3, 0);
        let body = serde_json::to_value(&page).unwrap_or_default();
        assert_eq!(
            body,
            json!({"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": 3, "startIndex": 1,
                   "itemsPerPage": 1, "Resources": [{"id": "1"}]})
        );
        let back: ListResponse = serde_json::from_value(body).expect("round trip");
        assert_eq!(back, page);
    }

    #[test]
    fn kind_of() {
        let cases = [
            (json!({"schemas": [GROUP_SCHEMA]}), ResourceKind::Group),
            (
                json!({"meta": {"resourceType": "Group"}}),
                ResourceKind::Group,
            ),
            (json!({"schemas": [USER_SCHEMA]}), ResourceKind::User),
            (json!({}), ResourceKind::User),
        ];
        for (resource, kind) in cases {
            assert_eq!(ResourceKind::of(&resource), kind, "{resource}");
        }
    }

    #[test]
    fn case_insensitive_keys() {
        let obj = json!({"userName": "a"});
        let map = obj.as_object().expect("object");
        assert_eq!(find_key(map, "USERNAME"), Some("userName"));
        assert_eq!(get_ci(map, "username"), Some(&json!("a")));
        assert_eq!(find_key(map, "name"), None);
    }
}
