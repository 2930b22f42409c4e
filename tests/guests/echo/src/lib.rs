//! Echoes everything it is sent back as target attributes, so a test can check that a person
//! reaches a guest exactly: every value kind, both group lists, the target and the config.
//!
//! - `attributes.<name>` and `target.<name>`: each attribute, value unchanged;
//! - `id` and `config`: as text;
//! - `direct-groups` and `transitive-groups`: text lists of `<id>=<display name>`.
wit_bindgen::generate!({ world: "transformer", path: "../../../wit" });

use muster::plugin::types::{Attribute, Changes, Group, Value};

struct Echo;

impl Guest for Echo {
    fn transform(p: Person, config: String) -> Result<Outcome, PluginError> {
        let text = |name: &str, value: String| Attribute { name: name.into(), value: Value::Text(value) };
        let groups = |name: &str, groups: &[Group]| Attribute {
            name: name.into(),
            value: Value::TextList(groups.iter().map(|g| format!("{}={}", g.id, g.display_name)).collect()),
        };
        let mut set = vec![
            text("id", p.id),
            text("config", config),
            groups("direct-groups", &p.direct_groups),
            groups("transitive-groups", &p.transitive_groups),
        ];
        for (prefix, attributes) in [("attributes", p.attributes), ("target", p.target)] {
            set.extend(attributes.into_iter().map(|a| Attribute { name: format!("{prefix}.{}", a.name), value: a.value }));
        }
        Ok(Outcome::Changes(Changes { set, remove: Vec::new() }))
    }
}

export!(Echo);
