//! Plugins in Rust, Python, JavaScript and C pass the same cases files (`plugins/cases/`) through
//! `muster plugin test`, and `muster plugin new` scaffolds of both worlds build and pass their own
//! cases in each of the four languages (a C scaffold with `muster plugin build-c`).
//!
//! Python and JavaScript guests are built here with the pinned toolchains that `.ci/test`
//! installs (componentize-py in `.venv`, componentize-js in `plugins/node_modules`). A missing
//! toolchain fails the test with what to install: these tests are never skipped. The C guest is
//! built with `muster-c-build` (`plugins/c-build`) and Debian's clang for wasm32-wasi, which
//! `.ci/test` installs too. A build takes
//! 10-60 s, so its output is cached in the target folder under a hash of everything the build
//! reads (sources, WIT, toolchain version), and compiled components are cached the same way
//! (`MUSTER_PLUGIN_CACHE`): a second run costs seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::guests::{
    Lang, build_example, build_guest, cache_dir, cached, clang, componentize_js, componentize_py,
    key, root, run, wit_0_2,
};

/// `muster <args>` with the compiled-component cache in the target folder.
fn muster(args: &[&str]) -> (bool, String, String) {
    muster_test_support::output(
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(args)
            .env("MUSTER_PLUGIN_CACHE", cache_dir().join("compiled")),
    )
}

fn passes(wasm: &Path, cases: &str) {
    passes_file(wasm, &root().join("plugins/cases").join(cases));
}

/// An example built for `muster:plugin@0.2.0` passes the cases every build shares and those
/// of what only 0.2.0 can say (`<name>-0.2.json`).
fn passes_0_2(wasm: &Path, example: &str) {
    passes(wasm, &format!("{example}.json"));
    passes(wasm, &format!("{example}-0.2.json"));
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("interface: muster:plugin@0.2.0"),
        "{stdout}"
    );
}

fn passes_file(wasm: &Path, cases: &Path) {
    let wasm = wasm.to_str().expect("utf-8 path");
    let (ok, stdout, stderr) = muster(&[
        "plugin",
        "test",
        wasm,
        "--cases",
        cases.to_str().expect("utf-8 path"),
    ]);
    assert!(ok, "cases failed for {wasm}:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn rust_builds_pass_the_shared_cases() {
    passes_0_2(
        Path::new(muster_artifacts::LICENSE_BY_GROUP),
        "license-by-group",
    );
    passes_0_2(
        Path::new(muster_artifacts::NORMALIZE_ATTRIBUTES),
        "normalize-attributes",
    );
}

/// The examples as they were built for `muster:plugin@0.1.0` (`tests/guests/0.1.0/`) still
/// pass the cases every build shares, and say which version they are.
fn passes_0_1(wasm: &Path, cases: &str) {
    passes(wasm, cases);
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("interface: muster:plugin@0.1.0"),
        "{stdout}"
    );
}

#[test]
fn the_0_1_0_builds_of_the_examples_still_pass_the_shared_cases() {
    passes_0_1(
        Path::new(muster_artifacts::LICENSE_BY_GROUP_0_1),
        "license-by-group.json",
    );
    passes_0_1(
        Path::new(muster_artifacts::NORMALIZE_ATTRIBUTES_0_1),
        "normalize-attributes.json",
    );
    for (lang, folder, world, cases) in [
        (
            Lang::Python,
            "license-by-group-py",
            "license-rule",
            "license-by-group.json",
        ),
        (
            Lang::Js,
            "license-by-group-js",
            "license-rule",
            "license-by-group.json",
        ),
        (
            Lang::C,
            "license-by-group-c",
            "license-rule",
            "license-by-group.json",
        ),
        (
            Lang::Python,
            "normalize-attributes-py",
            "transformer",
            "normalize-attributes.json",
        ),
        (
            Lang::Js,
            "normalize-attributes-js",
            "transformer",
            "normalize-attributes.json",
        ),
    ] {
        let wasm = build_example(lang, &format!("tests/guests/0.1.0/{folder}"), world);
        passes_0_1(&wasm, cases);
    }
}

#[test]
fn python_license_rule_passes_the_shared_cases() {
    let wasm = build_example(Lang::Python, "plugins/license-by-group-py", "license-rule");
    passes_0_2(&wasm, "license-by-group");
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("world:     license-rule"), "{stdout}");
    assert!(
        stdout.contains("one per 256 people within a cycle"),
        "{stdout}"
    );
}

#[test]
fn javascript_license_rule_passes_the_shared_cases() {
    let wasm = build_example(Lang::Js, "plugins/license-by-group-js", "license-rule");
    passes_0_2(&wasm, "license-by-group");
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains("wasi:http"),
        "--disable http keeps wasi:http out: {stdout}"
    );
}

#[test]
fn c_license_rule_passes_the_shared_cases() {
    let wasm = build_example(Lang::C, "plugins/license-by-group-c", "license-rule");
    passes_0_2(&wasm, "license-by-group");
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("world:     license-rule"), "{stdout}");
}

