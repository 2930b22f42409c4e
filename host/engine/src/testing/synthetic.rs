//! The synthetic directory of the `plan` benchmark and the `plan_cpu` example: `n` people in 50
//! groups (with nesting), through the native plugin stand-ins and the Zoom configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::cycle::Plan;
use crate::membership::resolve_memberships;
use crate::model::{Attributes, Group, Person, ProvisionedRecord, Value};
use crate::plan::Action;
use crate::plugin_stage::{Pinned, PinnedPlugins};

use super::{LicenseByGroup, NormalizeAttributes};

/// `n` people, each in `Zoom-Users`, one of the three license groups and one of 46 department
/// groups; `Zoom-Licensed` nests the first department. Memberships are resolved.
pub fn synthetic_directory(n: usize) -> Vec<Person> {
    let names = ["Zoom-Users", "Zoom-Licensed", "Zoom-Phone", "Zoom-Webinar"];
    let mut groups: Vec<Group> = (0..50)
        .map(|g| Group {
            id: format!("g{g}"),
            display_name: names
                .get(g)
                .map_or_else(|| format!("Dept-{g}"), |n| n.to_string()),
            member_people: Vec::new(),
            member_groups: Vec::new(),
        })
        .collect();
    let mut people = Vec::with_capacity(n);
    for i in 0..n {
        let mut a = Attributes::new();
        let mut put = |k: &str, v: String| {
            a.insert(k.into(), Value::Text(v.into()));
        };
        put("userPrincipalName", format!("user{i}@example.com"));
        put("mail", format!("user{i}@example.com"));
        put("givenName", format!("given{i}"));
        put("surname", format!("family{i}"));
        put("displayName", format!("Given{i} Family{i}"));
        put("employeeType", "Employee".into());
        put("mobile", format!("555 01{:05}", i % 100_000));
        people.push(Person::new(format!("id-{i}"), a));
        let id = format!("id-{i}");
        groups[0].member_people.push(id.clone());
        for g in [1 + i % 3, 4 + i % 46] {
            groups[g].member_people.push(id.clone());
        }
    }
    // Some nesting, so transitive groups are not just direct ones.
    groups[1].member_groups.push("g4".into());
    resolve_memberships(&mut people, &groups);
    people
}

/// The configuration's transforms and license rule as the native stand-ins.
pub fn native_plugins(config: &Config) -> PinnedPlugins {
    let transforms = config
        .transforms
        .iter()
        .map(|t| Pinned::new(Arc::new(NormalizeAttributes::default()) as _, t))
        .collect();
    let license = config
        .license
        .as_ref()
        .map(|l| Pinned::new(Arc::new(LicenseByGroup::default()) as _, l));
    PinnedPlugins {
        transforms,
        license,
    }
}

/// The records after every action of `plan` succeeded (creates get target id `t-{source id}`),
/// as the state store hands them to the next cycle: read back from JSON, so that they share no
/// strings with this plan (shared strings compare equal by address, which would flatter the
/// no-change benchmark).
pub fn records_after(plan: &Plan) -> Vec<ProvisionedRecord> {
    let records: Vec<ProvisionedRecord> = plan
        .actions
        .iter()
        .filter_map(|a| {
            let mut r = a.record_after.clone()?;
            if matches!(a.action, Action::Create { .. }) {
                r.target_id = format!("t-{}", a.source_id);
            }
            Some(r)
        })
        .collect();
    let json = serde_json::to_string(&records).expect("records serialize");
    serde_json::from_str(&json).expect("records read back")
}
