//! Users as Zoom keeps them: what a write must satisfy, and how a user looks in a GET by id
//! versus in a list.

use scim::ResourceKind;
use scim::resource::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA, ZOOM_LOGIN_SCHEMA, ZOOM_USER_SCHEMA};
use scim::schema::AttrType;
use serde_json::{Map, Value};

use crate::error::SimError;

/// `userType` values Zoom accepts (<https://developers.zoom.us/docs/api/scim2/>): the current
/// three and the legacy two the Entra gallery app still offers as roles
/// (<https://devforum.zoom.us/t/125516>). Compared case-insensitively.
pub const USER_TYPES: &[&str] = &["Basic", "Licensed", "On-Prem", "Pro", "Corp"];

/// Zoom-extension attributes accepted on create but never returned (devforum #111286).
const NEVER_RETURNED: &[&str] = &["zoomPhoneNumber", "zoomPhoneCallingPlan"];

/// Enterprise attributes a list response leaves out (devforum #111286).
const NOT_IN_LISTS: &[&str] = &["manager", "organization", "costCenter"];

/// Attributes the server owns: ignored when a client sends them (`groups` changes only through
/// Group membership, RFC 7643 §4.1.2).
const SERVER_OWNED: &[&str] = &["id", "meta", "schemas", "groups"];

/// Turns a request body into the attributes to store: known names and URNs in their canonical
/// spelling, server-owned attributes dropped. `null`s stay, because in Zoom's partial PUT they
/// mean "unassign"; [`strip_nulls`] removes them before storing.
pub fn normalize(body: Value) -> Result<Map<String, Value>, SimError> {
    let Value::Object(object) = body else {
        return Err(SimError::bad_request("Request body must be a JSON object"));
    };
    let kind = ResourceKind::User;
    let mut out = Map::new();
    for (key, value) in object {
        if SERVER_OWNED.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
            continue;
        }
        let key = if let Some(urn) = kind.canonical_urn(&key) {
            urn.to_string()
        } else if let Some(a) = kind.core_schema().attribute(&key) {
            a.name.to_string()
        } else {
            key
        };
        let value = match (kind.canonical_urn(&key), value) {
            (Some(urn), Value::Object(ext)) => Value::Object(canonical_ext_keys(urn, ext)),
            (_, value) => value,
        };
        out.insert(key, value);
    }
    Ok(out)
}

fn canonical_ext_keys(urn: &str, ext: Map<String, Value>) -> Map<String, Value> {
    let schema = ResourceKind::User
        .extension_schemas()
        .iter()
        .find(|s| s.id == urn);
    ext.into_iter()
        .map(|(k, v)| match schema.and_then(|s| s.attribute(&k)) {
            Some(a) => (a.name.to_string(), v),
            None => (k, v),
        })
        .collect()
}

/// Removes `null`s at the top level and inside extension objects (RFC 7644 §3.5.1: a null is
/// an unassigned attribute).
pub fn strip_nulls(user: &mut Map<String, Value>) {
    user.retain(|_, v| !v.is_null());
    for (key, value) in user.iter_mut() {
        if let (true, Value::Object(ext)) = (key.starts_with("urn:"), value) {
            ext.retain(|_, v| !v.is_null());
        }
    }
}

/// Checks a user as Zoom would before storing it. Uniqueness is the store's job.
pub fn validate(user: &Map<String, Value>) -> Result<(), SimError> {
    let user_name = user
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if user_name.trim().is_empty() {
        return Err(SimError::bad_request("userName is required"));
    }
    // Zoom's userName is the sign-in email (https://developers.zoom.us/docs/api/scim2/).
    if !is_email(user_name) {
        return Err(invalid("userName", "must be an email address"));
    }
    if let Some(t) = user.get("userType") {
        let ok = t
            .as_str()
            .is_some_and(|t| USER_TYPES.iter().any(|u| u.eq_ignore_ascii_case(t)));
        if !ok {
            // `None` and `Collaboration` land here, as on Zoom (devforum #139015).
            return Err(invalid(
                "userType",
                &format!("{t} is not one of {}", USER_TYPES.join(", ")),
            ));
        }
    }
    if user.get("active").is_some_and(|a| !a.is_boolean()) {
        return Err(invalid("active", "must be a boolean"));
    }
    if user.get("name").is_some_and(|n| !n.is_object()) {
        return Err(invalid("name", "must be an object"));
    }
    validate_emails(user.get("emails"))?;
    for urn in [ENTERPRISE_USER_SCHEMA, ZOOM_USER_SCHEMA, ZOOM_LOGIN_SCHEMA] {
        if let Some(ext) = user.get(urn) {
            validate_extension(urn, ext)?;
        }
    }
    validate_login_type(user.get(ZOOM_LOGIN_SCHEMA))
}

