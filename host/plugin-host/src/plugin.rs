//! One loaded plugin version: validated against the worlds at load, called in a limited store:
//! a fresh instance per person, or on a cycle's pinned handle an instance reused for a bounded
//! number of people when instantiating is costly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::model::License;
use engine::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};
use sha2::{Digest, Sha256};
use wasmtime::component::{ComponentExportIndex, Func, InstancePre, TypedFunc};
use wasmtime::{Store, Trap};

use crate::bindings::v0_2::{
    license_rule::LicenseRulePre as LicenseRulePre2, transformer::TransformerPre as TransformerPre2,
};
use crate::bindings::{license_rule::LicenseRulePre, transformer::TransformerPre};
use crate::cache::Origin;
use crate::compile;
use crate::convert;
use crate::limits::{DEFAULT_PEOPLE_PER_INSTANCE, Limits, REUSE_FROM_BYTES};
use crate::lower::{
    DecideParams, DecideParams2, DecideResults, DecideResults2, LicenseView, PersonView,
    PersonView2, TransformParams, TransformParams2, TransformResults, TransformResults2,
};
use crate::runtime::{Runtime, ticks};
use crate::state::CallState;

/// Fuel a spinning guest burns in a default deadline (50 ms at ~4e9 units a second), the scale
/// against which "the guest hardly ran" is judged.
const SPIN_FUEL: u64 = 200_000_000;

/// The versions of the `muster:plugin` interface package a component can be built against.
/// The host serves each with its own bindings and converts both into `engine`'s types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Interface {
    /// `wit/plugin.wit`: two group lists, attribute paths as strings, reasons as one sentence.
    #[serde(rename = "muster:plugin@0.1.0")]
    V0_1,
    /// `wit/0.2.0/plugin.wit`: groups once, app roles, manager, well-known attributes, and
    /// structured reasons.
    #[serde(rename = "muster:plugin@0.2.0")]
    V0_2,
}

impl Interface {
    /// Every version this host serves, oldest first.
    pub const SERVED: [Interface; 2] = [Interface::V0_1, Interface::V0_2];

    /// `major.minor`: any patch of a served version loads.
    fn prefix(self) -> &'static str {
        match self {
            Interface::V0_1 => "0.1",
            Interface::V0_2 => "0.2",
        }
    }

    /// Which served version `version` (as in an import's `@0.2.0`) belongs to.
    fn of(version: &str) -> Option<Interface> {
        Interface::SERVED.into_iter().find(|i| {
            version == i.prefix()
                || version
                    .strip_prefix(i.prefix())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "muster:plugin@{}.0", self.prefix())
    }
}

/// Which world a component targets, read from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    LicenseRule,
    Transformer,
}

impl World {
    /// The function a component of this world exports.
    fn export(self) -> &'static str {
        match self {
            World::LicenseRule => "decide",
            World::Transformer => "transform",
        }
    }
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

/// What a fresh instance is made from: the linked component and where its world's export is.
struct Pre {
    instance: InstancePre<CallState>,
    export: ComponentExportIndex,
    /// Whether the export's signature has been checked against the borrowed views in
    /// `lower.rs`. The check needs an instance and its answer never changes for a component,
    /// so it is made once (a generated binding would make it on every instantiation).
    typechecked: AtomicBool,
}

/// An instance kept between people by a cycle's pinned handle (see [`Plugin::pinned`]).
struct Warm {
    store: Store<CallState>,
    /// The world's export (`decide` or `transform`) in this instance.
    export: Func,
    /// People this instance has answered for.
    uses: u32,
}

/// What is shared by every handle of one plugin version: the compiled code and its metadata.
struct Loaded {
    id: PluginId,
    world: World,
    limits: Limits,
    size: usize,
    imports: Vec<String>,
    origin: Origin,
    /// People one instance may serve (1: a fresh instance per person).
    people_per_instance: u32,
    /// The `muster:plugin` version the guest was built against, from its imports, or when it
    /// imports nothing of the package, from the shape of its export.
    interface: Interface,
    /// Set when the guest was found to carry state between people ([`crate::purity`]): every
    /// handle then calls a fresh instance per person.
    fresh_only: std::sync::atomic::AtomicBool,
    /// Probe results by configuration document.
    purity: Mutex<std::collections::HashMap<String, crate::purity::Purity>>,
    runtime: Runtime,
    pre: Pre,
}

