//! `{{name}}`: a muster license rule. Members of `group` (directly or through a nested group)
//! get `plan`, everyone else `default_plan`.
//! Config: `{"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}`.

wit_bindgen::generate!({ world: "license-rule", path: "wit" });

use muster::plugin::types::{Assignment, Reason};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    group: String,
    plan: String,
    default_plan: String,
}

struct Rule;

impl Guest for Rule {
    fn decide(person: Person, current: Option<License>, config: String) -> Result<LicenseDecision, PluginError> {
        let config: Config = serde_json::from_str(&config)
            .map_err(|e| PluginError { code: "invalid-config".into(), message: e.to_string() })?;
        let group = person.groups.iter().find(|g| g.display_name.eq_ignore_ascii_case(&config.group));
        let (plan, reason) = match group {
            Some(g) => {
                // What the decision rests on: the group, and the direct group it came through.
                let path = match &g.via {
                    Some(via) => format!("{} ← {via}", g.display_name),
                    None => g.display_name.clone(),
                };
                let text = format!("member of {}", config.group);
                (config.plan, Reason { text, rule: String::new(), because: vec![path] })
            }
            None => {
                let text = format!("not a member of {}", config.group);
                (config.default_plan, Reason { text, rule: String::new(), because: Vec::new() })
            }
        };
        if current.as_ref().is_some_and(|c| c.plan == plan && c.add_ons.is_empty()) {
            return Ok(LicenseDecision::NoChange(reason));
        }
        Ok(LicenseDecision::Assign(Assignment { license: License { plan, add_ons: Vec::new() }, reason }))
    }
}

export!(Rule);
