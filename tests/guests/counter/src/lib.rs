//! Counts its calls in a static and puts the count in the reason. With a fresh instance per call
//! the count is always 1.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });


struct Guest_;

static mut CALLS: u32 = 0;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        // SAFETY: a component instance is single-threaded.
        let calls = unsafe {
            CALLS += 1;
            CALLS
        };
        Ok(LicenseDecision::NoChange(format!("call {calls}")))
    }
}

export!(Guest_);
