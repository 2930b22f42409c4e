//! A license rule built against a future `muster:plugin@0.3.0` (a copy of today's WIT with the
//! version moved on): a host that does not serve it must refuse it, naming what it serves.
wit_bindgen::generate!({ world: "license-rule", path: "wit" });

struct Guest_;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        muster::plugin::host::log(muster::plugin::host::Level::Info, "from the future");
        Ok(LicenseDecision::NoChange("future".into()))
    }
}

export!(Guest_);
