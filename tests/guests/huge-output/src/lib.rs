//! Returns a 4 MiB reason: over the host's output limit, under its memory limit.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });

use muster::plugin::types::Assignment;

struct Guest_;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        Ok(LicenseDecision::Assign(Assignment {
            license: License { plan: "basic".into(), add_ons: Vec::new() },
            reason: "x".repeat(4 << 20),
        }))
    }
}

export!(Guest_);
