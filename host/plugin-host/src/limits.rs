//! What a plugin may use per call, and the `ResourceLimiter` that enforces memory and tables.

use std::time::Duration;

/// Limits applied to every call of one plugin. All are configurable per plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall time for one call, enforced by epoch interruption.
    pub deadline: Duration,
    /// Wall time for instantiation, which runs a guest's start-up code; Python and JS runtimes
    /// need far longer to start than to answer, so this is separate from `deadline`.
    pub startup_deadline: Duration,
    /// Fuel (roughly, wasm instructions) for one call, instantiation included.
    pub fuel: u64,
    /// Linear memory across all of the instance's memories.
    pub memory_bytes: usize,
    /// Elements across all of the instance's tables.
    pub table_elements: usize,
    /// Core instances a component may create.
    pub instances: usize,
    /// Size of the component binary accepted at load.
    pub component_bytes: usize,
    /// Size of the strings a call may return (reasons, attribute values).
    pub output_bytes: usize,
    /// People one instance may serve within one cycle before it is discarded; `None` chooses:
    /// a fresh instance per person for components under [`REUSE_FROM_BYTES`] (instantiating a
    /// Rust guest costs tens of microseconds), [`DEFAULT_PEOPLE_PER_INSTANCE`] for larger ones
    /// (a Python or JavaScript runtime costs milliseconds to instantiate). The other limits
    /// apply to every call all the same, and an instance is discarded after any trap or limit.
    pub people_per_instance: Option<u32>,
}

/// Components this large embed a language runtime; instantiating them costs milliseconds.
pub const REUSE_FROM_BYTES: usize = 1 << 20;

/// People a costly-to-instantiate guest's instance serves before it is replaced: enough that the
/// instantiation (2-3 ms for Python) falls outside the 99th percentile of per-person cost, few
/// enough that what a guest accumulates stays small.
pub const DEFAULT_PEOPLE_PER_INSTANCE: u32 = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(50),
            startup_deadline: Duration::from_millis(1000),
            // The deadline is the limit that normally binds (a busy loop burns about 4e9 units
            // a second here); fuel bounds the work deterministically, whatever the load, at
            // many times what the example rules use (tens of thousands of units per call).
            fuel: 1_000_000_000,
            memory_bytes: 32 << 20,
            table_elements: 100_000,
            instances: 64,
            // Python and JS components are 12-18 MB.
            component_bytes: 32 << 20,
            output_bytes: 1 << 20,
            people_per_instance: None,
        }
    }
}

/// Enforces `Limits` on one store and remembers which one it refused, so that the trap that
/// follows (Rust guests abort on allocation failure) can be reported as a memory limit.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    pub(crate) memory_in_use: usize,
    pub(crate) peak_memory: usize,
    pub(crate) memory_refused: bool,
    pub(crate) table_refused: bool,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            instances: limits.instances,
            memory_in_use: 0,
            peak_memory: 0,
            memory_refused: false,
            table_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_in_use - current.min(self.memory_in_use) + desired;
        if total > self.memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_in_use = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.table_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}
