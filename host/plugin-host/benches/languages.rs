//! Per-language costs of the same license rule (`license-by-group`) in Rust, Python and
//! JavaScript: component size, compile time, load time from the on-disk cache, and the cost per
//! person inside a cycle (a pinned handle, as `sync` calls it), against the same rule compiled
//! natively in the same run.
//!
//! ```sh
//! # build the Python and JavaScript components first (commands in their READMEs), then:
//! cargo bench -p plugin-host --bench languages
//! ```
//!
//! The Python and JavaScript components are read from
//! `plugins/license-by-group-{py,js}/license-by-group-{py,js}.wasm` (where their build commands
//! put them), or from `$MUSTER_BENCH_PY` / `$MUSTER_BENCH_JS`. A missing one is reported and its
//! row left out. Prints a markdown table for `plugins/README.md`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::model::{Attributes, GroupRef, Value};
use engine::plugin::{LicenseDecision, LicenseRule, PluginInput};
use engine::testing::LicenseByGroup as NativeLicenseByGroup;
use plugin_host::{Limits, Plugin, Runtime};

const CONFIG: &str = r#"{"rules":[
    {"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Zoom-Phone","add_on":"phone"},
    {"group":"Zoom-Webinar","add_on":"webinar"}],
  "default_plan":"basic"}"#;

/// People per measured cycle: several instance lifetimes of a reused guest (256 people each).
const PEOPLE: usize = 3000;
/// Loads from the cache, of which the median is reported.
const LOADS: usize = 5;

/// A person with `attributes` attributes and `teams` + 2 groups; 30 and 18 as in the `call` bench.
fn person(i: usize, attribute_count: usize, teams: usize) -> PluginInput {
    let attributes: Attributes = (0..attribute_count)
        .map(|a| {
            (
                format!("attribute{a}").into(),
                Value::Text(format!("value number {a}").into()),
            )
        })
        .collect();
    let mut groups: Vec<GroupRef> = (0..teams)
        .map(|g| GroupRef {
            id: format!("g-{g}"),
            display_name: format!("Team-{g}"),
        })
        .collect();
    let licensed: &[&str] = if i.is_multiple_of(3) {
        &["Zoom-Phone"]
    } else {
        &["Zoom-Licensed", "Zoom-Phone"]
    };
    for name in licensed {
        groups.push(GroupRef {
            id: format!("g-{name}"),
            display_name: name.to_string(),
        });
    }
    PluginInput {
        id: format!("u-{i}"),
        attributes,
        direct_groups: groups.clone(),
        transitive_groups: groups,
        target: Attributes::from([(
            "userName".into(),
            Value::Text(format!("u{i}@x.example").into()),
        )]),
    }
}

struct Row {
    language: &'static str,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    fresh_p50: Duration,
    cycle: Percentiles,
    small: Percentiles,
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    mean: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}

fn component(language: &str, env: &str, default: &str) -> Option<Vec<u8>> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(default)
    });
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            eprintln!(
                "{language}: no component at {} ({e}); build it with the command in its README, \
                 or set {env}",
                path.display()
            );
            None
        }
    }
}

