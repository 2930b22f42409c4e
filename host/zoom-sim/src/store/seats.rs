//! Seats: how many users may hold a license type or add-on at once.
//!
//! Zoom refuses to assign a license the account has no seat left of. What it answers is not
//! documented for SCIM, so the simulator assumes a 400 with a SCIM error body naming the
//! license, as it answers other invalid values. Which attribute holds which seat is assumed too:
//! - a `userType` value takes a seat of its lower-cased name (`licensed`, `on-prem`);
//! - `phone` is held by a user with a `zoomPhoneCallingPlan` (Zoom Phone's calling plan);
//! - any other name is a field of the Zoom license extension
//!   (`urn:ietf:params:scim:schemas:extension:zoom:1.0:User`), held while it is `true` or
//!   `"true"`.
//!
//! A deactivated user holds no seat: "Deactivating a user will remove all licenses associated
//! with a user" (Zoom support, "Deactivating, unlinking, or deleting users").

use scim::resource::ZOOM_USER_SCHEMA;
use scim::{ScimError, ScimType};
use serde_json::{Map, Value};

use crate::error::SimError;

/// Whether a user with these attributes holds a seat of `name`.
pub fn holds(attrs: &Map<String, Value>, name: &str) -> bool {
    if attrs.get("active").and_then(Value::as_bool) == Some(false) {
        return false;
    }
    let user_type = attrs.get("userType").and_then(Value::as_str);
    if user_type.is_some_and(|t| t.eq_ignore_ascii_case(name)) {
        return true;
    }
    let ext = attrs.get(ZOOM_USER_SCHEMA).and_then(Value::as_object);
    let field = |f: &str| ext.and_then(|e| e.get(f));
    if name == "phone" {
        return field("zoomPhoneCallingPlan").is_some_and(|v| !v.is_null());
    }
    matches!(field(name), Some(Value::Bool(true)))
        || field(name).and_then(Value::as_str) == Some("true")
}

/// The refusal of an assignment past the seats bought.
pub fn exhausted(name: &str, used: usize, bought: u32) -> SimError {
    SimError::Scim(ScimError::new(
        400,
        Some(ScimType::InvalidValue),
        format!("No {name} licenses available: {used} of {bought} are assigned."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn who_holds_what() {
        let user = |v: Value| v.as_object().cloned().unwrap_or_default();
        let licensed = user(json!({"userType": "Licensed"}));
        let phone =
            user(json!({"userType": "Basic", ZOOM_USER_SCHEMA: {"zoomPhoneCallingPlan": "3000"}}));
        let united =
            user(json!({"userType": "Licensed", ZOOM_USER_SCHEMA: {"zoomUnited": "true"}}));
        let off = user(json!({"userType": "Licensed", "active": false}));
        assert!(holds(&licensed, "licensed"));
        assert!(!holds(&licensed, "phone"));
        assert!(holds(&phone, "phone") && holds(&phone, "basic"));
        assert!(holds(&united, "zoomUnited") && holds(&united, "licensed"));
        assert!(!holds(&off, "licensed"), "a deactivated user holds no seat");
    }
}
