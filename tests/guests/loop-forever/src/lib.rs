//! Spins forever: the host must stop it with its deadline or fuel limit.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });


struct Guest_;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Guest_);