/// A sleep ends at once on the guest's virtual clock, which moves by the time slept; a spin on
/// the clock hits the call's deadline, and the next case is served as usual.
#[test]
fn python_sleeping_guest_finishes_at_once_and_a_spinning_one_hits_the_deadline() {
    let wasm = build_example(Lang::Python, "tests/guests/sleep-py", "license-rule");
    passes_file(&wasm, &root().join("tests/guests/sleep-py/cases.json"));
}

/// JavaScript has no blocking sleep: an hour-long timer costs the call nothing, and a busy wait
/// on `Date.now()` hits the call's deadline.
#[test]
fn javascript_timer_costs_nothing_and_a_busy_wait_hits_the_deadline() {
    let wasm = build_example(Lang::Js, "tests/guests/sleep-js", "license-rule");
    passes_file(&wasm, &root().join("tests/guests/sleep-js/cases.json"));
}

/// muster compiles components in a child process (`muster plugin compile`) under [compile]'s
/// memory limit: a JavaScript component, whose compilation needs about 560 MB, fails to load
/// within 300 MiB, naming the limit; within the default bounds it compiles and answers.
#[test]
fn compiling_within_too_little_memory_fails_naming_the_limit() {
    use engine::config::CompileConfig;
    use engine::plugin::LicenseRule;
    use plugin_host::{Limits, Plugin, Runtime, RuntimeOptions};
    let muster = Path::new(env!("CARGO_BIN_EXE_muster"));
    let runtime = |config: &CompileConfig| {
        Runtime::with_options(RuntimeOptions {
            cache_dir: None,
            cache_max_bytes: None,
            compiler: muster::job::child_compiler(muster, config),
        })
        .expect("runtime")
    };
    let js = std::fs::read(build_example(
        Lang::Js,
        "plugins/license-by-group-js",
        "license-rule",
    ))
    .expect("the component");
    let tight = CompileConfig {
        memory_mb: 300,
        ..CompileConfig::default()
    };
    let err = Plugin::load(&runtime(&tight), "rule", &js, Limits::default())
        .expect_err("too little memory to compile");
    assert!(
        err.to_string()
            .contains("compiling needed more than the limit of 300 MiB of memory"),
        "{err}"
    );
    let rule = std::fs::read(muster_artifacts::LICENSE_BY_GROUP).expect("the component");
    let plugin = Plugin::load(
        &runtime(&CompileConfig::default()),
        "rule",
        &rule,
        Limits::default(),
    )
    .expect("compiles in a child process");
    let person = engine::plugin::PluginInput::default();
    plugin
        .decide(&person, None, r#"{"rules": [], "default_plan": "basic"}"#)
        .expect("answers");
}

#[test]
fn python_transform_passes_the_shared_cases() {
    let wasm = build_example(
        Lang::Python,
        "plugins/normalize-attributes-py",
        "transformer",
    );
    passes_0_2(&wasm, "normalize-attributes");
}

#[test]
fn javascript_transform_passes_the_shared_cases() {
    let wasm = build_example(Lang::Js, "plugins/normalize-attributes-js", "transformer");
    passes_0_2(&wasm, "normalize-attributes");
}

#[test]
fn a_failing_case_fails_the_command_and_names_what_differed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases.json");
    std::fs::write(
        &cases,
        r#"{"config": {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"}]},
            "cases": [
              {"name": "right", "person": {"direct_groups": [{"id": "g", "display_name": "Zoom-Licensed"}]},
               "expect": {"decision": {"kind": "assign", "license": {"plan": "licensed"}}}},
              {"name": "wrong plan", "person": {"direct_groups": [{"id": "g", "display_name": "Zoom-Licensed"}]},
               "expect": {"decision": {"kind": "assign", "license": {"plan": "pro"}}}},
              {"name": "wrong kind", "expect": {"error": {"kind": "trap"}}},
              {"name": "message named", "config": {"rules": [], "typo": 1},
               "expect": {"error": {"kind": "guest-error", "code": "invalid-config", "message_contains": "typo"}}},
              {"name": "message not named", "config": {"rules": [], "typo": 1},
               "expect": {"error": {"kind": "guest-error", "message_contains": "no such text"}}}]}"#,
    )
    .expect("write cases");
    let (ok, stdout, _) = muster(&[
        "plugin",
        "test",
        muster_artifacts::LICENSE_BY_GROUP,
        "--cases",
        cases.to_str().expect("utf-8"),
    ]);
    assert!(!ok, "must exit non-zero: {stdout}");
    assert!(stdout.contains("ok    right"), "{stdout}");
    assert!(
        stdout.contains("FAIL  wrong plan: /license/plan differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  wrong kind: expected error trap"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    message named"), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL  message not named: expected an error message containing \"no such text\""
        ),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 3 failed"), "{stdout}");

    std::fs::write(
        &cases,
        r#"{"cases": [{"name": "x", "expect": {"decison": {}}}]}"#,
    )
    .expect("write cases");
    let (ok, _, stderr) = muster(&[
        "plugin",
        "test",
        muster_artifacts::LICENSE_BY_GROUP,
        "--cases",
        cases.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("cases[0].expect"), "names where: {stderr}");
}

/// `muster plugin new`, then the scaffold's own `build.sh`, then its own cases.
fn scaffold_builds_and_passes(lang: Lang, flag: &str, world: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    let name = format!("my-{flag}-{world}");
    let dir = work.path().join(&name);
    let (ok, stdout, stderr) = muster(&[
        "plugin",
        "new",
        "--lang",
        flag,
        "--world",
        world,
        &name,
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let (tools, version) = match lang {
        Lang::Python => {
            let (tool, version) = componentize_py();
            (tool.parent().map(Path::to_path_buf), version)
        }
        Lang::Js => {
            let (tool, version) = componentize_js();
            (tool.parent().map(Path::to_path_buf), version)
        }
        Lang::Rust => (None, String::new()),
        // Its build.sh runs `muster plugin build-c`: this muster.
        Lang::C => {
            let (_, version) = clang();
            let muster = Path::new(env!("CARGO_BIN_EXE_muster"));
            (muster.parent().map(Path::to_path_buf), version)
        }
    };
    let key = key(&[&dir], &format!("{flag} {version}"));
    let wasm = cached(&name, &key, |out| {
        let mut c = Command::new(dir.join("build.sh"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths: Vec<PathBuf> = tools.into_iter().collect();
        paths.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(paths).expect("PATH"))
            // What the outer cargo sets for the host must not reach the guest build.
            .env("CARGO_TARGET_DIR", cache_dir().join("scaffold-target"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_LLVM_COV");
        run(c, &format!("{name}/build.sh"));
        std::fs::copy(dir.join(format!("{name}.wasm")), out).expect("the scaffold's component");
    });
    let (ok, stdout, stderr) = muster(&[
        "plugin",
        "test",
        wasm.to_str().expect("utf-8"),
        "--cases",
        dir.join("cases.json").to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let cases = std::fs::read_to_string(dir.join("cases.json")).expect("the scaffold's cases");
    let count = serde_json::from_str::<serde_json::Value>(&cases).expect("JSON")["cases"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(count >= 6, "{count} cases");
    assert!(
        stdout.contains(&format!("{count} passed, 0 failed")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = muster(&["plugin", "check", wasm.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("interface: muster:plugin@0.2.0"),
        "a scaffold is on the newest interface: {stdout}"
    );
}

#[test]
fn rust_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Rust, "rust", "license-rule");
}

#[test]
fn python_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Python, "python", "license-rule");
}

#[test]
fn javascript_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Js, "js", "license-rule");
}

#[test]
fn rust_transformer_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Rust, "rust", "transformer");
}

#[test]
fn python_transformer_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Python, "python", "transformer");
}

#[test]
fn javascript_transformer_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::Js, "js", "transformer");
}

