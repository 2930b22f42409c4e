//! Keeps the plugin versions uploaded or rolled back through the admin API in `[server]
//! plugins_dir`, so that a restart serves the version that served before it.
//!
//! The folder is the one `muster serve` watches and reads at start: `<name>.wasm` there wins
//! over the configured `path`. An upload replaces `<name>.wasm` (written aside, then renamed,
//! so neither the watcher nor a restart ever reads half a file) and keeps a copy under
//! `.versions/<name>/<version>.wasm`, from which a rollback restores it. Rolling back to the
//! configured version removes `<name>.wasm`, so the configuration decides again. Copies of
//! versions that have left the registry's history are deleted.

use std::io;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use engine::plugin::PluginId;
use plugin_host::registry::PluginRegistry;
use plugin_host::{Limits, Plugin, RegistryError};

/// Where kept copies live, inside the folder. The watcher reads only `*.wasm` directly in the
/// folder, so nothing in here is loaded by itself.
const KEPT: &str = ".versions";

/// The admin API's view of `plugins_dir`.
#[derive(Debug, Clone)]
pub struct PluginFolder {
    dir: PathBuf,
}

/// What a rollback left on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// `<name>.wasm` holds the restored version again.
    Saved(PathBuf),
    /// The restored version is the configured one: `<name>.wasm` was removed.
    Configured,
}

/// A rollback to a version of which no copy is kept and which is not the configured one (it
/// was loaded before this folder kept copies, or its copy was deleted by hand).
#[derive(Debug, thiserror::Error)]
#[error(
    "plugin {name}: no copy of version {version} is kept in {dir}, so the rollback holds only \
     until the next restart"
)]
pub struct NotKept {
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
}

/// An upload that does not serve.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The component was refused by the loader (the active version keeps serving).
    #[error(transparent)]
    Load(RegistryError),
    /// Loaded, but not kept: undone, so the version that served before serves on and a restart
    /// loads the same.
    #[error(
        "plugin {name}: version {version} could not be saved to the plugin folder ({source}); \
         the version that served before keeps serving"
    )]
    NotSaved {
        name: String,
        version: String,
        source: io::Error,
    },
}

/// A rollback that did not happen, or happened but could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// Refused before anything changed: the previous version could not be kept.
    #[error(transparent)]
    NotKept(NotKept),
    #[error(transparent)]
    Registry(RegistryError),
    /// Rolled back, but the folder could not be written: a restart would serve the version
    /// rolled back from.
    #[error("plugin {name}: rolled back to {version}, but {source}")]
    NotRestored {
        name: String,
        version: String,
        source: RestoreError,
    },
}

/// A rollback could not be written to the folder.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    NotKept(#[from] NotKept),
    #[error("writing to the plugin folder: {0}")]
    Io(#[from] io::Error),
}

