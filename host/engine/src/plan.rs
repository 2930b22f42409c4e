//! The plan: what a cycle sends ([`Plan`], built by [`crate::cycle::plan_cycle`]), and for one
//! person, desired vs last applied → an action with minimal PATCH operations.
//!
//! What muster sends is strict: one operation per changed path, `replace` for a set or changed
//! value and `remove` for a dropped one, RFC-shaped, booleans as JSON booleans. `add` is never
//! needed: `replace` on a missing path adds it (RFC 7644 §3.5.2.3).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use scim::patch::{PatchOp, PatchOperation};
use serde::{Deserialize, Serialize};

use crate::cycle::DeletionHold;
use crate::log::{LogEntry, ModifiedProperty};
use crate::mapping::ACTIVE;
use crate::model::{Attributes, Key, License, ProvisionedRecord, Value};

/// What the apply step does for one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Look the target up by the matching attribute, then create with these attributes (or
    /// update the one found).
    Create {
        attributes: Attributes,
    },
    /// PATCH these operations (never empty).
    Update {
        target_id: String,
        operations: Vec<PatchOperation>,
    },
    /// PATCH `active` to false.
    Disable {
        target_id: String,
        operations: Vec<PatchOperation>,
    },
    Delete {
        target_id: String,
    },
}

impl Action {
    /// Disables and deletes count towards the deletion threshold (as in Entra).
    pub fn is_deprovisioning(&self) -> bool {
        matches!(self, Action::Disable { .. } | Action::Delete { .. })
    }
}

/// A cycle's plan: what to send, what is held back, and the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub cycle_id: String,
    pub actions: Vec<PlannedAction>,
    /// Disables and deletes held back by the deletion threshold (Entra's `StagedDelete`).
    pub staged: Vec<PlannedAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_hold: Option<DeletionHold>,
    pub summary: Summary,
    pub log: Vec<LogEntry>,
    /// What the log's recorded plugin steps refer to (their inputs and configurations), each
    /// once; empty unless the plan was made with [`crate::cycle::CycleInput::record`]. The
    /// caller stores them beside the log.
    #[serde(skip)]
    pub blobs: Vec<crate::replay::Blob>,
    /// The answers of the plugin calls made, to keep in the memo; empty unless the plan was
    /// made with [`crate::cycle::CycleInput::remember`].
    #[serde(skip)]
    pub remembered: Vec<crate::memo::Remembered>,
    /// Memo hits and misses per plugin (transforms in order, then the license rule); empty
    /// without a memo.
    #[serde(skip)]
    pub memo_counts: Vec<crate::memo::MemoCounts>,
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub creates: usize,
    pub updates: usize,
    pub disables: usize,
    pub deletes: usize,
    pub staged: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Seats used and bought per plan or add-on after this plan, where `[license] seats` sets
    /// a budget.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub seats: std::collections::BTreeMap<String, crate::seats::SeatUse>,
}

impl Plan {
    /// A plan with nothing in it.
    pub fn empty(cycle_id: &str) -> Plan {
        Plan {
            cycle_id: cycle_id.to_string(),
            actions: Vec::new(),
            staged: Vec::new(),
            deletion_hold: None,
            summary: Summary::default(),
            log: Vec::new(),
            blobs: Vec::new(),
            remembered: Vec::new(),
            memo_counts: Vec::new(),
        }
    }
}

/// An action with what the state store records once it succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub source_id: String,
    pub action: Action,
    /// The record after success (`target_id` empty for a create: the target assigns it); `None`
    /// for a delete, after which the record goes.
    pub record_after: Option<ProvisionedRecord>,
    /// The record this action supersedes when it adopts an orphaned one (its source id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopts: Option<String>,
    /// For a create: the SCIM path of the matching attribute that decided it, which the target
    /// is searched by before the create (a user made by hand, or by a create whose answer was
    /// lost, is adopted rather than duplicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_path: Option<String>,
    /// An update that takes a license away (an add-on, or the plan for one of
    /// `[deletion_threshold] downgrade_plans`): the deletion threshold counts it as
    /// deprovisioning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub downgrade: bool,
    /// Gives back a seat of a plan or add-on with a budget (`[license] seats`), which another
    /// person of the same plan may take: sent before the plan's other actions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frees_seats: bool,
}

/// Flat target attributes as SCIM JSON values, the shape `scim::flat::unflatten` builds a
/// resource from.
pub fn to_flat(attributes: &Attributes) -> scim::flat::Flat {
    attributes
        .iter()
        .map(|(path, value)| (path.to_string(), value.to_json()))
        .collect()
}

