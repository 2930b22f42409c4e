//! A user Entra pushed, and the groups it is in, as the pipeline's `Person`.
//!
//! Source attributes are the user's flat SCIM view (`userName`, `name.givenName`,
//! `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`, …), so a gateway
//! job's `[[mappings]]` map SCIM paths to SCIM paths, plus `id` (muster's id for the user) and
//! `externalId`. Entra only sends people who are in scope of its own job, so every one of them
//! counts as assigned; `active` false (Entra's soft delete) makes the person disabled, which
//! the `[deprovisioning]` policy turns into a disable on the target.

use std::collections::HashSet;

use engine::model::{Attributes, GroupRef, Manager, OtherJson, Person, Value};
use scim::resource::get_ci;
use serde_json::Value as Json;
use store::{GatewayResource, StoreError};

const MANAGER_VALUE: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value";

/// The person for `user`, in `direct` groups and, through nesting, `transitive` ones.
pub fn person(user: &GatewayResource, direct: &[GroupRef], transitive: &[GroupRef]) -> Person {
    let mut attributes: Attributes = scim::flat::flatten(&user.body)
        .into_iter()
        .filter_map(|(path, v)| Value::from_json(v, OtherJson::AsText).map(|v| (path.into(), v)))
        .collect();
    attributes.insert("id".into(), Value::Text(user.id.as_str().into()));
    let active = user
        .body
        .as_object()
        .and_then(|o| get_ci(o, "active"))
        .and_then(Json::as_bool)
        .unwrap_or(true);
    // Entra sends the manager as the enterprise extension's `manager.value`: the manager's id
    // at this endpoint (RFC 7643 §4.3); their userPrincipalName is not part of it.
    let manager = attributes
        .get(MANAGER_VALUE)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(|id| Manager {
            id: id.to_string(),
            user_principal_name: None,
        });
    let mut person = Person::new(user.id.clone(), attributes);
    person.manager = manager;
    person.enabled = active;
    person.assigned_directly = true;
    person.direct_groups = direct.to_vec();
    person.transitive_groups = transitive.to_vec();
    person
}

/// A group's reference for the pipeline.
pub fn group_ref(group: &GatewayResource) -> GroupRef {
    let name = group
        .body
        .as_object()
        .and_then(|o| get_ci(o, "displayName"))
        .and_then(Json::as_str)
        .unwrap_or_default();
    GroupRef {
        id: group.id.clone(),
        display_name: name.to_string(),
        via: None,
    }
}

/// The member ids (`members[].value`) of a group body.
pub fn member_ids(body: &Json) -> Vec<String> {
    let members = body
        .as_object()
        .and_then(|o| get_ci(o, "members"))
        .and_then(Json::as_array);
    let mut seen = HashSet::new();
    members
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_object().and_then(|o| get_ci(o, "value")))
        .filter_map(Json::as_str)
        .filter(|id| seen.insert(id.to_string()))
        .map(str::to_string)
        .collect()
}

/// The groups `member_id` is directly in, as the store has them (references only: no group
/// body is read, so this costs the same whatever the size of the groups).
pub fn group_refs_of(store: &store::Store, member_id: &str) -> Result<Vec<GroupRef>, StoreError> {
    Ok(store
        .gateway_group_refs_of(&[member_id])?
        .remove(member_id)
        .unwrap_or_default())
}

/// Direct groups, then every group reached by walking up through groups that contain groups
/// (each once), given a function from a member id to the groups listing it.
pub fn groups_with_nesting<E>(
    member_id: &str,
    mut parents: impl FnMut(&str) -> Result<Vec<GroupRef>, E>,
) -> Result<(Vec<GroupRef>, Vec<GroupRef>), E> {
    let direct: Vec<GroupRef> = parents(member_id)?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut transitive = Vec::new();
    let mut queue: Vec<GroupRef> = direct.clone();
    let mut next = 0;
    while let Some(group) = queue.get(next).cloned() {
        next += 1;
        if !seen.insert(group.id.clone()) {
            continue;
        }
        // A group reached through nesting names the direct group it came through; breadth
        // first, the first time a group is reached is through the nearest one.
        let via = group
            .via
            .clone()
            .unwrap_or_else(|| group.display_name.clone());
        queue.extend(parents(&group.id)?.into_iter().map(|mut parent| {
            parent.via = Some(via.clone());
            parent
        }));
        transitive.push(group);
    }
    Ok((direct, transitive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use store::GatewayKind;

    fn resource(kind: GatewayKind, id: &str, body: Json) -> GatewayResource {
        GatewayResource {
            kind,
            id: id.into(),
            body,
            version: 1,
            created: 0,
            last_modified: 0,
        }
    }

    #[test]
    fn a_user_becomes_a_person_with_flat_scim_attributes() {
        let user = resource(
            GatewayKind::User,
            "u1",
            json!({"userName": "a@x.example", "active": false, "externalId": "e1",
                   "emails": [{"type": "work", "value": "a@x.example"}],
                   "name": {"givenName": "Ann"}}),
        );
        let p = person(&user, &[], &[]);
        assert!(!p.enabled && p.is_assigned());
        assert_eq!(p.attributes["userName"], Value::Text("a@x.example".into()));
        assert_eq!(
            p.attributes["emails[type eq \"work\"].value"],
            Value::Text("a@x.example".into())
        );
        assert_eq!(p.attributes["name.givenName"], Value::Text("Ann".into()));
        assert_eq!(p.attributes["id"], Value::Text("u1".into()));
        assert_eq!(p.manager, None);

        let managed = resource(
            GatewayKind::User,
            "u2",
            json!({"userName": "b@x.example",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                       {"manager": {"value": "u1"}}}),
        );
        let manager = person(&managed, &[], &[]).manager.expect("a manager");
        assert_eq!(
            (manager.id.as_str(), manager.user_principal_name),
            ("u1", None)
        );
    }

    #[test]
    fn nesting_is_walked_once_per_group() {
        let g = |id: &str, name: &str| GroupRef {
            id: id.into(),
            display_name: name.into(),
            via: None,
        };
        // u ∈ a; a ∈ b; b ∈ a (a cycle Entra forbids but nothing here must loop on).
        let parents = |id: &str| -> Result<Vec<GroupRef>, ()> {
            Ok(match id {
                "u" => vec![g("a", "A")],
                "a" => vec![g("b", "B")],
                "b" => vec![g("a", "A")],
                _ => vec![],
            })
        };
        let (direct, transitive) = groups_with_nesting("u", parents).expect("no error");
        assert_eq!(direct.len(), 1);
        let names: Vec<(&str, Option<&str>)> = transitive
            .iter()
            .map(|g| (g.display_name.as_str(), g.via.as_deref()))
            .collect();
        assert_eq!(names, [("A", None), ("B", Some("A"))]);
    }
}
