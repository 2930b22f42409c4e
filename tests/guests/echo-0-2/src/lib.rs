//! Echoes everything a `muster:plugin@0.2.0` transformer is sent back as target attributes, so a
//! test can check that a person reaches a guest exactly: every value kind, the groups with
//! `direct` and `via`, the app roles, the manager, the target's well-known and other paths, and
//! the config. Each output is set at a `path` (a string), plus one well-known (`title`):
//!
//! - `attributes.<name>`: each source attribute, value unchanged;
//! - `target.<case>` for a well-known target attribute (`target.GivenName`), `target.path.<path>`
//!   for any other, value unchanged;
//! - `id`, `config`: as text; `manager`: `<id>/<userPrincipalName or ->`, absent when none;
//! - `groups`: a text list of `<id>=<display name>` with ` direct` or ` via <name>`;
//! - `app-roles`: a text list;
//! - `title` (the well-known case): `echo`.
wit_bindgen::generate!({ world: "transformer", path: "../../../wit/0.2.0" });

use muster::plugin::types::{Changes, TargetAttribute, TargetPath, Value, WellKnown};

struct Echo;

fn at(path: String, value: Value) -> TargetAttribute {
    TargetAttribute { path: TargetPath::Path(path), value }
}

impl Guest for Echo {
    fn transform(p: Person, config: String) -> Result<Outcome, PluginError> {
        let groups = p
            .groups
            .iter()
            .map(|g| match &g.via {
                _ if g.direct => format!("{}={} direct", g.id, g.display_name),
                Some(via) => format!("{}={} via {via}", g.id, g.display_name),
                None => format!("{}={} neither", g.id, g.display_name),
            })
            .collect();
        let mut set = vec![
            at("id".into(), Value::Text(p.id)),
            at("config".into(), Value::Text(config)),
            at("groups".into(), Value::TextList(groups)),
            at("app-roles".into(), Value::TextList(p.app_roles)),
        ];
        if let Some(m) = p.manager {
            let upn = m.user_principal_name.unwrap_or_else(|| "-".into());
            set.push(at("manager".into(), Value::Text(format!("{}/{upn}", m.id))));
        }
        set.extend(p.attributes.into_iter().map(|a| at(format!("attributes.{}", a.name), a.value)));
        set.extend(p.target.into_iter().map(|a| match a.path {
            TargetPath::WellKnown(w) => at(format!("target.{w:?}"), a.value),
            TargetPath::Path(path) => at(format!("target.path.{path}"), a.value),
        }));
        set.push(TargetAttribute { path: TargetPath::WellKnown(WellKnown::Title), value: Value::Text("echo".into()) });
        Ok(Outcome::Changes(Changes { set, remove: Vec::new() }))
    }
}

export!(Echo);