/// The minimal operations from `old` to `new`, ignoring `frozen` paths (create-only mappings and
/// defaults): `remove` for each path dropped, then `replace` for each path set or changed, each
/// in path order. Empty values count as absent: they are never provisioned.
///
/// Removes go first: an attribute can move between its keyed form
/// (`emails[type eq "work"].value`) and its whole form (`emails`), and a remove sent after the
/// replace would undo the new value. Both maps are walked once, side by side (they are sorted
/// by path), so an unchanged person costs one comparison per path and no allocation.
pub fn ops_from_plan(
    old: &Attributes,
    new: &Attributes,
    frozen: &BTreeSet<Key>,
) -> Vec<PatchOperation> {
    let mut removes = Vec::new();
    let mut replaces = Vec::new();
    let live = |path: &Key, value: &Value| !value.is_empty() && !frozen.contains(path);
    let remove = |ops: &mut Vec<PatchOperation>, path: &Key| {
        ops.push(PatchOperation {
            op: PatchOp::Remove,
            path: Some(path.to_string()),
            value: None,
        })
    };
    let replace = |ops: &mut Vec<PatchOperation>, path: &Key, value: &Value| {
        ops.push(PatchOperation {
            op: PatchOp::Replace,
            path: Some(path.to_string()),
            value: Some(value.to_json()),
        })
    };
    let mut old = old.iter().peekable();
    let mut new = new.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.cmp(n),
        };
        match order {
            // Only in `old`: dropped.
            Ordering::Less => {
                let Some((path, value)) = old.next() else {
                    break;
                };
                if live(path, value) {
                    remove(&mut removes, path);
                }
            }
            // Only in `new`: set.
            Ordering::Greater => {
                let Some((path, value)) = new.next() else {
                    break;
                };
                if live(path, value) {
                    replace(&mut replaces, path, value);
                }
            }
            Ordering::Equal => {
                let (Some((path, was)), Some((_, value))) = (old.next(), new.next()) else {
                    break;
                };
                if value.is_empty() {
                    if live(path, was) {
                        remove(&mut removes, path);
                    }
                } else if was != value && !frozen.contains(path) {
                    replace(&mut replaces, path, value);
                }
            }
        }
    }
    if removes.is_empty() {
        return replaces;
    }
    removes.append(&mut replaces);
    removes
}

/// The modified properties of a create of `new` (every non-empty path is new): what
/// [`modified_properties`] gives for `ops_from_plan(&Attributes::new(), new, &BTreeSet::new())`,
/// without building the operations.
pub fn created_properties(new: &Attributes) -> Vec<ModifiedProperty> {
    // Sized once: a filtered iterator's `collect` grows the vector by doubling.
    let mut out = Vec::with_capacity(new.len());
    out.extend(
        new.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(path, value)| ModifiedProperty {
                display_name: path.clone(),
                old_value: None,
                new_value: Some(value.clone()),
            }),
    );
    out
}

/// `old` with the same changes [`ops_from_plan`] sends: what the target holds after the update.
pub fn applied(old: &Attributes, new: &Attributes, frozen: &BTreeSet<Key>) -> Attributes {
    let mut out: Attributes = old
        .iter()
        .filter(|(p, _)| frozen.contains(*p))
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect();
    for (path, value) in new {
        if !value.is_empty() && !frozen.contains(path) {
            out.insert(path.clone(), value.clone());
        }
    }
    out
}

/// Old → new for each path an operation touches, for the log.
pub fn modified_properties(
    old: &Attributes,
    new: &Attributes,
    ops: &[PatchOperation],
) -> Vec<ModifiedProperty> {
    ops.iter()
        .filter_map(|op| op.path.as_deref())
        .map(|path| ModifiedProperty {
            // The map's own key where there is one: shared, not copied.
            display_name: new
                .get_key_value(path)
                .or_else(|| old.get_key_value(path))
                .map_or_else(|| Key::from(path), |(k, _)| k.clone()),
            old_value: old.get(path).cloned(),
            new_value: new.get(path).filter(|v| !v.is_empty()).cloned(),
        })
        .collect()
}

/// The operations that disable a user.
pub fn disable_operations() -> Vec<PatchOperation> {
    vec![PatchOperation {
        op: PatchOp::Replace,
        path: Some(ACTIVE.to_string()),
        value: Some(serde_json::Value::Bool(false)),
    }]
}