/// `AttributeValidationFailed` is the wording Zoom's validation errors carry (devforum #139015).
fn invalid(attribute: &str, why: &str) -> SimError {
    SimError::bad_request(format!("AttributeValidationFailed: {attribute} {why}"))
}

fn validate_emails(emails: Option<&Value>) -> Result<(), SimError> {
    let Some(emails) = emails else { return Ok(()) };
    let Some(emails) = emails.as_array() else {
        return Err(invalid("emails", "must be an array"));
    };
    let mut primaries = 0;
    for email in emails {
        let value = email.get("value").and_then(Value::as_str);
        if !value.is_some_and(is_email) {
            return Err(invalid(
                "emails",
                &format!("value {} is not a valid email address", email),
            ));
        }
        primaries += usize::from(email.get("primary").and_then(Value::as_bool) == Some(true));
    }
    if primaries > 1 {
        return Err(invalid("emails", "has more than one primary value"));
    }
    Ok(())
}

/// Known extension attributes must have their schema's type; unknown ones (Zoom's custom
/// attributes) are kept as sent.
fn validate_extension(urn: &str, ext: &Value) -> Result<(), SimError> {
    let Some(ext) = ext.as_object() else {
        return Err(invalid(urn, "must be an object"));
    };
    let Some(schema) = ResourceKind::User
        .extension_schemas()
        .iter()
        .find(|s| s.id == urn)
    else {
        return Ok(());
    };
    for (name, value) in ext {
        let Some(attribute) = schema.attribute(name) else {
            continue;
        };
        let ok = match attribute.ty {
            AttrType::String | AttrType::Reference | AttrType::DateTime => value.is_string(),
            AttrType::Boolean => value.is_boolean(),
            // Phone extension numbers arrive as numbers or digit strings depending on the IdP.
            AttrType::Integer => {
                value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok())
            }
            AttrType::Decimal => value.is_number(),
            AttrType::Complex => value.is_object(),
            AttrType::Binary => value.is_string(),
        };
        if !ok {
            return Err(invalid(
                &format!("{urn}:{name}"),
                &format!("has the wrong type: {value}"),
            ));
        }
    }
    Ok(())
}

/// Okta's Zoom notes: at least one of `loginType.workEmail` and `loginType.sso` must be true.
fn validate_login_type(ext: Option<&Value>) -> Result<(), SimError> {
    let Some(login) = ext.and_then(|e| e.get("loginType")) else {
        return Ok(());
    };
    let flag = |k: &str| login.get(k).and_then(Value::as_bool);
    match (flag("workEmail"), flag("sso")) {
        (Some(false), Some(false)) => Err(invalid("loginType", "needs workEmail or sso")),
        _ => Ok(()),
    }
}

/// A deliberately plain check: one `@`, something before it, a dotted domain after it, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// The `schemas` list: the core schema and every extension the user carries.
pub fn schemas_of(user: &Map<String, Value>) -> Value {
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    for (key, value) in user {
        if key.starts_with("urn:") && value.is_object() {
            schemas.push(Value::from(key.as_str()));
        }
    }
    Value::Array(schemas)
}

/// What a GET by id shows: everything but the write-only and never-returned attributes.
pub fn full_view(user: &mut Map<String, Value>) {
    user.remove("password");
    if let Some(Value::Object(zoom)) = user.get_mut(ZOOM_USER_SCHEMA) {
        for name in NEVER_RETURNED {
            zoom.remove(*name);
        }
    }
}

