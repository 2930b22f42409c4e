//! The people and groups the pipeline works on, and what it remembers about what it provisioned.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A source or target attribute value. Mirrors the WIT `value` variant so plugins and native
/// stages see the same shapes. In JSON: null, a boolean, a 64-bit integer, a string or a list of
/// strings ([`Value`]'s `Deserialize` is written out below).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(SharedText),
    /// A boxed slice, not a `Vec`: with [`SharedText`] it keeps a value at 24 bytes.
    TextList(Box<[String]>),
}

/// Written out rather than derived with `#[serde(untagged)]`: the derive buffers each value and
/// tries the variants in turn, building (and formatting) an error for every variant that does
/// not fit, which was a third of reading a 100,000-person snapshot. This visits the value once
/// and accepts exactly what the untagged derive accepts.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("null, a boolean, a 64-bit integer, a string or a list of strings")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(u), &self))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Text(SharedText::from(s)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(Value::TextList(items.into_boxed_slice()))
    }
}

impl Value {
    /// Null, an empty string and an empty list all count as "no value" (Entra does not provision
    /// them, and scoping clauses on them are false).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.is_empty(),
            Value::TextList(l) => l.is_empty(),
            Value::Bool(_) | Value::Int(_) => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A JSON value from a source as the pipeline's value: null is no value, lists of strings
    /// stay lists. `other` says what becomes of JSON with no exact value here (objects, lists
    /// that are not all strings, numbers that are not 64-bit integers).
    pub fn from_json(json: serde_json::Value, other: OtherJson) -> Option<Value> {
        use serde_json::Value as Json;
        match json {
            Json::Null => None,
            Json::Bool(b) => Some(Value::Bool(b)),
            Json::Number(n) if n.is_i64() => n.as_i64().map(Value::Int),
            Json::String(s) => Some(Value::Text(s.into())),
            Json::Array(items) if items.iter().all(Json::is_string) => Some(Value::TextList(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Json::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            )),
            json => match other {
                OtherJson::Drop => None,
                OtherJson::AsText => Some(Value::Text(json.to_string().into())),
            },
        }
    }

    /// The value as SCIM JSON. Text lists become arrays of strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Text(s) => serde_json::Value::String(s.to_string()),
            Value::TextList(l) => serde_json::Value::from(&l[..]),
        }
    }
}

/// What [`Value::from_json`] makes of JSON that has no exact value in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherJson {
    /// Left out: a Graph object such as `onPremisesExtensionAttributes` has no place in a flat
    /// attribute.
    Drop,
    /// Kept as its JSON text: a SCIM resource's multi-valued complex attributes (`emails`,
    /// `addresses`) reach plugins whole.
    AsText,
}

mod attributes;
mod shared;

pub(crate) use attributes::sort_last_wins;
pub use attributes::{Attributes, Iter};
pub use shared::{SharedStr, SharedText};

/// An attribute name or SCIM path ([`Key`]).
pub type Key = SharedStr;

/// A group as the source directory describes it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
    /// In a list of transitive groups, for a group the person is in only through nesting: the
    /// display name of the nearest direct group that leads to it (the because of "licensed
    /// through Sales-Managers"). `None` for a direct group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl Clone for GroupRef {
    fn clone(&self) -> Self {
        GroupRef {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            via: self.via.clone(),
        }
    }

    /// Field by field (the derived one clones whole): the plugin input reused from one person
    /// to the next keeps its groups' string buffers.
    fn clone_from(&mut self, source: &Self) {
        self.id.clone_from(&source.id);
        self.display_name.clone_from(&source.display_name);
        self.via.clone_from(&source.via);
    }
}

/// A person in the source directory, with everything the pipeline needs to decide about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Source object id (stable; never reused).
    pub id: String,
    pub attributes: Attributes,
    /// `accountEnabled` in Entra terms.
    pub enabled: bool,
    /// Deleted in the source but restorable (Entra's `@removed: changed`).
    pub soft_deleted: bool,
    pub direct_groups: Vec<GroupRef>,
    /// Every group reached through nesting, direct ones included.
    pub transitive_groups: Vec<GroupRef>,
    /// Assigned to the app directly (not through a group).
    pub assigned_directly: bool,
    /// Ids of assigned groups through which the person is assigned (direct members only, as
    /// Entra does, unless nested groups are enabled in the source).
    pub assigned_via_groups: Vec<String>,
    /// App role names the person holds through assignments.
    pub app_roles: Vec<String>,
    /// The person's manager, where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
}

/// A person's manager in the source directory (Graph's `manager` relationship).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manager {
    /// The manager's object id.
    pub id: String,
    /// The manager's userPrincipalName, when the source gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

impl Person {
    /// A person with only an id and attributes: enabled, in no groups, not assigned.
    pub fn new(id: impl Into<String>, attributes: Attributes) -> Self {
        Person {
            id: id.into(),
            attributes,
            enabled: true,
            soft_deleted: false,
            direct_groups: Vec::new(),
            transitive_groups: Vec::new(),
            assigned_directly: false,
            assigned_via_groups: Vec::new(),
            app_roles: Vec::new(),
            manager: None,
        }
    }

