//! Plans a small directory (20 people, 6 groups) through the native stand-ins of the example
//! plugins, twice (the initial cycle, then an incremental one after changes in the source), and
//! compares the plans and logs with `testdata/golden_plan.json`.
//!
//! After an intended change: `UPDATE_GOLDEN=1 cargo test -p engine --test golden`, then review
//! the diff of the JSON file.

use std::sync::Arc;

use engine::config::Config;
use engine::cycle::{CycleInput, Pipeline, Plan, plan_cycle};
use engine::membership::resolve_memberships;
use engine::model::{Attributes, Group, Person, ProvisionedRecord, Value};
use engine::plan::Action;
use engine::plugin_stage::{Pinned, PinnedPlugins};
use engine::testing::{LicenseByGroup, NormalizeAttributes};

const CONFIG: &str = include_str!("../testdata/zoom.toml");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/golden_plan.json");

fn person(n: u32, given: &str, family: &str, extra: &[(&str, &str)]) -> Person {
    let id = format!("p{n:02}");
    let mut attributes = Attributes::new();
    let mut put = |k: &str, v: &str| {
        attributes.insert(k.into(), Value::Text(v.to_string().into()));
    };
    put(
        "userPrincipalName",
        &format!(
            "{}.{}@example.com",
            given.trim().to_lowercase(),
            family.trim().to_lowercase()
        ),
    );
    put(
        "mail",
        &format!(
            "{}.{}@example.com",
            given.trim().to_lowercase(),
            family.trim().to_lowercase()
        ),
    );
    put("givenName", given);
    put("surname", family);
    put(
        "displayName",
        &format!("{} {}", given.trim(), family.trim()),
    );
    put("employeeType", "Employee");
    for (k, v) in extra {
        if v.is_empty() {
            attributes.remove(k);
        } else {
            attributes.insert((*k).into(), Value::Text(v.to_string().into()));
        }
    }
    let mut person = Person::new(id, attributes);
    // Disabled in the source before its first cycle: never created until enabled.
    person.enabled = n != 9;
    person
}

fn directory() -> Vec<Person> {
    vec![
        person(1, "Ada", "Lovelace", &[("mobile", "(555) 010-0001")]),
        person(2, "Alan", "Turing", &[("department", "Research")]),
        person(3, "Grace", "Hopper", &[]),
        person(4, "Edsger", "Dijkstra", &[]),
        person(5, "Guest", "User", &[("employeeType", "Guest")]),
        person(6, "Barbara", "Liskov", &[]),
        person(
            7,
            "Ken",
            "Thompson",
            &[("userPrincipalName", "ken@contractor.test")],
        ),
        person(8, "Dennis", "Ritchie", &[]),
        person(9, "Frances", "Allen", &[]),
        person(10, "Donald", "Knuth", &[("department", "Algorithms")]),
        person(11, "No", "Mail", &[("mail", "n/a")]),
        person(12, "Radia", "Perlman", &[]),
        person(13, "Bad", "Phone", &[("mobile", "call me")]),
        person(
            14,
            "Margaret",
            "Hamilton",
            &[("mobile", "+44 20 7946 0958")],
        ),
        person(15, "Not", "Assigned", &[]),
        person(16, "Leslie", "Lamport", &[("preferredLanguage", "fr-FR")]),
        person(17, "  jean-luc ", " picard ", &[]),
        person(18, "Katherine", "Johnson", &[("displayName", "")]),
        person(19, "Solo", "Name", &[("givenName", ""), ("surname", "")]),
        person(20, "Linus", "Torvalds", &[]),
    ]
}

