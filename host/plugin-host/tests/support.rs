//! Shared by the plugin-host tests: the runtime, guests by path, and sample people.

#![allow(dead_code)]

use std::sync::OnceLock;

use engine::model::{Attributes, GroupRef, Value};
use engine::plugin::PluginInput;
use plugin_host::{Limits, Plugin, Runtime};

pub const LICENSE_CONFIG: &str = r#"{"rules":[
    {"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Zoom-Phone","add_on":"phone"},
    {"group":"Zoom-Webinar","add_on":"webinar"}],
  "default_plan":"basic"}"#;

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("wasmtime runtime"))
}

pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub fn load(name: &str, path: &str) -> Plugin {
    Plugin::load(runtime(), name, &bytes(path), Limits::default())
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

pub fn group(name: &str) -> GroupRef {
    GroupRef {
        id: format!("g-{name}"),
        display_name: name.to_string(),
        via: None,
    }
}

/// A person in the given groups (directly), with a work email and a few attributes.
pub fn person(id: &str, groups: &[&str]) -> PluginInput {
    let groups: Vec<GroupRef> = groups.iter().map(|g| group(g)).collect();
    let mut target = Attributes::new();
    target.insert(
        "userName".into(),
        Value::Text(format!("{id}@example.com").into()),
    );
    target.insert(
        "emails[type eq \"work\"].value".into(),
        Value::Text(format!("{id}@example.com").into()),
    );
    PluginInput {
        id: id.to_string(),
        attributes: Attributes::from([("department".into(), Value::Text("Sales".into()))]),
        direct_groups: groups.clone(),
        transitive_groups: groups,
        target,
        ..PluginInput::default()
    }
}
