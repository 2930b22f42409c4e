//! What one call's `Store` holds: a WASI context with no capabilities, the limiter, and what the
//! `host` import needs to tag log lines.

use engine::plugin::PluginId;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::v0_2::license_rule::muster::plugin as v0_2;
use crate::bindings::{Level, license_rule::muster::plugin as wit_pkg};
use crate::clock::{MonotonicClockView, VirtualClock};
use crate::limits::{Limiter, Limits};

/// Log lines a guest may write per call, and their length: a chatty or hostile guest must not
/// flood the host's logs.
const LOG_LINES_PER_CALL: u32 = 64;
const LOG_LINE_BYTES: usize = 4096;
/// Guest stderr kept per call (a Rust guest's panic message lands there).
const STDERR_BYTES: usize = 4096;

pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    clock: VirtualClock,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: MemoryOutputPipe,
    plugin: PluginId,
    person: String,
    log_lines: u32,
}

impl CallState {
    pub(crate) fn new(plugin: &PluginId, person: &str, limits: &Limits) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        // Guests' std needs WASI interfaces to exist, not to work: no preopens, env, args or
        // network; virtual clocks (crate::clock) and fixed "random" bytes keep plugins
        // deterministic.
        let clock = VirtualClock::default();
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(Deterministic::new(vec![0x6d, 0x75, 0x73, 0x74, 0x65, 0x72]))
            .insecure_random(Deterministic::new(vec![0x6d, 0x75, 0x73, 0x74, 0x65, 0x72]))
            .insecure_random_seed(0)
            // componentize-py guests import wasi:sockets; no socket may be made, no address
            // resolved (connecting and binding are refused by the default address check too).
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            clock,
            limiter: Limiter::new(limits),
            stderr,
            plugin: plugin.clone(),
            person: person.to_string(),
            log_lines: 0,
        }
    }

    /// Readies a reused instance's state for the next person: log tagging and quota, and the
    /// per-call memory peak (memory in use stays counted against the limit).
    pub(crate) fn begin_call(&mut self, person: &str) {
        self.person = person.to_string();
        self.log_lines = 0;
        self.limiter.peak_memory = self.limiter.memory_in_use;
        self.limiter.memory_refused = false;
        self.limiter.table_refused = false;
    }

    /// `wasi:clocks/monotonic-clock` on the instance's virtual clock.
    pub(crate) fn monotonic_clock(&mut self) -> MonotonicClockView<'_> {
        MonotonicClockView {
            clock: &self.clock,
            table: &mut self.table,
        }
    }

    /// The last of what the guest wrote to stderr, for error messages.
    pub(crate) fn stderr_tail(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit_pkg::types::Host for CallState {}

impl v0_2::types::Host for CallState {}

/// 0.2.0's `host` interface is 0.1.0's under a new version: the same log.
impl v0_2::host::Host for CallState {
    fn log(&mut self, level: v0_2::host::Level, message: String) {
        use v0_2::host::Level as L;
        let level = match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        wit_pkg::host::Host::log(self, level, message);
    }
}

impl wit_pkg::host::Host for CallState {
    fn log(&mut self, level: Level, mut message: String) {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_CALL {
            return;
        }
        if message.len() > LOG_LINE_BYTES {
            let mut cut = LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [truncated]");
        }
        let (plugin, version, person) = (&self.plugin.name, &self.plugin.version, &self.person);
        match level {
            Level::Trace => tracing::trace!(plugin, version, person, "{message}"),
            Level::Debug => tracing::debug!(plugin, version, person, "{message}"),
            Level::Info => tracing::info!(plugin, version, person, "{message}"),
            Level::Warn => tracing::warn!(plugin, version, person, "{message}"),
            Level::Error => tracing::error!(plugin, version, person, "{message}"),
        }
    }
}
