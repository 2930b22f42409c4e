//! Previewing a rule change: the job's people planned with the active plugin versions and with
//! candidates (a new component, a new configuration, or both), compared by
//! [`engine::preview::compare`] and checked against the activation gates. Nothing is sent to
//! the target and nothing is written to the state: both plans are dry runs over the records as
//! they stand.
//!
//! The people come from a given snapshot file, else from the job's source (for a gateway job:
//! the users Entra sent, as the state holds them). Each plugin call is measured on both sides,
//! so the report also says what the candidate costs per call, next to the active version.

pub mod render;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use engine::config::{Gates, PluginConfig};
use engine::cycle::{CycleInput, Plan, plan_cycle};
use engine::model::Person;
use engine::plugin::{LicenseRule, PluginError, PluginId, Transform};
use engine::plugin_stage::{Pinned, PinnedPlugins};
use engine::preview::{Impact, Sides, compare};
use plugin_host::{CallStats, Plugin, World};
use serde::Serialize;

use crate::job::{Job, limits_of};
use crate::meters::{CallRecorder, Metered};

/// People listed per kind of change unless asked otherwise.
pub const DEFAULT_SAMPLES: usize = 10;

/// A plugin to preview in place of the active version: a new component, a new configuration
/// (a JSON document), or both.
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    pub name: String,
    pub component: Option<Vec<u8>>,
    /// The component already compiled (wins over `component`).
    pub compiled: Option<Arc<Plugin>>,
    pub config: Option<String>,
}

/// Where the preview's people come from.
#[derive(Debug, Clone, Default)]
pub enum Population {
    /// The job's source (a gateway job: the users Entra sent).
    #[default]
    Source,
    /// A directory snapshot file, in the file source's format.
    Snapshot(PathBuf),
    /// These people (a caller that already has them).
    People(Arc<Vec<Person>>),
}

#[derive(Debug, Clone)]
pub struct PreviewOptions {
    pub population: Population,
    /// People listed per kind of change.
    pub samples: usize,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            population: Population::Source,
            samples: DEFAULT_SAMPLES,
        }
    }
}

/// A preview: which versions were compared, the impact, the gates and what the calls cost.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewReport {
    pub plugins: Vec<Compared>,
    /// People read (the source's count; the impact counts those planned).
    pub people_read: usize,
    pub impact: Impact,
    pub costs: Vec<PluginCost>,
    /// The source's warnings (an unknown member id, a duplicate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every gate passed (also when none is configured).
    pub passed: bool,
}

/// One plugin's active and candidate versions.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub name: String,
    pub world: String,
    pub active: String,
    pub candidate: String,
    pub config_changed: bool,
}

impl Compared {
    /// Whether the candidate differs from the active version at all.
    pub fn changed(&self) -> bool {
        self.active != self.candidate || self.config_changed
    }
}

/// What one plugin's calls cost on one side of the preview.
#[derive(Debug, Clone, Serialize)]
pub struct PluginCost {
    pub plugin: String,
    /// `active` or `candidate`.
    pub side: &'static str,
    pub version: String,
    pub calls: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub fuel_per_call: u64,
    pub errors: u64,
}

/// Why a preview could not run.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no plugin named {0:?} is configured")]
    UnknownPlugin(String),
    #[error("plugin {name}: the candidate is a {new} plugin, the configured one a {active}")]
    WorldChanged {
        name: String,
        active: World,
        new: World,
    },
    #[error(transparent)]
    Invalid(#[from] PluginError),
    #[error("plugin {name}: the candidate configuration is not a JSON object: {message}")]
    BadConfig { name: String, message: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The gates a preview of `candidates` is held to: `[plugins.gates]` with each changed
/// plugin's own `gates` laid over it.
pub fn gates_for(job: &Job, names: &[String]) -> Gates {
    job.plugin_entries()
        .filter(|e| names.contains(&e.name))
        .filter_map(|e| e.gates.as_ref())
        .fold(job.config.plugins.gates.clone(), |gates, own| {
            gates.overlaid(own)
        })
}

/// Whether any gate applies to a new version of `name`.
pub fn is_gated(job: &Job, name: &str) -> bool {
    !gates_for(job, &[name.to_string()]).is_empty()
}

/// Runs a preview of `candidates` against the active versions.
pub async fn preview(
    job: &Job,
    candidates: &[Candidate],
    options: &PreviewOptions,
) -> Result<PreviewReport, PreviewError> {
    let (people, warnings) = population(job, &options.population).await?;
    let sides = build_sides(job, candidates)?;
    let records: Vec<_> = job
        .store
        .records()
        .context("reading the provisioned records")?
        .into_values()
        .collect();
    let pipeline = &job.pipeline;
    // The two plans are independent: one each on two threads.
    let plan = |plugins: &PinnedPlugins| -> Plan {
        plan_cycle(&CycleInput {
            deletion_threshold: false,
            ..CycleInput::everyone("preview", &people, &records, pipeline, plugins)
        })
    };
    let (before, after) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let before = s.spawn(|| plan(&sides.active.pinned));
            let after = plan(&sides.candidate.pinned);
            let before = before
                .join()
                .map_err(|_| anyhow::anyhow!("planning panicked"));
            before.map(|before| (before, after))
        })
    })?;
    let names: Vec<String> = sides
        .compared
        .iter()
        .filter(|c| c.changed())
        .map(|c| c.name.clone())
        .collect();
    let gates = gates_for(job, &names);
    let impact = compare(
        &Sides {
            before: &before,
            after: &after,
            records: &records,
            profile: &pipeline.profile,
            seats: &pipeline.seats,
        },
        &gates,
        options.samples,
    );
    let mut costs = sides.active.costs("active");
    costs.extend(sides.candidate.costs("candidate"));
    Ok(PreviewReport {
        plugins: sides.compared,
        people_read: people.len(),
        passed: impact.passed(),
        impact,
        costs,
        warnings,
    })
}

