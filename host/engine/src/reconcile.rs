//! Reconciliation: what muster last applied ([`ProvisionedRecord::last_applied`]) compared with
//! what the target holds now, so that changes made by hand in the target, users created outside
//! muster and users deleted behind its back are seen. Plain data in, data out; the binary reads
//! the target and sends the fixes.
//!
//! - Drift: a path of `last_applied` whose value the target does not hold. Paths are compared
//!   with SCIM's rules (attribute names and URNs case-insensitive, RFC 7643 §2.1; strings of
//!   attributes that are not `caseExact` case-insensitively), through [`scim::flat::flatten`],
//!   the same flat view muster writes. Paths the target never returns (the profile's
//!   `write_only`) and paths written only on create are not compared. What the target holds
//!   beyond `last_applied` is not muster's, and not drift.
//! - Orphans: target users no record points at; one whose matching attribute equals a person's
//!   is said to match that person.
//! - Missing: records whose target user is gone.
//!
//! A fix goes through the planner: [`corrected`] rewrites a record as the target holds it, so
//! the planner's minimal PATCH ([`crate::plan::ops_from_plan`]) puts back exactly what drifted.

use std::collections::{BTreeMap, BTreeSet};

use scim::resource::ResourceKind;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::mapping::ACTIVE;
use crate::matching::{MatchKey, lowercase};
use crate::model::{Key, OtherJson, ProvisionedRecord, Value};

/// One attribute whose value in the target is not what muster last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeDrift {
    /// The SCIM path, as the mapping writes it.
    pub attribute: String,
    /// What muster last applied.
    pub wanted: Json,
    /// What the target holds; `None` when it holds nothing there.
    pub found: Option<Json>,
}

/// A managed user that drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drifted {
    pub source_id: String,
    pub target_id: String,
    pub matching_value: String,
    pub attributes: Vec<AttributeDrift>,
}

/// A target user that no record points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Orphan {
    pub target_id: String,
    pub user_name: Option<String>,
    /// The source person whose matching attribute has this user's value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The target id that person is provisioned as already (then the orphan is a duplicate,
    /// never adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_person_has: Option<String>,
}

impl Orphan {
    /// Whether `--adopt-orphans` takes it over: it matches a person in scope who has no record.
    pub fn adoptable(&self) -> Option<&str> {
        match (&self.matches, &self.matched_person_has) {
            (Some(person), None) => Some(person),
            _ => None,
        }
    }
}

/// A record whose target user is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub source_id: String,
    pub target_id: String,
    pub matching_value: String,
}

/// What reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Target users read.
    pub target_users: usize,
    /// Managed users whose every compared attribute is as applied.
    pub in_sync: usize,
    pub drifted: Vec<Drifted>,
    pub orphans: Vec<Orphan>,
    pub missing: Vec<Missing>,
}

impl Report {
    /// Nothing drifted and nothing is missing. Orphans alone do not count: users muster does
    /// not manage are allowed; they are reported for the admin to decide.
    pub fn in_sync(&self) -> bool {
        self.drifted.is_empty() && self.missing.is_empty()
    }
}

/// Paths never compared, lower-cased: the target's write-only paths (accepted, never returned)
/// and the create-only mappings' targets (the planner never sends them again).
#[derive(Debug, Clone, Default)]
pub struct Ignored(BTreeSet<String>);

impl Ignored {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a Key>) -> Ignored {
        Ignored(
            paths
                .into_iter()
                .map(|p| lowercase(p).into_owned())
                .collect(),
        )
    }

    fn contains(&self, path: &str) -> bool {
        self.0.contains(lowercase(path).as_ref())
    }
}

/// The target user as flat paths, names lower-cased for SCIM's case-insensitive lookup.
pub struct TargetUser {
    flat: BTreeMap<String, Json>,
}

impl TargetUser {
    pub fn new(resource: &Json) -> TargetUser {
        TargetUser {
            flat: scim::flat::flatten(resource)
                .into_iter()
                .map(|(path, value)| (lowercase(&path).into_owned(), value))
                .collect(),
        }
    }

    /// The value at a SCIM path, if the user has one.
    pub fn get(&self, path: &str) -> Option<&Json> {
        self.flat.get(lowercase(path).as_ref())
    }
}

