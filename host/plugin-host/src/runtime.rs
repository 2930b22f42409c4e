//! The wasmtime engine and linker shared by every plugin, and the epoch ticker that enforces
//! deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use std::path::PathBuf;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::license_rule::LicenseRule;
use crate::cache::{self, CompileCache, Origin};
use crate::clock::VirtualMonotonicClock;
use crate::compile::{self, Compiler};
use crate::state::CallState;

/// One epoch tick: deadlines are counted in ticks, so this is their resolution.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Largest linear memory the pool reserves per memory; per-plugin limits are enforced below it
/// by the limiter.
const POOL_MAX_MEMORY: usize = 512 << 20;

/// Owns the wasmtime `Engine` (compiled code cache, pooling allocator) and the `Linker` with
/// exactly what guests may import: `muster:plugin/host` and capability-free WASI.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    cache: Option<CompileCache>,
    compiler: Compiler,
    /// Held while a component compiles: an upload burst compiles one at a time instead of
    /// taking every core and its memory at once.
    compiling: Mutex<()>,
    linker: Linker<CallState>,
    ticker_stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// How a [`Runtime`] compiles and caches components.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are cached (`None`: compile on every load).
    pub cache_dir: Option<PathBuf>,
    /// The cache's size budget (`None`: `MUSTER_PLUGIN_CACHE_MAX_MB`, else 1 GiB).
    pub cache_max_bytes: Option<u64>,
    /// In this process, or in a bounded child process.
    pub compiler: Compiler,
}

/// The engine could not be set up (the pooling allocator could not reserve its memory, ...).
#[derive(Debug, thiserror::Error)]
#[error("starting the wasmtime runtime: {0}")]
pub struct RuntimeError(String);

impl Runtime {
    /// A runtime whose compiled components are cached in [`cache::default_dir`].
    pub fn new() -> Result<Self, RuntimeError> {
        Self::with_cache_dir(cache::default_dir())
    }

    /// A runtime caching compiled components in `dir` (`None`: compile on every load).
    pub fn with_cache_dir(dir: Option<PathBuf>) -> Result<Self, RuntimeError> {
        Self::with_options(RuntimeOptions {
            cache_dir: dir,
            ..RuntimeOptions::default()
        })
    }

    pub fn with_options(options: RuntimeOptions) -> Result<Self, RuntimeError> {
        Self::build(options).map_err(|e| RuntimeError(format!("{e:#}")))
    }

    fn build(options: RuntimeOptions) -> wasmtime::Result<Self> {
        let engine = Engine::new(&engine_config(true))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Sleeps end at once on a virtual clock (crate::clock): a real wait in the host's poll
        // is outside the call's deadline and fuel.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<
            _,
            VirtualMonotonicClock,
        >(&mut linker, CallState::monotonic_clock)?;
        linker.allow_shadowing(false);
        // Adds `muster:plugin/host` and `types` of each served version; the transformer world
        // imports the same two.
        LicenseRule::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        crate::bindings::v0_2::license_rule::LicenseRule::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |state| state,
        )?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), ticker_stop.clone());
            std::thread::Builder::new()
                .name("muster-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?
        };
        let cache = options.cache_dir.map(|dir| {
            let cache = CompileCache::new(dir, &engine);
            match options.cache_max_bytes {
                Some(max) => cache.with_max_bytes(max),
                None => cache,
            }
        });
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                cache,
                compiler: options.compiler,
                compiling: Mutex::new(()),
                linker,
                ticker_stop,
                ticker: Some(ticker),
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Where compiled components are cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.inner.cache.as_ref().map(CompileCache::dir)
    }

    /// Compiles a component, or reads it from the cache. `digest` is its sha256.
    pub(crate) fn compile(
        &self,
        bytes: &[u8],
        digest: &[u8],
    ) -> Result<(Component, Origin), String> {
        let compile = || self.compile_now(bytes);
        match &self.inner.cache {
            Some(cache) => cache.get_or_compile(&self.inner.engine, digest, compile),
            None => Ok((compile()?, Origin::Compiled)),
        }
    }

    /// One compilation at a time, where the options say.
    fn compile_now(&self, bytes: &[u8]) -> Result<Component, String> {
        let _one_at_a_time = self
            .inner
            .compiling
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &self.inner.compiler {
            Compiler::InProcess => Component::from_binary(&self.inner.engine, bytes)
                .map_err(|e| format!("not a valid component: {e:#}")),
            Compiler::Child {
                program,
                args,
                env,
                limits,
            } => compile::in_child(&self.inner.engine, bytes, program, args, env, limits),
        }
    }

    pub(crate) fn linker(&self) -> &Linker<CallState> {
        &self.inner.linker
    }
}

/// The engine's settings. A child compiler (crate::compile) uses the same ones without the
/// pooling allocator, whose reservations would not fit its memory limit; the allocation strategy
/// is not part of what a compiled artifact must match.
pub(crate) fn engine_config(pooling: bool) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(2000)
        .total_tables(4000)
        .max_memory_size(POOL_MAX_MEMORY)
        // Python and JS components bundle a dozen core modules each.
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_component_instance_size(4 << 20)
        .max_core_instance_size(4 << 20)
        .table_elements(200_000)
        // Reset the low part of a slot with memset (only its resident pages, where the
        // kernel has PAGEMAP_SCAN) instead of madvise: a fresh instance per person would
        // otherwise pay page faults and TLB shootdowns on every call (measured: a third of
        // the time of a call went to the kernel).
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(256 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    if pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Epoch ticks for a duration, at least one.
pub(crate) fn ticks(d: Duration) -> u64 {
    (d.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64
}
