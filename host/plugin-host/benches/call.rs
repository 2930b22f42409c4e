//! `license-by-group` on a person with 30 attributes and 20 groups: a fresh pooled instance per
//! call (what the host does) against the same rule compiled natively, in the same run, and the
//! rule's `muster:plugin@0.1.0` build against its 0.2.0 build, measured alternately in the same
//! window, with the fuel (guest instructions) each call burns.
//!
//! `cargo bench -p plugin-host --bench call` prints them and their ratios; the figures go into
//! `plugins/README.md`.

// The allocator and its settings as the `muster` binary runs them.
use muster_allocator as allocator;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use engine::config::{GroupInputs, PluginInputs};
use engine::model::{Attributes, GroupRef, Value};
use engine::plugin::{LicenseDecision, LicenseRule, PluginInput};
use engine::plugin_stage::project;
use engine::testing::LicenseByGroup as NativeLicenseByGroup;
use plugin_host::{Limits, Plugin, Runtime};

const CONFIG: &str = r#"{"rules":[
    {"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Zoom-Phone","add_on":"phone"},
    {"group":"Zoom-Webinar","add_on":"webinar"}],
  "default_plan":"basic"}"#;

fn person() -> PluginInput {
    let attributes: Attributes = (0..30)
        .map(|i| {
            (
                format!("attribute{i}").into(),
                Value::Text(format!("value number {i}").into()),
            )
        })
        .collect();
    let mut groups: Vec<GroupRef> = (0..18)
        .map(|i| GroupRef {
            id: format!("g-{i}"),
            display_name: format!("Team-{i}"),
            via: None,
        })
        .collect();
    for name in ["Zoom-Licensed", "Zoom-Phone"] {
        groups.push(GroupRef {
            id: format!("g-{name}"),
            display_name: name.into(),
            via: None,
        });
    }
    PluginInput {
        id: "u-1".into(),
        attributes,
        direct_groups: groups.clone(),
        transitive_groups: groups,
        target: Attributes::from([("userName".into(), Value::Text("a@x.example".into()))]),
        ..PluginInput::default()
    }
}

fn bench(c: &mut Criterion) {
    allocator::configure();
    let runtime = Runtime::new().expect("runtime");
    let bytes = std::fs::read(muster_artifacts::LICENSE_BY_GROUP).expect("guest");
    let wasm =
        Plugin::load(&runtime, "license-by-group", &bytes, Limits::default()).expect("loads");
    let native = NativeLicenseByGroup::default();
    let p = person();
    let license = |d: LicenseDecision| match d {
        LicenseDecision::Assign { license, .. } => Some(license),
        LicenseDecision::NoChange { .. } => None,
    };
    assert_eq!(
        license(wasm.decide(&p, None, CONFIG).expect("wasm")),
        license(native.decide(&p, None, CONFIG).expect("native")),
        "both implementations assign the same license"
    );

    let mut group = c.benchmark_group("license-by-group");
    group.bench_function("wasm: fresh instance per call", |b| {
        b.iter(|| wasm.decide(&p, None, CONFIG))
    });
    group.bench_function("native", |b| b.iter(|| native.decide(&p, None, CONFIG)));
    group.finish();

    let native_p50 = percentiles(|| drop(native.decide(&p, None, CONFIG))).0;
    // As a cycle calls it: the engine shows the rule what the example configuration declares
    // (its transitive `Zoom-` groups), projected per person.
    let inputs = PluginInputs {
        attributes: Some(vec![]),
        groups: GroupInputs::Transitive,
        group_prefixes: Some(vec!["Zoom-".into()]),
        target: Some(vec![]),
        ..PluginInputs::default()
    };
    let mut shown = PluginInput::default();
    project(&inputs, &p, &mut shown);
    let old_bytes = std::fs::read(muster_artifacts::LICENSE_BY_GROUP_0_1).expect("0.1.0 guest");
    let old =
        Plugin::load(&runtime, "license-by-group", &old_bytes, Limits::default()).expect("loads");
    let versions = [("0.1.0", &old), ("0.2.0", &wasm)];
    for (version, plugin) in versions {
        assert_eq!(
            license(plugin.decide(&p, None, CONFIG).expect("wasm")),
            license(native.decide(&p, None, CONFIG).expect("native")),
            "{version} assigns what native Rust does"
        );
    }
    // Alternated, three rounds: this VM's speed swings between runs, so each figure is the
    // median of its rounds, all taken in the same window.
    let mut whole: [Vec<(Duration, Duration)>; 2] = Default::default();
    let mut declared: [Vec<(Duration, Duration)>; 2] = Default::default();
    for _ in 0..3 {
        for (i, (_, plugin)) in versions.iter().enumerate() {
            whole[i].push(percentiles(|| drop(plugin.decide(&p, None, CONFIG))));
            declared[i].push(percentiles(|| drop(plugin.decide(&shown, None, CONFIG))));
        }
    }
    let median = |runs: &mut Vec<(Duration, Duration)>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    let ratio = |d: Duration| d.as_secs_f64() / native_p50.as_secs_f64().max(1e-12);
    let fuel = |plugin: &Plugin, person: &PluginInput| {
        plugin.decide_with_stats(person, None, CONFIG).1.fuel_used
    };
    println!("\nlicense-by-group, 30 attributes, 20 groups, a fresh instance per call:");
    for (i, (version, plugin)) in versions.iter().enumerate() {
        let (w50, w99) = median(&mut whole[i]);
        let (d50, d99) = median(&mut declared[i]);
        println!(
            "  {version} whole person:    p50 {w50:?}  p99 {w99:?}  ratio (p50) {:.1}x  fuel {}\n  \
             {version} declared inputs: p50 {d50:?}  p99 {d99:?}  ratio (p50) {:.1}x  fuel {}",
            ratio(w50),
            fuel(plugin, &p),
            ratio(d50),
            fuel(plugin, &shown),
        );
    }
    println!("  native (whole person):   p50 {native_p50:?}");
}

/// p50 and p99 of single calls, measured one by one.
fn percentiles(mut call: impl FnMut()) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..5000)
        .map(|_| {
            let t = Instant::now();
            call();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
