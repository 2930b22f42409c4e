//! How a new plugin version goes live. With no gate on the plugin (`[plugins.gates]`, or the
//! plugin's own `gates`), at once, as before gates existed. With one, only after a preview
//! ([`crate::preview`]) of its impact on the job's people passes every gate; a version that
//! does not is *staged*: kept compiled beside the active version, with its preview, and reported
//! in the log, on `/metrics` (`muster_plugin_staged`) and by the admin API, until an admin
//! activates it (with `force` past a failed gate, which the log records with the admin's token
//! id) or a newer version replaces it.
//!
//! A staged version can run in shadow ([`crate::shadow`]): called beside the active version on
//! every run, compared, never applied, and promoted after `[plugins.shadow]
//! promote_after_cycles` clean runs.
//!
//! Uploads through the admin API and files written to `[server] plugins_dir` both come here.
//!
//! Replicas sharing a PostgreSQL state serve the same versions: an activation on one keeps the
//! component in the database beside its record, and the others follow the newest activation
//! of each plugin within [`FOLLOW_EVERY`] ([`follow_activations`]). A cycle still pins the
//! versions it started with.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use plugin_host::{Plugin, RegistryError};
use serde::Serialize;

use crate::job::{Job, limits_of};
use crate::plugin_folder::InstallError;
use crate::preview::{Candidate, PreviewError, PreviewOptions, PreviewReport, preview};

pub const PLUGIN_STAGED: &str = "muster_plugin_staged";

/// Where a new version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `POST /admin/plugins/{name}/versions`.
    Upload,
    /// A file written to `[server] plugins_dir` (already on disk: nothing to save).
    Folder,
    /// The configuration file names a new version (seen at start).
    Configuration,
}

/// A version held back by a gate.
#[derive(Debug, Clone, Serialize)]
pub struct StagedVersion {
    pub version: String,
    pub origin: Origin,
    /// Why it is staged: the gates it failed, or that it was uploaded to run in shadow.
    pub reason: String,
    /// Unix seconds.
    pub staged_at: i64,
    /// The preview that held it back (none for a version uploaded to run in shadow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewReport>,
    /// Set while it runs in shadow beside the active version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowProgress>,
    #[serde(skip)]
    plugin: Arc<Plugin>,
    #[serde(skip)]
    bytes: Arc<[u8]>,
}

/// A shadow run's progress.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShadowProgress {
    /// Unix seconds.
    pub since: i64,
    /// Runs in a row that compared within the gates (on-demand runs do not count).
    pub clean_runs: u32,
    /// The last run's comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<engine::preview::ShadowCounts>,
}

impl StagedVersion {
    /// `compiled` staged now with its preview, for `reason`.
    fn previewed(
        compiled: Arc<Plugin>,
        bytes: Arc<[u8]>,
        origin: Origin,
        reason: String,
        report: PreviewReport,
    ) -> StagedVersion {
        StagedVersion {
            version: compiled.id().version.clone(),
            origin,
            reason,
            staged_at: store::now_unix(),
            preview: Some(report),
            shadow: None,
            plugin: compiled,
            bytes,
        }
    }

    /// The compiled version, for a shadow run.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }
}

/// The staged versions, by plugin name: one per plugin, the latest. With `[server]
/// plugins_dir`, an uploaded one is also kept in its `.staged/` folder (`<name>.wasm`, and
/// `<name>.json` saying whether it runs in shadow), so a restart stages it again; a file of the
/// plugin folder itself is staged again by being there.
#[derive(Debug, Default)]
pub struct Staging {
    versions: Mutex<BTreeMap<String, StagedVersion>>,
    kept_in: Option<PathBuf>,
    /// Versions the plugin folder offered that did not load, by plugin: (version, why). Kept
    /// until a version of that plugin is staged or activated.
    rejected: Mutex<BTreeMap<String, (String, String)>>,
}

/// What `.staged/<name>.json` keeps beside the component.
#[derive(Serialize, serde::Deserialize)]
struct KeptStaging {
    version: String,
    shadow: bool,
}

impl Staging {
    /// Staged versions kept in `dir` (`<plugins_dir>/.staged`), or in memory only.
    pub fn kept_in(dir: Option<PathBuf>) -> Staging {
        Staging {
            versions: Mutex::default(),
            kept_in: dir,
            rejected: Mutex::default(),
        }
    }