#[test]
fn c_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::C, "c", "license-rule");
}

#[test]
fn c_transformer_scaffold_builds_and_passes_its_cases() {
    scaffold_builds_and_passes(Lang::C, "c", "transformer");
}

/// A test guest (`tests/guests/helpers-*`) with the helper module copied beside it, as a
/// scaffold has it, built and run against the cases both languages share.
fn helpers_pass(lang: Lang, guest: &str, source: &str, helper: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    for (from, name) in [
        (root().join("tests/guests").join(guest).join(source), source),
        (
            root().join(helper),
            Path::new(helper)
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name"),
        ),
    ] {
        std::fs::copy(&from, work.path().join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    let wasm = build_guest(lang, work.path(), guest, "transformer", &wit_0_2());
    passes_file(&wasm, &root().join("tests/guests/helpers-cases.json"));
}

#[test]
fn python_helpers_convert_every_value_and_name_bad_keys() {
    helpers_pass(
        Lang::Python,
        "helpers-py",
        "app.py",
        "plugins/sdk-python/muster_plugin.py",
    );
}

#[test]
fn javascript_helpers_convert_every_value_and_name_bad_keys() {
    helpers_pass(
        Lang::Js,
        "helpers-js",
        "app.js",
        "plugins/sdk-js/muster-plugin.js",
    );
}

#[test]
fn build_c_names_a_world_the_interface_does_not_have() {
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("app.c");
    std::fs::write(&source, "int unused;\n").expect("write app.c");
    let wit = root().join("wit");
    let (ok, _, stderr) = muster(&[
        "plugin",
        "build-c",
        "--world",
        "licence-rule",
        "--wit",
        wit.to_str().expect("utf-8"),
        "-o",
        work.path().join("x.wasm").to_str().expect("utf-8"),
        source.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("`licence-rule` not found in package `muster:plugin@0.1.0`"),
        "{stderr}"
    );
    assert!(!work.path().join("x.wasm").exists());
}

#[test]
fn plugin_new_refuses_a_bad_name_and_an_existing_folder() {
    let work = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = muster(&["plugin", "new", "--lang", "rust", "My Rule"]);
    assert!(!ok);
    assert!(stderr.contains("lowercase letters"), "{stderr}");
    let dir = work.path().to_str().expect("utf-8");
    let (ok, _, stderr) = muster(&["plugin", "new", "--lang", "js", "x", "--dir", dir]);
    assert!(!ok);
    assert!(stderr.contains("exists already"), "{stderr}");
}