async fn population(
    job: &Job,
    population: &Population,
) -> Result<(Arc<Vec<Person>>, Vec<String>), PreviewError> {
    let nested = job.config.scope.nested_groups;
    Ok(match population {
        Population::People(people) => (people.clone(), Vec::new()),
        Population::Snapshot(path) => {
            let directory = crate::sources::file::read(path, nested)?;
            (Arc::new(directory.people), directory.warnings)
        }
        Population::Source if job.config.is_gateway() => {
            let store = job.store.clone();
            let people = tokio::task::spawn_blocking(move || crate::gateway::stored_people(&store))
                .await
                .context("reading the gateway's users")?
                .context("reading the gateway's users")?;
            (Arc::new(people), Vec::new())
        }
        Population::Source => {
            let read = crate::sources::read(job, false).await?;
            (Arc::new(read.directory.people), read.directory.warnings)
        }
    })
}

/// One side's pinned plugins and their meters.
struct Side {
    pinned: PinnedPlugins,
    meters: Vec<Arc<Measured>>,
}

impl Side {
    fn costs(&self, side: &'static str) -> Vec<PluginCost> {
        self.meters.iter().map(|m| cost(m, side)).collect()
    }
}

struct BothSides {
    active: Side,
    candidate: Side,
    compared: Vec<Compared>,
}

fn build_sides(job: &Job, candidates: &[Candidate]) -> Result<BothSides, PreviewError> {
    for candidate in candidates {
        if !job.plugin_entries().any(|e| e.name == candidate.name) {
            return Err(PreviewError::UnknownPlugin(candidate.name.clone()));
        }
    }
    let snapshot = job.registry.snapshot();
    let mut active = Side {
        pinned: PinnedPlugins::default(),
        meters: Vec::new(),
    };
    let mut candidate_side = Side {
        pinned: PinnedPlugins::default(),
        meters: Vec::new(),
    };
    let mut compared = Vec::new();
    for entry in job.plugin_entries() {
        let Some(current) = snapshot.get(&entry.name) else {
            return Err(anyhow::anyhow!("plugin {} is not loaded", entry.name).into());
        };
        let candidate = candidates.iter().find(|c| c.name == entry.name);
        let compiled = candidate.and_then(|c| c.compiled.clone());
        let new_plugin = match (compiled, candidate.and_then(|c| c.component.as_deref())) {
            (Some(plugin), _) => {
                if plugin.world() != current.world() {
                    return Err(PreviewError::WorldChanged {
                        name: entry.name.clone(),
                        active: current.world(),
                        new: plugin.world(),
                    });
                }
                Arc::new(plugin.pinned())
            }
            (None, Some(bytes)) => {
                let runtime = job.registry.runtime();
                let loaded = Plugin::load(runtime, &entry.name, bytes, limits_of(entry))?;
                if loaded.world() != current.world() {
                    return Err(PreviewError::WorldChanged {
                        name: entry.name.clone(),
                        active: current.world(),
                        new: loaded.world(),
                    });
                }
                Arc::new(loaded.pinned())
            }
            // Its own handle: the two sides plan at once, each with its own warm instances.
            (None, None) => Arc::new(current.pinned()),
        };
        let (new_config, config_changed) = match candidate.and_then(|c| c.config.as_deref()) {
            Some(text) => {
                let value = parse_config(&entry.name, text)?;
                let active = serde_json::from_str::<serde_json::Value>(&entry.config_json()).ok();
                let changed = active.as_ref() != Some(&value);
                (value.to_string(), changed)
            }
            None => (entry.config_json(), false),
        };
        compared.push(Compared {
            name: entry.name.clone(),
            world: current.world().to_string(),
            active: current.id().version.clone(),
            candidate: new_plugin.id().version.clone(),
            config_changed,
        });
        add(&mut active, current.clone(), entry, entry.config_json());
        add(&mut candidate_side, new_plugin, entry, new_config);
    }
    Ok(BothSides {
        active,
        candidate: candidate_side,
        compared,
    })
}

