//! Compiled components cached on disk, so that a restart or a second load of a Python or
//! JavaScript guest (seconds of Cranelift) costs a file read instead.
//!
//! An entry is named by the component's sha256 and a hash of the engine's compilation settings
//! (wasmtime's `precompile_compatibility_hash`: its version, target and configuration), so a
//! changed component or engine never meets a stale entry. An entry is two files: `<key>.cwasm`,
//! wasmtime's own artifact (mapped into memory as it is, without a copy), and `<key>.sum`: its
//! length, its sha256 and the sha256 of the component it was compiled from. Before wasmtime sees
//! an artifact (its `deserialize` checks only the header), its hash must match and the component
//! hash must be the one being loaded, so a corrupt, truncated or swapped entry is compiled again
//! and rewritten. Both files are written to temporary files and renamed, so a reader never sees
//! half of one, and an artifact already mapped is never changed under it (a rename makes a new
//! file).
//!
//! Trust: deserializing runs the cached machine code, so the folder must be writable only by
//! the account that runs muster, as the muster binary itself is. A folder (or entry) that another
//! account owns or can write is refused: the component is compiled without the cache, and a
//! warning says why. A new folder is made readable by its owner only.
//!
//! Size: after each write the least recently used entries (a hit touches its `.sum`) are evicted
//! until the folder is under its budget (`MUSTER_PLUGIN_CACHE_MAX_MB`, 1 GiB by default; a
//! Python or JavaScript entry is 40-60 MB).

