//! One loaded plugin version: validated against the worlds at load, called with a fresh,
//! limited store every time.

use std::time::{Duration, Instant};

use engine::model::License;
use engine::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use crate::bindings::license_rule::LicenseRulePre;
use crate::bindings::transformer::TransformerPre;
use crate::convert;
use crate::limits::Limits;
use crate::runtime::{Runtime, ticks};
use crate::state::CallState;

/// Fuel a spinning guest burns in a default deadline (50 ms at ~4e9 units a second), the scale
/// against which "the guest hardly ran" is judged.
const SPIN_FUEL: u64 = 200_000_000;

/// The interface package this host implements. Guests built against any `0.1.x` load.
pub const INTERFACE: &str = "muster:plugin@0.1.0";

/// Which world a component targets, read from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    LicenseRule,
    Transformer,
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::LicenseRule => "license-rule",
            World::Transformer => "transformer",
        })
    }
}

/// What one call cost, for `muster plugin run` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    pub fuel_used: u64,
    pub peak_memory_bytes: usize,
    pub wall_time: Duration,
}

enum Pre {
    LicenseRule(LicenseRulePre<CallState>),
    Transformer(TransformerPre<CallState>),
}

/// A validated, compiled plugin version, ready to be called from any thread.
pub struct Plugin {
    id: PluginId,
    world: World,
    limits: Limits,
    size: usize,
    imports: Vec<String>,
    runtime: Runtime,
    pre: Pre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.id)
            .field("world", &self.world)
            .finish()
    }
}

