//! Delta pages applied to the mirror's state: pure functions of JSON, so replays, repeats and
//! out-of-order entries are tested without a server.
//!
//! Graph's rules (<https://learn.microsoft.com/graph/delta-query-overview>): an object may come
//! back several times in a round, in any order; without `Prefer: return=minimal` an entry carries
//! every selected property (unset ones are omitted), so an entry replaces the user's attributes;
//! `@removed` `changed` is a soft delete and `deleted` a hard one; a group's `members@delta` lists
//! the members added (all of them in the first round) and, with `@removed`, the ones taken out.

use std::collections::BTreeMap;

use engine::model::{Attributes, OtherJson, Value};
use serde_json::Value as Json;
use store::{MemberKind, MirrorGroup, MirrorUser};

/// The users a round changed: `Some` state or `None` (hard-deleted). `base` is the mirror the
/// round starts from (empty for a full read).
pub fn apply_user_page(
    changes: &mut BTreeMap<String, Option<MirrorUser>>,
    base: &BTreeMap<String, MirrorUser>,
    page: Vec<Json>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for entry in page {
        let Some(id) = entry.get("id").and_then(Json::as_str).map(str::to_string) else {
            warnings.push(format!(
                "a users/delta entry without an id was ignored: {entry}"
            ));
            continue;
        };
        if let Some(reason) = removed_reason(&entry) {
            let state = if reason == "changed" {
                let mut user = current(changes, base, &id).unwrap_or(MirrorUser {
                    attributes: Attributes::new(),
                    enabled: false,
                    soft_deleted: true,
                    manager: None,
                });
                user.soft_deleted = true;
                Some(user)
            } else {
                None
            };
            changes.insert(id, state);
            continue;
        }
        let Json::Object(fields) = entry else {
            continue;
        };
        // An entry without `manager@delta` leaves the manager as it was.
        let mut manager = current(changes, base, &id).and_then(|u| u.manager);
        let mut attributes = Attributes::new();
        let mut enabled = true;
        for (name, value) in fields {
            if name == "manager@delta" {
                manager = manager_of(&value);
                continue;
            }
            if name == "id" || name.starts_with("@odata") || name.contains('@') {
                continue;
            }
            if name == "accountEnabled" {
                enabled = value.as_bool().unwrap_or(true);
                continue;
            }
            if let Some(v) = Value::from_json(value, OtherJson::Drop) {
                attributes.insert(name.into(), v);
            }
        }
        changes.insert(
            id,
            Some(MirrorUser {
                attributes,
                enabled,
                soft_deleted: false,
                manager,
            }),
        );
    }
    warnings
}

/// The groups a round changed. A group entry starts from the group as known so far (this
/// round's changes, then the mirror), so member additions and removals accumulate.
pub fn apply_group_page(
    changes: &mut BTreeMap<String, Option<MirrorGroup>>,
    base: &BTreeMap<String, MirrorGroup>,
    page: Vec<Json>,
) {
    for entry in page {
        let Some(id) = entry.get("id").and_then(Json::as_str).map(str::to_string) else {
            continue;
        };
        if removed_reason(&entry).is_some() {
            // A soft-deleted group grants nothing either; a restored one comes back whole.
            changes.insert(id, None);
            continue;
        }
        let mut group = match changes.get(&id) {
            Some(Some(g)) => g.clone(),
            Some(None) => MirrorGroup::default(),
            None => base.get(&id).cloned().unwrap_or_default(),
        };
        if let Some(name) = entry.get("displayName").and_then(Json::as_str) {
            group.display_name = name.to_string();
        }
        for member in entry
            .get("members@delta")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(member_id) = member.get("id").and_then(Json::as_str) else {
                continue;
            };
            if removed_reason(member).is_some() {
                group.members.remove(member_id);
            } else {
                group
                    .members
                    .insert(member_id.to_string(), member_kind(member));
            }
        }
        changes.insert(id, Some(group));
    }
}

fn current(
    changes: &BTreeMap<String, Option<MirrorUser>>,
    base: &BTreeMap<String, MirrorUser>,
    id: &str,
) -> Option<MirrorUser> {
    match changes.get(id) {
        Some(state) => state.clone(),
        None => base.get(id).cloned(),
    }
}

/// The manager a `manager@delta` array names: its one entry that is not `@removed`; none when
/// the array is empty or its entry was removed.
fn manager_of(value: &Json) -> Option<String> {
    value
        .as_array()?
        .iter()
        .filter(|m| removed_reason(m).is_none())
        .find_map(|m| m.get("id").and_then(Json::as_str).map(str::to_string))
}

fn removed_reason(entry: &Json) -> Option<&str> {
    entry
        .get("@removed")
        .map(|r| r.get("reason").and_then(Json::as_str).unwrap_or("deleted"))
}

