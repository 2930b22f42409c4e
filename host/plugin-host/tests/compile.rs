//! Compilation is bounded and the compile cache cannot run foreign code: a component's shape is
//! checked before any compiling, a child compiler is stopped at its deadline, and cache entries
//! are bound to their component, refused from a folder others can write, and evicted by size.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::plugin::PluginError;
use muster_artifacts as guests;
use plugin_host::cache::Origin;
use plugin_host::compile::{CompileLimits, Compiler};
use plugin_host::{Limits, Plugin, Runtime, RuntimeOptions};
use support::bytes;

fn cached_runtime(dir: &Path, max_bytes: Option<u64>) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        cache_dir: Some(dir.to_path_buf()),
        cache_max_bytes: max_bytes,
        compiler: Compiler::InProcess,
    })
    .expect("runtime")
}

fn load(runtime: &Runtime, path: &str) -> Result<Plugin, PluginError> {
    Plugin::load(runtime, "rule", &bytes(path), Limits::default())
}

fn entries(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// A compiler that never finishes: `sh -c 'sleep 3600'` ignores the paths it is given.
fn stalled_compiler(timeout: Duration) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        cache_dir: None,
        cache_max_bytes: None,
        compiler: Compiler::Child {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "sleep 3600".into(), "sh".into()],
            env: vec![],
            limits: CompileLimits {
                timeout,
                memory_bytes: 1 << 30,
            },
        },
    })
    .expect("runtime")
}

#[test]
fn a_child_compiler_is_stopped_at_its_deadline() {
    let err = load(
        &stalled_compiler(Duration::from_millis(300)),
        guests::LICENSE_BY_GROUP,
    )
    .expect_err("the compiler never finishes");
    let message = err.to_string();
    assert!(
        message.contains("compiling took longer than the limit of 0.3 s"),
        "{message}"
    );
}

#[test]
fn imports_outside_the_world_are_refused_before_anything_compiles() {
    // The compiler would stall for an hour: the refusal must come from reading the component.
    let err = load(
        &stalled_compiler(Duration::from_secs(3600)),
        guests::EXTRA_IMPORT,
    )
    .expect_err("an import outside the world");
    assert!(err.to_string().contains("test:evil/net"), "{err}");
    let err = Plugin::load(
        &stalled_compiler(Duration::from_secs(3600)),
        "rule",
        b"\0asm\x01\0\0\0",
        Limits::default(),
    )
    .expect_err("a core module");
    assert!(err.to_string().contains("core module"), "{err}");
}

#[test]
fn a_child_compiler_that_fails_is_reported_with_what_it_said() {
    let runtime = Runtime::with_options(RuntimeOptions {
        cache_dir: None,
        cache_max_bytes: None,
        compiler: Compiler::Child {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo 'error: the compiler broke' >&2; exit 1".into(),
                "sh".into(),
            ],
            env: vec![],
            limits: CompileLimits::default(),
        },
    })
    .expect("runtime");
    let err = load(&runtime, guests::LICENSE_BY_GROUP).expect_err("fails");
    assert!(err.to_string().contains("the compiler broke"), "{err}");
}

#[test]
fn a_cache_entry_of_another_component_is_not_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = cached_runtime(dir.path(), None);
    load(&runtime, guests::LICENSE_BY_GROUP).expect("loads");
    let [rule] = &entries(dir.path(), "cwasm")[..] else {
        panic!("one entry");
    };
    let rule = rule.clone();
    load(&runtime, guests::COUNTER).expect("loads");
    let counter = entries(dir.path(), "cwasm")
        .into_iter()
        .find(|p| *p != rule)
        .expect("the counter's entry");
    // Put the rule's compiled code, with its own valid checksum, under the counter's name.
    std::fs::copy(&rule, &counter).expect("copy artifact");
    std::fs::copy(rule.with_extension("sum"), counter.with_extension("sum")).expect("copy sum");
    let counter_again = load(&runtime, guests::COUNTER).expect("loads");
    assert_eq!(counter_again.origin(), Origin::Recompiled);
    assert_eq!(
        load(&runtime, guests::COUNTER).expect("loads").origin(),
        Origin::Cached
    );
}

#[test]
fn a_cache_folder_that_others_can_write_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = cached_runtime(dir.path(), None);
    assert_eq!(
        load(&runtime, guests::LICENSE_BY_GROUP)
            .expect("loads")
            .origin(),
        Origin::Compiled
    );
    assert_eq!(
        load(&runtime, guests::LICENSE_BY_GROUP)
            .expect("loads")
            .origin(),
        Origin::Cached
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_eq!(
        load(&runtime, guests::LICENSE_BY_GROUP)
            .expect("loads")
            .origin(),
        Origin::Compiled,
        "a sound entry in a world-writable folder is not read"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let [entry] = &entries(dir.path(), "cwasm")[..] else {
        panic!("one entry");
    };
    std::fs::set_permissions(entry, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    assert_eq!(
        load(&runtime, guests::LICENSE_BY_GROUP)
            .expect("loads")
            .origin(),
        Origin::Recompiled,
        "an entry others can write is not read"
    );
    assert_eq!(
        load(&runtime, guests::LICENSE_BY_GROUP)
            .expect("loads")
            .origin(),
        Origin::Cached
    );
}

#[test]
fn a_new_cache_folder_is_readable_by_its_owner_only() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("plugins");
    load(&cached_runtime(&dir, None), guests::LICENSE_BY_GROUP).expect("loads");
    let mode = std::fs::metadata(&dir)
        .expect("created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn the_least_recently_used_entries_are_evicted_beyond_the_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Learn an entry's size, then allow a little more than two.
    let probe = tempfile::tempdir().expect("temp dir");
    load(&cached_runtime(probe.path(), None), guests::COUNTER).expect("loads");
    let size = |dir: &Path| -> u64 {
        std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum()
    };
    let one = size(probe.path());
    let runtime = cached_runtime(dir.path(), Some(one * 5 / 2));
    // Three components of about the same size (the hostile guests are as small as the counter).
    load(&runtime, guests::COUNTER).expect("loads");
    load(&runtime, guests::TRAP).expect("loads");
    // Both entries look a day old; using the counter again makes it recent, so the trap guest
    // is the least recently used by construction, not by the file clock's resolution.
    let day_old = std::time::SystemTime::now() - Duration::from_secs(86_400);
    for file in [entries(dir.path(), "sum"), entries(dir.path(), "cwasm")].concat() {
        std::fs::File::options()
            .append(true)
            .open(&file)
            .and_then(|f| f.set_modified(day_old))
            .expect("age the entry");
    }
    assert_eq!(
        load(&runtime, guests::COUNTER).expect("loads").origin(),
        Origin::Cached
    );
    load(&runtime, guests::LOOP_FOREVER).expect("loads");
    assert!(size(dir.path()) <= one * 5 / 2, "within the budget");
    assert_eq!(entries(dir.path(), "cwasm").len(), 2);
    assert_eq!(
        load(&runtime, guests::COUNTER).expect("loads").origin(),
        Origin::Cached
    );
    assert_eq!(
        load(&runtime, guests::LOOP_FOREVER)
            .expect("loads")
            .origin(),
        Origin::Cached
    );
}
