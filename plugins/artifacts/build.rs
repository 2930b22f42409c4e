//! Compiles every guest (the example plugins in `plugins/` and the hostile test guests in
//! `tests/guests/`) for `wasm32-wasip2` and writes their paths into `$OUT_DIR/artifacts.rs`, the
//! way wasmtime's `test-programs/artifacts` crate does, so `cargo test` and `muster demo` build
//! what they need without any other step.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, folder relative to the workspace root).
const GUESTS: &[(&str, &str)] = &[
    ("LICENSE_BY_GROUP", "plugins/license-by-group"),
    ("NORMALIZE_ATTRIBUTES", "plugins/normalize-attributes"),
    // The examples as they were built for muster:plugin@0.1.0, kept to prove the host still
    // serves 0.1.0 components unchanged.
    (
        "LICENSE_BY_GROUP_0_1",
        "tests/guests/0.1.0/license-by-group",
    ),
    (
        "NORMALIZE_ATTRIBUTES_0_1",
        "tests/guests/0.1.0/normalize-attributes",
    ),
    ("LOOP_FOREVER", "tests/guests/loop-forever"),
    ("ALLOCATE_UNBOUNDED", "tests/guests/allocate-unbounded"),
    ("TRAP", "tests/guests/trap"),
    ("HUGE_OUTPUT", "tests/guests/huge-output"),
    ("EXTRA_IMPORT", "tests/guests/extra-import"),
    ("COUNTER", "tests/guests/counter"),
    ("SELECTIVE_TRAP", "tests/guests/selective-trap"),
    ("ECHO", "tests/guests/echo"),
    ("ECHO_0_2", "tests/guests/echo-0-2"),
    ("SLEEP", "tests/guests/sleep"),
    ("ENTROPY", "tests/guests/entropy"),
    ("FUTURE_VERSION", "tests/guests/future-version"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../..");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    // One target dir for all guests so wit-bindgen and serde compile once.
    let target_dir = out_dir.join("guests");

    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // The example plugins' guest SDK and its allocator, path dependencies of theirs.
    for dependency in [
        "plugins/sdk-rust/src",
        "plugins/sdk-rust/Cargo.toml",
        "plugins/one-shot-alloc/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dependency).display());
    }
    let mut constants = String::new();
    for (constant, folder) in GUESTS {
        let dir = root.join(folder);
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
        // A guest built against its own copy of the WIT (`future-version`).
        if dir.join("wit").is_dir() {
            println!("cargo:rerun-if-changed={}", dir.join("wit").display());
        }
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.toml").display()
        );
        let wasm = build_guest(&dir, &target_dir);
        constants.push_str(&format!(
            "/// `{folder}`, compiled for wasm32-wasip2.\npub const {constant}: &str = {:?};\n",
            wasm.display()
        ));
        // The example plugins ship inside the `muster` binary (`path = "builtin:<name>"`).
        if folder.starts_with("plugins/") {
            constants.push_str(&format!(
                "/// The bytes of `{folder}`.\npub const {constant}_WASM: &[u8] = include_bytes!({:?});\n",
                wasm.display()
            ));
        }
    }
    fs::write(out_dir.join("artifacts.rs"), constants).expect("write artifacts.rs");
}

fn build_guest(dir: &Path, target_dir: &Path) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir)
        // What the outer build sets for the host must not leak into the guest build
        // (clippy's wrapper, host rustflags, the outer target dir).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_LLVM_COV")
        .status()
        .unwrap_or_else(|e| panic!("running cargo for {}: {e}", dir.display()));
    assert!(
        status.success(),
        "building guest {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)",
        dir.display()
    );
    let crate_name = package_name(dir).replace('-', "_");
    target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"))
}

/// The `name` of the guest's `[package]`, which names its `.wasm`.
fn package_name(dir: &Path) -> String {
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix("name")?.trim_start().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("{} names no package", manifest.display()))
}
