//! Counts its calls in a static and puts the count in the reason. With a fresh instance per call
//! the count is always 1.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });


struct Guest_;

static mut CALLS: u32 = 0;

impl Guest for Guest_ {
    fn decide(p: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        // For the instance-reuse tests: a trap must cost the instance, and the count with it.
        if p.id.starts_with("trap") {
            panic!("counter: deliberate panic for {}", p.id);
        }
        // SAFETY: a component instance is single-threaded.
        let calls = unsafe {
            CALLS += 1;
            CALLS
        };
        Ok(LicenseDecision::NoChange(format!("call {calls}")))
    }
}

export!(Guest_);
