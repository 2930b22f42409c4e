//! A gateway request body: parse, validate as a User and as a Group, and for what validates,
//! what the gateway then relies on (`scim::request`): no server-owned attribute left, no
//! attribute named twice, the unique name present, the same result when validated again, and
//! the flat view the provisioning core diffs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::flat::{flatten, unflatten};
use scim::request::{case_variant_names, name_attribute, name_of, parse_body, validate_resource};
use scim::resource::{ResourceKind, find_key};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_body(data) else { return };
    assert_eq!(
        case_variant_names(&body),
        None,
        "parse_body let a name through twice"
    );
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let Ok(obj) = validate_resource(kind, body.clone()) else {
            continue;
        };
        let mut dropped = vec!["id", "meta", "password"];
        if kind == ResourceKind::User {
            dropped.push("groups");
        }
        for name in dropped {
            assert_eq!(find_key(&obj, name), None, "{kind:?} kept {name:?}: {body}");
        }
        let resource = Value::Object(obj.clone());
        assert_eq!(
            case_variant_names(&resource),
            None,
            "{kind:?} names an attribute twice"
        );
        let schemas = obj
            .get("schemas")
            .and_then(Value::as_array)
            .expect("schemas is a list");
        assert!(
            schemas.iter().any(|s| s
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(kind.schema()))),
            "{kind:?} without its schema: {body}"
        );
        let name = name_of(kind, &obj);
        assert!(
            !name.trim().is_empty(),
            "{kind:?} without {}: {body}",
            name_attribute(kind)
        );
        assert_eq!(
            validate_resource(kind, resource.clone()).as_ref(),
            Ok(&obj),
            "validating twice differs: {body}"
        );
        let flat = flatten(&resource);
        if ResourceKind::of(&resource) == kind {
            assert_eq!(
                flat.get(name_attribute(kind)).and_then(Value::as_str),
                Some(name.as_str()),
                "the flat view lost the name: {body}"
            );
        }
        let _ = unflatten(&flat, kind);
    }
});
