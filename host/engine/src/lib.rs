//! muster's provisioning pipeline as plain functions over data.
//!
//! - [`model`]: people, groups, licenses and provisioned records.
//! - [`plugin`]: the `Transform` and `LicenseRule` traits plugins implement.

pub mod model;
pub mod plugin;
