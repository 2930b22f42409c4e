//! A builder for directory snapshots (docs/snapshot-format.md), so a test says who is in which
//! group and the file follows.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

/// The mail domain of every person built here.
pub const DOMAIN: &str = "contoso.example";

/// People, groups (by display name; a group's id is `g-<name>`) and the app's assignments.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: Vec<Person>,
    groups: BTreeMap<String, Vec<String>>,
    assignments: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub enabled: bool,
    pub attributes: Map<String, Value>,
}

impl Person {
    pub fn set(&mut self, attribute: &str, value: impl Into<Value>) -> &mut Person {
        self.attributes.insert(attribute.to_string(), value.into());
        self
    }

    pub fn enabled(&mut self, enabled: bool) -> &mut Person {
        self.enabled = enabled;
        self
    }

    pub fn user_name(&self) -> &str {
        self.attributes["userPrincipalName"]
            .as_str()
            .expect("userPrincipalName is text")
    }
}

impl Directory {
    pub fn new() -> Directory {
        Directory::default()
    }

    /// Adds a person with `userPrincipalName` and `mail` `given.family@contoso.example`, the
    /// names, `displayName` and a `jobTitle`.
    pub fn person(&mut self, id: &str, given: &str, family: &str) -> &mut Person {
        assert!(
            self.people.iter().all(|p| p.id != id),
            "person {id} added twice"
        );
        let mail = format!("{}.{}@{DOMAIN}", given, family).to_lowercase();
        let attributes = json!({
            "userPrincipalName": mail,
            "mail": mail,
            "givenName": given,
            "surname": family,
            "displayName": format!("{given} {family}"),
            "jobTitle": "Engineer",
        });
        let Value::Object(attributes) = attributes else {
            unreachable!()
        };
        self.people.push(Person {
            id: id.to_string(),
            enabled: true,
            attributes,
        });
        self.people.last_mut().expect("just pushed")
    }

    pub fn get(&mut self, id: &str) -> &mut Person {
        self.people
            .iter_mut()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no person {id}"))
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// Takes the person out of the snapshot (a hard delete in the source) and out of every group.
    pub fn remove(&mut self, id: &str) {
        self.get(id);
        self.people.retain(|p| p.id != id);
        for members in self.groups.values_mut() {
            members.retain(|m| m != id);
        }
    }

    /// Puts people in a group, creating the group if needed.
    pub fn join(&mut self, group: &str, ids: &[&str]) -> &mut Directory {
        let members = self.groups.entry(group.to_string()).or_default();
        for id in ids {
            if !members.iter().any(|m| m == id) {
                members.push(id.to_string());
            }
        }
        self
    }

    pub fn leave(&mut self, group: &str, id: &str) -> &mut Directory {
        let members = self
            .groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}"));
        assert!(members.iter().any(|m| m == id), "{id} is not in {group}");
        members.retain(|m| m != id);
        self
    }

    /// Assigns the app to a group (by name) or a person (by id).
    pub fn assign(&mut self, principal: &str) -> &mut Directory {
        self.assignments.push(principal.to_string());
        self
    }

    pub fn to_json(&self) -> Value {
        let group_id = |name: &str| format!("g-{}", name.to_lowercase());
        let people: Vec<Value> = self
            .people
            .iter()
            .map(|p| json!({"id": p.id, "accountEnabled": p.enabled, "attributes": p.attributes}))
            .collect();
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|(name, members)| {
                json!({"id": group_id(name), "displayName": name, "members": members})
            })
            .collect();
        let assignments: Vec<Value> = self
            .assignments
            .iter()
            .map(|a| {
                let id = if self.groups.contains_key(a) {
                    group_id(a)
                } else {
                    a.clone()
                };
                json!({"principalId": id})
            })
            .collect();
        json!({"people": people, "groups": groups, "assignments": assignments})
    }

    pub fn write(&self, path: &Path) {
        let text = serde_json::to_string_pretty(&self.to_json()).expect("serialises");
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("writing the snapshot {}: {e}", path.display()));
    }
}