/// The content hash that names a plugin version: the first 12 hex digits of its sha256.
pub fn version_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl Plugin {
    /// Compiles and validates a component. Anything that would fail later (a world we do not
    /// implement, an import outside it, a type mismatch) fails here, naming what was wrong.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let invalid = |message: String| PluginError::InvalidComponent {
            name: name.to_string(),
            message,
        };
        if bytes.len() > limits.component_bytes {
            return Err(invalid(format!(
                "component is {} bytes, over the limit of {} bytes",
                bytes.len(),
                limits.component_bytes
            )));
        }
        let engine = runtime.engine();
        let component = Component::from_binary(engine, bytes)
            .map_err(|e| invalid(format!("not a valid component: {e:#}")))?;
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let world = world_of(&exports).map_err(&invalid)?;
        let foreign: Vec<&str> = imports
            .iter()
            .map(String::as_str)
            .filter(|i| !is_allowed_import(i))
            .collect();
        if !foreign.is_empty() {
            return Err(invalid(format!(
                "imports {} outside the {world} world of {INTERFACE}; a plugin may import only \
                 muster:plugin/host and WASI interfaces (which get no capabilities)",
                foreign.join(", ")
            )));
        }
        let instance_pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("cannot be linked: {e:#}")))?;
        let pre = match world {
            World::LicenseRule => LicenseRulePre::new(instance_pre).map(Pre::LicenseRule),
            World::Transformer => TransformerPre::new(instance_pre).map(Pre::Transformer),
        }
        .map_err(|e| {
            invalid(format!(
                "does not match the {world} world of {INTERFACE}: {e:#}"
            ))
        })?;
        Ok(Plugin {
            id: PluginId {
                name: name.to_string(),
                version: version_of(bytes),
            },
            world,
            limits,
            size: bytes.len(),
            imports,
            runtime: runtime.clone(),
            pre,
        })
    }

    pub fn id(&self) -> &PluginId {
        &self.id
    }

    pub fn world(&self) -> World {
        self.world
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// Runs the license rule, returning what the call cost as well.
    pub fn decide_with_stats(
        &self,
        person: &PluginInput,
        current: Option<&License>,
        config: &str,
    ) -> (Result<LicenseDecision, PluginError>, CallStats) {
        let Pre::LicenseRule(pre) = &self.pre else {
            return (
                Err(self.wrong_world(World::LicenseRule)),
                CallStats::default(),
            );
        };
        let wit_person = convert::person_to_wit(person);
        let wit_current = current.map(convert::license_to_wit);
        self.call(
            &person.id,
            |store| {
                let rule = pre.instantiate(&mut *store)?;
                store.set_epoch_deadline(ticks(self.limits.deadline));
                rule.call_decide(&mut *store, &wit_person, wit_current.as_ref(), config)
            },
            |result| convert::decision_from_wit(&self.id, result, self.limits.output_bytes),
        )
    }

    /// Runs the transform, returning what the call cost as well.
    pub fn transform_with_stats(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> (Result<TransformOutcome, PluginError>, CallStats) {
        let Pre::Transformer(pre) = &self.pre else {
            return (
                Err(self.wrong_world(World::Transformer)),
                CallStats::default(),
            );
        };
        let wit_person = convert::person_to_wit(person);
        self.call(
            &person.id,
            |store| {
                let transformer = pre.instantiate(&mut *store)?;
                store.set_epoch_deadline(ticks(self.limits.deadline));
                transformer.call_transform(&mut *store, &wit_person, config)
            },
            |result| convert::outcome_from_wit(&self.id, result, self.limits.output_bytes),
        )
    }

    /// One call in a fresh store: nothing a guest keeps in its memory survives to the next person.
    ///
    /// WASI's stdio (a guest's panic message, a `println!`) is served by `wasmtime-wasi`, which
    /// blocks on tokio; from inside an async task that would panic the host. So a call made on
    /// a runtime thread is moved out of the async context first.
    fn call<W, T>(
        &self,
        person_id: &str,
        run: impl Fn(&mut Store<CallState>) -> wasmtime::Result<W> + Send + Sync,
        finish: impl FnOnce(W) -> Result<T, PluginError> + Send,
    ) -> (Result<T, PluginError>, CallStats)
    where
        T: Send,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => self.call_blocking(person_id, run, finish),
            Ok(RuntimeFlavor::CurrentThread) => std::thread::scope(|s| {
                let worker = s.spawn(|| self.call_blocking(person_id, run, finish));
                worker.join().unwrap_or_else(|_| {
                    let plugin = self.id.clone();
                    (
                        Err(PluginError::Trap {
                            plugin,
                            message: "host thread panicked".into(),
                        }),
                        CallStats::default(),
                    )
                })
            }),
            Ok(_) => tokio::task::block_in_place(|| self.call_blocking(person_id, run, finish)),
        }
    }

    fn call_blocking<W, T>(
        &self,
        person_id: &str,
        run: impl Fn(&mut Store<CallState>) -> wasmtime::Result<W>,
        finish: impl FnOnce(W) -> Result<T, PluginError>,
    ) -> (Result<T, PluginError>, CallStats) {
        let (mut outcome, mut stats) = self.attempt(person_id, &run);
        // The deadline is wall time: on a loaded host a call can be descheduled past it while the
        // guest has hardly run. A guest that really spins burns ~4e9 fuel units a second, so a
        // deadline hit with little fuel used gets one more try; a busy loop fails again at once.
        if let Err(PluginError::Deadline { .. }) = &outcome
            && stats.fuel_used < self.limits.fuel.min(SPIN_FUEL) / 20
        {
            tracing::debug!(plugin = %self.id, person = person_id, "deadline hit with little fuel used; retrying once");
            (outcome, stats) = self.attempt(person_id, &run);
        }
        (outcome.and_then(finish), stats)
    }

    fn attempt<W>(
        &self,
        person_id: &str,
        run: &impl Fn(&mut Store<CallState>) -> wasmtime::Result<W>,
    ) -> (Result<W, PluginError>, CallStats) {
        let started = Instant::now();
        let mut store = Store::new(
            self.runtime.engine(),
            CallState::new(&self.id, person_id, &self.limits),
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        // The start-up deadline covers instantiation; `run` tightens it before the call itself.
        store.set_epoch_deadline(ticks(self.limits.startup_deadline));
        let outcome = store
            .set_fuel(self.limits.fuel)
            .and_then(|()| run(&mut store));
        let stats = CallStats {
            fuel_used: self
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            peak_memory_bytes: store.data().limiter.peak_memory,
            wall_time: started.elapsed(),
        };
        let outcome = outcome.map_err(|error| self.classify(&error, store.data()));
        (outcome, stats)
    }

    /// Tells apart the ways a call can fail, because the admin's next step differs for each.
    fn classify(&self, error: &wasmtime::Error, state: &CallState) -> PluginError {
        let plugin = self.id.clone();
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                limit: self.limits.fuel,
            },
            Some(Trap::Interrupt) => PluginError::Deadline {
                plugin,
                limit_ms: self.limits.deadline.as_millis() as u64,
            },
            _ if state.limiter.memory_refused => PluginError::MemoryLimit {
                plugin,
                limit_bytes: self.limits.memory_bytes as u64,
            },
            _ => {
                let stderr = state.stderr_tail();
                let mut message = format!("{error:#}");
                if !stderr.is_empty() {
                    message.push_str(&format!(" (guest stderr: {stderr})"));
                }
                PluginError::Trap { plugin, message }
            }
        }
    }

    fn wrong_world(&self, wanted: World) -> PluginError {
        PluginError::InvalidComponent {
            name: self.id.name.clone(),
            message: format!("is a {} plugin, not a {wanted}", self.world),
        }
    }
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats {
            fuel_used: 0,
            peak_memory_bytes: 0,
            wall_time: Duration::ZERO,
        }
    }
}

impl LicenseRule for Plugin {
    fn id(&self) -> PluginId {
        self.id.clone()
    }

    fn decide(
        &self,
        person: &PluginInput,
        current: Option<&License>,
        config: &str,
    ) -> Result<LicenseDecision, PluginError> {
        self.decide_with_stats(person, current, config).0
    }
}

impl Transform for Plugin {
    fn id(&self) -> PluginId {
        self.id.clone()
    }

    fn transform(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> Result<TransformOutcome, PluginError> {
        self.transform_with_stats(person, config).0
    }
}

fn world_of(exports: &[String]) -> Result<World, String> {
    let has = |name: &str| exports.iter().any(|e| e == name);
    match (has("decide"), has("transform")) {
        (true, false) => Ok(World::LicenseRule),
        (false, true) => Ok(World::Transformer),
        _ => Err(format!(
            "targets no single world of {INTERFACE}: it exports [{}], while a license-rule \
             exports `decide` and a transformer exports `transform`",
            exports.join(", ")
        )),
    }
}

/// `muster:plugin/*@0.1.x` and WASI. A WASI interface the linker lacks (e.g. `wasi:http`) is
/// still refused, by `instantiate_pre`, with wasmtime's message naming it.
fn is_allowed_import(name: &str) -> bool {
    name.starts_with("wasi:")
        || ["muster:plugin/host@0.1.", "muster:plugin/types@0.1."]
            .iter()
            .any(|p| name.starts_with(p))
}
