//! The memo of plugin answers: a plugin is a function of its version, its configuration and
//! what it is shown (the host verifies it: `plugin_host::purity`), so an answer is kept and
//! given again, without a call, to the same person shown the same input under the same version
//! and configuration.
//!
//! One answer is kept per plugin and person, the last one: the memo holds at most people ×
//! plugins entries, and an entry is only used when its key (the hash of version,
//! configuration and shown input) matches exactly, so a new version, a new configuration or a
//! changed input misses by construction.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plugin::{LicenseDecision, TransformOutcome};

/// The hash of (plugin version, configuration document, shown input) that an answer is kept
/// under: the first 128 bits of a SHA-256.
pub type MemoKey = [u8; 16];

/// A plugin's answer, as the memo keeps it. Only answers are kept, never errors: a deadline or
/// a trap says as much about the host's load as about the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "world", content = "answer")]
pub enum Answer {
    Transform(TransformOutcome),
    License(LicenseDecision),
}

/// Where a cycle looks answers up. Called from the threads that run the plugins.
pub trait Memo: Sync {
    /// The answer `plugin` last gave `person`, if it was given under `key`.
    fn get(&self, plugin: &str, person: &str, key: &MemoKey) -> Option<Answer>;
}

/// An answer a cycle got from a plugin call, to keep for the next ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Remembered {
    pub plugin: Arc<str>,
    /// The plugin version that answered.
    pub version: Arc<str>,
    pub person: String,
    pub key: MemoKey,
    pub answer: Answer,
}

/// The memo key of a call: the plugin's version, the hash of its configuration document and
/// the canonical encoding of what it was shown (`replay::ShownRef`), length-prefixed.
pub fn key(version: &str, config: &str, shown: &[u8]) -> MemoKey {
    let mut hasher = Sha256::new();
    for part in [version.as_bytes(), config.as_bytes(), shown] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Memo hits and misses of one plan, per plugin (in the cycle's plugin order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoCounts {
    pub hits: u64,
    pub misses: u64,
}

#[cfg(test)]
mod tests;
