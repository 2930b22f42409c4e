//! CPU time per cycle of the `plan` benchmark's workload, for a loaded machine where wall-clock
//! time says little: `cargo run --release -p engine --example plan_cpu -- [people] [rounds]`.
//!
//! Prints, per round, the process CPU time (user + system, from `/proc/self/stat`, so all
//! threads count) of an initial and a no-change cycle, and people per CPU second. Under
//! `valgrind --tool=callgrind --toggle-collect='engine::cycle::plan_cycle*'` it counts the
//! instructions of planning alone
//! (`--toggle-collect='plan_cpu::planned'` with a third argument `initial` or `no-change`: one
//! case).

use std::time::Instant;

// The allocator and its settings as the `muster` binary runs them.
use muster_allocator as allocator;

use engine::config::Config;
use engine::cycle::{CycleInput, Pipeline, Plan, plan_cycle};
use engine::testing::{native_plugins, records_after, synthetic_directory};

const CONFIG: &str = include_str!("../testdata/zoom.toml");

/// Process CPU seconds (user + system) from `/proc/self/stat`; 0 where there is none.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at `state`, field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime is field 14, stime 15: indexes 11 and 12 here. Linux reports them in USER_HZ (100).
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// One timed cycle (its own function, for callgrind's `--toggle-collect='plan_cpu::planned'`).
#[inline(never)]
fn planned(input: &CycleInput) -> Plan {
    plan_cycle(input)
}

fn timed(input: &CycleInput) -> (Plan, f64, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let plan = planned(input);
    (plan, cpu_seconds() - cpu, wall.elapsed().as_secs_f64())
}

fn main() {
    allocator::configure();
    let mut args = std::env::args().skip(1);
    let people: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    // `initial` or `no-change` to run only that case (for callgrind), else both.
    let only = args.next().unwrap_or_default();
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let directory = synthetic_directory(people);
    let mut input = CycleInput::everyone("c1", &directory, &[], &pipeline, &plugins);
    let records = records_after(&plan_cycle(&input));
    for round in 1..=rounds {
        input.records = &[];
        if only != "no-change" {
            let (plan, cpu, wall) = timed(&input);
            assert_eq!(plan.summary.creates, people);
            let drop_cpu = cpu_seconds();
            drop(plan);
            let drop_cpu = cpu_seconds() - drop_cpu;
            report(round, "initial", people, cpu, wall, drop_cpu);
        }
        if only == "initial" {
            continue;
        }
        input.records = &records;
        let (plan, cpu, wall) = timed(&input);
        assert_eq!(plan.summary.unchanged, people);
        let drop_cpu = cpu_seconds();
        drop(plan);
        let drop_cpu = cpu_seconds() - drop_cpu;
        report(round, "no-change", people, cpu, wall, drop_cpu);
    }
}

fn report(round: usize, case: &str, people: usize, cpu: f64, wall: f64, drop_cpu: f64) {
    let per_cpu = if cpu > 0.0 { people as f64 / cpu } else { 0.0 };
    println!(
        "round {round} {case:>9}: cpu {cpu:.2} s, wall {wall:.2} s, {:.1} k people per cpu-second \
         (dropping the plan: {drop_cpu:.2} cpu-s)",
        per_cpu / 1000.0
    );
}
