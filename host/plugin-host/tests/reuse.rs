//! Instance reuse within a cycle and the on-disk cache of compiled components.

mod support;

use engine::plugin::{LicenseDecision, LicenseRule, PluginError};
use muster_artifacts as guests;
use plugin_host::cache::Origin;
use plugin_host::{Limits, Plugin, PluginRegistry, Runtime};
use support::{bytes, person, runtime};

fn count(plugin: &Plugin, id: &str) -> String {
    match plugin.decide(&person(id, &[]), None, "{}") {
        Ok(LicenseDecision::NoChange { reason, .. }) => reason,
        other => panic!("counter answered {other:?}"),
    }
}

/// A 5 s deadline: a call that overran the 50 ms default on a loaded machine would be retried in
/// a fresh instance, and the counter would restart at "call 1" whatever the reuse did.
fn counter(people_per_instance: Option<u32>) -> Plugin {
    let limits = Limits {
        people_per_instance,
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    Plugin::load(runtime(), "counter", &bytes(guests::COUNTER), limits).expect("loads")
}

#[test]
fn a_pinned_handle_reuses_an_instance_for_its_quota_then_starts_afresh() {
    let pinned = counter(Some(3)).pinned();
    let seen: Vec<String> = (0..7).map(|i| count(&pinned, &format!("p{i}"))).collect();
    assert_eq!(
        seen,
        [
            "call 1", "call 2", "call 3", "call 1", "call 2", "call 3", "call 1"
        ]
    );
}

#[test]
fn the_registry_handle_never_reuses_and_small_guests_never_do() {
    let plugin = counter(Some(3));
    for i in 0..5 {
        assert_eq!(count(&plugin, &format!("p{i}")), "call 1");
    }
    // Auto: a Rust guest of a few dozen KB is instantiated per person, pinned or not.
    let auto = counter(None);
    assert_eq!(auto.people_per_instance(), 1);
    let pinned = auto.pinned();
    for i in 0..5 {
        assert_eq!(count(&pinned, &format!("p{i}")), "call 1");
    }
}

#[test]
fn a_trap_discards_the_reused_instance() {
    let pinned = counter(Some(100)).pinned();
    assert_eq!(count(&pinned, "p1"), "call 1");
    assert_eq!(count(&pinned, "p2"), "call 2");
    let err = pinned
        .decide(&person("trap-1", &[]), None, "{}")
        .expect_err("traps");
    assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
    // Neither the trapped instance nor the fresh one of the retry is kept.
    assert_eq!(count(&pinned, "p3"), "call 1");
    assert_eq!(count(&pinned, "p4"), "call 2");
}

#[test]
fn snapshots_do_not_share_instances() {
    let registry = PluginRegistry::new(runtime().clone());
    let limits = Limits {
        people_per_instance: Some(100),
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    registry
        .load("counter", &bytes(guests::COUNTER), limits)
        .expect("loads");
    let first = registry.snapshot();
    let first = first.get("counter").expect("pinned");
    assert_eq!(count(first, "p1"), "call 1");
    assert_eq!(count(first, "p2"), "call 2");
    let second = registry.snapshot();
    assert_eq!(
        count(second.get("counter").expect("pinned"), "p1"),
        "call 1"
    );
    assert_eq!(count(first, "p3"), "call 3");
}

#[test]
fn compiled_components_are_cached_and_corrupt_entries_recompiled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule = bytes(guests::LICENSE_BY_GROUP);
    let load = || {
        let runtime = Runtime::with_cache_dir(Some(dir.path().to_path_buf())).expect("runtime");
        Plugin::load(&runtime, "rule", &rule, Limits::default()).expect("loads")
    };
    let check = |plugin: &Plugin| {
        let decision = plugin
            .decide(
                &person("p", &["Zoom-Licensed"]),
                None,
                support::LICENSE_CONFIG,
            )
            .expect("decides");
        assert!(
            matches!(decision, LicenseDecision::Assign { .. }),
            "{decision:?}"
        );
    };
    let first = load();
    assert_eq!(first.origin(), Origin::Compiled);
    check(&first);
    let second = load();
    assert_eq!(second.origin(), Origin::Cached);
    check(&second);

    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one artifact (and its checksum): {entries:?}"
    );
    // Flip one byte in the middle of the machine code: the checksum catches it.
    let mut file = std::fs::read(&entries[0]).expect("read entry");
    let middle = file.len() / 2;
    file[middle] ^= 0xff;
    std::fs::write(&entries[0], &file).expect("corrupt entry");
    let third = load();
    assert_eq!(third.origin(), Origin::Recompiled);
    check(&third);
    // Truncated, then rewritten whole.
    std::fs::write(&entries[0], &file[..100]).expect("truncate entry");
    assert_eq!(load().origin(), Origin::Recompiled);
    assert_eq!(load().origin(), Origin::Cached);
    // An artifact without its checksum is not trusted either.
    std::fs::remove_file(entries[0].with_extension("sum")).expect("remove checksum");
    assert_eq!(load().origin(), Origin::Recompiled);
    assert_eq!(load().origin(), Origin::Cached);
}