    /// The uploaded versions kept staged across a restart: (name, component, shadow).
    fn kept(&self) -> Vec<(String, Vec<u8>, bool)> {
        let Some(dir) = &self.kept_in else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut kept = Vec::new();
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
                continue;
            };
            let note = std::fs::read(&path)
                .ok()
                .and_then(|text| serde_json::from_slice::<KeptStaging>(&text).ok());
            let bytes = std::fs::read(dir.join(format!("{name}.wasm"))).ok();
            match (note, bytes) {
                (Some(note), Some(bytes))
                    if plugin_host::plugin::version_of(&bytes) == note.version =>
                {
                    kept.push((name.to_string(), bytes, note.shadow))
                }
                _ => {
                    tracing::warn!(file = %path.display(), "kept staged version unreadable or incomplete; ignored")
                }
            }
        }
        kept
    }

    /// Writes an uploaded staged version to `.staged/`; a failure leaves it staged in memory.
    fn keep(&self, name: &str, staged: &StagedVersion) {
        let Some(dir) = &self.kept_in else { return };
        if staged.origin != Origin::Upload {
            return;
        }
        let note = KeptStaging {
            version: staged.version.clone(),
            shadow: staged.shadow.is_some(),
        };
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join(format!("{name}.wasm")), &staged.bytes))
            .and_then(|()| {
                let text = serde_json::to_vec(&note).map_err(std::io::Error::other)?;
                std::fs::write(dir.join(format!("{name}.json")), text)
            });
        if let Err(e) = written {
            tracing::warn!(plugin = name, dir = %dir.display(), error = %e, "staged version not kept: a restart forgets it");
        }
    }

    fn forget(&self, name: &str) {
        let Some(dir) = &self.kept_in else { return };
        for file in [format!("{name}.json"), format!("{name}.wasm")] {
            match std::fs::remove_file(dir.join(&file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(plugin = name, file, error = %e, "could not remove a kept staged version")
                }
                _ => {}
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<StagedVersion> {
        self.lock().get(name).cloned()
    }

    /// The staged versions that are not running in shadow: held back by their gates, waiting
    /// for an admin. Plugin name, version and why.
    pub fn held(&self) -> Vec<(String, String, String)> {
        let staged = self.lock();
        // An upload's outcome was answered to the admin who sent it; the folder's and the
        // configuration's versions arrive with nobody watching.
        let held = staged
            .iter()
            .filter(|(_, s)| s.shadow.is_none() && s.origin != Origin::Upload);
        held.map(|(n, s)| (n.clone(), s.version.clone(), s.reason.clone()))
            .collect()
    }

    /// The staged versions running in shadow.
    pub fn shadowed(&self) -> Vec<(String, StagedVersion)> {
        let staged = self.lock();
        let shadowed = staged.iter().filter(|(_, s)| s.shadow.is_some());
        shadowed.map(|(n, s)| (n.clone(), s.clone())).collect()
    }

    /// Changes the staged version of `name`, if it is still `version`.
    pub(crate) fn update(
        &self,
        name: &str,
        version: &str,
        change: impl FnOnce(&mut StagedVersion),
    ) {
        let mut versions = self.lock();
        if let Some(staged) = versions.get_mut(name)
            && staged.version == version
        {
            let shadow = staged.shadow.is_some();
            change(staged);
            if staged.shadow.is_some() != shadow {
                self.keep(name, staged);
            }
        }
    }

    /// Drops the staged version of `name` (a failed shadow, an admin's decision).
    pub fn drop_staged(&self, name: &str) -> Option<StagedVersion> {
        self.clear(name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StagedVersion>> {
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that the plugin folder's `version` of `name` did not load, and why.
    pub fn reject(&self, name: &str, version: &str, why: &str) {
        self.rejections()
            .insert(name.to_string(), (version.to_string(), why.to_string()));
    }

    /// The folder's versions that did not load: (name, version, why).
    pub fn rejected(&self) -> Vec<(String, String, String)> {
        self.rejections()
            .iter()
            .map(|(n, (v, why))| (n.clone(), v.clone(), why.clone()))
            .collect()
    }

    fn rejections(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, String)>> {
        self.rejected.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, name: &str, staged: StagedVersion) {
        metrics::gauge!(PLUGIN_STAGED, "plugin" => name.to_string()).set(1.0);
        self.rejections().remove(name);
        self.keep(name, &staged);
        self.lock().insert(name.to_string(), staged);
    }

    fn clear(&self, name: &str) -> Option<StagedVersion> {
        self.rejections().remove(name);
        let removed = self.lock().remove(name);
        if removed.is_some() {
            metrics::gauge!(PLUGIN_STAGED, "plugin" => name.to_string()).set(0.0);
            self.forget(name);
        }
        removed
    }
}

/// What became of a new version.
#[derive(Debug)]
pub enum Admitted {
    /// Active now; with the preview that let it through when a gate applied, and the file it
    /// was saved to in `plugins_dir` for an upload.
    Active {
        plugin: Arc<Plugin>,
        preview: Option<Box<PreviewReport>>,
        saved: Option<PathBuf>,
    },
    /// Held back by a gate.
    Staged(Box<StagedVersion>),
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("no plugin named {0:?} is configured")]
    Unknown(String),
    /// Not a valid component for this plugin; the active version keeps serving.
    #[error(transparent)]
    Load(#[from] RegistryError),
    /// The preview a gate needs could not run; the active version keeps serving.
    #[error("the preview the gates need could not run, so the version was not activated: {0}")]
    Preview(#[from] PreviewError),
    #[error(transparent)]
    NotSaved(InstallError),
    #[error("plugin {name}: no version is staged")]
    NothingStaged { name: String },
    /// A staged version's preview failed a gate and `force` was not given.
    #[error(
        "plugin {name}: staged version {version} exceeds the gates ({reason}); activate it with \
         force=true to override"
    )]
    GatesFailed {
        name: String,
        version: String,
        reason: String,
    },
}

/// Admits `bytes` as a new version of `name`: previewed when a gate applies (or
/// `require_preview`), then activated or staged.
pub async fn admit(
    job: &Arc<Job>,
    name: &str,
    bytes: Arc<[u8]>,
    origin: Origin,
    require_preview: bool,
    by: &str,
) -> Result<Admitted, AdmitError> {
    let compiled = compile(job, name, &bytes).await?;
    let unchanged = job
        .registry
        .active(name)
        .is_some_and(|active| Arc::ptr_eq(&active, &compiled));
    if unchanged {
        // Nothing changes, and what is staged stays staged: the folder watch reads the file an
        // upload just saved, and a Kubernetes volume update re-reads every file.
        return Ok(Admitted::Active {
            plugin: compiled,
            preview: None,
            saved: None,
        });
    }
    let gated = require_preview || crate::preview::is_gated(job, name);
    if !gated {
        return activate(job, name, compiled, &bytes, origin, None, by);
    }
    if let Some(staged) = job.staging.get(name)
        && staged.version == compiled.id().version
    {
        // The same file seen again (the folder watch re-reads a Kubernetes volume whole).
        return Ok(Admitted::Staged(Box::new(staged)));
    }
    let report = preview_against_active(job, name, &compiled).await?;
    if report.passed {
        tracing::info!(plugin = name, version = %compiled.id().version, "preview within the gates");
        return activate(job, name, compiled, &bytes, origin, Some(report), by);
    }
    let reason = report.impact.failed_gates();
    tracing::warn!(plugin = name, version = %compiled.id().version, ?origin, %reason, "new plugin version exceeds the gates: staged, not activated");
    let staged = StagedVersion::previewed(compiled, bytes, origin, reason, report);
    job.staging.put(name, staged.clone());
    Ok(Admitted::Staged(Box::new(staged)))
}

/// The preview of `compiled` against the active version of `name`.
async fn preview_against_active(
    job: &Arc<Job>,
    name: &str,
    compiled: &Arc<Plugin>,
) -> Result<PreviewReport, PreviewError> {
    let candidate = Candidate {
        name: name.to_string(),
        compiled: Some(compiled.clone()),
        ..Candidate::default()
    };
    preview(job, &[candidate], &PreviewOptions::default()).await
}

/// Compiles `bytes` as a version of the configured plugin `name` (off the runtime's threads),
/// refusing one of another world than the active version's.
async fn compile(job: &Arc<Job>, name: &str, bytes: &Arc<[u8]>) -> Result<Arc<Plugin>, AdmitError> {
    let entry = job
        .plugin_entries()
        .find(|e| e.name == name)
        .cloned()
        .ok_or_else(|| AdmitError::Unknown(name.to_string()))?;
    let compiled = {
        let (job, bytes, name) = (job.clone(), bytes.clone(), name.to_string());
        tokio::task::spawn_blocking(move || job.registry.compile(&name, &bytes, limits_of(&entry)))
            .await
            .map_err(|e| PreviewError::Other(anyhow::anyhow!("compiling the component: {e}")))??
    };
    if let Some(active) = job.registry.active(name)
        && active.world() != compiled.world()
    {
        return Err(AdmitError::Load(RegistryError::WorldChanged {
            name: name.to_string(),
            active: active.world(),
            new: compiled.world(),
        }));
    }
    Ok(compiled)
}

/// Stages `bytes` as a new version of `name` without a preview and runs it in shadow beside
/// the active version (`POST .../versions?shadow=true`).
pub async fn stage_for_shadow(
    job: &Arc<Job>,
    name: &str,
    bytes: Arc<[u8]>,
    origin: Origin,
) -> Result<StagedVersion, AdmitError> {
    let compiled = compile(job, name, &bytes).await?;
    let now = store::now_unix();
    let staged = StagedVersion {
        version: compiled.id().version.clone(),
        origin,
        reason: "uploaded to run in shadow".into(),
        staged_at: now,
        preview: None,
        shadow: Some(ShadowProgress {
            since: now,
            ..ShadowProgress::default()
        }),
        plugin: compiled,
        bytes,
    };
    tracing::info!(plugin = name, version = %staged.version, "staged to run in shadow");
    job.staging.put(name, staged.clone());
    Ok(staged)
}

/// Stages `bytes` as a new version of `name` with its preview against the active version,
/// without activating it, whatever the gates say (`POST .../versions?stage=true`, the
/// console's upload, an upload kept staged across a restart): an admin reads the preview, then
/// activates (`force` past a failed gate) or drops it.
pub async fn stage_for_review(
    job: &Arc<Job>,
    name: &str,
    bytes: Arc<[u8]>,
    origin: Origin,
) -> Result<StagedVersion, AdmitError> {
    let compiled = compile(job, name, &bytes).await?;
    let report = preview_against_active(job, name, &compiled).await?;
    let reason = if report.passed {
        "staged for review; within the gates".to_string()
    } else {
        report.impact.failed_gates()
    };
    let staged = StagedVersion::previewed(compiled, bytes, origin, reason, report);
    tracing::info!(plugin = name, version = %staged.version, passed = staged.preview.as_ref().is_some_and(|p| p.passed), "staged for review");
    job.staging.put(name, staged.clone());
    Ok(staged)
}

/// At start: a gated plugin whose configured component is not the version the last run used
/// is admitted like an upload (previewed against that version, which serves meanwhile, then
/// activated or staged), so an edit of the configuration file passes the gates too. The version
/// that served must still be at hand: `[server] plugins_dir` keeps a copy of every configured
/// version for this. A plugin the folder's `<name>.wasm` decides is left to the folder.
pub async fn gate_configured(job: &Arc<Job>) {
    let Some(folder) = job.plugin_folder() else {
        return;
    };
    let last = match job.store.last_cycle() {
        Ok(last) => last,
        Err(e) => {
            tracing::warn!(error = %e, "the last cycle could not be read: configured versions are not gated");
            None
        }
    };
    let entries: Vec<_> = job.plugin_entries().cloned().collect();
    for entry in entries {
        let name = entry.name.as_str();
        let Ok(bytes) = job.configured_bytes(&entry) else {
            continue;
        };
        let configured = plugin_host::plugin::version_of(&bytes);
        if let Err(e) = folder.keep_copy(name, &configured, &bytes) {
            tracing::warn!(plugin = name, error = %e, "no copy of the configured version kept: a later configuration change cannot be gated against it");
        }
        let before = last.as_ref().and_then(|c| c.plugin_versions.get(name));
        let Some(before) = before.filter(|v| **v != configured) else {
            continue;
        };
        if !crate::preview::is_gated(job, name) || folder.active_file(name).exists() {
            continue;
        }
        let Ok(old) = std::fs::read(folder.kept_file(name, before)) else {
            tracing::warn!(plugin = name, before = %before, configured = %configured, "the configuration names a new version, but the one that served is not kept: the new one serves without a preview");
            continue;
        };
        let restored = job
            .registry
            .compile(name, &old, limits_of(&entry))
            .and_then(|plugin| job.registry.activate(name, plugin));
        if let Err(e) = restored {
            tracing::warn!(plugin = name, before = %before, error = %e, "the version that served could not be loaded again: the configured one serves without a preview");
            continue;
        }
        match admit(
            job,
            name,
            Arc::from(bytes),
            Origin::Configuration,
            false,
            "the configuration file",
        )
        .await
        {
            Ok(Admitted::Active { .. }) => {
                tracing::info!(plugin = name, version = %configured, "configured version within the gates: active")
            }
            Ok(Admitted::Staged(_)) => {
                tracing::warn!(plugin = name, version = %configured, serving = %before, "configured version exceeds the gates: staged; the version that served keeps serving")
            }
            Err(e) => {
                tracing::error!(plugin = name, version = %configured, serving = %before, error = %e, "configured version not admitted; the version that served keeps serving")
            }
        }
    }
}

/// Stages again the uploaded versions kept staged before a restart, each with a fresh preview
/// (or in shadow, as it was); none is activated by the restart.
pub async fn restore_staged(job: &Arc<Job>) {
    for (name, bytes, shadow) in job.staging.kept() {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        let restored = if shadow {
            stage_for_shadow(job, &name, bytes, Origin::Upload)
                .await
                .map(|_| ())
        } else {
            // With a fresh preview, whatever it says.
            stage_for_review(job, &name, bytes, Origin::Upload)
                .await
                .map(|_| ())
        };
        match restored {
            Ok(()) => {
                tracing::info!(plugin = %name, shadow, "staged version kept across the restart")
            }
            Err(e) => {
                tracing::warn!(plugin = %name, error = %e, "kept staged version dropped");
                job.staging.forget(&name);
            }
        }
    }
}

/// Runs the staged version of `name` in shadow from the next run on.
pub fn start_shadow(job: &Job, name: &str) -> Result<StagedVersion, AdmitError> {
    let staged = job
        .staging
        .get(name)
        .ok_or_else(|| AdmitError::NothingStaged {
            name: name.to_string(),
        })?;
    job.staging.update(name, &staged.version, |s| {
        s.shadow.get_or_insert_with(|| ShadowProgress {
            since: store::now_unix(),
            ..ShadowProgress::default()
        });
    });
    tracing::info!(plugin = name, version = %staged.version, "staged version runs in shadow");
    job.staging.get(name).ok_or(AdmitError::NothingStaged {
        name: name.to_string(),
    })
}

/// Activates the staged version of `name`. Past a failed gate only with `force`; `who` (the
/// admin's token id) is logged with a forced activation.
pub fn activate_staged(
    job: &Job,
    name: &str,
    force: bool,
    who: &str,
) -> Result<Arc<Plugin>, AdmitError> {
    let staged = job
        .staging
        .get(name)
        .ok_or_else(|| AdmitError::NothingStaged {
            name: name.to_string(),
        })?;
    let passed = staged.preview.as_ref().is_none_or(|p| p.passed);
    if !passed && !force {
        return Err(AdmitError::GatesFailed {
            name: name.to_string(),
            version: staged.version,
            reason: staged.reason,
        });
    }
    let (plugin, _) = activate_now(
        job,
        name,
        staged.plugin.clone(),
        &staged.bytes,
        staged.origin,
        ("staged", who),
    )?;
    if passed {
        tracing::info!(plugin = name, version = %staged.version, by = who, "staged plugin version activated");
    } else {
        tracing::warn!(plugin = name, version = %staged.version, forced_by = who, gates = %staged.reason, "staged plugin version activated past its gates");
    }
    Ok(plugin)
}

fn activate(
    job: &Job,
    name: &str,
    plugin: Arc<Plugin>,
    bytes: &[u8],
    origin: Origin,
    preview: Option<PreviewReport>,
    by: &str,
) -> Result<Admitted, AdmitError> {
    let how = match origin {
        Origin::Upload => "upload",
        Origin::Folder => "folder",
        Origin::Configuration => "configuration",
    };
    let (plugin, saved) = activate_now(job, name, plugin, bytes, origin, (how, by))?;
    Ok(Admitted::Active {
        plugin,
        preview: preview.map(Box::new),
        saved,
    })
}

/// Activates a shadowed version that passed its runs.
pub(crate) fn promote(
    job: &Job,
    name: &str,
    staged: &StagedVersion,
) -> Result<Arc<Plugin>, AdmitError> {
    let (plugin, _) = activate_now(
        job,
        name,
        staged.plugin.clone(),
        &staged.bytes,
        staged.origin,
        ("shadow", "its clean shadow runs"),
    )?;
    Ok(plugin)
}

/// Makes `plugin` active (an upload also saved to `plugins_dir`), recorded as `(how, by)` in
/// the plugin's activations; returns the file saved.
fn activate_now(
    job: &Job,
    name: &str,
    plugin: Arc<Plugin>,
    bytes: &[u8],
    origin: Origin,
    (how, by): (&str, &str),
) -> Result<(Arc<Plugin>, Option<PathBuf>), AdmitError> {
    let _activating = job.activating.lock().unwrap_or_else(|e| e.into_inner());
    let saved = match (job.plugin_folder(), origin) {
        (Some(folder), Origin::Upload) => {
            let (_, file) = folder
                .install_compiled(&job.registry, name, plugin.clone(), bytes)
                .map_err(|e| match e {
                    InstallError::Load(e) => AdmitError::Load(e),
                    e => AdmitError::NotSaved(e),
                })?;
            Some(file)
        }
        _ => {
            job.registry.activate(name, plugin.clone())?;
            None
        }
    };
    // A newer version went live: what was staged is stale.
    job.staging.clear(name);
    share_component(job, name, &plugin.id().version, bytes);
    record_activation(job, name, &plugin.id().version, how, by);
    Ok((plugin, saved))
}

/// How often a replica looks for activations the others made.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps `bytes` in the shared state for the other replicas (before the activation that names
/// it is recorded, so a follower never sees an activation without its component).
pub fn share_component(job: &Job, name: &str, version: &str, bytes: &[u8]) {
    if !job.replica.shared {
        return;
    }
    if let Err(e) = job.store.save_plugin_component(name, version, bytes) {
        tracing::warn!(plugin = name, version, error = %e,
            "the component could not be kept for the other replicas; they keep their version");
    }
}

/// On a replica of a shared state: activates, every [`FOLLOW_EVERY`], the version another
/// replica activated last (an upload, a rollback, a staged version let through), without
/// recording it again or previewing it again (the replica that activated it did).
pub async fn follow_activations(job: Arc<Job>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        for entry in job.plugin_entries().cloned().collect::<Vec<_>>() {
            if let Err(e) = follow_one(&job, &entry, &mut seen).await {
                tracing::warn!(plugin = %entry.name, error = format!("{e:#}"),
                    "cannot follow the other replicas' activation of this plugin");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

async fn follow_one(
    job: &Arc<Job>,
    entry: &engine::config::PluginConfig,
    seen: &mut BTreeMap<String, i64>,
) -> anyhow::Result<()> {
    let name = entry.name.as_str();
    let latest = {
        let (job, name) = (job.clone(), name.to_string());
        tokio::task::spawn_blocking(move || job.store.latest_activation(&name)).await??
    };
    let Some((id, version)) = latest else {
        return Ok(());
    };
    if seen.get(name) == Some(&id) {
        return Ok(());
    }
    seen.insert(name.to_string(), id);
    if job
        .registry
        .active(name)
        .is_some_and(|active| active.id().version == version)
    {
        return Ok(());
    }
    let component = {
        let (job, name, version) = (job.clone(), name.to_string(), version.clone());
        tokio::task::spawn_blocking(move || job.store.plugin_component(&name, &version)).await??
    };
    let Some(bytes) = component else {
        anyhow::bail!(
            "version {version} is the newest activation, but no replica kept its component"
        );
    };
    let plugin = {
        let (job, name, limits) = (job.clone(), name.to_string(), limits_of(entry));
        tokio::task::spawn_blocking(move || job.registry.compile(&name, &bytes, limits)).await??
    };
    {
        // Still the newest? An activation of this replica since the read above is newer, and
        // one in progress waits for this lock and lands after.
        let _activating = job.activating.lock().unwrap_or_else(|e| e.into_inner());
        let still = job.store.latest_activation(name)?;
        if still.as_ref().map(|(id, _)| *id) != Some(id) {
            seen.remove(name);
            return Ok(());
        }
        job.registry.activate(name, plugin)?;
    }
    job.staging.clear(name);
    tracing::info!(plugin = name, version = %version, "activated the version another replica activated");
    Ok(())
}

/// Records an activation in the plugin's history; a failure to record is logged, and does not
/// undo the activation.
pub fn record_activation(job: &Job, name: &str, version: &str, how: &str, by: &str) {
    if let Err(e) = job.store.record_activation(name, version, how, by) {
        tracing::warn!(plugin = name, version, error = %e, "the activation could not be recorded in the plugin's history");
    }
}