/// The record after a disable: `active` false in what was applied.
pub fn disabled_record(record: &ProvisionedRecord) -> ProvisionedRecord {
    let mut after = record.clone();
    after
        .last_applied
        .insert(Key::from(ACTIVE), Value::Bool(false));
    after.disabled = true;
    after
}

/// A license for the record: the decision, or what the record held.
pub fn license_after(
    decided: Option<License>,
    record: Option<&ProvisionedRecord>,
) -> Option<License> {
    decided.or_else(|| record.and_then(|r| r.license.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// The planner's first `ops_from_plan` (a lookup per path, then a sort): the merge walk
    /// must give exactly the same operations.
    fn reference_ops(
        old: &Attributes,
        new: &Attributes,
        frozen: &BTreeSet<Key>,
    ) -> Vec<PatchOperation> {
        let mut ops = Vec::new();
        for (path, value) in new {
            if value.is_empty() || frozen.contains(path) {
                continue;
            }
            if old.get(path) != Some(value) {
                ops.push(PatchOperation {
                    op: PatchOp::Replace,
                    path: Some(path.to_string()),
                    value: Some(value.to_json()),
                });
            }
        }
        for (path, value) in old {
            let dropped = new.get(path).is_none_or(Value::is_empty);
            if dropped && !value.is_empty() && !frozen.contains(path) {
                ops.push(PatchOperation {
                    op: PatchOp::Remove,
                    path: Some(path.to_string()),
                    value: None,
                });
            }
        }
        ops.sort_by(|a, b| {
            (a.op != PatchOp::Remove, &a.path).cmp(&(b.op != PatchOp::Remove, &b.path))
        });
        ops
    }

    fn small_attributes() -> impl Strategy<Value = Attributes> {
        let value = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..3).prop_map(Value::Int),
            "[ab]{0,2}".prop_map(|s| Value::Text(s.into())),
            proptest::collection::vec("[ab]{1}", 0..2).prop_map(|l| Value::TextList(l.into())),
        ];
        proptest::collection::btree_map("[a-e]{1,2}".prop_map(Key::from), value, 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn merge_walk_matches_the_reference(
            old in small_attributes(),
            new in small_attributes(),
            frozen in proptest::collection::btree_set("[a-e]{1,2}".prop_map(Key::from), 0..3),
        ) {
            prop_assert_eq!(ops_from_plan(&old, &new, &frozen), reference_ops(&old, &new, &frozen));
            let created = created_properties(&new);
            let ops = ops_from_plan(&Attributes::new(), &new, &BTreeSet::new());
            prop_assert_eq!(created, modified_properties(&Attributes::new(), &new, &ops));
        }
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (Key::from(*k), v.clone()))
            .collect()
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn minimal_operations() {
        let base = attrs(&[
            ("userName", t("a@x")),
            ("active", Value::Bool(true)),
            ("locale", t("en-US")),
        ]);
        let frozen: BTreeSet<Key> = [Key::from("locale")].into();
        // (new, expected ops as JSON)
        let cases: Vec<(Attributes, serde_json::Value)> = vec![
            (base.clone(), json!([])),
            (
                attrs(&[
                    ("userName", t("b@x")),
                    ("active", Value::Bool(true)),
                    ("locale", t("en-US")),
                ]),
                json!([{"op": "replace", "path": "userName", "value": "b@x"}]),
            ),
            (
                attrs(&[("userName", t("a@x")), ("active", Value::Bool(false))]),
                json!([{"op": "replace", "path": "active", "value": false}]),
            ),
            (
                attrs(&[
                    ("userName", t("a@x")),
                    ("active", Value::Bool(true)),
                    ("title", t("CTO")),
                    ("locale", t("de")),
                ]),
                json!([{"op": "replace", "path": "title", "value": "CTO"}]),
            ),
            (
                attrs(&[
                    ("active", Value::Bool(true)),
                    ("userName", t("")),
                    ("x", Value::TextList(vec!["a".into()].into())),
                ]),
                json!([
                    {"op": "remove", "path": "userName"},
                    {"op": "replace", "path": "x", "value": ["a"]},
                ]),
            ),
        ];
        for (i, (new, expected)) in cases.into_iter().enumerate() {
            let ops = ops_from_plan(&base, &new, &frozen);
            assert_eq!(
                serde_json::to_value(&ops).expect("json"),
                expected,
                "case {i}"
            );
            let after = applied(&base, &new, &frozen);
            assert!(
                ops_from_plan(&after, &new, &frozen).is_empty(),
                "case {i}: applying the ops converges"
            );
            assert_eq!(
                after.get("locale"),
                Some(&t("en-US")),
                "case {i}: frozen path kept"
            );
        }
    }
}
