//! A builder for directory snapshots (docs/snapshot-format.md), so a test says who is in which
//! group and the file follows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

/// The mail domain of every person built here.
pub const DOMAIN: &str = "contoso.example";

/// People, groups (by display name; a group's id is `g-<name>`) and the app's assignments.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: Vec<Person>,
    /// Person id → index in `people`: the benchmarks build directories of 100,000 people.
    index: HashMap<String, usize>,
    groups: BTreeMap<String, Group>,
    assignments: Vec<String>,
}

/// A group's members in the order they joined, and the same as a set.
#[derive(Debug, Clone, Default)]
struct Group {
    members: Vec<String>,
    set: HashSet<String>,
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
        assert!(!self.index.contains_key(id), "person {id} added twice");
        self.index.insert(id.to_string(), self.people.len());
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
        match self.index.get(id) {
            Some(&i) => &mut self.people[i],
            None => panic!("no person {id}"),
        }
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// Takes the person out of the snapshot (a hard delete in the source) and out of every group.
    pub fn remove(&mut self, id: &str) {
        self.get(id);
        self.people.retain(|p| p.id != id);
        self.index = (self.people.iter().enumerate())
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        for group in self.groups.values_mut() {
            group.members.retain(|m| m != id);
            group.set.remove(id);
        }
    }

    /// Puts people in a group, creating the group if needed.
    pub fn join(&mut self, group: &str, ids: &[&str]) -> &mut Directory {
        let group = self.groups.entry(group.to_string()).or_default();
        for id in ids {
            if group.set.insert(id.to_string()) {
                group.members.push(id.to_string());
            }
        }
        self
    }

    pub fn leave(&mut self, group: &str, id: &str) -> &mut Directory {
        let members = self
            .groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}"));
        assert!(members.set.remove(id), "{id} is not in {group}");
        members.members.retain(|m| m != id);
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
            .map(|(name, group)| {
                json!({"id": group_id(name), "displayName": name, "members": group.members})
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

    /// The population the crash tests and the benchmarks provision: people `p-00000`, … named
    /// `person{i}@{domain}`, each assigned directly and in one of the groups `Dept-Engineering`,
    /// `Dept-Sales`, `Dept-Support`; person `i` is in `Zoom-Licensed` and `Zoom-Phone` as
    /// `licensed(i)` and `phone(i)` say.
    pub fn population(
        people: usize,
        domain: &str,
        licensed: impl Fn(usize) -> bool,
        phone: impl Fn(usize) -> bool,
    ) -> Directory {
        const DEPARTMENTS: [&str; 3] = ["Dept-Engineering", "Dept-Sales", "Dept-Support"];
        let mut d = Directory::new();
        let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for i in 0..people {
            let id = population_id(i);
            let upn = format!("person{i}@{domain}");
            d.person(&id, &format!("Given{i}"), &format!("Family{i}"))
                .set("userPrincipalName", upn.clone())
                .set("mail", upn)
                .set("employeeId", format!("E{i:05}"))
                .set(
                    "mobilePhone",
                    format!("(555) 01{:02}-{:04}", i % 100, i % 10_000),
                );
            d.assign(&id);
            groups
                .entry(DEPARTMENTS[i % 3])
                .or_default()
                .push(id.clone());
            if licensed(i) {
                groups.entry("Zoom-Licensed").or_default().push(id.clone());
            }
            if phone(i) {
                groups.entry("Zoom-Phone").or_default().push(id);
            }
        }
        for (group, ids) in groups {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            d.join(group, &ids);
        }
        d
    }

    pub fn write(&self, path: &Path) {
        let text = serde_json::to_string_pretty(&self.to_json()).expect("serialises");
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("writing the snapshot {}: {e}", path.display()));
    }
}

/// The id of person `i` of [`Directory::population`].
pub fn population_id(i: usize) -> String {
    format!("p-{i:05}")
}
