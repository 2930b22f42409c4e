//! Hostile guests fail only their own call, with the error kind that names the limit, and the
//! host goes on serving.

mod support;

use engine::plugin::{LicenseDecision, LicenseRule, PluginError};
use muster_artifacts as guests;
use plugin_host::{Limits, Plugin};
use support::{LICENSE_CONFIG, load, person, runtime};

fn failing_call(path: &str) -> PluginError {
    failing_call_with(path, Limits::default())
}

fn failing_call_with(path: &str, limits: Limits) -> PluginError {
    let plugin = Plugin::load(runtime(), "hostile", &support::bytes(path), limits).expect("loads");
    plugin
        .decide(&person("p1", &[]), None, "{}")
        .expect_err("a hostile guest must fail")
}

/// After a hostile call, the well-behaved rule still answers 10,000 times in a row.
fn host_still_serves() {
    let rule = load("license-by-group", guests::LICENSE_BY_GROUP);
    let p = person("p2", &["Zoom-Licensed"]);
    for i in 0..10_000 {
        let decision = rule.decide(&p, None, LICENSE_CONFIG);
        assert!(
            matches!(decision, Ok(LicenseDecision::Assign { .. })),
            "call {i}: {decision:?}"
        );
    }
}

#[test]
fn infinite_loop_hits_the_deadline() {
    // Fuel out of the way: which of the two binds first otherwise depends on the machine's load.
    let limits = Limits {
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    let err = failing_call_with(guests::LOOP_FOREVER, limits);
    assert!(
        matches!(err, PluginError::Deadline { limit_ms: 50, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("hostile@"),
        "names the plugin and version: {err}"
    );
    host_still_serves();
}

#[test]
fn infinite_loop_runs_out_of_fuel_when_fuel_is_the_tighter_limit() {
    let limits = Limits {
        fuel: 1_000_000,
        deadline: std::time::Duration::from_secs(10),
        ..Limits::default()
    };
    let plugin = Plugin::load(
        runtime(),
        "hostile",
        &support::bytes(guests::LOOP_FOREVER),
        limits,
    )
    .expect("loads");
    let err = plugin
        .decide(&person("p1", &[]), None, "{}")
        .expect_err("must fail");
    assert!(
        matches!(
            err,
            PluginError::OutOfFuel {
                limit: 1_000_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    // Zeroing 32 MiB takes ~35 ms of guest time: give the deadline room so only memory binds.
    let limits = Limits {
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    let err = failing_call_with(guests::ALLOCATE_UNBOUNDED, limits);
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_bytes, .. } if limit_bytes == 32 << 20),
        "{err:?}"
    );
    host_still_serves();
}

#[test]
fn panic_is_a_trap_with_the_guest_message() {
    let err = failing_call(guests::TRAP);
    let PluginError::Trap { message, .. } = &err else {
        panic!("expected a trap, got {err:?}")
    };
    assert!(message.contains("deliberate panic for p1"), "{message}");
    host_still_serves();
}

#[test]
fn huge_output_is_refused() {
    let err = failing_call(guests::HUGE_OUTPUT);
    assert!(
        matches!(err, PluginError::OutputTooLarge { limit_bytes, .. } if limit_bytes == 1 << 20),
        "{err:?}"
    );
    host_still_serves();
}

#[test]
fn import_outside_the_world_is_refused_at_load() {
    let err = Plugin::load(
        runtime(),
        "evil",
        &support::bytes(guests::EXTRA_IMPORT),
        Limits::default(),
    )
    .expect_err("must be refused");
    let PluginError::InvalidComponent { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("test:evil/net"),
        "names the import: {message}"
    );
}

#[test]
fn oversized_component_is_refused_at_load() {
    let limits = Limits {
        component_bytes: 1000,
        ..Limits::default()
    };
    let err = Plugin::load(
        runtime(),
        "big",
        &support::bytes(guests::LICENSE_BY_GROUP),
        limits,
    )
    .expect_err("must be refused");
    assert!(
        err.to_string().contains("over the limit of 1000 bytes"),
        "{err}"
    );
}

#[test]
fn garbage_is_refused_at_load() {
    let err = Plugin::load(
        runtime(),
        "junk",
        b"\0asm but not really",
        Limits::default(),
    )
    .expect_err("refused");
    assert_eq!(err.kind(), "invalid-component");
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let counter = load("counter", guests::COUNTER);
    for _ in 0..100 {
        let decision = counter
            .decide(&person("p", &[]), None, "{}")
            .expect("counter answers");
        assert_eq!(decision, LicenseDecision::no_change("call 1"));
    }
}

#[test]
fn a_trap_inside_an_async_runtime_fails_the_call_not_the_host() {
    // The guest's panic message goes to WASI stderr, which wasmtime-wasi serves by blocking on
    // tokio: from inside an async task that would panic the host, so the call leaves the async
    // context first (`Plugin::call`).
    let runtimes = [
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    ];
    for rt in runtimes {
        let rt = rt.expect("tokio runtime");
        let err = rt.block_on(async { failing_call(guests::TRAP) });
        assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
    }
}

/// Runs `decide` on another thread; a call that blocks the host for real (a sleep outside the
/// deadline) fails the test after a minute instead of hanging it for the hour the guest asks.
fn decide_on_a_thread(
    plugin: Plugin,
    config: &'static str,
) -> Result<LicenseDecision, PluginError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(plugin.decide(&person("p1", &[]), None, config));
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the call blocked the host: a guest's sleep must not wait in real time")
}

#[test]
fn sleeping_guests_finish_at_once_on_a_virtual_clock() {
    let plugin = load("sleep", guests::SLEEP);
    for wait in [r#"{"wait":"sleep"}"#, r#"{"wait":"instant"}"#] {
        let decision = decide_on_a_thread(plugin.pinned(), wait);
        let Ok(LicenseDecision::NoChange { reason, .. }) = &decision else {
            panic!("{wait}: {decision:?}");
        };
        // The clock moved by the hour slept (or to the end of time), never backwards.
        let moved: u64 = reason
            .strip_prefix("monotonic +")
            .and_then(|r| r.split('s').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{wait}: unexpected reason {reason:?}"));
        assert!(moved >= 3600, "{wait}: {reason}");
        assert!(reason.contains("wall +"), "{reason}");
    }
    host_still_serves();
}

#[test]
fn a_guest_spinning_on_the_clock_hits_the_deadline() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    let plugin =
        Plugin::load(runtime(), "sleep", &support::bytes(guests::SLEEP), limits).expect("loads");
    let err = decide_on_a_thread(plugin, r#"{"wait":"spin"}"#).expect_err("never ends");
    assert!(
        matches!(err, PluginError::Deadline { limit_ms: 50, .. }),
        "{err:?}"
    );
    host_still_serves();
}
