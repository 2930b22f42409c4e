//! Per-language costs of the same license rule (`license-by-group`) in Rust, Python,
//! JavaScript and C: component size, compile time, load time from the on-disk cache, and the
//! cost per person inside a cycle (a pinned handle, as `sync` calls it), against the same rule
//! compiled natively in the same run; then the per-person cost of the `normalize-attributes`
//! transform in each language. Both with the whole person and with the inputs the example configurations
//! declare (`plugins/README.md`, "Inputs").
//!
//! ```sh
//! # build the Python, JavaScript and C components first (commands in their READMEs), then:
//! cargo bench -p plugin-host --bench languages
//! ```
//!
//! Each rule is measured in its `muster:plugin@0.2.0` build and, just before, its 0.1.0 build
//! (`tests/guests/0.1.0/`), so the two versions are compared in the same window.
//!
//! The Python, JavaScript and C components are read from
//! `plugins/license-by-group-{py,js,c}/license-by-group-{py,js,c}.wasm` (where their build
//! commands put them), or from `$MUSTER_BENCH_PY` / `$MUSTER_BENCH_JS` / `$MUSTER_BENCH_C`
//! (the transform's: `$MUSTER_BENCH_NORMALIZE_PY` / `$MUSTER_BENCH_NORMALIZE_JS`); their 0.1.0
//! builds from the same names under `tests/guests/0.1.0/`, or the same variables ending in
//! `_0_1`. A missing one is reported and its row left out. Prints a markdown table for
//! `plugins/README.md`.

// The allocator and its settings as the `muster` binary runs them.
use muster_allocator as allocator;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::config::{GroupInputs, PluginInputs};
use engine::model::{Attributes, GroupRef, Value};
use engine::plugin::{LicenseDecision, LicenseRule, PluginInput, Transform};
use engine::plugin_stage::project;
use engine::testing::LicenseByGroup as NativeLicenseByGroup;
use plugin_host::{Limits, Plugin, Runtime};

const CONFIG: &str = r#"{"rules":[
    {"group":"Zoom-Licensed","plan":"licensed"},
    {"group":"Zoom-Phone","add_on":"phone"},
    {"group":"Zoom-Webinar","add_on":"webinar"}],
  "default_plan":"basic"}"#;

const NORMALIZE_CONFIG: &str =
    r#"{"default_country_code":"1","department_group_prefix":"Dept-","require_email":true}"#;

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
            via: None,
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
            via: None,
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
        ..PluginInput::default()
    }
}

struct Row {
    language: String,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    fresh_p50: Duration,
    cycle: Percentiles,
    declared: Percentiles,
    small: Percentiles,
}

/// What the example configurations show the rule: its transitive `Zoom-` groups, nothing else.
fn declared_inputs() -> PluginInputs {
    PluginInputs {
        attributes: Some(vec![]),
        groups: GroupInputs::Transitive,
        group_prefixes: Some(vec!["Zoom-".into()]),
        target: Some(vec![]),
        ..PluginInputs::default()
    }
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    mean: Duration,
}

