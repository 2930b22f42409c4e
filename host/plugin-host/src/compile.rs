//! Compiling a component with bounds: its shape is read before any code is compiled, one
//! compilation runs at a time, and it may run in a child process with a memory limit and a
//! deadline.
//!
//! Cranelift cannot be interrupted and has no memory bound of its own, and a component chosen to
//! be pathological (deep nesting, huge functions) can make it run for minutes or allocate
//! gigabytes. In a child process (`muster plugin compile`), the kernel enforces the memory limit
//! (`RLIMIT_AS`) and the parent kills it at the deadline; the parent then loads the artifact the
//! child wrote, exactly as it loads a cached one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmparser::{Parser, Payload};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bounds on compiling one component in a child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Wall time for the whole compilation; the child is killed after it.
    pub timeout: Duration,
    /// Address space of the child (`RLIMIT_AS`), which bounds what Cranelift may allocate.
    pub memory_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            // A 15 MB JavaScript component compiles in 10-30 s on two cores.
            timeout: Duration::from_secs(120),
            // Compiling the largest example (JavaScript) peaks under 1 GiB; the rest is the
            // allocator's and the threads' reservations.
            memory_bytes: 4 << 30,
        }
    }
}

/// Where components are compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Compiler {
    /// In this process, without bounds beyond the component size: for tests and one-shot
    /// commands.
    #[default]
    InProcess,
    /// In a child process: `program args.. <component> <artifact> --memory-bytes <n>`, which
    /// must call [`compile_to_file`] (the muster binary's `muster plugin compile`).
    Child {
        program: PathBuf,
        args: Vec<String>,
        /// Set in the child's environment (e.g. to shrink an allocator's reservations, which
        /// count against the address-space limit).
        env: Vec<(String, String)>,
        limits: CompileLimits,
    },
}

/// The top-level imports and exports of a component, read without compiling it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The versions of `muster:plugin` the component's imports name (its types and host
    /// interfaces), e.g. `0.1.0`: what the guest was built against.
    pub interface_versions: Vec<String>,
}

/// Reads a component's top-level imports and exports (nested components and modules are
/// skipped), or says why the bytes are not a component.
pub fn shape(bytes: &[u8]) -> Result<Shape, String> {
    let mut shape = Shape::default();
    // Depth 1 is the outer component; nested modules and components open deeper levels.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("not a valid component: {e}"))? {
            Payload::Version { encoding, .. } => {
                depth += 1;
                if depth == 1 && encoding != wasmparser::Encoding::Component {
                    return Err(
                        "not a valid component: a core module, not a component (build \
                                it for wasm32-wasip2, or wrap it with `wasm-tools component new`)"
                            .into(),
                    );
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.map_err(|e| format!("not a valid component: {e}"))?;
                    if let Some(version) = interface_version(import.name.name)
                        && !shape.interface_versions.iter().any(|v| v == version)
                    {
                        shape.interface_versions.push(version.to_string());
                    }
                    // A type import (a record the world names) grants nothing.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        shape.imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    let export = export.map_err(|e| format!("not a valid component: {e}"))?;
                    if export.kind != wasmparser::ComponentExternalKind::Type {
                        shape.exports.push(export.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// The version in an import name of the `muster:plugin` package (`muster:plugin/types@0.1.0`
/// → `0.1.0`).
fn interface_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("muster:plugin/")?;
    rest.split_once('@').map(|(_, version)| version)
}

/// The child's side: limits this process's address space, then compiles `bytes` with the
/// runtime's engine settings and writes the artifact to `out`.
pub fn compile_to_file(bytes: &[u8], out: &Path, memory_bytes: u64) -> Result<(), String> {
    limit_address_space(memory_bytes)?;
    let engine = Engine::new(&crate::runtime::engine_config(false))
        .map_err(|e| format!("starting the compiler: {e:#}"))?;
    let artifact = engine
        .precompile_component(bytes)
        .map_err(|e| format!("not a valid component: {e:#}"))?;
    std::fs::write(out, artifact).map_err(|e| format!("writing {}: {e}", out.display()))
}

fn limit_address_space(bytes: u64) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct it is given and changes only this process's limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(format!(
            "setting the compile memory limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The parent's side: compiles in a child process and loads what it wrote.
pub(crate) fn in_child(
    engine: &Engine,
    bytes: &[u8],
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    limits: &CompileLimits,
) -> Result<Component, String> {
    // Owner-only, removed when dropped.
    let scratch = tempfile::Builder::new()
        .prefix("muster-compile-")
        .tempdir()
        .map_err(|e| format!("creating a scratch folder: {e}"))?;
    let input = scratch.path().join("component.wasm");
    let output = scratch.path().join("component.cwasm");
    {
        std::fs::write(&input, bytes).map_err(|e| format!("writing {}: {e}", input.display()))?;
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg(&input)
            .arg(&output)
            .arg("--memory-bytes")
            .arg(limits.memory_bytes.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping it stops whatever it started too (and
            // nothing is left holding its stderr open).
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting the compiler ({}): {e}", program.display()))?;
        let mut stderr = child.stderr.take();
        // Read to the end (a child blocked on a full pipe would only meet the deadline), keeping
        // the last 64 KiB.
        let reader = std::thread::spawn(move || {
            let mut tail: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Some(Ok(n)) = stderr.as_mut().map(|s| s.read(&mut chunk)) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 64 << 10 {
                    tail.drain(..tail.len() - (64 << 10));
                }
            }
            String::from_utf8_lossy(&tail).into_owned()
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= limits.timeout => {
                    if let Ok(group) = i32::try_from(child.id()) {
                        // SAFETY: kill has no memory effects; the group is the child's own.
                        unsafe { libc::kill(-group, libc::SIGKILL) };
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for the compiler: {e}")),
            }
        };
        let stderr = reader.join().unwrap_or_default();
        let said = what_it_said(&stderr);
        let Some(status) = status else {
            return Err(format!(
                "compiling took longer than the limit of {} s; the compiler was stopped",
                limits.timeout.as_secs_f64()
            ));
        };
        if !status.success() {
            use std::os::unix::process::ExitStatusExt;
            return Err(match status.signal() {
                // An allocation that RLIMIT_AS refuses aborts the Rust process.
                Some(libc::SIGABRT) | Some(libc::SIGSEGV) | Some(libc::SIGKILL) => format!(
                    "compiling needed more than the limit of {} MiB of memory{}",
                    limits.memory_bytes >> 20,
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(" ({said})")
                    }
                ),
                _ if !said.is_empty() => said.trim_start_matches("error: ").to_string(),
                _ => format!("the compiler failed ({status})"),
            });
        }
        // SAFETY: the artifact was written just now, into a folder only this process created,
        // by `compile_to_file` of this very binary for an engine of the same configuration
        // (wasmtime checks the version and settings in its header).
        unsafe { Component::deserialize_file(engine, &output) }
            .map_err(|e| format!("loading the compiled component: {e:#}"))
    }
}

/// The line that explains a failure: a panic's message, else the last line written.
fn what_it_said(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut last = "";
    while let Some(line) = lines.next() {
        if line.contains("panicked at") {
            return lines.next().unwrap_or(line).to_string();
        }
        last = line;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_is_not_a_component() {
        // `(module)`: the magic, version 1, layer 0.
        let module = b"\0asm\x01\0\0\0";
        let err = shape(module).expect_err("a module");
        assert!(err.contains("core module"), "{err}");
        assert!(shape(b"garbage").is_err());
    }
}
