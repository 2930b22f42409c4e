//! PATCH (RFC 7644 §3.5.2): operations as data, parsing (RFC and Entra dialects) and atomic
//! application to a resource.

mod apply;
mod parse;
mod target;

use serde::{Deserialize, Serialize};

pub use apply::{apply, apply_as};
pub use parse::parse_request;

/// Most operations one PATCH may carry: the parser faces the network, and Entra sends one
/// operation per changed attribute, far fewer.
pub const MAX_OPERATIONS: usize = 1000;

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The three PATCH operations. Serialised lower-case, as the RFC writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

/// One PATCH operation, RFC-shaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: PatchOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl PatchOperation {
    /// The PatchOp request body for a list of operations.
    pub fn request_body(ops: &[PatchOperation]) -> serde_json::Value {
        serde_json::json!({ "schemas": [PATCH_SCHEMA], "Operations": ops })
    }
}

#[cfg(test)]
mod tests;
