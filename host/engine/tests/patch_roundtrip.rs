//! `scim::patch::apply(ops_from_plan(a, b), unflatten(a))`, flattened, equals `b`: the minimal
//! operations the planner sends take the target from what was applied to what is desired.

use std::collections::BTreeSet;

use engine::model::{Attributes, Value};
use engine::plan::{ops_from_plan, to_flat};
use proptest::prelude::*;
use scim::ResourceKind;
use scim::flat::{flatten, unflatten};

/// `userName` is required by SCIM and is the matching attribute: always present.
const TEXT_PATHS: [&str; 8] = [
    "displayName",
    "title",
    "name.givenName",
    "name.familyName",
    "emails[type eq \"work\"].value",
    "phoneNumbers[type eq \"mobile\"].value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhoneCallingPlan",
];

fn flat_attributes() -> impl Strategy<Value = Attributes> {
    let texts = proptest::collection::vec(proptest::option::of("[a-z]{1,6}"), TEXT_PATHS.len());
    (texts, proptest::option::of(any::<bool>()), "[a-z]{1,6}").prop_map(|(texts, active, user)| {
        let mut a: Attributes = TEXT_PATHS
            .iter()
            .zip(texts)
            .filter_map(|(p, v)| Some(((*p).into(), Value::Text(v?.into()))))
            .collect();
        a.insert("userName".into(), Value::Text(user.into()));
        if let Some(active) = active {
            a.insert("active".into(), Value::Bool(active));
        }
        a
    })
}

proptest! {
    #[test]
    fn ops_take_a_to_b(a in flat_attributes(), b in flat_attributes()) {
        let ops = ops_from_plan(&a, &b, &BTreeSet::new());
        let mut resource = unflatten(&to_flat(&a), ResourceKind::User).expect("unflatten a");
        scim::patch::apply(&mut resource, &ops).expect("apply");
        prop_assert_eq!(flatten(&resource), to_flat(&b), "ops: {:?}", ops);
    }
}
