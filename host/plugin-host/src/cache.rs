//! Compiled components cached on disk, so that a restart or a second load of a Python or
//! JavaScript guest (seconds of Cranelift) costs a file read instead.
//!
//! An entry is named by the component's sha256 and a hash of the engine's compilation settings
//! (wasmtime's `precompile_compatibility_hash`: its version, target and configuration), so a
//! changed component or engine never meets a stale entry. An entry is two files: `<key>.cwasm`,
//! wasmtime's own artifact (mapped into memory as it is, without a copy), and `<key>.sum`, its
//! length and CRC-32. The checksum catches a truncated or corrupted artifact before wasmtime sees
//! it (its `deserialize` checks only the header); such an entry is compiled again and rewritten.
//! Both files are written to temporary files and renamed, so a reader never sees half of one, and
//! an artifact already mapped is never changed under it (a rename makes a new file).
//!
//! Trust: deserializing runs the cached machine code, so the folder must be writable only by
//! the account that runs muster (as the muster binary itself is). Nothing is ever evicted: an
//! entry is a few times its component's size; delete the folder to reclaim the space.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Component;

/// The environment variable that chooses the cache folder; `off` disables the cache.
pub const CACHE_ENV: &str = "MUSTER_PLUGIN_CACHE";

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// How a component was obtained, for logs and `muster plugin check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Compiled now (no cache, or no entry yet).
    Compiled,
    /// Read from the cache.
    Cached,
    /// The cache entry was unusable (corrupt, truncated, from another engine build) and was
    /// replaced by a fresh compile.
    Recompiled,
}

/// The default folder: `$MUSTER_PLUGIN_CACHE` (`off` for none), else
/// `$XDG_CACHE_HOME/muster/plugins`, else `$HOME/.cache/muster/plugins`.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(v) if v == "off" => return None,
        Some(v) if !v.is_empty() => return Some(PathBuf::from(v)),
        _ => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("muster").join("plugins"))
}

impl CompileCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, component_sha256: &[u8]) -> PathBuf {
        let hex: String = component_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes` (whose sha256 is `digest`): from the cache when a
    /// sound entry exists, else compiled and stored. Failing to write the cache is logged, never
    /// fatal.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &[u8],
    ) -> wasmtime::Result<(Component, Origin)> {
        let path = self.entry(digest);
        let mut origin = Origin::Compiled;
        let started = Instant::now();
        match Self::open(engine, &path) {
            Ok(Some(component)) => {
                tracing::debug!(
                    entry = %path.display(),
                    load_us = started.elapsed().as_micros() as u64,
                    "compiled plugin component read from the cache"
                );
                return Ok((component, Origin::Cached));
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(entry = %path.display(), %reason, "unusable compiled-plugin cache entry; compiling again");
                origin = Origin::Recompiled;
            }
        }
        let started = Instant::now();
        let component = Component::from_binary(engine, bytes)?;
        tracing::info!(
            compile_ms = started.elapsed().as_millis() as u64,
            "compiled plugin component"
        );
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(entry = %path.display(), error = %e, "cannot write the compiled-plugin cache");
        }
        Ok((component, origin))
    }

    /// The cached component, `None` when there is no entry, or why the entry is unusable.
    fn open(engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
        let sum = match std::fs::read_to_string(path.with_extension("sum")) {
            Ok(sum) => sum,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => {
                return Ok(None);
            }
            Err(e) => return Err(format!("reading its checksum: {e}")),
        };
        let actual = checksum(path).map_err(|e| format!("reading it: {e}"))?;
        if sum.trim() != actual {
            return Err(format!(
                "checksum mismatch (corrupt or truncated): expected {}, found {actual}",
                sum.trim()
            ));
        }
        // SAFETY: the artifact was written by `store` below from wasmtime's own `serialize`, its
        // checksum matches, and wasmtime checks that it was compiled by this version and
        // configuration. It is never modified in place (entries are replaced by renaming), and
        // the folder is trusted like the binary (see the module docs).
        unsafe { Component::deserialize_file(engine, path) }
            .map(Some)
            .map_err(|e| format!("{e:#}"))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        let artifact = component.serialize().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let temp = |what: &str| {
            self.dir.join(format!(
                ".{}-{}.{what}.tmp",
                std::process::id(),
                TEMP.fetch_add(1, Ordering::Relaxed)
            ))
        };
        let write = |target: &Path, bytes: &[u8], temp: PathBuf| {
            std::fs::write(&temp, bytes)?;
            std::fs::rename(&temp, target).inspect_err(|_| {
                let _ = std::fs::remove_file(&temp);
            })
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&artifact);
        let sum = format!("{} {:08x}", artifact.len(), crc.finalize());
        write(path, &artifact, temp("cwasm"))?;
        write(&path.with_extension("sum"), sum.as_bytes(), temp("sum"))
    }
}

/// `<length> <crc32>` of a file, read in chunks (artifacts are tens of MB).
fn checksum(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut length = 0usize;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        crc.update(&buffer[..n]);
        length += n;
    }
    Ok(format!("{length} {:08x}", crc.finalize()))
}
