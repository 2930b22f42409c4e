//! Paths of the guest components, compiled by this crate's build script.
//!
//! Example plugins: [`LICENSE_BY_GROUP`], [`NORMALIZE_ATTRIBUTES`]. Hostile guests for the
//! plugin-host tests: the rest (see `tests/guests/README.md`).

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The example plugins by name, as `builtin:<name>` in a configuration refers to them.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    match name {
        "license-by-group" => Some(LICENSE_BY_GROUP_WASM),
        "normalize-attributes" => Some(NORMALIZE_ATTRIBUTES_WASM),
        _ => None,
    }
}
