//! Loads `.wasm` files dropped into a folder: `<name>.wasm` becomes the active version of plugin
//! `<name>`. Events are debounced so a file still being written is read once it is quiet; a
//! partial file that slips through fails validation and leaves the old version serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

use crate::limits::Limits;
use crate::registry::PluginRegistry;

/// Quiet time before a changed file is read.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the folder watched until dropped.
pub struct FolderWatch {
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
}

/// Watches `dir`; `limits_for(name)` gives the limits for a plugin name. Every file read
/// becomes the active version of its plugin.
pub fn watch_folder(
    dir: &Path,
    registry: Arc<PluginRegistry>,
    limits_for: impl Fn(&str) -> Limits + Send + 'static,
) -> Result<FolderWatch, notify_debouncer_mini::notify::Error> {
    watch_folder_with(dir, move |name, path, bytes| {
        load_file(&registry, name, path, bytes, &limits_for)
    })
}

/// Watches `dir` and hands each `<name>.wasm` written there to `on_file(name, path, bytes)`,
/// which decides what becomes of it (the service previews it first when gates apply).
pub fn watch_folder_with(
    dir: &Path,
    on_file: impl Fn(&str, &Path, &[u8]) + Send + 'static,
) -> Result<FolderWatch, notify_debouncer_mini::notify::Error> {
    let folder = dir.to_path_buf();
    let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| match events {
        Ok(events) => {
            let mut paths: Vec<PathBuf> = events.into_iter().map(|e| e.path).collect();
            if paths.iter().any(|p| is_atomic_writer_entry(p)) {
                paths.extend(wasm_files(&folder));
            }
            paths.sort();
            paths.dedup();
            for path in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            {
                read_file(path, &on_file);
            }
        }
        Err(e) => tracing::warn!(error = %e, "plugin folder watch error"),
    })?;
    debouncer
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)?;
    tracing::info!(dir = %dir.display(), "watching plugin folder");
    Ok(FolderWatch {
        _debouncer: debouncer,
    })
}

/// Kubernetes mounts a ConfigMap or Secret as symlinks into a `..data` directory that it swaps
/// atomically, so an update shows up as events on `..data`, never on `<name>.wasm`: on such an
/// event every `.wasm` in the folder is read again (an unchanged version loads as a no-op).
fn is_atomic_writer_entry(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".."))
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect()
        })
        .unwrap_or_default()
}

fn read_file(path: &Path, on_file: &impl Fn(&str, &Path, &[u8])) {
    let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
        return;
    };
    // Removed or renamed away: the active version keeps serving.
    if let Ok(bytes) = std::fs::read(path) {
        on_file(name, path, &bytes);
    }
}

fn load_file(
    registry: &PluginRegistry,
    name: &str,
    path: &Path,
    bytes: &[u8],
    limits_for: &impl Fn(&str) -> Limits,
) {
    match registry.load(name, bytes, limits_for(name)) {
        Ok(p) => {
            tracing::info!(plugin = name, version = %p.id().version, file = %path.display(), "loaded from plugin folder")
        }
        Err(e) => {
            tracing::error!(plugin = name, file = %path.display(), error = %e, "new plugin version rejected; the active version keeps serving")
        }
    }
}
