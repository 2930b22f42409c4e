//! Reads what could make a plugin answer differently for the same person: the wall clock, the
//! monotonic clock, and randomness (std's `RandomState` seeds its hash keys from
//! `wasi:random`), and puts them in the reason.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });

struct Guest_;

impl Guest for Guest_ {
    fn decide(p: Person, _: Option<License>, _: String) -> Result<LicenseDecision, PluginError> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let started = Instant::now();
        let monotonic = started.elapsed().as_nanos();
        let random = RandomState::new().hash_one(&p.id);
        Ok(LicenseDecision::NoChange(format!(
            "wall {wall} monotonic {monotonic} random {random:x}"
        )))
    }
}

export!(Guest_);
