//! muster as a library: what the `muster` binary runs, for the end-to-end tests to drive
//! in-process.
//!
//! - [`job`]: a provisioning job built from one configuration (store, target client, plugins).
//! - [`sources`]: where people come from (`file`).
//! - [`gateway`]: gateway mode, the SCIM 2.0 server Entra ID provisions into, and its outbox.
//! - [`provision`]: the one path from people to the target (plan, apply with intents, record,
//!   count, finish the cycle) that sync cycles, on-demand runs and the outbox all take.
//! - [`sync`]: one sync cycle: read the source, provision everyone, move the watermark,
//!   quarantine; and its reports.
//! - [`on_demand`]: one person, now, as Entra's "Provision on demand".
//! - [`reconcile`]: the live target compared with what was applied (drift, orphans,
//!   missing), and fixed through `provision`.
//! - [`preview`]: a rule change's impact before it goes live (two dry plans compared) and its
//!   gates.
//! - [`commands`]: the CLI commands; [`telemetry`]: logging.
//! - [`http`]: `muster serve`'s listener: health, metrics, the admin API; [`meters`]: metrics.
//! - [`retention`]: keeps the state file bounded (`[retention]`).
//! - [`activation`]: how a new plugin version goes live: at once, or past the gates, or staged.
//! - [`shadow`]: staged versions run beside the active ones, compared, never applied.
//! - [`plugin_folder`]: uploaded plugin versions kept in `plugins_dir` across restarts.
//! - [`alerts`]: `[alerts]`, webhook alerts when the job stops working.
//! - [`memo`]: plugin answers kept in the state store and given again without a call.

pub mod activation;
pub mod alerts;
pub mod commands;
pub mod console;
pub mod gateway;
pub mod http;
pub mod job;
pub mod memo;
pub mod meters;
pub mod on_demand;
pub mod plugin_folder;
pub mod preview;
pub mod provision;
pub mod reconcile;
pub mod replica;
pub mod retention;
pub mod shadow;
pub mod sources;
pub mod state;
pub mod sync;
pub mod telemetry;
