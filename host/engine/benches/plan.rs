//! Plans 100,000 people in 50 groups through the native stand-ins of the example plugins:
//! the initial cycle (all creates) and an incremental one with no changes (all skipped), each
//! also with its plugin steps recorded for replay (`CycleInput::record`, as every cycle that is
//! not a dry run plans), alternating so that both are measured in the same window.
//!
//! `cargo bench -p engine --bench plan -- --measurement-time 8 --warm-up-time 2`

use std::hint::black_box;

// The allocator and its settings as the `muster` binary runs them.
use muster_allocator as allocator;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::config::Config;
use engine::cycle::{CycleInput, Pipeline, plan_cycle};
use engine::testing::{native_plugins, records_after, synthetic_directory};

const PEOPLE: usize = 100_000;
const CONFIG: &str = include_str!("../testdata/zoom.toml");

fn bench(c: &mut Criterion) {
    allocator::configure();
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let people = synthetic_directory(PEOPLE);
    let initial = CycleInput::everyone("c1", &people, &[], &pipeline, &plugins);
    let first = plan_cycle(&initial);
    assert_eq!(first.summary.creates, PEOPLE, "{:?}", first.summary);
    let records = records_after(&first);
    drop(first);
    let incremental = CycleInput::everyone("c2", &people, &records, &pipeline, &plugins);
    assert_eq!(plan_cycle(&incremental).summary.unchanged, PEOPLE);

    let mut group = c.benchmark_group("plan_cycle_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PEOPLE as u64));
    let initial_recorded = CycleInput {
        record: true,
        ..CycleInput::everyone("c1", &people, &[], &pipeline, &plugins)
    };
    let incremental_recorded = CycleInput {
        record: true,
        ..CycleInput::everyone("c2", &people, &records, &pipeline, &plugins)
    };
    group.bench_function("initial_all_creates", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&initial))))
    });
    group.bench_function("initial_all_creates_recorded", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&initial_recorded))))
    });
    group.bench_function("incremental_no_change", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&incremental))))
    });
    group.bench_function("incremental_no_change_recorded", |b| {
        b.iter(|| black_box(plan_cycle(black_box(&incremental_recorded))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