fn member_kind(member: &Json) -> MemberKind {
    match member.get("@odata.type").and_then(Json::as_str) {
        Some("#microsoft.graph.user") => MemberKind::User,
        Some("#microsoft.graph.group") => MemberKind::Group,
        _ => MemberKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_replace_soft_delete_and_delete_users_and_replays_are_harmless() {
        let mut base = BTreeMap::new();
        base.insert(
            "b".to_string(),
            MirrorUser {
                attributes: Attributes::from([("jobTitle".into(), Value::Text("Old".into()))]),
                enabled: true,
                soft_deleted: false,
                manager: None,
            },
        );
        let page = vec![
            json!({"id": "a", "displayName": "A", "accountEnabled": false, "businessPhones": ["1"]}),
            json!({"id": "b", "@removed": {"reason": "changed"}}),
            json!({"id": "c", "@removed": {"reason": "deleted"}}),
            json!({"id": "a", "displayName": "A2", "accountEnabled": true, "businessPhones": []}),
        ];
        let mut changes = BTreeMap::new();
        apply_user_page(&mut changes, &base, page.clone());
        let once = changes.clone();
        apply_user_page(&mut changes, &base, page);
        assert_eq!(changes, once, "a replayed page changes nothing");
        let a = changes["a"].as_ref().expect("a");
        assert!(a.enabled);
        assert_eq!(a.attributes["displayName"], Value::Text("A2".into()));
        let b = changes["b"]
            .as_ref()
            .expect("b soft-deleted, attributes kept");
        assert!(b.soft_deleted);
        assert_eq!(b.attributes["jobTitle"], Value::Text("Old".into()));
        assert_eq!(changes["c"], None);
    }

    #[test]
    fn a_manager_is_set_kept_replaced_and_removed() {
        let mut base = BTreeMap::new();
        base.insert(
            "b".to_string(),
            MirrorUser {
                attributes: Attributes::new(),
                enabled: true,
                soft_deleted: false,
                manager: Some("boss".into()),
            },
        );
        let user = |type_id: &str| json!({"@odata.type": "#microsoft.graph.user", "id": type_id});
        let page = vec![
            json!({"id": "a", "manager@delta": [user("m1")]}),
            // No manager@delta: the manager stays.
            json!({"id": "b", "displayName": "B"}),
            json!({"id": "c", "manager@delta": [user("m1")]}),
            json!({"id": "c", "manager@delta": [
                {"@odata.type": "#microsoft.graph.user", "id": "m1", "@removed": {"reason": "deleted"}},
                user("m2")]}),
            json!({"id": "d", "manager@delta": [user("m1")]}),
            json!({"id": "d", "manager@delta": []}),
        ];
        let mut changes = BTreeMap::new();
        apply_user_page(&mut changes, &base, page);
        let manager = |id: &str| changes[id].as_ref().and_then(|u| u.manager.clone());
        assert_eq!(manager("a").as_deref(), Some("m1"));
        assert_eq!(manager("b").as_deref(), Some("boss"));
        assert_eq!(manager("c").as_deref(), Some("m2"));
        assert_eq!(manager("d"), None);
        assert!(
            !changes["a"]
                .as_ref()
                .expect("a")
                .attributes
                .contains_key("manager@delta")
        );
    }

    #[test]
    fn member_deltas_accumulate_on_the_known_group() {
        let mut base = BTreeMap::new();
        base.insert(
            "g".to_string(),
            MirrorGroup {
                display_name: "G".into(),
                members: BTreeMap::from([
                    ("a".to_string(), MemberKind::User),
                    ("b".to_string(), MemberKind::User),
                ]),
            },
        );
        let mut changes = BTreeMap::new();
        apply_group_page(
            &mut changes,
            &base,
            vec![
                json!({"id": "g", "displayName": "G2", "members@delta": [
                    {"@odata.type": "#microsoft.graph.user", "id": "c"},
                    {"@odata.type": "#microsoft.graph.user", "id": "a", "@removed": {"reason": "deleted"}}
                ]}),
                json!({"id": "g", "members@delta": [{"@odata.type": "#microsoft.graph.group", "id": "n"}]}),
                json!({"id": "x", "@removed": {"reason": "changed"}}),
            ],
        );
        let g = changes["g"].as_ref().expect("g");
        assert_eq!(g.display_name, "G2");
        assert_eq!(
            g.members,
            BTreeMap::from([
                ("b".to_string(), MemberKind::User),
                ("c".to_string(), MemberKind::User),
                ("n".to_string(), MemberKind::Group),
            ])
        );
        assert_eq!(changes["x"], None);
    }
}