/// The attributes of `record` that `user` does not hold as applied, in path order.
pub fn drift(
    record: &ProvisionedRecord,
    user: &TargetUser,
    ignored: &Ignored,
) -> Vec<AttributeDrift> {
    record
        .last_applied
        .iter()
        .filter(|(path, value)| !value.is_empty() && !ignored.contains(path.as_str()))
        .filter_map(|(path, value)| {
            let wanted = value.to_json();
            let found = user.get(path);
            if found.is_some_and(|f| same(path, &wanted, f)) {
                return None;
            }
            Some(AttributeDrift {
                attribute: path.to_string(),
                wanted,
                found: found.cloned(),
            })
        })
        .collect()
}

/// Equal values, strings compared case-insensitively where the schema says the attribute is
/// not `caseExact` (`userName`, `emails.value`, RFC 7643 §4.1).
fn same(path: &str, wanted: &Json, found: &Json) -> bool {
    match (wanted, found) {
        (Json::String(w), Json::String(f)) if w != f => {
            !case_exact(path) && w.to_lowercase() == f.to_lowercase()
        }
        _ => wanted == found,
    }
}

fn case_exact(path: &str) -> bool {
    match scim::path::AttrPath::parse(path) {
        Ok(p) => scim::schema::case_exact(
            ResourceKind::User,
            p.urn(),
            p.attribute(),
            p.sub_attribute(),
        ),
        // A path muster wrote but cannot parse: compare exactly.
        Err(_) => true,
    }
}

/// `record` as the target holds it: each drifted path set to what was found, or dropped where
/// the target holds nothing. Planned against, it yields the PATCH that puts back exactly the
/// drifted paths (plus whatever the source changed since the last cycle, which the next cycle
/// would send anyway). A user found active that muster disabled is marked enabled, so that the
/// planner disables it again rather than skip it as already disabled.
pub fn corrected(record: &ProvisionedRecord, drift: &[AttributeDrift]) -> ProvisionedRecord {
    let mut out = record.clone();
    for d in drift {
        let path = Key::from(d.attribute.as_str());
        match d
            .found
            .clone()
            .and_then(|f| Value::from_json(f, OtherJson::AsText))
        {
            Some(found) => {
                out.last_applied.insert(path, found);
            }
            None => {
                out.last_applied.remove(&path);
            }
        }
    }
    if out.disabled && !matches!(out.last_applied.get(ACTIVE), Some(Value::Bool(false))) {
        out.disabled = false;
    }
    out
}