    pub fn is_assigned(&self) -> bool {
        self.assigned_directly || !self.assigned_via_groups.is_empty()
    }
}

/// A group in the source directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    /// Ids of member people.
    pub member_people: Vec<String>,
    /// Ids of member groups (nesting).
    pub member_groups: Vec<String>,
}

/// A license as the target holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct License {
    pub plan: String,
    /// Kept sorted and deduplicated so that comparing two licenses ignores order.
    pub add_ons: Vec<String>,
}

impl License {
    /// Whether moving from `before` to this license takes something away: an add-on, or the
    /// plan, for one of `lesser_plans`.
    pub fn is_downgrade_from(&self, before: &License, lesser_plans: &[String]) -> bool {
        let lost_add_on = before.add_ons.iter().any(|a| !self.add_ons.contains(a));
        let lesser_plan = self.plan != before.plan && lesser_plans.contains(&self.plan);
        lost_add_on || lesser_plan
    }

    pub fn new(
        plan: impl Into<String>,
        add_ons: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut add_ons: Vec<String> = add_ons.into_iter().map(Into::into).collect();
        add_ons.sort();
        add_ons.dedup();
        License {
            plan: plan.into(),
            add_ons,
        }
    }
}

/// Plugin name → version, shared by every record a cycle plans (they all have the same):
/// copying it is a reference count, not a map. Reads and serializes as the map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginVersions(Arc<BTreeMap<String, String>>);

impl std::ops::Deref for PluginVersions {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl From<BTreeMap<String, String>> for PluginVersions {
    fn from(versions: BTreeMap<String, String>) -> PluginVersions {
        PluginVersions(Arc::new(versions))
    }
}

impl Serialize for PluginVersions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PluginVersions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PluginVersions, D::Error> {
        BTreeMap::deserialize(d).map(PluginVersions::from)
    }
}

/// What muster provisioned for one person; the state store persists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedRecord {
    pub source_id: String,
    /// The target's id for the resource (Zoom ids contain `&`).
    pub target_id: String,
    /// The value of the matching attribute the record was matched or created with.
    pub matching_value: String,
    /// The flat target attributes (SCIM path → value) last applied successfully.
    pub last_applied: Attributes,
    pub license: Option<License>,
    /// Plugin name → version (content hash) that produced `last_applied`.
    pub plugin_versions: PluginVersions,
    /// Disabled in the target by muster (`active` false).
    pub disabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_without_an_exact_value_is_dropped_or_kept_as_text() {
        let text = |s: &str| Some(Value::Text(s.into()));
        let cases = [
            (json!(null), None, None),
            (
                json!(true),
                Some(Value::Bool(true)),
                Some(Value::Bool(true)),
            ),
            (json!(-7), Some(Value::Int(-7)), Some(Value::Int(-7))),
            (json!("a"), text("a"), text("a")),
            (
                json!(["a", "b"]),
                Some(Value::TextList(["a".into(), "b".into()].into())),
                Some(Value::TextList(["a".into(), "b".into()].into())),
            ),
            (json!(1.5), None, text("1.5")),
            (json!(u64::MAX), None, text("18446744073709551615")),
            (json!({"k": 1}), None, text(r#"{"k":1}"#)),
            (json!(["a", 1]), None, text(r#"["a",1]"#)),
        ];
        for (json, dropped, as_text) in cases {
            assert_eq!(
                Value::from_json(json.clone(), OtherJson::Drop),
                dropped,
                "{json}"
            );
            assert_eq!(
                Value::from_json(json.clone(), OtherJson::AsText),
                as_text,
                "{json}"
            );
            if let Some(v) = dropped {
                assert_eq!(v.to_json(), json, "round trip");
            }
        }
    }

    #[test]
    fn values_read_from_json_as_the_untagged_shapes_and_nothing_else() {
        let read = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
        assert_eq!(read("null"), Ok(Value::Null));
        assert_eq!(read("false"), Ok(Value::Bool(false)));
        assert_eq!(read("-3"), Ok(Value::Int(-3)));
        assert_eq!(read("9223372036854775807"), Ok(Value::Int(i64::MAX)));
        assert_eq!(read(r#""a\"b""#), Ok(Value::Text("a\"b".into())));
        assert_eq!(
            read(r#"["x", "y"]"#),
            Ok(Value::TextList(
                vec!["x".to_string(), "y".to_string()].into()
            ))
        );
        assert_eq!(read("[]"), Ok(Value::TextList(Box::default())));
        for bad in ["1.5", "9223372036854775808", "{}", r#"["x", 1]"#, "[null]"] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains("expected"), "{bad}: {err}");
        }
        // Inside an attribute map, as a snapshot has them.
        let attrs: Attributes =
            serde_json::from_str(r#"{"a": 1, "b": null, "c": ["d"]}"#).expect("attributes");
        assert_eq!(attrs.get("a"), Some(&Value::Int(1)));
        assert_eq!(
            attrs.get("c"),
            Some(&Value::TextList(vec!["d".into()].into()))
        );
    }
}
