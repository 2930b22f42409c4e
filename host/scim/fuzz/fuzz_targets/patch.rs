//! PATCH parse + apply (and the flat view of the result). Input: a PatchOp body, optionally a
//! newline and a JSON resource to patch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::flat::flatten;
use scim::patch::{apply, parse_request};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (body, resource) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return;
    };
    let Ok(ops) = parse_request(&body) else {
        return;
    };
    let mut targets = vec![
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "b",
               "emails": [{"type": "work", "value": "b@x"}], "name": {"givenName": "B"}}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G",
               "members": [{"value": "u1"}, {"value": "u2"}]}),
    ];
    if let Ok(r) = serde_json::from_str::<Value>(resource) {
        targets.push(r);
    }
    for mut target in targets {
        let before = target.clone();
        match apply(&mut target, &ops) {
            Ok(()) => {
                let _ = flatten(&target);
            }
            Err(_) => assert_eq!(target, before, "a failed PATCH changed the resource"),
        }
    }
});