fn parse_config(name: &str, text: &str) -> Result<serde_json::Value, PreviewError> {
    let bad = |message: String| PreviewError::BadConfig {
        name: name.to_string(),
        message,
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err(bad("expected an object".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn add(side: &mut Side, plugin: Arc<Plugin>, entry: &PluginConfig, config: String) {
    let measured = Arc::new(Metered(plugin.clone(), Calls::default()));
    side.meters.push(measured.clone());
    match plugin.world() {
        World::Transformer => {
            let transform: Arc<dyn Transform> = measured;
            side.pinned.transforms.push(Pinned {
                config,
                ..Pinned::new(transform, entry)
            });
        }
        World::LicenseRule => {
            let rule: Arc<dyn LicenseRule> = measured;
            side.pinned.license = Some(Pinned {
                config,
                ..Pinned::new(rule, entry)
            });
        }
    }
}

/// A preview's tally of one plugin's calls, kept for the report and not on `/metrics`: a
/// preview is not production traffic. Per call: wall time in microseconds, fuel, failed.
#[derive(Default)]
struct Calls(Mutex<Vec<(u64, u64, bool)>>);

impl CallRecorder for Calls {
    fn record(&self, _: &PluginId, failure: Option<&'static str>, stats: &CallStats) {
        let micros = u64::try_from(stats.wall_time.as_micros()).unwrap_or(u64::MAX);
        let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
        calls.push((micros, stats.fuel_used, failure.is_some()));
    }
}

type Measured = Metered<Calls>;

fn cost(measured: &Measured, side: &'static str) -> PluginCost {
    let calls = measured.1.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut times: Vec<u64> = calls.iter().map(|c| c.0).collect();
    times.sort_unstable();
    let quantile = |q: f64| {
        let last = times.len().saturating_sub(1);
        times
            .get(((last as f64) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let fuel: u64 = calls.iter().map(|c| c.1).sum();
    let id = measured.0.id();
    PluginCost {
        plugin: id.name.clone(),
        side,
        version: id.version.clone(),
        calls: calls.len() as u64,
        p50_us: quantile(0.5),
        p99_us: quantile(0.99),
        fuel_per_call: fuel.checked_div(calls.len() as u64).unwrap_or(0),
        errors: calls.iter().filter(|c| c.2).count() as u64,
    }
}

/// Candidates from `name=path` pairs: components (`--plugin`) and configurations
/// (`--plugin-config`, a JSON file).
pub fn candidates_from_args(
    components: &[(String, PathBuf)],
    configs: &[(String, PathBuf)],
) -> anyhow::Result<Vec<Candidate>> {
    let mut by_name: BTreeMap<String, Candidate> = BTreeMap::new();
    for (name, path) in components {
        let bytes = std::fs::read(path)
            .with_context(|| format!("plugin {name}: reading {}", path.display()))?;
        let entry = by_name.entry(name.clone()).or_default();
        entry.name = name.clone();
        entry.component = Some(bytes);
    }
    for (name, path) in configs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("plugin {name}: reading {}", path.display()))?;
        let entry = by_name.entry(name.clone()).or_default();
        entry.name = name.clone();
        entry.config = Some(text);
    }
    Ok(by_name.into_values().collect())
}

/// Candidates from another configuration of the same job (a pull request's `job.toml`): each
/// plugin whose component or configuration differs from the job's. `dir` is the folder its
/// relative paths resolve against.
pub fn candidates_from_config(
    job: &Job,
    other: &engine::config::Config,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<Candidate>> {
    let mut candidates = Vec::new();
    let entries = other.transforms.iter().chain(other.license.iter());
    for entry in entries {
        let Some(current) = job.plugin_entries().find(|e| e.name == entry.name) else {
            bail!(
                "the candidate configuration has a plugin {:?} the job does not: a preview \
                 compares the job's plugins, version by version",
                entry.name
            );
        };
        let bytes = crate::job::configured_bytes(dir, entry)?;
        let version = plugin_host::plugin::version_of(&bytes);
        let active = job
            .registry
            .active(&entry.name)
            .map(|p| p.id().version.clone());
        let new_version = active.as_deref() != Some(version.as_str());
        let new_config = entry.config_json() != current.config_json();
        if new_version || new_config {
            candidates.push(Candidate {
                name: entry.name.clone(),
                component: new_version.then_some(bytes),
                compiled: None,
                config: new_config.then(|| entry.config_json()),
            });
        }
    }
    Ok(candidates)
}
