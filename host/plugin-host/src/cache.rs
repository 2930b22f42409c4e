//! Compiled components cached on disk, so that a restart or a second load of a Python or
//! JavaScript guest (seconds of Cranelift) costs a file read instead.
//!
//! An entry is named by the component's sha256 and a hash of the engine's compilation settings
//! (wasmtime's `precompile_compatibility_hash`: its version, target and configuration), so a
//! changed component or engine never meets a stale entry. Each file is
//! `MAGIC ‖ sha256(artifact) ‖ artifact`: the digest catches a truncated or corrupted file before
//! wasmtime sees it (its own `deserialize` checks only the header), and such an entry is compiled
//! again and rewritten. Entries are written to a temporary file and renamed, so a reader never
//! sees half of one.
//!
//! Trust: deserializing runs the cached machine code, so the folder must be writable only by
//! the account that runs muster (as the muster binary itself is). Nothing is ever evicted: an
//! entry is a few times its component's size; delete the folder to reclaim the space.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The environment variable that chooses the cache folder; `off` disables the cache.
pub const CACHE_ENV: &str = "MUSTER_PLUGIN_CACHE";

const MAGIC: &[u8; 8] = b"MUSTERC1";
const DIGEST: usize = 32;

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
        match std::fs::read(&path) {
            Ok(file) => match Self::open(engine, &file) {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(reason) => {
                    tracing::warn!(entry = %path.display(), %reason, "unusable compiled-plugin cache entry; compiling again");
                    origin = Origin::Recompiled;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(entry = %path.display(), error = %e, "cannot read the compiled-plugin cache");
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

    fn open(engine: &Engine, file: &[u8]) -> Result<Component, String> {
        let Some(rest) = file.strip_prefix(MAGIC.as_slice()) else {
            return Err("not a muster cache entry".into());
        };
        if rest.len() < DIGEST {
            return Err("truncated".into());
        }
        let (digest, artifact) = rest.split_at(DIGEST);
        if Sha256::digest(artifact).as_slice() != digest {
            return Err("checksum mismatch (corrupt or truncated)".into());
        }
        // SAFETY: the artifact was written by `store` below from wasmtime's own `serialize`, its
        // checksum matches, and wasmtime checks that it was compiled by this version and
        // configuration. The folder is trusted like the binary (see the module docs).
        unsafe { Component::deserialize(engine, artifact) }.map_err(|e| format!("{e:#}"))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        let artifact = component.serialize().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(
            ".{}-{}.tmp",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = Vec::with_capacity(MAGIC.len() + DIGEST + artifact.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&Sha256::digest(&artifact));
        file.extend_from_slice(&artifact);
        std::fs::write(&temp, &file)?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }
}
