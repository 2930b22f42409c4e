//! `{{name}}`: a muster transformer. Sets the SCIM enterprise `department` from the first
//! direct group whose name starts with `prefix` (`Dept-Finance` → `Finance`), and removes it
//! from someone in no such group. Config: `{"prefix": "Dept-"}`.

wit_bindgen::generate!({ world: "transformer", path: "wit" });

use muster::plugin::types::{Attribute, Changes, Value};

const DEPARTMENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    prefix: String,
}

struct Transform;

impl Guest for Transform {
    fn transform(person: Person, config: String) -> Result<Outcome, PluginError> {
        let config: Config = serde_json::from_str(&config)
            .map_err(|e| PluginError { code: "invalid-config".into(), message: e.to_string() })?;
        let department = person
            .direct_groups
            .iter()
            .find_map(|g| g.display_name.strip_prefix(config.prefix.as_str()))
            .filter(|d| !d.is_empty());
        let current = person.target.iter().find(|a| a.name == DEPARTMENT).map(|a| &a.value);
        let mut changes = Changes { set: Vec::new(), remove: Vec::new() };
        match (department, current) {
            (Some(d), Some(Value::Text(now))) if now == d => {}
            (Some(d), _) => changes.set.push(Attribute { name: DEPARTMENT.into(), value: Value::Text(d.into()) }),
            (None, Some(_)) => changes.remove.push(DEPARTMENT.into()),
            (None, None) => {}
        }
        Ok(Outcome::Changes(changes))
    }
}

export!(Transform);
