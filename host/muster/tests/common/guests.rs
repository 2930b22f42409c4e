//! Builds the example guests in Python, JavaScript and C with the pinned toolchains that
//! `.ci/test` installs (componentize-py in `.venv`, componentize-js in `plugins/node_modules`,
//! Debian's clang for wasm32-wasi with `muster-c-build`). A missing toolchain fails the test with
//! what to install: these tests are never skipped. A build takes 10-60 s, so its output is cached
//! in the target folder under a hash of everything the build reads (sources, WIT, toolchain
//! version).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("polyglot")
}

#[derive(Clone, Copy)]
pub enum Lang {
    Python,
    Js,
    C,
    Rust,
}

/// The pinned componentize-py, or a failure saying how to get it.
pub fn componentize_py() -> (PathBuf, String) {
    let path = std::env::var_os("MUSTER_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/componentize-py"));
    let version = Command::new(&path).arg("--version").output();
    match version {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                version.contains(COMPONENTIZE_PY_VERSION),
                "{} is {version}; these tests pin componentize-py {COMPONENTIZE_PY_VERSION} (run .ci/test)",
                path.display()
            );
            (path, version)
        }
        _ => panic!(
            "componentize-py is missing ({} does not run): the Python plugin tests need it. \
             Run .ci/test, which installs it, or: python3 -m venv .venv && \
             .venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}",
            path.display()
        ),
    }
}

/// The pinned componentize-js from `plugins/node_modules`, or a failure saying how to get it.
pub fn componentize_js() -> (PathBuf, String) {
    let modules = root().join("plugins/node_modules");
    let path = modules.join(".bin/componentize-js");
    let package = modules.join("@bytecodealliance/componentize-js/package.json");
    match std::fs::read_to_string(&package) {
        Ok(text) if path.exists() => {
            let version = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["version"].as_str().map(str::to_string))
                .unwrap_or_default();
            (path, version)
        }
        _ => panic!(
            "componentize-js is missing ({} does not exist): the JavaScript plugin tests need it. \
             Run .ci/test, which installs it, or: (cd plugins && npm ci) with node and npm",
            path.display()
        ),
    }
}

/// Hashes the files of `dirs` (not the outputs of a build) and `extra` into a cache key.
pub fn key(dirs: &[&Path], extra: &str) -> String {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if ["target", "node_modules", "__pycache__", ".venv"].contains(&name.as_str())
                || name.ends_with(".wasm")
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(extra);
    for dir in dirs {
        let mut files = Vec::new();
        walk(dir, &mut files);
        files.sort();
        for file in files {
            hasher.update(
                file.strip_prefix(dir)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(std::fs::read(&file).expect("read a source file"));
        }
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `build` (which writes the component to the path it is given) unless a component built
/// from the same inputs is cached; returns the cached component.
pub fn cached(label: &str, key: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = cache_dir().join("guests");
    std::fs::create_dir_all(&dir).expect("cache folder");
    let wasm = dir.join(format!("{label}-{key}.wasm"));
    if !wasm.exists() {
        let partial = dir.join(format!(".{label}-{key}.{}.wasm", std::process::id()));
        build(&partial);
        assert!(partial.exists(), "the build of {label} wrote no component");
        std::fs::rename(&partial, &wasm).expect("keep the component");
    }
    wasm
}

pub fn run(mut command: Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The WIT folder of `muster:plugin@0.2.0`, which the examples in `plugins/` and the helper
/// modules target.
pub fn wit_0_2() -> PathBuf {
    root().join("wit/0.2.0")
}

/// Builds a guest folder (relative to the repository root) with the command its README gives:
/// the examples in `plugins/` against 0.2.0, the test guests in `tests/guests/` (the 0.1.0
/// copies of the examples among them) against 0.1.0.
pub fn build_example(lang: Lang, path: &str, world: &str) -> PathBuf {
    let folder = path.rsplit('/').next().unwrap_or(path);
    let wit = if path.starts_with("plugins/") {
        wit_0_2()
    } else {
        root().join("wit")
    };
    let label = if path.starts_with("tests/guests/0.1.0/") {
        format!("{folder}-0.1.0")
    } else {
        folder.to_string()
    };
    build_guest(lang, &root().join(path), &label, world, &wit)
}

/// Builds the guest in `dir` against the WIT in `wit`, as [`build_example`] does, cached under
/// `folder`.
pub fn build_guest(lang: Lang, dir: &Path, folder: &str, world: &str, wit: &Path) -> PathBuf {
    let dir = dir.to_path_buf();
    let wit = wit.to_path_buf();
    match lang {
        Lang::Python => {
            let (tool, version) = componentize_py();
            let key = key(&[&dir, &wit], &format!("{version} {world}"));
            cached(folder, &key, |out| {
                let mut c = Command::new(tool);
                c.current_dir(&dir)
                    .args(["-d"])
                    .arg(&wit)
                    .args(["-w", world, "componentize", "app", "-o"])
                    .arg(out);
                run(c, &format!("componentize-py for {folder}"));
            })
        }
        Lang::Js => {
            let (tool, version) = componentize_js();
            let key = key(&[&dir, &wit], &format!("{version} {world}"));
            cached(folder, &key, |out| {
                let mut c = Command::new(tool);
                c.current_dir(&dir)
                    .arg("--wit")
                    .arg(&wit)
                    .args(["--world-name", world, "--disable", "http", "fetch-event"])
                    .arg("--out")
                    .arg(out)
                    .arg("app.js");
                run(c, &format!("componentize-js for {folder}"));
            })
        }
        Lang::C => {
            let (clang, version) = clang();
            let key = key(&[&dir, &wit], &format!("{version} {world}"));
            cached(folder, &key, |out| {
                let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .expect("the plugin folder")
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "c"))
                    .collect();
                sources.sort();
                muster_c_build::build(&muster_c_build::Build {
                    world: world.into(),
                    wit: wit.clone(),
                    sources,
                    out: out.to_path_buf(),
                    clang: Some(clang),
                    emit_bindings: None,
                })
                .unwrap_or_else(|e| panic!("building {folder}: {e}"));
            })
        }
        Lang::Rust => unreachable!("the Rust examples are built by plugins/artifacts"),
    }
}

/// The clang that builds C guests, and its version (for cache keys); a missing clang fails the
/// test with the packages to install.
pub fn clang() -> (PathBuf, String) {
    let clang = muster_c_build::find_clang().unwrap_or_else(|| {
        panic!(
            "clang is missing: the C plugin tests need Debian's {}. Run .ci/test, which \
             installs them",
            muster_c_build::PACKAGES
        )
    });
    let version = Command::new(&clang)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    (clang, version)
}
