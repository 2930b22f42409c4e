//! SCIM 2.0 (RFC 7643 / RFC 7644) as data: no I/O, no async.
//!
//! - [`error`]: the SCIM error type, rendered as RFC 7644 §3.12 bodies.
//! - [`patch`]: PATCH operations, parsing and atomic application.

pub mod error;
pub mod patch;

pub use error::{ScimError, ScimType};
