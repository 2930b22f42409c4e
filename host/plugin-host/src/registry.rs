//! Hot swap. Each plugin name has one active version behind `arc-swap`: a call takes an `Arc`
//! of the version active when it starts and finishes on it, whatever is swapped in meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use engine::plugin::{PluginError, PluginId};

use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::runtime::Runtime;

/// Versions kept per plugin for rollback.
const HISTORY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Load(#[from] PluginError),
    #[error("no plugin named {0:?} is loaded")]
    Unknown(String),
    #[error("plugin {0:?} has no previous version to roll back to")]
    NoPreviousVersion(String),
    #[error("plugin {name:?} is a {active} plugin; the new version is a {new} plugin")]
    WorldChanged {
        name: String,
        active: crate::World,
        new: crate::World,
    },
}

struct Slot {
    active: ArcSwap<Plugin>,
    /// Earlier versions, most recent last.
    previous: Mutex<Vec<Arc<Plugin>>>,
}

/// The active version of every plugin, swappable while calls run.
pub struct PluginRegistry {
    runtime: Runtime,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
}

/// Versions pinned at one moment: a sync cycle holds one so every person in it sees the same
/// plugins, whatever is swapped in during the cycle.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub plugins: BTreeMap<String, Arc<Plugin>>,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    pub fn versions(&self) -> BTreeMap<String, String> {
        self.plugins
            .iter()
            .map(|(n, p)| (n.clone(), p.id().version.clone()))
            .collect()
    }
}

impl PluginRegistry {
    pub fn new(runtime: Runtime) -> Self {
        PluginRegistry {
            runtime,
            slots: RwLock::new(HashMap::new()),
        }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Compiles and validates `bytes` fully, then makes it the active version of `name`. A
    /// component that fails to load leaves the active version serving. Loading the version that
    /// is already active changes nothing.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Arc<Plugin>, RegistryError> {
        let plugin = self.compile(name, bytes, limits)?;
        self.activate(name, plugin)
    }

    /// Compiles and validates `bytes` as a version of `name` without making it active (for a
    /// preview, or a version held back by a gate). The active version, or one still in the
    /// history, is reused rather than compiled again.
    pub fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Arc<Plugin>, RegistryError> {
        let version = crate::plugin::version_of(bytes);
        if let Some(active) = self.active(name)
            && active.id().version == version
            && *active.limits() == limits
        {
            return Ok(active);
        }
        match self.earlier_version(name, &version, &limits) {
            Some(p) => Ok(p),
            None => Ok(Arc::new(Plugin::load(&self.runtime, name, bytes, limits)?)),
        }
    }

    /// Makes a compiled version the active one of `name`; the version it replaces goes to the
    /// history. Activating the version already active changes nothing.
    pub fn activate(&self, name: &str, plugin: Arc<Plugin>) -> Result<Arc<Plugin>, RegistryError> {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        match slots.get(name) {
            Some(slot) => {
                let old = slot.active.load_full();
                if Arc::ptr_eq(&old, &plugin) {
                    return Ok(plugin);
                }
                if old.world() != plugin.world() {
                    return Err(RegistryError::WorldChanged {
                        name: name.to_string(),
                        active: old.world(),
                        new: plugin.world(),
                    });
                }
                slot.active.store(plugin.clone());
                let mut previous = slot.previous.lock().unwrap_or_else(|e| e.into_inner());
                previous.push(old);
                if previous.len() > HISTORY {
                    previous.remove(0);
                }
            }
            None => {
                let slot = Slot {
                    active: ArcSwap::new(plugin.clone()),
                    previous: Mutex::new(Vec::new()),
                };
                slots.insert(name.to_string(), Arc::new(slot));
            }
        }
        tracing::info!(plugin = name, version = %plugin.id().version, world = %plugin.world(), "plugin version active");
        Ok(plugin)
    }

    fn earlier_version(&self, name: &str, version: &str, limits: &Limits) -> Option<Arc<Plugin>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let previous = slots
            .get(name)?
            .previous
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let found = previous
            .iter()
            .rev()
            .find(|p| p.id().version == version && p.limits() == limits);
        found.cloned()
    }

    /// The version active now.
    pub fn active(&self, name: &str) -> Option<Arc<Plugin>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(name).map(|s| s.active.load_full())
    }

    /// Makes the previous version active again.
    pub fn rollback(&self, name: &str) -> Result<Arc<Plugin>, RegistryError> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .get(name)
            .ok_or_else(|| RegistryError::Unknown(name.to_string()))?;
        let mut previous = slot.previous.lock().unwrap_or_else(|e| e.into_inner());
        let back = previous
            .pop()
            .ok_or_else(|| RegistryError::NoPreviousVersion(name.to_string()))?;
        slot.active.store(back.clone());
        tracing::info!(plugin = name, version = %back.id().version, "plugin rolled back");
        Ok(back)
    }

    /// The active version first, then earlier ones, most recent first.
    pub fn history(&self, name: &str) -> Vec<PluginId> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots.get(name) else {
            return Vec::new();
        };
        let previous = slot.previous.lock().unwrap_or_else(|e| e.into_inner());
        std::iter::once(slot.active.load().id().clone())
            .chain(previous.iter().rev().map(|p| p.id().clone()))
            .collect()
    }

    /// Pins the active version of every plugin, as [`Plugin::pinned`] handles of their own: a
    /// costly guest's instance may be reused within the snapshot (one cycle), never across two.
    pub fn snapshot(&self) -> Snapshot {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        Snapshot {
            plugins: slots
                .iter()
                .map(|(n, s)| (n.clone(), Arc::new(s.active.load().pinned())))
                .collect(),
        }
    }
}