/// Microseconds, rounded, for the tables.
fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// p50, p99, p99.9 and mean as table cells.
fn cells(x: &Percentiles) -> String {
    format!(
        "{} | {} | {} | {}",
        us(x.p50),
        us(x.p99),
        us(x.p999),
        us(x.mean)
    )
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

/// A language's 0.1.0 build then its 0.2.0 build of the example in `folder`, those found.
fn versions(language: &str, env: &str, folder: &str) -> Vec<(String, Vec<u8>)> {
    let file = format!("{folder}.wasm");
    [
        (
            "0.1.0",
            format!("{env}_0_1"),
            format!("tests/guests/0.1.0/{folder}/{file}"),
        ),
        ("0.2.0", env.to_string(), format!("plugins/{folder}/{file}")),
    ]
    .into_iter()
    .filter_map(|(version, env, default)| {
        let label = format!("{language} {version}");
        component(&label, &env, &default).map(|bytes| (label, bytes))
    })
    .collect()
}

fn measure(language: &str, bytes: &[u8], people: &[PluginInput], small: &[PluginInput]) -> Row {
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

    // One cycle: a pinned handle, every person in turn, shown what `inputs` lets through (the
    // projection is timed too, as the engine does it per person).
    let cycle = |people: &[PluginInput], inputs: &PluginInputs| {
        let pinned = plugin.pinned();
        let mut shown = PluginInput::default();
        let samples: Vec<Duration> = people
            .iter()
            .map(|p| {
                let started = Instant::now();
                let person = if inputs.is_everything() {
                    p
                } else {
                    project(inputs, p, &mut shown);
                    &shown
                };
                pinned.decide(person, None, CONFIG).expect("decides");
                started.elapsed()
            })
            .collect();
        percentiles(samples)
    };
    let everything = PluginInputs::default();

    Row {
        language: language.to_string(),
        size: bytes.len(),
        compile,
        cached_load: loads[LOADS / 2],
        fresh_p50: percentiles(fresh).p50,
        cycle: cycle(people, &everything),
        declared: cycle(people, &declared_inputs()),
        small: cycle(small, &everything),
    }
}

/// The large person as the mappings leave it for `normalize-attributes`: eight target attributes
/// to tidy (names, two phone numbers, emails), and a department group among its direct groups.
fn mapped_person(i: usize) -> PluginInput {
    let mut p = person(i, 30, 18);
    p.direct_groups.push(GroupRef {
        id: "g-dept".into(),
        display_name: "Dept-Finance".into(),
        via: None,
    });
    let text = |s: String| Value::Text(s.into());
    p.target = Attributes::from([
        ("userName".into(), text(format!("u{i}@x.example"))),
        (
            "emails[type eq \"work\"].value".into(),
            text(format!("u{i}@x.example")),
        ),
        ("name.givenName".into(), text("  ANNE-MARIE ".into())),
        ("name.familyName".into(), text("McDonald".into())),
        (
            "phoneNumbers[type eq \"mobile\"].value".into(),
            text("(415) 555-0100".into()),
        ),
        (
            "phoneNumbers[type eq \"work\"].value".into(),
            text("+1 415 555 0199".into()),
        ),
        ("title".into(), text("Engineer".into())),
        ("active".into(), Value::Bool(true)),
    ]);
    p
}

/// `normalize-attributes` per person in a cycle: everything, and the inputs the example
/// configurations declare for it (the target and the direct groups).
/// `reference` is the Rust guest: every language must transform alike, or the timings mean
/// nothing (engine's native stand-in is a simplified transform, so it is no reference here).
fn measure_transform(
    language: &str,
    bytes: &[u8],
    people: &[PluginInput],
    reference: Option<&Plugin>,
) -> ([Percentiles; 2], Plugin) {
    let runtime = Runtime::with_cache_dir(None).expect("runtime");
    let plugin = Plugin::load(&runtime, language, bytes, Limits::default()).expect("loads");
    for p in people.iter().take(10) {
        let outcome = plugin.transform(p, NORMALIZE_CONFIG).expect("transforms");
        if let Some(reference) = reference {
            let expected = reference.transform(p, NORMALIZE_CONFIG).expect("reference");
            assert_eq!(outcome, expected, "{language} and Rust transform alike");
        }
    }
    let declared = PluginInputs {
        attributes: Some(vec![]),
        groups: GroupInputs::Direct,
        group_prefixes: Some(vec!["Dept-".into()]),
        target: None,
        ..PluginInputs::default()
    };
    let samples = [PluginInputs::default(), declared].map(|inputs| {
        let pinned = plugin.pinned();
        let mut shown = PluginInput::default();
        let samples = people
            .iter()
            .map(|p| {
                let started = Instant::now();
                let person = if inputs.is_everything() {
                    p
                } else {
                    project(&inputs, p, &mut shown);
                    &shown
                };
                pinned
                    .transform(person, NORMALIZE_CONFIG)
                    .expect("transforms");
                started.elapsed()
            })
            .collect();
        percentiles(samples)
    });
    (samples, plugin)
}

fn main() {
    allocator::configure();
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
    let rust_0_1 =
        std::fs::read(muster_artifacts::LICENSE_BY_GROUP_0_1).expect("the Rust 0.1.0 guest");
    rows.push(measure("Rust 0.1.0", &rust_0_1, &people, &small));
    let rust = std::fs::read(muster_artifacts::LICENSE_BY_GROUP).expect("the Rust guest");
    rows.push(measure("Rust 0.2.0", &rust, &people, &small));
    for (language, env, folder) in [
        ("Python", "MUSTER_BENCH_PY", "license-by-group-py"),
        ("JavaScript", "MUSTER_BENCH_JS", "license-by-group-js"),
        ("C", "MUSTER_BENCH_C", "license-by-group-c"),
    ] {
        for (label, bytes) in versions(language, env, folder) {
            rows.push(measure(&label, &bytes, &people, &small));
        }
    }
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    println!(
        "\nlicense-by-group, {PEOPLE} people per cycle (a pinned handle, as a sync cycle calls it); \
         large: 30 attributes and 20 groups (sent twice by 0.1.0, as the direct and the \
         transitive list; once by 0.2.0), small: 5 attributes and 3 groups; declared inputs: the large person as the example configurations show it \
         to the rule (`inputs = {{ attributes = [], groups = \"transitive\", group_prefixes = [\"Zoom-\"], target = [] }}`)\n"
    );
    println!(
        "| guest | component | compile | load from cache | fresh instance + call, p50 (large) | people per instance |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let per_instance = if r.size >= plugin_host::limits::REUSE_FROM_BYTES {
            plugin_host::limits::DEFAULT_PEOPLE_PER_INSTANCE
        } else {
            1
        };
        println!(
            "| {} | {:.1} MB | {} | {} | {} | {} |",
            r.language,
            r.size as f64 / 1e6,
            ms(r.compile),
            ms(r.cached_load),
            us(r.fresh_p50),
            per_instance,
        );
    }
    println!(
        "\n| guest, per person in a cycle | large p50 | p99 | p99.9 | mean | declared inputs p50 | p99 | p99.9 | mean | small p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.language,
            cells(&r.cycle),
            cells(&r.declared),
            us(r.small.p50),
            us(r.small.p99),
        );
    }
    println!(
        "| native Rust (same run) | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | | | | | | |",
        native.p50.as_secs_f64() * 1e6,
        native.p99.as_secs_f64() * 1e6,
        native.p999.as_secs_f64() * 1e6,
        native.mean.as_secs_f64() * 1e6,
    );

    let mapped: Vec<PluginInput> = (0..PEOPLE).map(mapped_person).collect();
    println!(
        "\nnormalize-attributes, {PEOPLE} people per cycle: the large person with 8 mapped target \
         attributes; declared inputs as in the example configurations \
         (`inputs = {{ attributes = [], groups = \"direct\", group_prefixes = [\"Dept-\"] }}`)\n"
    );
    println!(
        "| guest, per person in a cycle | p50 | p99 | p99.9 | mean | declared inputs p50 | p99 | p99.9 | mean |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let rust = std::fs::read(muster_artifacts::NORMALIZE_ATTRIBUTES).expect("the Rust guest");
    let rust_0_1 =
        std::fs::read(muster_artifacts::NORMALIZE_ATTRIBUTES_0_1).expect("the Rust 0.1.0 guest");
    // The 0.2.0 Rust build first: it is the reference every other build must answer like.
    let mut transforms = vec![
        ("Rust 0.2.0".to_string(), rust),
        ("Rust 0.1.0".to_string(), rust_0_1),
    ];
    for (language, env, folder) in [
        (
            "Python",
            "MUSTER_BENCH_NORMALIZE_PY",
            "normalize-attributes-py",
        ),
        (
            "JavaScript",
            "MUSTER_BENCH_NORMALIZE_JS",
            "normalize-attributes-js",
        ),
    ] {
        transforms.extend(versions(language, env, folder));
    }
    let mut reference = None;
    for (language, bytes) in transforms {
        let ([all, declared], plugin) =
            measure_transform(&language, &bytes, &mapped, reference.as_ref());
        println!("| {language} | {} | {} |", cells(&all), cells(&declared));
        reference.get_or_insert(plugin);
    }
}
