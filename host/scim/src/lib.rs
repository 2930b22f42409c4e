//! SCIM 2.0 (RFC 7643 / RFC 7644) as data: no I/O, no async.
//!
//! - [`error`]: the SCIM error type, rendered as RFC 7644 §3.12 bodies.
//! - [`resource`]: resource kinds, schema URNs, the ListResponse envelope, case-insensitive keys.
//! - [`schema`]: attribute characteristics (caseExact, mutability, …) of User, its enterprise and
//!   Zoom extensions, and Group; what `/Schemas` serves.
//! - [`path`]: attribute paths (`name.givenName`, `urn:…:department`, `emails[type eq "work"].value`).
//! - [`filter`]: the RFC 7644 §3.4.2.2 filter grammar, parsed and evaluated.
//! - [`flat`]: the flat view "SCIM path → value" and back, what the engine diffs.
//! - [`patch`]: PATCH operations, parsing (RFC and Entra dialects) and atomic application.

pub mod error;
pub mod filter;
pub mod flat;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::Filter;
pub use path::AttrPath;
pub use resource::{ListResponse, ResourceKind};