fn group(id: &str, name: &str, people: &[u32], groups: &[&str]) -> Group {
    Group {
        id: id.into(),
        display_name: name.into(),
        member_people: people.iter().map(|n| format!("p{n:02}")).collect(),
        member_groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn groups() -> Vec<Group> {
    let everyone_but_15: Vec<u32> = (1..=20).filter(|n| *n != 15).collect();
    vec![
        group("g-users", "Zoom-Users", &everyone_but_15, &[]),
        // Engineering is licensed through nesting.
        group("g-licensed", "Zoom-Licensed", &[1, 2, 3], &["g-eng"]),
        group("g-phone", "Zoom-Phone", &[1, 14], &[]),
        group("g-webinar", "Zoom-Webinar", &[2, 16], &[]),
        group("g-eng", "Dept-Engineering", &[16, 17, 20], &[]),
        group("g-sales", "Dept-Sales", &[4, 8, 12], &[]),
    ]
}

fn plan(
    cycle_id: &str,
    people: &mut [Person],
    groups: &[Group],
    records: &[ProvisionedRecord],
) -> Plan {
    plan_with(CONFIG, cycle_id, people, groups, records)
}

fn plan_with(
    config: &str,
    cycle_id: &str,
    people: &mut [Person],
    groups: &[Group],
    records: &[ProvisionedRecord],
) -> Plan {
    resolve_memberships(people, groups);
    let config = Config::from_toml_str(config).expect("valid config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let transforms = config
        .transforms
        .iter()
        .map(|t| Pinned::new(Arc::new(NormalizeAttributes::default()) as _, t))
        .collect();
    let license = config
        .license
        .as_ref()
        .map(|l| Pinned::new(Arc::new(LicenseByGroup::default()) as _, l));
    let plugins = PinnedPlugins {
        transforms,
        license,
    };
    plan_cycle(&CycleInput::everyone(
        cycle_id, people, records, &pipeline, &plugins,
    ))
}

/// What the state store would hold after every action succeeded.
fn records_after(before: &[ProvisionedRecord], plan: &Plan) -> Vec<ProvisionedRecord> {
    let mut records: Vec<ProvisionedRecord> = before.to_vec();
    for planned in &plan.actions {
        records.retain(|r| {
            r.source_id != planned.source_id && Some(&r.source_id) != planned.adopts.as_ref()
        });
        if let Some(mut after) = planned.record_after.clone() {
            if matches!(planned.action, Action::Create { .. }) {
                after.target_id = format!("zoom&{}", planned.source_id);
            }
            records.push(after);
        }
    }
    records.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    records
}

#[test]
fn golden_plan() {
    let groups = groups();
    let mut people = directory();
    let initial = plan("c1", &mut people, &groups, &[]);
    let records = records_after(&[], &initial);

    // Changes in the source between the cycles.
    let mut people = directory();
    let set = |p: &mut Person, k: &str, v: Value| {
        p.attributes.insert(k.into(), v);
    };
    set(
        &mut people[1],
        "surname",
        Value::Text("Turing-Smith".into()),
    );
    people[3].enabled = false;
    people[8].enabled = true;
    people[9].attributes.remove("department");
    people[11].soft_deleted = true;
    people.retain(|p| p.id != "p06");
    let mut groups = groups;
    groups[0].member_people.retain(|id| id != "p03");
    groups[2].member_people.push("p08".into());
    let incremental = plan("c2", &mut people, &groups, &records);

    let actual = serde_json::to_string_pretty(&serde_json::json!({
        "initial": initial,
        "records_after_initial": records,
        "incremental": incremental,
    }))
    .expect("plans serialize");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, format!("{actual}\n")).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN)
        .expect("golden file; run with UPDATE_GOLDEN=1 to create it");
    assert!(
        expected.trim_end() == actual,
        "plan differs from {GOLDEN}; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

/// Losing a license is counted like losing the account: three people leave Zoom-Licensed (to
/// the default `basic` plan) and one leaves Zoom-Phone (an add-on lost), four downgrades.
#[test]
fn license_downgrades_count_toward_the_deletion_threshold() {
    let mut people = directory();
    let initial = plan("c1", &mut people, &groups(), &[]);
    let records = records_after(&[], &initial);
    let mut groups = groups();
    groups[1]
        .member_people
        .retain(|id| !["p01", "p02", "p03"].contains(&id.as_str()));
    groups[2].member_people.retain(|id| id != "p14");
    let downgraded = ["p01", "p02", "p03", "p14"];
    let threshold = |settings: &str| {
        let config = CONFIG.replace("[deletion_threshold]\nenabled = true\nmax = 5\n", settings);
        assert_ne!(
            config, CONFIG,
            "the test's config has its threshold section"
        );
        plan_with(&config, "c2", &mut directory(), &groups, &records)
    };

    let sent = threshold("[deletion_threshold]\nmax = 10\n");
    assert!(sent.deletion_hold.is_none());
    let mut flagged: Vec<&str> = sent
        .actions
        .iter()
        .filter(|a| a.downgrade)
        .map(|a| a.source_id.as_str())
        .collect();
    flagged.sort_unstable();
    assert_eq!(flagged, downgraded);

    let held = threshold("[deletion_threshold]\nmax = 3\n");
    let hold = held.deletion_hold.clone().expect("over the threshold of 3");
    assert_eq!((hold.count, hold.percent), (4, None));
    assert_eq!(held.summary.staged, 4);
    assert_eq!(held.summary.skipped, sent.summary.skipped);
    assert!(held.actions.iter().all(|a| !a.downgrade));
    for entry in held
        .log
        .iter()
        .filter(|e| downgraded.contains(&e.source_identity.id.as_str()))
    {
        let info = &entry.provisioning_status_info;
        assert_eq!(
            info.error_code.as_deref(),
            Some("DeletionThresholdExceeded")
        );
        assert!(
            info.reason
                .as_deref()
                .is_some_and(|r| r.contains("downgrades"))
        );
    }

    // 4 of the 14 provisioned is 29 %: over a 10 % limit, within a 30 % one.
    assert_eq!(records.len(), 14);
    let by_share = threshold("[deletion_threshold]\nmax = 10\nmax_percent = 10\n");
    let hold = by_share.deletion_hold.expect("over 10 %");
    assert_eq!(
        (hold.percent, hold.provisioned),
        (Some(10.0), records.len())
    );
    let within = threshold("[deletion_threshold]\nmax = 10\nmax_percent = 30\n");
    assert!(
        within.deletion_hold.is_none(),
        "{:?} of {}",
        within.deletion_hold,
        records.len()
    );
}
