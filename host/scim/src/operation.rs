//! What a request to a SCIM service does, as a target's rate limits tell requests apart: Zoom
//! labels listing users "Medium" and reading, changing or deleting one "Light"
//! (<https://developers.zoom.us/docs/api/rate-limits/>). The configuration names these kinds in
//! rate classes and the client sorts its requests into them, so both use this one type.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// `GET /Users` or `/Groups`, filtered or not (look-ups before creates are lists).
    List,
    /// `GET /Users/{id}`.
    Get,
    /// `POST /Users`.
    Create,
    /// `PUT /Users/{id}`.
    Replace,
    /// `PATCH /Users/{id}`.
    Patch,
    /// `DELETE /Users/{id}`.
    Delete,
}

impl RequestKind {
    pub const ALL: [RequestKind; 6] = [
        RequestKind::List,
        RequestKind::Get,
        RequestKind::Create,
        RequestKind::Replace,
        RequestKind::Patch,
        RequestKind::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::List => "list",
            RequestKind::Get => "get",
            RequestKind::Create => "create",
            RequestKind::Replace => "replace",
            RequestKind::Patch => "patch",
            RequestKind::Delete => "delete",
        }
    }

    /// Its place in [`RequestKind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
