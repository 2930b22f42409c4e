//! A change to the gateway's source view, as one transaction: the resources, the member index
//! and the outbox row of every person the change touches commit together, then the outbox
//! worker is woken. Handlers (`resources`) call these under the gateway's write lock.

use std::collections::{BTreeSet, HashSet};

use engine::model::GroupRef;

use scim::ScimType;
use scim::request::{name_attribute, name_of};
use scim::resource::{ResourceKind, find_key};
use serde_json::Value;
use store::{GatewayKind, GatewayResource, GatewayUpsert, GatewayWrite};

use super::{ApiError, GatewayState, people};

pub(super) fn store_kind(kind: ResourceKind) -> GatewayKind {
    match kind {
        ResourceKind::User => GatewayKind::User,
        ResourceKind::Group => GatewayKind::Group,
    }
}

/// Uniqueness of the name, and for groups that every member has a `value` other than the
/// group's own id. A member id the gateway does not know (yet) is accepted and kept: RFC 7644
/// §3.5.2 does not require referential integrity, and refusing it would fail the membership of
/// every other member of the same request. It counts for whoever has that id, once someone does.
pub(super) fn check_write(
    state: &GatewayState,
    kind: ResourceKind,
    resource: &GatewayResource,
) -> Result<(), ApiError> {
    let store = &state.job().store;
    let obj = resource.body.as_object().cloned().unwrap_or_default();
    let name = name_of(kind, &obj);
    if let Some(other) = store.gateway_resource_by_name(store_kind(kind), &name)?
        && other.id != resource.id
    {
        return Err(ApiError::uniqueness(format!(
            "{} {name:?} is already taken by {}",
            name_attribute(kind),
            other.id
        )));
    }
    if kind == ResourceKind::Group {
        let members = find_key(&obj, "members").and_then(|k| obj.get(k));
        for member in members.and_then(Value::as_array).into_iter().flatten() {
            let value = member
                .as_object()
                .and_then(|m| find_key(m, "value").and_then(|k| m.get(k)))
                .and_then(Value::as_str);
            match value {
                None => {
                    return Err(ApiError::bad(
                        ScimType::InvalidValue,
                        "every member needs a \"value\": the id of a user or group",
                    ));
                }
                Some(value) if value == resource.id => {
                    return Err(ApiError::bad(
                        ScimType::InvalidValue,
                        format!("group {value:?} cannot be a member of itself"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// A group as a change leaves it: its reference and its member ids.
type GroupAfter = (GroupRef, HashSet<String>);

/// Writes `before` → `after` (None: absent) with the outbox rows of every person it touches,
/// in one transaction, then wakes the outbox worker.
pub(super) fn commit(
    state: &GatewayState,
    kind: ResourceKind,
    before: Option<&GatewayResource>,
    after: Option<&GatewayResource>,
    now: i64,
) -> Result<(), ApiError> {
    let store = &state.job().store;
    let mut write = GatewayWrite {
        at: now,
        ..GatewayWrite::default()
    };
    let Some(subject) = after.or(before) else {
        return Ok(());
    };
    let members = |r: Option<&GatewayResource>| -> Vec<String> {
        match kind {
            ResourceKind::Group => r.map(|r| people::member_ids(&r.body)).unwrap_or_default(),
            ResourceKind::User => Vec::new(),
        }
    };
    let (old, new) = (members(before), members(after));
    if let Some(after) = after {
        write.upserts.push(upsert(kind, after, &old, &new));
    } else {
        write.deletes.push((store_kind(kind), subject.id.clone()));
    }
    // The changed group as it will be once this change is written: its reference and members
    // (None: deleted).
    let changed: Option<(String, Option<GroupAfter>)> = (kind == ResourceKind::Group).then(|| {
        let after = after.map(|a| (people::group_ref(a), new.iter().cloned().collect()));
        (subject.id.clone(), after)
    });
    let affected: Vec<String> = match kind {
        ResourceKind::User => {
            if after.is_none() {
                // Leaving the groups it was in, as the member index already does.
                for group in store.gateway_groups_of(&subject.id)? {
                    let mut group = group;
                    let before = people::member_ids(&group.body);
                    drop_member(&mut group, &subject.id, now);
                    let after = people::member_ids(&group.body);
                    write
                        .upserts
                        .push(upsert(ResourceKind::Group, &group, &before, &after));
                }
            }
            vec![subject.id.clone()]
        }
        ResourceKind::Group => affected_members(state, before, after, &old, &new)?,
    };
    // Group memberships as they will be once this change is written.
    let parents = |member: &str| -> Result<Vec<GroupRef>, store::StoreError> {
        let mut groups = people::group_refs_of(store, member)?;
        if let Some((id, after)) = &changed {
            groups.retain(|g| g.id != *id);
            if let Some((group, members)) = after
                && members.contains(member)
            {
                groups.push(group.clone());
            }
        }
        Ok(groups)
    };
    for person_id in affected {
        let user = if kind == ResourceKind::User {
            after.cloned()
        } else {
            store.gateway_resource(GatewayKind::User, &person_id)?
        };
        let snapshot = match user {
            Some(user) => {
                let (direct, transitive) = people::groups_with_nesting(&user.id, &parents)?;
                let person = people::person(&user, &direct, &transitive);
                Some(serde_json::to_value(&person).map_err(ApiError::internal)?)
            }
            None if kind == ResourceKind::User => None,
            None => continue, // a group member that is a group, or gone
        };
        write.outbox.push((person_id, snapshot));
    }
    store.gateway_write(&write)?;
    state.inner.wake.notify_one();
    Ok(())
}

/// The row of `r`, with the member index change from `old` to `new` member ids (groups): only
/// the members that joined or left are written.
fn upsert(
    kind: ResourceKind,
    r: &GatewayResource,
    old: &[String],
    new: &[String],
) -> GatewayUpsert {
    let obj = r.body.as_object().cloned().unwrap_or_default();
    let external_id = find_key(&obj, "externalId")
        .and_then(|k| obj.get(k))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (old_set, new_set): (HashSet<&String>, HashSet<&String>) =
        (old.iter().collect(), new.iter().collect());
    GatewayUpsert {
        resource: r.clone(),
        name: name_of(kind, &obj),
        external_id,
        members_added: new
            .iter()
            .filter(|m| !old_set.contains(m))
            .cloned()
            .collect(),
        members_removed: old
            .iter()
            .filter(|m| !new_set.contains(m))
            .cloned()
            .collect(),
    }
}

fn drop_member(group: &mut GatewayResource, member: &str, now: i64) {
    if let Some(obj) = group.body.as_object_mut()
        && let Some(key) = find_key(obj, "members").map(str::to_string)
        && let Some(Value::Array(members)) = obj.get_mut(&key)
    {
        members.retain(|m| m.get("value").and_then(Value::as_str) != Some(member));
    }
    group.version += 1;
    group.last_modified = now;
}

/// The users whose groups a group change alters: members added or removed, or every member
/// when the group is created, deleted or renamed (license rules match on names). Members that
/// are groups bring their own members, transitively.
fn affected_members(
    state: &GatewayState,
    before: Option<&GatewayResource>,
    after: Option<&GatewayResource>,
    old: &[String],
    new: &[String],
) -> Result<Vec<String>, ApiError> {
    let old: BTreeSet<String> = old.iter().cloned().collect();
    let new: BTreeSet<String> = new.iter().cloned().collect();
    let name = |r: Option<&GatewayResource>| r.map(people::group_ref).map(|g| g.display_name);
    let whole = before.is_none() || after.is_none() || name(before) != name(after);
    let direct: Vec<String> = if whole {
        old.union(&new).cloned().collect()
    } else {
        old.symmetric_difference(&new).cloned().collect()
    };
    let store = &state.job().store;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = direct;
    while let Some(id) = queue.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        match store.gateway_resource(GatewayKind::Group, &id)? {
            Some(group) => queue.extend(people::member_ids(&group.body)),
            None => out.push(id),
        }
    }
    out.sort();
    Ok(out)
}
