//! `{{name}}`: a muster transformer. Sets the SCIM enterprise `department` from the first
//! direct group whose name starts with `prefix` (`Dept-Finance` → `Finance`), and removes it
//! from someone in no such group. Config: `{"prefix": "Dept-"}`.

wit_bindgen::generate!({ world: "transformer", path: "wit" });

use muster::plugin::types::{Changes, TargetAttribute, TargetPath, Value, WellKnown};

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
            .groups
            .iter()
            .filter(|g| g.direct)
            .find_map(|g| g.display_name.strip_prefix(config.prefix.as_str()))
            .filter(|d| !d.is_empty());
        // Well-known attributes arrive as enum cases; any other SCIM path as `TargetPath::Path`.
        let is_department = |path: &TargetPath| matches!(path, TargetPath::WellKnown(WellKnown::Department));
        let current = person.target.iter().find(|a| is_department(&a.path)).map(|a| &a.value);
        let department_path = || TargetPath::WellKnown(WellKnown::Department);
        let mut changes = Changes { set: Vec::new(), remove: Vec::new() };
        match (department, current) {
            (Some(d), Some(Value::Text(now))) if now == d => {}
            (Some(d), _) => changes.set.push(TargetAttribute { path: department_path(), value: Value::Text(d.into()) }),
            (None, Some(_)) => changes.remove.push(department_path()),
            (None, None) => {}
        }
        Ok(Outcome::Changes(changes))
    }
}

export!(Transform);
