//! Attribute path parsing; the canonical form must parse back to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::AttrPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = AttrPath::parse(text) {
        let canonical = path.to_string();
        assert_eq!(
            AttrPath::parse(&canonical).as_ref(),
            Ok(&path),
            "{text:?} → {canonical:?}"
        );
    }
});
