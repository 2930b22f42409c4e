//! Hot swap under load, broken uploads, rollback and the watched folder.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engine::plugin::{LicenseDecision, LicenseRule};
use muster_artifacts as guests;
use plugin_host::{Limits, PluginRegistry, Runtime};
use support::{LICENSE_CONFIG, bytes, person};

fn registry() -> Arc<PluginRegistry> {
    Arc::new(PluginRegistry::new(Runtime::new().expect("runtime")))
}

/// What each of the two versions answers, so every result can be traced to one of them.
fn expected_from(version_is_counter: bool, decision: &LicenseDecision) -> bool {
    match decision {
        LicenseDecision::NoChange { reason, .. } => version_is_counter && reason == "call 1",
        LicenseDecision::Assign { license, .. } => {
            !version_is_counter && license.plan == "licensed"
        }
    }
}

/// This test is about swaps, not deadlines: on a loaded 2-core machine a busy thread can be
/// descheduled for longer than the default 50 ms.
fn relaxed() -> Limits {
    Limits {
        deadline: Duration::from_secs(5),
        ..Limits::default()
    }
}

#[test]
fn swap_under_four_busy_threads_loses_no_call() {
    let registry = registry();
    let rule_bytes = bytes(guests::LICENSE_BY_GROUP);
    let counter_bytes = bytes(guests::COUNTER);
    let counter_version = plugin_host::plugin::version_of(&counter_bytes);
    registry
        .load("rule", &rule_bytes, relaxed())
        .expect("v1 loads");

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (registry, stop, calls, failures) = (
                registry.clone(),
                stop.clone(),
                calls.clone(),
                failures.clone(),
            );
            let counter_version = counter_version.clone();
            std::thread::spawn(move || {
                let p = person("p", &["Zoom-Licensed"]);
                while !stop.load(Ordering::Relaxed) {
                    let plugin = registry.active("rule").expect("always a version");
                    let is_counter = plugin.id().version == counter_version;
                    match plugin.decide(&p, None, LICENSE_CONFIG) {
                        Ok(d) if expected_from(is_counter, &d) => {}
                        other => {
                            eprintln!("failed call: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for round in 0..20 {
        let next = if round % 2 == 0 {
            &counter_bytes
        } else {
            &rule_bytes
        };
        registry.load("rule", next, relaxed()).expect("swap");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert!(calls.load(Ordering::Relaxed) > 100, "the workers ran");
    assert_eq!(failures.load(Ordering::Relaxed), 0);
}

#[test]
fn broken_upload_leaves_the_old_version_serving() {
    let registry = registry();
    let good = registry
        .load("rule", &bytes(guests::LICENSE_BY_GROUP), Limits::default())
        .expect("loads");
    for broken in [
        b"not wasm".to_vec(),
        bytes(guests::EXTRA_IMPORT),
        bytes(guests::NORMALIZE_ATTRIBUTES),
    ] {
        assert!(registry.load("rule", &broken, Limits::default()).is_err());
        assert_eq!(registry.active("rule").expect("active").id(), good.id());
    }
    assert_eq!(
        registry.history("rule").len(),
        1,
        "failed loads leave no history"
    );
}

#[test]
fn rollback_restores_the_previous_version() {
    let registry = registry();
    let v1 = registry
        .load("rule", &bytes(guests::LICENSE_BY_GROUP), Limits::default())
        .expect("v1");
    let v2 = registry
        .load("rule", &bytes(guests::COUNTER), Limits::default())
        .expect("v2");
    assert_eq!(
        registry.history("rule"),
        vec![v2.id().clone(), v1.id().clone()]
    );
    let back = registry.rollback("rule").expect("rollback");
    assert_eq!(back.id(), v1.id());
    assert_eq!(registry.active("rule").expect("active").id(), v1.id());
    assert!(registry.rollback("rule").is_err(), "nothing older than v1");
    assert!(registry.rollback("missing").is_err());
}

#[test]
fn snapshot_pins_versions_across_a_swap() {
    let registry = registry();
    let v1 = registry
        .load("rule", &bytes(guests::LICENSE_BY_GROUP), Limits::default())
        .expect("v1");
    let pinned = registry.snapshot();
    registry
        .load("rule", &bytes(guests::COUNTER), Limits::default())
        .expect("v2");
    assert_eq!(pinned.get("rule").expect("pinned").id(), v1.id());
    let decision = pinned.get("rule").expect("pinned").decide(
        &person("p", &["Zoom-Licensed"]),
        None,
        LICENSE_CONFIG,
    );
    assert!(
        matches!(decision, Ok(LicenseDecision::Assign { .. })),
        "{decision:?}"
    );
}

#[test]
fn dropping_a_file_into_the_watched_folder_swaps_it_in() {
    let registry = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let _watch =
        plugin_host::watch::watch_folder(dir.path(), registry.clone(), |_| Limits::default())
            .expect("watch");
    // Written in two halves: the first half must not replace anything.
    let rule = bytes(guests::LICENSE_BY_GROUP);
    let path = dir.path().join("rule.wasm");
    std::fs::write(&path, &rule[..rule.len() / 2]).expect("write");
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(&path, &rule).expect("write");
    let expected = plugin_host::plugin::version_of(&rule);
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.active("rule").map(|p| p.id().version.clone()) != Some(expected.clone()) {
        assert!(Instant::now() < deadline, "the watched file was not loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How the kubelet updates a ConfigMap volume: the files are symlinks through `..data`, which
/// is swapped atomically to a new timestamped folder; no event names `rule.wasm` itself.
#[cfg(unix)]
#[test]
fn a_kubernetes_configmap_swap_is_picked_up() {
    use std::os::unix::fs::symlink;
    let registry = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("..v1")).expect("mkdir");
    let rule = bytes(guests::LICENSE_BY_GROUP);
    std::fs::write(root.join("..v1/rule.wasm"), &rule).expect("write");
    symlink("..v1", root.join("..data")).expect("symlink");
    symlink("..data/rule.wasm", root.join("rule.wasm")).expect("symlink");
    let _watch = plugin_host::watch::watch_folder(root, registry.clone(), |_| Limits::default())
        .expect("watch");
    // The update: a new folder, a new `..data` link renamed over the old one.
    let mut changed = rule.clone();
    changed.extend_from_slice(&[0, 5, 4, b't', b'e', b's', b't']); // a custom section
    std::fs::create_dir(root.join("..v2")).expect("mkdir");
    std::fs::write(root.join("..v2/rule.wasm"), &changed).expect("write");
    symlink("..v2", root.join("..data_tmp")).expect("symlink");
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("rename");
    let expected = plugin_host::plugin::version_of(&changed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.active("rule").map(|p| p.id().version.clone()) != Some(expected.clone()) {
        assert!(
            Instant::now() < deadline,
            "the swapped ConfigMap was not loaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
