//! muster's provisioning pipeline as plain functions over data.
//!
//! - [`model`]: people, groups, licenses and provisioned records.
//! - [`membership`]: direct and transitive groups from the directory's member lists.
//! - [`plugin`]: the `Transform` and `LicenseRule` traits plugins implement.
//! - [`config`]: the TOML configuration and its validation.
//! - [`scope`]: the scoping stage (assignment, scoping filters) and its reasons.
//! - [`matching`]: which target resource a person is (records, matching attributes).
//! - [`memo`]: plugin answers kept by (version, configuration, shown input), given again
//!   without a call.
//! - [`mapping`]: source attributes to flat target attributes keyed by SCIM path.
//! - [`profile`]: target profiles (`zoom`, `generic`): license decisions to attributes.
//! - [`seats`]: seat budgets: who gets a plan or add-on when there are more candidates than
//!   seats.
//! - [`plan`]: desired vs last applied → create / minimal PATCH / disable / delete.
//! - [`log`]: the provisioning log, shaped after Entra's `provisioningObjectSummary`.
//! - [`plugin_stage`]: the plugin stage: transform plugins in order, then the license rule and
//!   the profile.
//! - [`cycle`]: `plan_cycle`, the whole cycle: people, deprovisioning, deletion threshold.
//! - [`delta`]: which people a cycle needs to plan: input hashes, and what a settled plan is.
//! - [`preview`]: a rule change's impact (two plans of the same people compared) and the
//!   activation gates.
//! - [`replay`]: what makes a plugin step reproducible: its input and configuration as
//!   content-addressed blobs, and the hash of its answer.
//! - [`quarantine`]: when a failing job is quarantined, and its retry schedule.
//! - [`reconcile`]: what was last applied vs what the target holds: drift, orphans, missing.
//! - [`testing`]: native stand-ins of the example plugins, for tests and benchmarks.

pub mod config;
pub mod cycle;
pub mod delta;
pub mod log;
pub mod mapping;
pub mod matching;
pub mod membership;
pub mod memo;
pub mod model;
pub mod plan;
pub mod plugin;
pub mod plugin_stage;
pub mod preview;
pub mod profile;
pub mod quarantine;
pub mod reconcile;
pub mod replay;
pub mod scope;
pub mod seats;
pub mod testing;
