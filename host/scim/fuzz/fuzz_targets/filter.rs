//! Filter parse + evaluate. Input: a filter, optionally a newline and a JSON resource.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::Filter;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (filter, resource) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(parsed) = Filter::parse(filter) else {
        return;
    };
    // The canonical form parses back to the same filter.
    let canonical = parsed.to_string();
    assert_eq!(
        Filter::parse(&canonical).as_ref(),
        Ok(&parsed),
        "{filter:?} → {canonical:?}"
    );
    let sample = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "Bjensen", "active": true, "logins": 3,
        "name": {"givenName": "Barbara"},
        "emails": [{"type": "work", "value": "b@x", "primary": true}, {"type": "home", "value": "h@x"}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}
    });
    let _ = parsed.matches(&sample);
    if let Ok(r) = serde_json::from_str::<Value>(resource) {
        let _ = parsed.matches(&r);
    }
});
