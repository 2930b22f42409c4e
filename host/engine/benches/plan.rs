//! Plans 100,000 people in 50 groups through the native stand-ins of the example plugins:
//! the initial cycle (all creates) and an incremental one with no changes (all skipped).
//!
//! `cargo bench -p engine --bench plan -- --measurement-time 10`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::config::Config;
use engine::cycle::{CycleInput, Pipeline, Plan, plan_cycle};
use engine::membership::resolve_memberships;
use engine::model::{Attributes, Group, Person, ProvisionedRecord, Value};
use engine::plan::Action;
use engine::process::{Pinned, PinnedPlugins};
use engine::testing::{LicenseByGroup, NormalizeAttributes};

const PEOPLE: usize = 100_000;
const CONFIG: &str = include_str!("../testdata/zoom.toml");

fn directory() -> (Vec<Person>, Vec<Group>) {
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
    let mut people = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let mut a = Attributes::new();
        let mut put = |k: &str, v: String| {
            a.insert(k.to_string(), Value::Text(v));
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
    (people, groups)
}

fn records_after(plan: &Plan) -> Vec<ProvisionedRecord> {
    plan.actions
        .iter()
        .filter_map(|a| {
            let mut r = a.record_after.clone()?;
            if matches!(a.action, Action::Create { .. }) {
                r.target_id = format!("t-{}", a.source_id);
            }
            Some(r)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let transforms = config
        .transforms
        .iter()
        .map(|t| Pinned {
            plugin: Arc::new(NormalizeAttributes::default()) as _,
            config: t.config_json(),
        })
        .collect();
    let license = config.license.as_ref().map(|l| Pinned {
        plugin: Arc::new(LicenseByGroup::default()) as _,
        config: l.config_json(),
    });
    let plugins = PinnedPlugins {
        transforms,
        license,
    };
    let (people, _groups) = directory();
    let initial = CycleInput {
        cycle_id: "c1",
        people: &people,
        records: &[],
        pipeline: &pipeline,
        plugins: &plugins,
    };
    let first = plan_cycle(&initial);
    assert_eq!(first.summary.creates, PEOPLE, "{:?}", first.summary);
    let records = records_after(&first);
    let incremental = CycleInput {
        cycle_id: "c2",
        people: &people,
        records: &records,
        pipeline: &pipeline,
        plugins: &plugins,
    };
    assert_eq!(plan_cycle(&incremental).summary.unchanged, PEOPLE);

    let mut group = c.benchmark_group("plan_cycle_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PEOPLE as u64));
    group.bench_function("initial_all_creates", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&initial))))
    });
    group.bench_function("incremental_no_change", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&incremental))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
