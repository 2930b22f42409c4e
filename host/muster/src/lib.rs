//! muster as a library: what the `muster` binary runs, for the end-to-end tests to drive
//! in-process.
//!
//! - [`job`]: a provisioning job built from one configuration (store, target client, plugins).
//! - [`sources`]: where people come from (`file`).
//! - [`gateway`]: gateway mode, the SCIM 2.0 server Entra ID provisions into, and its outbox.
//! - [`sync`]: one sync cycle: read, plan with pinned plugins, apply, record; and its reports.
//! - [`commands`]: the CLI commands; [`telemetry`]: logging.
//! - [`http`]: `muster serve`'s listener: health, metrics, the admin API; [`meters`]: metrics.
//! - [`plugin_folder`]: uploaded plugin versions kept in `plugins_dir` across restarts.

pub mod commands;
pub mod gateway;
pub mod http;
pub mod job;
pub mod meters;
pub mod plugin_folder;
pub mod sources;
pub mod sync;
pub mod telemetry;
