//! Panics on every call; with `panic = "abort"` that is a wasm trap.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });


struct Guest_;

impl Guest for Guest_ {
    fn decide(p: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        panic!("deliberate panic for {}", p.id);
    }
}

export!(Guest_);