use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The environment variable that chooses the cache folder; `off` disables the cache.
pub const CACHE_ENV: &str = "MUSTER_PLUGIN_CACHE";
/// The environment variable that sets the cache's size budget in MiB.
pub const CACHE_MAX_MB_ENV: &str = "MUSTER_PLUGIN_CACHE_MAX_MB";
/// The default size budget.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Temporary files older than this were left by a writer that died; eviction removes them.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    max_bytes: u64,
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
        let max_bytes = std::env::var(CACHE_MAX_MB_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_MAX_BYTES, |mb| mb.saturating_mul(1 << 20));
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
        }
    }

    /// The same cache with another size budget.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, component_sha256: &[u8]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            hex(component_sha256),
            self.engine_key
        ))
    }

    /// The compiled component whose sha256 is `digest`: from the cache when a sound entry
    /// exists, else from `compile`, then stored. Failing to write the cache is logged, never
    /// fatal.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        digest: &[u8],
        compile: impl FnOnce() -> Result<Component, String>,
    ) -> Result<(Component, Origin), String> {
        if let Err(reason) = self.trusted_folder() {
            tracing::warn!(folder = %self.dir.display(), %reason, "refusing the compiled-plugin cache; compiling without it");
            return Ok((compile()?, Origin::Compiled));
        }
        let path = self.entry(digest);
        let mut origin = Origin::Compiled;
        let started = Instant::now();
        match Self::open(engine, &path, digest) {
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
        let component = compile()?;
        tracing::info!(
            compile_ms = started.elapsed().as_millis() as u64,
            "compiled plugin component"
        );
        if let Err(e) = self.store(&path, &component, digest) {
            tracing::warn!(entry = %path.display(), error = %e, "cannot write the compiled-plugin cache");
        }
        if let Err(e) = self.evict(&path) {
            tracing::warn!(folder = %self.dir.display(), error = %e, "cannot evict from the compiled-plugin cache");
        }
        Ok((component, origin))
    }

    /// Creates the folder (owner-only) when missing; refuses one that another account owns or
    /// can write, since whoever can write it can make muster run their machine code.
    fn trusted_folder(&self) -> Result<(), String> {
        match std::fs::metadata(&self.dir) {
            Ok(meta) => trusted(&meta, "the folder"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = self.dir.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("creating {}: {e}", parent.display()))?;
                }
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&self.dir)
                    .or_else(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(|e| format!("creating it: {e}"))?;
                let meta = std::fs::metadata(&self.dir).map_err(|e| e.to_string())?;
                trusted(&meta, "the folder")
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Removes the least recently used entries until the folder fits its budget, never `keep`
    /// (the entry just written); and temporary files that a dead writer left.
    fn evict(&self, keep: &Path) -> std::io::Result<()> {
        struct Entry {
            stem: PathBuf,
            bytes: u64,
            used: SystemTime,
        }
        let mut entries: std::collections::HashMap<PathBuf, Entry> = Default::default();
        let now = SystemTime::now();
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let path = item.path();
            let meta = item.metadata()?;
            let modified = meta.modified().unwrap_or(now);
            if path.extension().is_some_and(|x| x == "tmp") {
                if now.duration_since(modified).unwrap_or_default() > STALE_TEMP {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            if !path.extension().is_some_and(|x| x == "cwasm" || x == "sum") {
                continue;
            }
            let stem = path.with_extension("");
            let entry = entries.entry(stem.clone()).or_insert(Entry {
                stem,
                bytes: 0,
                used: SystemTime::UNIX_EPOCH,
            });
            entry.bytes += meta.len();
            entry.used = entry.used.max(modified);
        }
        let mut total: u64 = entries.values().map(|e| e.bytes).sum();
        let keep = keep.with_extension("");
        let mut oldest_first: Vec<Entry> = entries.into_values().collect();
        oldest_first.sort_by_key(|e| e.used);
        for entry in oldest_first {
            if total <= self.max_bytes {
                break;
            }
            if entry.stem == keep {
                continue;
            }
            // The checksum first: an artifact without one is never used.
            for ext in ["sum", "cwasm"] {
                match std::fs::remove_file(entry.stem.with_extension(ext)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            tracing::info!(entry = %entry.stem.display(), bytes = entry.bytes, "evicted from the compiled-plugin cache");
            total = total.saturating_sub(entry.bytes);
        }
        Ok(())
    }

    /// The cached component, `None` when there is no entry, or why the entry is unusable.
    fn open(engine: &Engine, path: &Path, digest: &[u8]) -> Result<Option<Component>, String> {
        let sum_path = path.with_extension("sum");
        let sum = match std::fs::read_to_string(&sum_path) {
            Ok(sum) => sum,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => {
                return Ok(None);
            }
            Err(e) => return Err(format!("reading its checksum: {e}")),
        };
        for file in [&sum_path, path] {
            let meta = std::fs::metadata(file).map_err(|e| format!("reading it: {e}"))?;
            trusted(&meta, "the entry")?;
        }
        let Some((recorded, component)) = sum.trim().rsplit_once(' ') else {
            return Err(format!("malformed checksum {:?}", sum.trim()));
        };
        if component != hex(digest) {
            return Err(format!(
                "compiled from another component (sha256 {component}, not {})",
                hex(digest)
            ));
        }
        let actual = checksum(path).map_err(|e| format!("reading it: {e}"))?;
        if recorded != actual {
            return Err(format!(
                "checksum mismatch (corrupt or truncated): expected {recorded}, found {actual}"
            ));
        }
        // SAFETY: the artifact was written by `store` below from wasmtime's own `serialize` for
        // this very component, its sha256 matches, and wasmtime checks that it was compiled by
        // this version and configuration. It is never modified in place (entries are replaced by
        // renaming), and the folder is trusted like the binary (checked above; see the module
        // docs).
        let component =
            unsafe { Component::deserialize_file(engine, path) }.map_err(|e| format!("{e:#}"))?;
        // Last use, for eviction; failing to record it only makes the entry look older.
        let _ = std::fs::File::options()
            .append(true)
            .open(&sum_path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Ok(Some(component))
    }

    fn store(&self, path: &Path, component: &Component, digest: &[u8]) -> std::io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        let artifact = component.serialize().map_err(std::io::Error::other)?;
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
        let sum = format!(
            "{} {} {}",
            artifact.len(),
            hex(&Sha256::digest(&artifact)),
            hex(digest)
        );
        write(path, &artifact, temp("cwasm"))?;
        write(&path.with_extension("sum"), sum.as_bytes(), temp("sum"))
    }
}

/// `<length> <sha256>` of a file, read in chunks (artifacts are tens of MB).
fn checksum(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut length = 0usize;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        length += n;
    }
    Ok(format!("{length} {}", hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Owned by the account muster runs as, and writable by no one else.
fn trusted(meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "{what} belongs to uid {}, not to uid {me} that runs muster",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "{what} can be written by other accounts (mode {:o}); `chmod go-w` it",
            mode & 0o7777
        ));
    }
    Ok(())
}