impl PluginFolder {
    /// Loads `bytes` as the active version of `name` and keeps it here, so a restart serves
    /// it; a version that cannot be kept is undone, so what serves is what a restart loads.
    pub fn install(
        &self,
        registry: &PluginRegistry,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<(Arc<Plugin>, PathBuf), InstallError> {
        let plugin = registry
            .compile(name, bytes, limits)
            .map_err(InstallError::Load)?;
        self.install_compiled(registry, name, plugin, bytes)
    }

    /// [`PluginFolder::install`] for a version already compiled (`bytes` are its component).
    pub fn install_compiled(
        &self,
        registry: &PluginRegistry,
        name: &str,
        plugin: Arc<Plugin>,
        bytes: &[u8],
    ) -> Result<(Arc<Plugin>, PathBuf), InstallError> {
        let before = registry.active(name).map(|p| p.id().clone());
        let plugin = registry
            .activate(name, plugin)
            .map_err(InstallError::Load)?;
        let version = plugin.id().version.clone();
        match self.save(name, &version, bytes) {
            Ok(file) => {
                self.prune(name, &registry.history(name));
                Ok((plugin, file))
            }
            Err(source) => {
                if before.as_ref().is_some_and(|b| b.version != version) {
                    let _ = registry.rollback(name);
                }
                Err(InstallError::NotSaved {
                    name: name.to_string(),
                    version,
                    source,
                })
            }
        }
    }

    /// Rolls `name` back to its previous version and keeps that here (`configured`: the
    /// version of the configured `path`, which needs no copy). Refused, with nothing changed,
    /// when the previous version could not be kept.
    pub fn roll_back(
        &self,
        registry: &PluginRegistry,
        name: &str,
        configured: Option<&str>,
    ) -> Result<Arc<Plugin>, RollbackError> {
        if let Some(target) = registry.history(name).into_iter().nth(1)
            && !self.can_restore(name, &target.version, configured)
        {
            return Err(RollbackError::NotKept(NotKept {
                name: name.to_string(),
                version: target.version,
                dir: self.dir.clone(),
            }));
        }
        let restored = registry.rollback(name).map_err(RollbackError::Registry)?;
        let version = restored.id().version.clone();
        self.restore(name, &version, configured)
            .map_err(|source| RollbackError::NotRestored {
                name: name.to_string(),
                version,
                source,
            })?;
        self.prune(name, &registry.history(name));
        Ok(restored)
    }

    pub fn new(dir: PathBuf) -> Self {
        PluginFolder { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a restart reads for plugin `name`.
    pub fn active_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    /// Where the copy of version `version` of `name` is kept (rollbacks, replays).
    pub fn kept_file(&self, name: &str, version: &str) -> PathBuf {
        self.dir
            .join(KEPT)
            .join(name)
            .join(format!("{version}.wasm"))
    }

    /// Keeps a copy of `bytes` (version `version`) for `name` without making it what a restart
    /// loads: the configured version, so that a configuration naming another one can still be
    /// gated against it.
    pub fn keep_copy(&self, name: &str, version: &str, bytes: &[u8]) -> io::Result<()> {
        check_file_name(name)?;
        let kept = self.kept_file(name, version);
        if kept.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(self.dir.join(KEPT).join(name))?;
        write_whole(&kept, bytes)
    }

    /// Makes `bytes` (version `version`) what a restart loads for `name`, keeping a copy for a
    /// later rollback. Returns the file written.
    pub fn save(&self, name: &str, version: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        check_file_name(name)?;
        std::fs::create_dir_all(self.dir.join(KEPT).join(name))?;
        let active = self.active_file(name);
        // A version dropped into the folder by hand has no kept copy yet: keep it before it is
        // replaced, so a rollback can still reach it.
        match std::fs::read(&active) {
            Ok(current) => {
                let current_version = plugin_host::plugin::version_of(&current);
                let kept = self.kept_file(name, &current_version);
                if current_version != version && !kept.exists() {
                    write_whole(&kept, &current)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        write_whole(&self.kept_file(name, version), bytes)?;
        write_whole(&active, bytes)?;
        Ok(active)
    }

    /// Whether a rollback to `version` can be kept: a copy of it is kept, or it is the
    /// configured version.
    pub fn can_restore(&self, name: &str, version: &str, configured: Option<&str>) -> bool {
        configured == Some(version) || self.kept_file(name, version).exists()
    }

    /// Makes `version` what a restart loads for `name` again after a rollback: its kept copy,
    /// or nothing (the configured `path`) when `version` is `configured`.
    pub fn restore(
        &self,
        name: &str,
        version: &str,
        configured: Option<&str>,
    ) -> Result<Restored, RestoreError> {
        check_file_name(name)?;
        let active = self.active_file(name);
        if configured == Some(version) {
            match std::fs::remove_file(&active) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Restored::Configured);
        }
        let bytes = match std::fs::read(self.kept_file(name, version)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(NotKept {
                    name: name.to_string(),
                    version: version.to_string(),
                    dir: self.dir.clone(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        write_whole(&active, &bytes)?;
        Ok(Restored::Saved(active))
    }

    /// Deletes kept copies of `name` whose version is not in `history` (the registry's: the
    /// active version and those a rollback can still reach).
    pub fn prune(&self, name: &str, history: &[PluginId]) {
        let dir = self.dir.join(KEPT).join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let version = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if !history.iter().any(|id| id.version == version)
                && let Err(e) = std::fs::remove_file(&path)
            {
                tracing::warn!(file = %path.display(), error = %e, "could not delete a plugin copy no longer in the history");
            }
        }
    }
}

/// A plugin's name becomes a file name here: one that could reach outside the folder (a path
/// separator, a leading dot) is refused rather than written.
fn check_file_name(name: &str) -> io::Result<()> {
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if safe {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("plugin name {name:?} cannot be a file name in the plugin folder"),
        ))
    }
}

/// Writes `bytes` beside `path` and renames it into place: a reader sees the old file or the
/// new one, never a part. The name written aside does not end in `.wasm`, so the folder
/// watcher ignores it.
fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut aside = tempfile::Builder::new()
        .prefix(".upload-")
        .suffix(".partial")
        .tempfile_in(dir)?;
    io::Write::write_all(&mut aside, bytes)?;
    aside.as_file().sync_all()?;
    aside.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(versions: &[&str]) -> Vec<PluginId> {
        versions
            .iter()
            .map(|v| PluginId {
                name: "rule".into(),
                version: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn saves_restores_and_prunes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = PluginFolder::new(dir.path().to_path_buf());
        let active = folder.active_file("rule");

        assert_eq!(folder.save("rule", "v1", b"one").expect("saved"), active);
        folder.save("rule", "v2", b"two").expect("saved");
        assert_eq!(std::fs::read(&active).expect("read"), b"two");

        // Back to v1, whose copy is kept.
        assert_eq!(
            folder.restore("rule", "v1", Some("c0")).expect("restored"),
            Restored::Saved(active.clone())
        );
        assert_eq!(std::fs::read(&active).expect("read"), b"one");
        // Back to the configured version: the folder no longer decides.
        assert_eq!(
            folder.restore("rule", "c0", Some("c0")).expect("restored"),
            Restored::Configured
        );
        assert!(!active.exists());
        // A version dropped in by hand is kept before an upload replaces it.
        let by_hand = plugin_host::plugin::version_of(b"by hand");
        std::fs::write(&active, b"by hand").expect("drop a file in");
        folder.save("rule", "v3", b"three").expect("saved");
        assert!(folder.can_restore("rule", &by_hand, Some("c0")));
        assert_eq!(
            folder
                .restore("rule", &by_hand, Some("c0"))
                .expect("restored"),
            Restored::Saved(active.clone())
        );
        assert_eq!(std::fs::read(&active).expect("read"), b"by hand");
        // A version neither kept nor configured is an error that says so.
        assert!(!folder.can_restore("rule", "v9", Some("c0")));
        let err = folder
            .restore("rule", "v9", Some("c0"))
            .expect_err("not kept");
        assert!(err.to_string().contains("no copy of version v9"), "{err}");

        // A name that would reach outside the folder is refused.
        for name in ["../escape", ".hidden", "a/b", ""] {
            let err = folder.save(name, "v1", b"x").expect_err("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}");
        }

        folder.prune("rule", &history(&["v2"]));
        assert!(folder.kept_file("rule", "v2").exists());
        assert!(!folder.kept_file("rule", "v1").exists());
        // Nothing but the kept copies: no file written aside is left behind.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![KEPT.to_string(), "rule.wasm".to_string()]);
    }
}