/// A validated, compiled plugin version, ready to be called from any thread.
///
/// The handle the registry keeps calls every person in a fresh instance. A cycle calls through
/// [`Plugin::pinned`] handles instead, which may keep an instance for a bounded number of people
/// when instantiating is costly (Python, JavaScript): see [`Limits::people_per_instance`].
pub struct Plugin {
    loaded: Arc<Loaded>,
    /// Instances kept for the next person; `None` on handles that never reuse.
    warm: Option<Mutex<Vec<Warm>>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.loaded.id)
            .field("world", &self.loaded.world)
            .field("reuses", &self.warm.is_some())
            .finish()
    }
}

/// The content hash that names a plugin version: the first 12 hex digits of its sha256.
pub fn version_of(bytes: &[u8]) -> String {
    version_of_digest(&Sha256::digest(bytes))
}

fn version_of_digest(digest: &[u8]) -> String {
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Warm instances one pinned handle keeps at most (one per thread calling it at once).
const WARM_INSTANCES: usize = 4;

impl Plugin {
    /// Compiles (or reads from the runtime's cache) and validates a component. Anything that
    /// would fail later (a world we do not implement, an import outside it, a type mismatch)
    /// fails here, naming what was wrong.
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
        let started = Instant::now();
        // The world and imports are read before anything is compiled: a component that could
        // never load costs no compilation.
        let shape = compile::shape(bytes).map_err(&invalid)?;
        let imported = interface_of(&shape.interface_versions).map_err(&invalid)?;
        let world = world_of(&shape.exports).map_err(&invalid)?;
        let foreign: Vec<&str> = shape
            .imports
            .iter()
            .map(String::as_str)
            .filter(|i| !is_allowed_import(i))
            .collect();
        if !foreign.is_empty() {
            return Err(invalid(format!(
                "imports {} outside the {world} world of {}; a plugin may import only \
                 muster:plugin/host and WASI interfaces (which get no capabilities)",
                foreign.join(", "),
                imported.unwrap_or(Interface::V0_1)
            )));
        }
        let digest = Sha256::digest(bytes);
        let hashed = started.elapsed();
        let (component, origin) = runtime.compile(bytes, &digest).map_err(&invalid)?;
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let instance_pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("cannot be linked: {e:#}")))?;
        let matches = |interface| match (world, interface) {
            (World::LicenseRule, Interface::V0_1) => {
                LicenseRulePre::new(instance_pre.clone()).map(drop)
            }
            (World::Transformer, Interface::V0_1) => {
                TransformerPre::new(instance_pre.clone()).map(drop)
            }
            (World::LicenseRule, Interface::V0_2) => {
                LicenseRulePre2::new(instance_pre.clone()).map(drop)
            }
            (World::Transformer, Interface::V0_2) => {
                TransformerPre2::new(instance_pre.clone()).map(drop)
            }
        };
        // A component that imports nothing of the package is told apart by its export's
        // types: the newest version they match.
        let interface = match imported {
            Some(interface) => matches(interface).map(|()| interface),
            None => Interface::SERVED
                .into_iter()
                .rev()
                .find(|i| matches(*i).is_ok())
                .map_or_else(|| matches(Interface::V0_1).map(|()| Interface::V0_1), Ok),
        };
        let interface = interface.map_err(|e| {
            invalid(format!(
                "does not match the {world} world of {}: {e:#}",
                imported.unwrap_or(Interface::V0_1)
            ))
        })?;
        let mismatch = |e: wasmtime::Error| {
            invalid(format!(
                "does not match the {world} world of {interface}: {e:#}"
            ))
        };
        let export = component
            .get_export_index(None, world.export())
            .ok_or_else(|| mismatch(wasmtime::format_err!("no `{}` export", world.export())))?;
        let pre = Pre {
            instance: instance_pre,
            export,
            typechecked: AtomicBool::new(false),
        };
        tracing::debug!(
            plugin = name,
            ?origin,
            hash_us = hashed.as_micros() as u64,
            load_us = started.elapsed().as_micros() as u64,
            "plugin component loaded and validated"
        );
        let people_per_instance =
            limits
                .people_per_instance
                .unwrap_or(if bytes.len() >= REUSE_FROM_BYTES {
                    DEFAULT_PEOPLE_PER_INSTANCE
                } else {
                    1
                });
        Ok(Plugin {
            loaded: Arc::new(Loaded {
                id: PluginId {
                    name: name.to_string(),
                    version: version_of_digest(&digest),
                },
                world,
                limits,
                size: bytes.len(),
                imports,
                origin,
                people_per_instance: people_per_instance.max(1),
                interface,
                fresh_only: std::sync::atomic::AtomicBool::new(false),
                purity: Mutex::new(std::collections::HashMap::new()),
                runtime: runtime.clone(),
                pre,
            }),
            warm: None,
        })
    }

    /// A handle on the same compiled version for one cycle (one pinned snapshot): it may keep an
    /// instance for up to [`Plugin::people_per_instance`] people, discards it after any trap or
    /// exhausted limit, and drops what it kept when the handle is dropped. Never share one
    /// between plugins, tenants or cycles: state a guest keeps in its memory is visible to the
    /// next person served by the same instance.
    pub fn pinned(&self) -> Plugin {
        Plugin {
            loaded: self.loaded.clone(),
            warm: (self.loaded.people_per_instance > 1).then(|| Mutex::new(Vec::new())),
        }
    }

    pub fn id(&self) -> &PluginId {
        &self.loaded.id
    }

    pub fn world(&self) -> World {
        self.loaded.world
    }

    /// The `muster:plugin` version the guest was built against, read from its imports, or
    /// from its export's types when it imports nothing of the package.
    pub fn interface(&self) -> Interface {
        self.loaded.interface
    }

    pub fn limits(&self) -> &Limits {
        &self.loaded.limits
    }

    pub fn size(&self) -> usize {
        self.loaded.size
    }

    pub fn imports(&self) -> &[String] {
        &self.loaded.imports
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn origin(&self) -> Origin {
        self.loaded.origin
    }

    /// People one instance serves on a pinned handle (1: a fresh instance per person, and
    /// always once the guest was found to carry state between people).
    pub fn people_per_instance(&self) -> u32 {
        if self.fresh_only() {
            1
        } else {
            self.loaded.people_per_instance
        }
    }

    fn fresh_only(&self) -> bool {
        self.loaded
            .fresh_only
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn serve_fresh_instances(&self) {
        self.loaded
            .fresh_only
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn known_purity(&self, config: &str) -> Option<crate::purity::Purity> {
        let known = self.loaded.purity.lock().unwrap_or_else(|e| e.into_inner());
        known.get(config).cloned()
    }

    pub(crate) fn remember_purity(&self, config: &str, purity: crate::purity::Purity) {
        let mut known = self.loaded.purity.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(config.to_string(), purity);
    }

    /// Runs the license rule, returning what the call cost as well.
    pub fn decide_with_stats(
        &self,
        person: &PluginInput,
        current: Option<&License>,
        config: &str,
    ) -> (Result<LicenseDecision, PluginError>, CallStats) {
        if self.loaded.world != World::LicenseRule {
            return (
                Err(self.wrong_world(World::LicenseRule)),
                CallStats::default(),
            );
        }
        let current = current.map(LicenseView::new);
        if self.loaded.interface == Interface::V0_2 {
            let person_view = PersonView2::new(person);
            return self.call(
                &person.id,
                |export, store| {
                    // SAFETY: as below, for 0.2.0's `decide`.
                    let decide = unsafe {
                        TypedFunc::<DecideParams2<'_>, DecideResults2>::new_unchecked(*export)
                    };
                    decide
                        .call(&mut *store, (&person_view, current.as_ref(), config))
                        .map(|(result,)| result)
                },
                |result| {
                    let limit = self.loaded.limits.output_bytes;
                    convert::decision_from_wit2(&self.loaded.id, result, limit)
                },
            );
        }
        let person_view = PersonView::new(person);
        self.call(
            &person.id,
            |export, store| {
                // SAFETY: `instantiate` checked the export against these types once for this
                // component, and the world check above makes it `decide`.
                let decide =
                    unsafe { TypedFunc::<DecideParams<'_>, DecideResults>::new_unchecked(*export) };
                decide
                    .call(&mut *store, (&person_view, current.as_ref(), config))
                    .map(|(result,)| result)
            },
            |result| {
                convert::decision_from_wit(&self.loaded.id, result, self.loaded.limits.output_bytes)
            },
        )
    }

    /// Runs the transform, returning what the call cost as well.
    pub fn transform_with_stats(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> (Result<TransformOutcome, PluginError>, CallStats) {
        if self.loaded.world != World::Transformer {
            return (
                Err(self.wrong_world(World::Transformer)),
                CallStats::default(),
            );
        }
        if self.loaded.interface == Interface::V0_2 {
            let person_view = PersonView2::new(person);
            return self.call(
                &person.id,
                |export, store| {
                    // SAFETY: as in `decide_with_stats`, for 0.2.0's `transform`.
                    let transform = unsafe {
                        TypedFunc::<TransformParams2<'_>, TransformResults2>::new_unchecked(*export)
                    };
                    transform
                        .call(&mut *store, (&person_view, config))
                        .map(|(result,)| result)
                },
                |result| {
                    let limit = self.loaded.limits.output_bytes;
                    convert::outcome_from_wit2(&self.loaded.id, result, limit, &person.target)
                },
            );
        }
        let person_view = PersonView::new(person);
        self.call(
            &person.id,
            |export, store| {
                // SAFETY: as in `decide_with_stats`, for `transform`.
                let transform = unsafe {
                    TypedFunc::<TransformParams<'_>, TransformResults>::new_unchecked(*export)
                };
                transform
                    .call(&mut *store, (&person_view, config))
                    .map(|(result,)| result)
            },
            |result| {
                convert::outcome_from_wit(&self.loaded.id, result, self.loaded.limits.output_bytes)
            },
        )
    }

    /// One call, in a fresh instance or (on a pinned handle) one kept from earlier people.
    ///
    /// WASI's stdio (a guest's panic message, a `println!`) is served by `wasmtime-wasi`, which
    /// blocks on tokio; from inside an async task that would panic the host. So a call made on
    /// a runtime thread is moved out of the async context first.
    fn call<W, T>(
        &self,
        person_id: &str,
        run: impl Fn(&Func, &mut Store<CallState>) -> wasmtime::Result<W> + Send + Sync,
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
                    let plugin = self.loaded.id.clone();
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
        run: impl Fn(&Func, &mut Store<CallState>) -> wasmtime::Result<W>,
        finish: impl FnOnce(W) -> Result<T, PluginError>,
    ) -> (Result<T, PluginError>, CallStats) {
        let limits = &self.loaded.limits;
        let mut warm = self.take_warm();
        let mut tries = 0;
        loop {
            let reused = warm.is_some();
            let (outcome, stats, kept) = self.attempt(person_id, warm.take(), &run);
            tries += 1;
            let retry = tries < 3
                && match &outcome {
                    // What earlier people left in a reused instance (garbage, a grown heap) must
                    // not fail this person: a failure in a reused instance is tried in a fresh one.
                    Err(_) if reused => true,
                    // The deadline is wall time: on a loaded host a call can be descheduled past
                    // it while the guest has hardly run. A guest that really spins burns ~4e9 fuel
                    // units a second, so a deadline hit with little fuel used gets one more try; a
                    // busy loop fails again at once.
                    Err(PluginError::Deadline { .. }) => {
                        stats.fuel_used < limits.fuel.min(SPIN_FUEL) / 20
                    }
                    _ => false,
                };
            if retry {
                tracing::debug!(plugin = %self.loaded.id, person = person_id, reused, "call failed; retrying in a fresh instance");
                continue;
            }
            if let Some(warm) = kept {
                self.put_warm(warm);
            }
            return (outcome.and_then(finish), stats);
        }
    }

    /// An instance that may serve this person. One that has served its quota was kept only so
    /// that dropping it (resetting a language runtime's memory: about a millisecond) falls to a
    /// later call, usually the one that instantiates its successor anyway, not to its last
    /// person. Dropping it first also frees its pool slot, which still holds this component's
    /// image. Spent instances are dropped outside the lock.
    fn take_warm(&self) -> Option<Warm> {
        let warm = self.warm.as_ref()?;
        if self.fresh_only() {
            return None;
        }
        let mut spent = Vec::new();
        let usable = {
            let mut pool = warm.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match pool.pop() {
                    Some(w) if w.uses < self.loaded.people_per_instance => break Some(w),
                    Some(w) => spent.push(w),
                    None => break None,
                }
            }
        };
        drop(spent);
        usable
    }

    fn put_warm(&self, instance: Warm) {
        if self.fresh_only() {
            return;
        }
        if let Some(warm) = &self.warm {
            let mut warm = warm.lock().unwrap_or_else(|e| e.into_inner());
            if warm.len() < WARM_INSTANCES {
                warm.push(instance);
            }
        }
    }

    /// One try. Returns the instance when it answered and this handle reuses instances (one
    /// that has served its quota too, for `take_warm` to drop). An instance that trapped
    /// or hit a limit is dropped here, whatever state it was left in.
    fn attempt<W>(
        &self,
        person_id: &str,
        warm: Option<Warm>,
        run: &impl Fn(&Func, &mut Store<CallState>) -> wasmtime::Result<W>,
    ) -> (Result<W, PluginError>, CallStats, Option<Warm>) {
        let limits = &self.loaded.limits;
        let started = Instant::now();
        let instance = match warm {
            Some(mut w) => {
                w.store.data_mut().begin_call(person_id);
                match w.store.set_fuel(limits.fuel) {
                    Ok(()) => Ok(w),
                    Err(e) => Err((e, w.store)),
                }
            }
            None => self.instantiate(person_id),
        };
        let (outcome, mut instance) = match instance {
            Ok(mut w) => {
                w.store.set_epoch_deadline(ticks(limits.deadline));
                (run(&w.export, &mut w.store), Ok(w))
            }
            Err((e, store)) => (Err(e), Err(store)),
        };
        let store = match &instance {
            Ok(w) => &w.store,
            Err(store) => store,
        };
        let stats = CallStats {
            fuel_used: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            peak_memory_bytes: store.data().limiter.peak_memory,
            wall_time: started.elapsed(),
        };
        match outcome {
            Ok(value) => {
                let kept = match (&mut instance, &self.warm) {
                    (Ok(w), Some(_)) => {
                        w.uses += 1;
                        true
                    }
                    _ => false,
                };
                (Ok(value), stats, instance.ok().filter(|_| kept))
            }
            Err(error) => (Err(self.classify(&error, store.data())), stats, None),
        }
    }

    /// A fresh instance in a fresh store; the start-up deadline covers instantiation and the
    /// fuel spent there counts against the first call.
    fn instantiate(&self, person_id: &str) -> Result<Warm, (wasmtime::Error, Store<CallState>)> {
        let limits = &self.loaded.limits;
        let mut store = Store::new(
            self.loaded.runtime.engine(),
            CallState::new(&self.loaded.id, person_id, limits),
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(limits.startup_deadline));
        if let Err(e) = store.set_fuel(limits.fuel) {
            return Err((e, store));
        }
        match self.instantiate_export(&mut store) {
            Ok(export) => Ok(Warm {
                store,
                export,
                uses: 0,
            }),
            Err(e) => Err((e, store)),
        }
    }

    fn instantiate_export(&self, store: &mut Store<CallState>) -> wasmtime::Result<Func> {
        let pre = &self.loaded.pre;
        let instance = pre.instance.instantiate(&mut *store)?;
        let export = instance.get_func(&mut *store, pre.export).ok_or_else(|| {
            wasmtime::format_err!("`{}` is not a function", self.loaded.world.export())
        })?;
        if !pre.typechecked.load(Ordering::Acquire) {
            match (self.loaded.world, self.loaded.interface) {
                (World::LicenseRule, Interface::V0_1) => export
                    .typed::<DecideParams<'static>, DecideResults>(&*store)
                    .map(drop),
                (World::Transformer, Interface::V0_1) => export
                    .typed::<TransformParams<'static>, TransformResults>(&*store)
                    .map(drop),
                (World::LicenseRule, Interface::V0_2) => export
                    .typed::<DecideParams2<'static>, DecideResults2>(&*store)
                    .map(drop),
                (World::Transformer, Interface::V0_2) => export
                    .typed::<TransformParams2<'static>, TransformResults2>(&*store)
                    .map(drop),
            }
            .map_err(|e| {
                wasmtime::format_err!(
                    "does not match the {} world of {}: {e:#}",
                    self.loaded.world,
                    self.loaded.interface
                )
            })?;
            pre.typechecked.store(true, Ordering::Release);
        }
        Ok(export)
    }

    /// Tells apart the ways a call can fail, because the admin's next step differs for each.
    fn classify(&self, error: &wasmtime::Error, state: &CallState) -> PluginError {
        let limits = &self.loaded.limits;
        let plugin = self.loaded.id.clone();
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                limit: limits.fuel,
            },
            Some(Trap::Interrupt) => PluginError::Deadline {
                plugin,
                limit_ms: limits.deadline.as_millis() as u64,
            },
            _ if state.limiter.memory_refused => PluginError::MemoryLimit {
                plugin,
                limit_bytes: limits.memory_bytes as u64,
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
            name: self.loaded.id.name.clone(),
            message: format!("is a {} plugin, not a {wanted}", self.loaded.world),
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
        self.loaded.id.clone()
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
        self.loaded.id.clone()
    }

    fn transform(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> Result<TransformOutcome, PluginError> {
        self.transform_with_stats(person, config).0
    }
}

/// The one `muster:plugin` version a component's imports name, if this host serves it.
fn interface_of(versions: &[String]) -> Result<Option<Interface>, String> {
    match versions {
        [] => Ok(None),
        [version] => Interface::of(version).map(Some).ok_or_else(|| {
            format!(
                "is built for muster:plugin@{version}, which this host does not serve; it serves {}",
                served_list()
            )
        }),
        several => Err(format!(
            "imports several versions of muster:plugin ({}); a plugin targets one, and this \
             host serves {}",
            several.join(", "),
            served_list()
        )),
    }
}

/// `muster:plugin@0.1.x, muster:plugin@0.2.x`, for messages.
pub fn served_list() -> String {
    Interface::SERVED
        .iter()
        .map(|i| format!("muster:plugin@{}.x", i.prefix()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn world_of(exports: &[String]) -> Result<World, String> {
    let has = |name: &str| exports.iter().any(|e| e == name);
    match (has("decide"), has("transform")) {
        (true, false) => Ok(World::LicenseRule),
        (false, true) => Ok(World::Transformer),
        _ => Err(format!(
            "targets no single world of muster:plugin: it exports [{}], while a license-rule \
             exports `decide` and a transformer exports `transform`",
            exports.join(", ")
        )),
    }
}

/// `muster:plugin/host` and `types` of a served version, and WASI. A WASI interface the linker
/// lacks (e.g. `wasi:http`) is still refused, by `instantiate_pre`, with wasmtime's message
/// naming it.
fn is_allowed_import(name: &str) -> bool {
    let ours = ["muster:plugin/host@", "muster:plugin/types@"]
        .iter()
        .find_map(|p| name.strip_prefix(p));
    name.starts_with("wasi:") || ours.is_some_and(|version| Interface::of(version).is_some())
}
