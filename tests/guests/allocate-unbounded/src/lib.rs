//! Allocates and touches 1 MiB blocks until the host's memory limit stops it. Touching the memory
//! keeps the optimiser from deleting the allocation.
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });


struct Guest_;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[core::hint::black_box(4096)] = 1;
            blocks.push(core::hint::black_box(block));
        }
    }
}

export!(Guest_);
