//! The wasmtime component host for muster plugins. The only crate that sees wasmtime.
//!
//! - [`runtime`]: the engine (pooling allocator, fuel, epoch deadlines) and the linker with the
//!   few imports a guest may have.
//! - [`plugin`]: one loaded plugin version: validated at load, called with a fresh limited store
//!   per call; implements `engine`'s `Transform` and `LicenseRule`.
//! - [`registry`]: hot swap: the active version per plugin name behind `arc-swap`, history,
//!   rollback and pinned snapshots; [`watch`] loads `.wasm` files dropped into a folder.
//! - [`cache`]: compiled components kept on disk, keyed by content and engine settings.
//! - [`compile`]: a component's shape read before compiling, and compilation bounded in a child
//!   process.
//! - [`testkit`]: cases files (person + config → expected answer) run against any build.
//! - [`limits`]: per-plugin limits and the limiter that enforces them.

mod bindings;
pub mod cache;
mod clock;
pub mod compile;
mod convert;
pub mod limits;
mod lower;
pub mod plugin;
pub mod purity;
pub mod runtime;
mod state;
mod well_known;

pub use limits::Limits;
pub use plugin::{CallStats, Interface, Plugin, World};
pub use purity::Purity;
pub use runtime::{Runtime, RuntimeError, RuntimeOptions};
pub mod registry;
pub mod testkit;
pub mod watch;

pub use registry::{PluginRegistry, RegistryError, Snapshot};
