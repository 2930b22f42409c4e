//! `[source] kind = "file"`: a directory snapshot in JSON (docs/snapshot-format.md).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use engine::membership::{Assignment, resolve_assignments, resolve_memberships};
use engine::model::{Attributes, Group, Manager, Person};
use serde::Deserialize;

use super::Directory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    #[serde(default)]
    people: Vec<SnapshotPerson>,
    #[serde(default)]
    groups: Vec<SnapshotGroup>,
    #[serde(default)]
    assignments: Vec<Assignment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SnapshotPerson {
    id: String,
    #[serde(default = "yes")]
    account_enabled: bool,
    #[serde(default)]
    soft_deleted: bool,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    manager: Option<Manager>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SnapshotGroup {
    id: String,
    display_name: String,
    #[serde(default)]
    members: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Reads a snapshot file. `nested_groups` lets a group assignment reach members of nested
/// groups (Entra reaches direct members only).
pub fn read(path: &Path, nested_groups: bool) -> anyhow::Result<Directory> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the directory snapshot {}", path.display()))?;
    // The text goes before the people are built from what was read: for a large directory it
    // is tens of megabytes that would otherwise add to the cycle's peak memory.
    let snapshot =
        deserialize(&text).with_context(|| format!("in the directory snapshot {}", path.display()));
    drop(text);
    build(snapshot?, nested_groups)
        .with_context(|| format!("in the directory snapshot {}", path.display()))
}

/// Parses a snapshot and resolves memberships and assignments.
pub fn parse(text: &str, nested_groups: bool) -> anyhow::Result<Directory> {
    build(deserialize(text)?, nested_groups)
}

fn deserialize(text: &str) -> anyhow::Result<Snapshot> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("at `{}`: {}", e.path(), e.inner()))
}

/// The directory of a snapshot: its people, its groups with their members split into people
/// and groups, memberships and assignments resolved. Consumes the snapshot, so that no list of
/// members is held twice.
fn build(snapshot: Snapshot, nested_groups: bool) -> anyhow::Result<Directory> {
    let mut warnings = Vec::new();
    let mut people: Vec<Person> = Vec::with_capacity(snapshot.people.len());
    for p in snapshot.people {
        let mut person = Person::new(p.id, p.attributes);
        person.enabled = p.account_enabled;
        person.soft_deleted = p.soft_deleted;
        person.manager = p.manager;
        people.push(person);
    }
    let person_ids: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
    if person_ids.len() != people.len() {
        let mut seen = HashSet::new();
        let twice = people.iter().find(|p| !seen.insert(p.id.as_str()));
        anyhow::bail!(
            "person id {:?} appears twice",
            twice.map_or("", |p| p.id.as_str())
        );
    }
    let group_ids: HashSet<String> = snapshot.groups.iter().map(|g| g.id.clone()).collect();
    if group_ids.len() != snapshot.groups.len() {
        anyhow::bail!("a group id appears twice");
    }
    let mut groups = Vec::with_capacity(snapshot.groups.len());
    for g in snapshot.groups {
        let (mut member_people, mut member_groups) = (Vec::new(), Vec::new());
        for m in g.members {
            if person_ids.contains(m.as_str()) {
                member_people.push(m);
            } else if group_ids.contains(&m) {
                member_groups.push(m);
            } else {
                warnings.push(format!(
                    "group {:?} lists member {m:?}, which is neither a person nor a group",
                    g.display_name
                ));
            }
        }
        groups.push(Group {
            id: g.id,
            display_name: g.display_name,
            member_people,
            member_groups,
        });
    }
    drop(person_ids);
    resolve_memberships(&mut people, &groups);
    warnings.extend(resolve_assignments(
        &mut people,
        &groups,
        &snapshot.assignments,
        nested_groups,
    ));
    Ok(Directory {
        people,
        groups,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPSHOT: &str = r#"{
      "people": [
        {"id": "a", "attributes": {"userPrincipalName": "a@x.example"}},
        {"id": "b", "accountEnabled": false, "attributes": {}},
        {"id": "c", "softDeleted": true, "attributes": {}}
      ],
      "groups": [
        {"id": "g-app", "displayName": "App", "members": ["a", "g-nested"]},
        {"id": "g-nested", "displayName": "Nested", "members": ["b", "ghost"]}
      ],
      "assignments": [{"principalId": "g-app", "appRole": "User"}, {"principalId": "c"}]
    }"#;

    #[test]
    fn group_assignment_reaches_direct_members_only_by_default() {
        let d = parse(SNAPSHOT, false).expect("parses");
        let by_id = |id: &str| d.people.iter().find(|p| p.id == id).expect("person");
        assert!(by_id("a").is_assigned());
        assert!(!by_id("b").is_assigned(), "b is in a nested group");
        assert!(by_id("c").assigned_directly);
        assert!(!by_id("b").enabled);
        assert!(by_id("c").soft_deleted);
        assert_eq!(by_id("a").app_roles, vec!["User".to_string()]);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("ghost"));
    }

    #[test]
    fn nested_groups_reach_members_of_nested_groups() {
        let d = parse(SNAPSHOT, true).expect("parses");
        let b = d.people.iter().find(|p| p.id == "b").expect("b");
        assert!(b.is_assigned());
        let names: Vec<&str> = b
            .transitive_groups
            .iter()
            .map(|g| g.display_name.as_str())
            .collect();
        assert!(
            names.contains(&"App") && names.contains(&"Nested"),
            "{names:?}"
        );
    }

    #[test]
    fn bad_snapshots_name_what_is_wrong() {
        let err = parse(
            r#"{"people": [{"id": "a", "accountEnabled": "yes"}]}"#,
            false,
        )
        .expect_err("bad");
        assert!(
            err.to_string().contains("people[0].accountEnabled"),
            "{err}"
        );
        let err = parse(r#"{"people": [{"id": "a"}, {"id": "a"}]}"#, false).expect_err("dup");
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn the_demo_directory_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/directory.json");
        let d = read(&path, true).expect("demo directory");
        assert_eq!(d.people.len(), 200);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }
}