/// What a list shows: the full view without the licence extension and without the enterprise
/// manager, organization and cost center, as Zoom's List Users does.
pub fn list_view(user: &mut Map<String, Value>) {
    full_view(user);
    user.remove(ZOOM_USER_SCHEMA);
    let empty = match user.get_mut(ENTERPRISE_USER_SCHEMA) {
        Some(Value::Object(ent)) => {
            for name in NOT_IN_LISTS {
                ent.remove(*name);
            }
            ent.is_empty()
        }
        _ => false,
    };
    if empty {
        user.remove(ENTERPRISE_USER_SCHEMA);
    }
    user.insert("schemas".into(), schemas_of(user));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Result<(), SimError> {
        let mut user = normalize(body)?;
        strip_nulls(&mut user);
        validate(&user)
    }

    #[test]
    fn validation_table() {
        let ok = [
            json!({"userName": "a@x.com"}),
            json!({"USERNAME": "a@x.com", "userType": "licensed"}),
            json!({"userName": "a@x.com", "userType": "On-Prem", "active": false}),
            json!({"userName": "a@x.com", "emails": [{"value": "a@x.com", "primary": true}]}),
            json!({"userName": "a@x.com", ZOOM_USER_SCHEMA: {"zoomOneBizPlus": "true", "zoomIQ": true,
                   "zoomPhoneExtNumber": "0"}}),
            json!({"userName": "a@x.com", ZOOM_LOGIN_SCHEMA: {"loginType": {"workEmail": true, "sso": false}}}),
        ];
        for body in ok {
            assert!(check(body.clone()).is_ok(), "{body}");
        }
        let bad = [
            json!([1]),
            json!({}),
            json!({"userName": "not-an-email"}),
            json!({"userName": "a@x.com", "userType": "None"}),
            json!({"userName": "a@x.com", "userType": "Collaboration"}),
            json!({"userName": "a@x.com", "userType": 1}),
            json!({"userName": "a@x.com", "active": "False"}),
            json!({"userName": "a@x.com", "emails": [{"value": "nope"}]}),
            json!({"userName": "a@x.com", "emails": [{"value": "a@x.com", "primary": true},
                                                      {"value": "b@x.com", "primary": true}]}),
            json!({"userName": "a@x.com", ZOOM_USER_SCHEMA: {"zoomIQ": "yes"}}),
            json!({"userName": "a@x.com", ZOOM_LOGIN_SCHEMA: {"loginType": {"workEmail": false, "sso": false}}}),
        ];
        for body in bad {
            assert!(check(body.clone()).is_err(), "{body}");
        }
    }

    #[test]
    fn normalize_canonicalizes_and_drops_server_owned() {
        let body = json!({"id": "x", "meta": {}, "groups": [], "username": "a@x.com", "nickName": null,
                          "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ZOOM:1.0:USER": {"zoomiq": true, "pronouns": null}});
        let mut user = normalize(body).expect("object");
        strip_nulls(&mut user);
        assert_eq!(
            Value::Object(user),
            json!({"userName": "a@x.com", ZOOM_USER_SCHEMA: {"zoomIQ": true}})
        );
    }

    #[test]
    fn list_view_hides_licences_and_some_enterprise_fields() {
        let mut user = normalize(json!({
            "userName": "a@x.com",
            ENTERPRISE_USER_SCHEMA: {"department": "Eng", "organization": "O", "manager": {"value": "m"}},
            ZOOM_USER_SCHEMA: {"zoomIQ": true, "zoomPhoneNumber": "+1"},
        }))
        .expect("object");
        let mut full = user.clone();
        full_view(&mut full);
        assert_eq!(full[ZOOM_USER_SCHEMA], json!({"zoomIQ": true}));
        list_view(&mut user);
        assert!(!user.contains_key(ZOOM_USER_SCHEMA));
        assert_eq!(user[ENTERPRISE_USER_SCHEMA], json!({"department": "Eng"}));
        assert_eq!(
            user["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );
    }
}