/// Who the orphans are: each unmanaged user's matching value looked up among the records
/// (a person provisioned under another id) and among `unprovisioned`, the people in scope
/// who have no record yet (matching key as the planner computed it). Values compare
/// case-insensitively, as the planner matches them.
pub fn orphans<'a>(
    unmanaged: impl IntoIterator<Item = &'a Json>,
    records: &[ProvisionedRecord],
    unprovisioned: &[(String, MatchKey)],
    matching_paths: &[Key],
) -> Vec<Orphan> {
    let mut people: BTreeMap<String, (&str, Option<&str>)> = BTreeMap::new();
    for r in records {
        people.insert(
            lowercase(&r.matching_value).into_owned(),
            (r.source_id.as_str(), Some(r.target_id.as_str())),
        );
    }
    for (source_id, key) in unprovisioned {
        people
            .entry(lowercase(&key.value).into_owned())
            .or_insert((source_id.as_str(), None));
    }
    unmanaged
        .into_iter()
        .map(|resource| {
            let user = TargetUser::new(resource);
            let matched = matching_paths.iter().find_map(|path| {
                let value = user.get(path)?.as_str()?;
                people.get(lowercase(value).as_ref())
            });
            Orphan {
                target_id: scim::resource::id(resource).unwrap_or_default().to_string(),
                user_name: user
                    .get("userName")
                    .and_then(Json::as_str)
                    .map(String::from),
                matches: matched.map(|(s, _)| s.to_string()),
                matched_person_has: matched.and_then(|(_, t)| t.map(String::from)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ZOOM: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";

    fn record(pairs: &[(&str, Value)]) -> ProvisionedRecord {
        ProvisionedRecord {
            source_id: "u-1".into(),
            target_id: "t-1".into(),
            matching_value: "anna@x.example".into(),
            last_applied: pairs
                .iter()
                .map(|(k, v)| (Key::from(*k), v.clone()))
                .collect(),
            license: None,
            plugin_versions: Default::default(),
            disabled: false,
        }
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn applied() -> ProvisionedRecord {
        record(&[
            ("userName", t("Anna@X.example")),
            ("displayName", t("Anna Adams")),
            (r#"emails[type eq "work"].value"#, t("anna@x.example")),
            ("active", Value::Bool(true)),
            (&format!("{ZOOM}:zoomIQ"), Value::Bool(true)),
            (&format!("{ZOOM}:zoomPhoneCallingPlan"), t("3000")),
            ("locale", t("en-US")),
        ])
    }

    fn ignored() -> Ignored {
        let paths = [
            Key::from(format!("{ZOOM}:zoomPhoneCallingPlan")),
            Key::from("locale"),
        ];
        Ignored::new(&paths)
    }

    #[test]
    fn drift_table() {
        let same = json!({
            "id": "t-1", "userName": "anna@x.example", "displayName": "Anna Adams",
            "emails": [{"type": "work", "value": "ANNA@x.example", "primary": true}],
            "active": true, "title": "set by hand, not managed",
            ZOOM: {"zoomIQ": true},
        });
        let mut renamed = same.clone();
        renamed["displayName"] = json!("anna adams");
        let without_ext = || {
            let mut user = same.clone();
            if let Some(o) = user.as_object_mut() {
                o.remove(ZOOM);
            }
            user
        };
        let no_ext = without_ext();
        let mut spelled = without_ext();
        spelled["URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ZOOM:1.0:USER"] = json!({"ZOOMIQ": true});
        let mut inactive = same.clone();
        inactive["active"] = json!(false);
        let zoom_iq = format!("{ZOOM}:zoomIQ");
        // (what the target holds, each drifted attribute with what was found)
        type Case = (Json, Vec<(String, Option<Json>)>);
        let cases: Vec<Case> = vec![
            (same, vec![]),
            // displayName is not caseExact (RFC 7643 §4.1.1): a change of case is no drift.
            (renamed, vec![]),
            (no_ext, vec![(zoom_iq, None)]),
            (spelled, vec![]),
            (inactive, vec![("active".into(), Some(json!(false)))]),
        ];
        for (i, (target, expected)) in cases.into_iter().enumerate() {
            let found = drift(&applied(), &TargetUser::new(&target), &ignored());
            let got: Vec<(String, Option<Json>)> = found
                .iter()
                .map(|d| (d.attribute.clone(), d.found.clone()))
                .collect();
            assert_eq!(got, expected, "case {i}");
        }
    }

    #[test]
    fn a_corrected_record_plans_exactly_the_drifted_paths() {
        let record = applied();
        let target = json!({
            "id": "t-1", "userName": "anna@x.example", "displayName": "Anna by hand",
            "emails": [{"type": "work", "value": "anna@x.example"}], "active": true,
        });
        let drifted = drift(&record, &TargetUser::new(&target), &ignored());
        assert_eq!(drifted.len(), 2, "{drifted:?}");
        let before = corrected(&record, &drifted);
        let ops = crate::plan::ops_from_plan(
            &before.last_applied,
            &record.last_applied,
            &BTreeSet::new(),
        );
        let ops = serde_json::to_value(&ops).expect("json");
        assert_eq!(
            ops,
            json!([
                {"op": "replace", "path": "displayName", "value": "Anna Adams"},
                {"op": "replace", "path": format!("{ZOOM}:zoomIQ"), "value": true},
            ])
        );
    }

    #[test]
    fn a_disabled_user_turned_on_by_hand_is_disabled_again() {
        let mut record = record(&[
            ("userName", t("a@x.example")),
            ("active", Value::Bool(false)),
        ]);
        record.disabled = true;
        let target = json!({"id": "t-1", "userName": "a@x.example", "active": true});
        let drifted = drift(&record, &TargetUser::new(&target), &Ignored::default());
        let before = corrected(&record, &drifted);
        assert!(!before.disabled);
        assert_eq!(before.last_applied.get("active"), Some(&Value::Bool(true)));
    }

    #[test]
    fn orphans_match_people_without_a_record_only_for_adoption() {
        let records = [applied()];
        let key = |v: &str| MatchKey {
            path: Key::from("userName"),
            value: v.into(),
        };
        let unprovisioned = [("u-2".to_string(), key("ben@x.example"))];
        let users = [
            json!({"id": "t-2", "userName": "BEN@x.example"}),
            json!({"id": "t-3", "userName": "anna@x.example"}),
            json!({"id": "t-4", "userName": "zed@x.example"}),
        ];
        let found = orphans(&users, &records, &unprovisioned, &[Key::from("userName")]);
        let adoptable: Vec<Option<&str>> = found.iter().map(Orphan::adoptable).collect();
        assert_eq!(adoptable, [Some("u-2"), None, None]);
        assert_eq!(found[1].matches.as_deref(), Some("u-1"));
        assert_eq!(found[1].matched_person_has.as_deref(), Some("t-1"));
        assert_eq!(found[2].matches, None);
        assert_eq!(found[2].user_name.as_deref(), Some("zed@x.example"));
    }
}
