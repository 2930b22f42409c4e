//! Panics (a trap, with `panic = "abort"`) for the people its config lists and assigns the
//! configured plan to everyone else: a plugin that fails one person and not the cycle.
//!
//! Config (JSON): `{"trap_for": ["u-2"], "plan": "basic"}`
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });

use muster::plugin::types::Assignment;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    trap_for: Vec<String>,
    plan: String,
}

struct Guest_;

impl Guest for Guest_ {
    fn decide(p: Person, _: Option<License>, config: String) -> Result<LicenseDecision, PluginError> {
        let config: Config = serde_json::from_str(&config).map_err(|e| PluginError {
            code: "invalid-config".into(),
            message: e.to_string(),
        })?;
        if config.trap_for.contains(&p.id) {
            panic!("selective-trap: deliberate panic for {}", p.id);
        }
        Ok(LicenseDecision::Assign(Assignment {
            license: License { plan: config.plan, add_ons: Vec::new() },
            reason: "selective-trap: the configured plan".into(),
        }))
    }
}

export!(Guest_);