#[test]
fn a_guest_that_carries_state_between_people_is_found_and_gets_fresh_instances() {
    // The counter answers "call n" for the n-th person of an instance: the probe sees the same
    // person answered "call 1" then "call 3".
    let plugin = counter(Some(100));
    let pinned = plugin.pinned();
    assert_eq!(count(&pinned, "p1"), "call 1");
    assert_eq!(count(&pinned, "p2"), "call 2");
    let found = plugin.verify_purity("{}");
    match &found {
        plugin_host::Purity::CarriesState { first, later } => {
            assert!(
                first.contains("call 1") && later.contains("call 3"),
                "{found:?}"
            );
        }
        other => panic!("the counter was not caught: {other:?}"),
    }
    assert_eq!(plugin.people_per_instance(), 1);
    // Every handle, the one pinned before the probe too, now calls a fresh instance per person.
    assert_eq!(count(&pinned, "p3"), "call 1");
    assert_eq!(count(&plugin.pinned(), "p4"), "call 1");
    assert_eq!(
        plugin.verify_purity("{}"),
        found,
        "probed once per configuration"
    );
}

#[test]
fn a_stateless_guest_reused_for_many_people_is_found_pure() {
    let limits = Limits {
        people_per_instance: Some(100),
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    let rule =
        Plugin::load(runtime(), "rule", &bytes(guests::LICENSE_BY_GROUP), limits).expect("loads");
    let config =
        r#"{"default_plan": "basic", "rules": [{"group": "Zoom-Phone", "add_on": "phone"}]}"#;
    assert_eq!(rule.verify_purity(config), plugin_host::Purity::Pure);
    assert_eq!(rule.people_per_instance(), 100);
}

#[test]
fn clocks_and_randomness_give_a_fresh_instance_nothing_that_varies() {
    // Fresh instances (the default for a small guest): the same person, the same answer, every
    // time and on every thread, though the guest reads both clocks and `wasi:random`.
    let limits = Limits {
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    let plugin =
        Plugin::load(runtime(), "entropy", &bytes(guests::ENTROPY), limits).expect("loads");
    let answer = |id: &str| match plugin.decide(&person(id, &[]), None, "{}") {
        Ok(LicenseDecision::NoChange { reason, .. }) => reason,
        other => panic!("entropy answered {other:?}"),
    };
    let first = answer("p1");
    assert!(first.starts_with("wall 0 monotonic 0 random "), "{first}");
    let again: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4).map(|_| s.spawn(|| answer("p1"))).collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .collect()
    });
    assert!(again.iter().all(|a| *a == first), "{first} vs {again:?}");
    assert_eq!(plugin.verify_purity("{}"), plugin_host::Purity::Pure);

    // Reused for several people, std's hash keys move on with every `RandomState` an instance
    // makes: the same person is answered differently later in the instance. The probe finds it.
    let reused = Plugin::load(
        runtime(),
        "entropy",
        &bytes(guests::ENTROPY),
        Limits {
            people_per_instance: Some(100),
            deadline: std::time::Duration::from_secs(5),
            ..Limits::default()
        },
    )
    .expect("loads");
    assert!(
        matches!(
            reused.verify_purity("{}"),
            plugin_host::Purity::CarriesState { .. }
        ),
        "{:?}",
        reused.verify_purity("{}")
    );
    assert_eq!(reused.people_per_instance(), 1);
}
