//! Waits on the clock, the ways a guest can: its config's `wait` chooses.
//! - `"sleep"`: `std::thread::sleep` for an hour (WASI `subscribe-duration` + `block`);
//! - `"instant"`: `subscribe-instant` at the end of time, then `block`;
//! - `"spin"`: reads the clock until an hour has passed, without sleeping.
//!
//! The reason reports how far the guest's clocks moved. The host's clocks are virtual: sleeps
//! end at once and move the clock, and a spin never ends (the deadline stops it).
wit_bindgen::generate!({ world: "license-rule", path: "../../../wit" });

use std::time::{Duration, Instant, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

struct Guest_;

impl Guest for Guest_ {
    fn decide(_: Person, _: Option<License>, config: String) -> Result<LicenseDecision, PluginError> {
        let started = Instant::now();
        let wall = SystemTime::now();
        match config.trim() {
            r#"{"wait":"sleep"}"# => std::thread::sleep(HOUR),
            r#"{"wait":"instant"}"# => {
                wasi::clocks::monotonic_clock::subscribe_instant(u64::MAX).block()
            }
            r#"{"wait":"spin"}"# => {
                while started.elapsed() < HOUR {
                    core::hint::spin_loop();
                }
            }
            other => {
                return Err(PluginError {
                    code: "invalid-config".into(),
                    message: format!("unknown wait {other}"),
                });
            }
        }
        let wall = SystemTime::now().duration_since(wall).unwrap_or_default();
        Ok(LicenseDecision::NoChange(format!(
            "monotonic +{}s, wall +{}s",
            started.elapsed().as_secs(),
            wall.as_secs()
        )))
    }
}

export!(Guest_);