fn measure(
    language: &'static str,
    bytes: &[u8],
    people: &[PluginInput],
    small: &[PluginInput],
) -> Row {
    let limits = Limits::default();
    // Compile without a cache.
    let uncached = Runtime::with_cache_dir(None).expect("runtime");
    let started = Instant::now();
    let plugin = Plugin::load(&uncached, language, bytes, limits).expect("loads");
    let compile = started.elapsed();
    drop(plugin);

    // Fill a cache, then load from it as a restarted muster would (a new runtime each time).
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::with_cache_dir(Some(dir.path().to_path_buf())).expect("runtime");
    Plugin::load(&runtime, language, bytes, limits).expect("fills the cache");
    let mut loads: Vec<Duration> = (0..LOADS)
        .map(|_| {
            let runtime = Runtime::with_cache_dir(Some(dir.path().to_path_buf())).expect("runtime");
            let started = Instant::now();
            let plugin = Plugin::load(&runtime, language, bytes, limits).expect("loads");
            let took = started.elapsed();
            assert_eq!(plugin.origin(), plugin_host::cache::Origin::Cached);
            took
        })
        .collect();
    loads.sort();
    let plugin = Plugin::load(&runtime, language, bytes, limits).expect("loads");

    // A fresh instance per person (what the registry's own handle does), for reference.
    let fresh: Vec<Duration> = people
        .iter()
        .take(100)
        .map(|p| {
            let started = Instant::now();
            plugin.decide(p, None, CONFIG).expect("decides");
            started.elapsed()
        })
        .collect();

    // Same licenses as the native rule, or the timings mean nothing.
    let native = NativeLicenseByGroup::default();
    let license = |d: LicenseDecision| match d {
        LicenseDecision::Assign { license, .. } => Some(license),
        LicenseDecision::NoChange { .. } => None,
    };
    for p in people.iter().take(10) {
        assert_eq!(
            license(plugin.decide(p, None, CONFIG).expect("decides")),
            license(native.decide(p, None, CONFIG).expect("native")),
            "{language} and native Rust decide alike"
        );
    }

    // One cycle: a pinned handle, every person in turn.
    let cycle = |people: &[PluginInput]| {
        let pinned = plugin.pinned();
        let samples: Vec<Duration> = people
            .iter()
            .map(|p| {
                let started = Instant::now();
                pinned.decide(p, None, CONFIG).expect("decides");
                started.elapsed()
            })
            .collect();
        percentiles(samples)
    };

    Row {
        language,
        size: bytes.len(),
        compile,
        cached_load: loads[LOADS / 2],
        fresh_p50: percentiles(fresh).p50,
        cycle: cycle(people),
        small: cycle(small),
    }
}

fn main() {
    let people: Vec<PluginInput> = (0..PEOPLE).map(|i| person(i, 30, 18)).collect();
    let small: Vec<PluginInput> = (0..PEOPLE).map(|i| person(i, 5, 1)).collect();
    let native = NativeLicenseByGroup::default();
    let native_samples: Vec<Duration> = people
        .iter()
        .map(|p| {
            let started = Instant::now();
            native.decide(p, None, CONFIG).expect("native decides");
            started.elapsed()
        })
        .collect();
    let native = percentiles(native_samples);

    let mut rows = Vec::new();
    let rust = std::fs::read(muster_artifacts::LICENSE_BY_GROUP).expect("the Rust guest");
    rows.push(measure("Rust", &rust, &people, &small));
    for (language, env, default) in [
        (
            "Python",
            "MUSTER_BENCH_PY",
            "plugins/license-by-group-py/license-by-group-py.wasm",
        ),
        (
            "JavaScript",
            "MUSTER_BENCH_JS",
            "plugins/license-by-group-js/license-by-group-js.wasm",
        ),
    ] {
        if let Some(bytes) = component(language, env, default) {
            rows.push(measure(language, &bytes, &people, &small));
        }
    }
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    println!(
        "\nlicense-by-group, {PEOPLE} people per cycle (a pinned handle, as a sync cycle calls it); \
         large: 30 attributes and 20 groups, small: 5 attributes and 3 groups\n"
    );
    println!(
        "| guest | component | compile | load from cache | fresh instance + call, p50 (large) | people per instance | large p50 | p99 | p99.9 | mean | small p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let per_instance = if r.size >= plugin_host::limits::REUSE_FROM_BYTES {
            plugin_host::limits::DEFAULT_PEOPLE_PER_INSTANCE
        } else {
            1
        };
        println!(
            "| {} | {:.1} MB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.language,
            r.size as f64 / 1e6,
            ms(r.compile),
            ms(r.cached_load),
            us(r.fresh_p50),
            per_instance,
            us(r.cycle.p50),
            us(r.cycle.p99),
            us(r.cycle.p999),
            us(r.cycle.mean),
            us(r.small.p50),
            us(r.small.p99),
        );
    }
    println!(
        "| native Rust (same run) | | | | | | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | | |",
        native.p50.as_secs_f64() * 1e6,
        native.p99.as_secs_f64() * 1e6,
        native.p999.as_secs_f64() * 1e6,
        native.mean.as_secs_f64() * 1e6,
    );
}
