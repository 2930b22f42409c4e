//! The traits the pipeline calls plugins through. `plugin-host` implements them with wasmtime
//! components; tests and benchmarks implement them natively.

use serde::{Deserialize, Serialize};

use crate::model::{Attributes, GroupRef, License, Manager, Value};

/// Name and version of a plugin, recorded with every decision it takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginId {
    pub name: String,
    /// Content hash (sha256 prefix) for components; any stable label for native stand-ins.
    pub version: String,
}

impl std::fmt::Display for PluginId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// What a plugin sees of a person (the WIT `person` record). Interface 0.1.0 is sent the two
/// group lists; 0.2.0 the transitive list once, with `direct` and `via`, and the app roles and
/// manager as well.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginInput {
    pub id: String,
    pub attributes: Attributes,
    pub direct_groups: Vec<GroupRef>,
    pub transitive_groups: Vec<GroupRef>,
    /// App role names, sorted, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
    /// Target attributes computed so far (SCIM path → value).
    pub target: Attributes,
}

/// A transform's result (the WIT `outcome` variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum TransformOutcome {
    Changes {
        set: Vec<(String, Value)>,
        remove: Vec<String>,
    },
    Skip {
        reason: String,
    },
}

/// A license rule's result (the WIT `license-decision` variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LicenseDecision {
    NoChange {
        reason: String,
        /// Which of the plugin's rules decided (interface 0.2.0; empty before).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        rule: String,
        /// The facts the decision rests on, e.g. `Zoom-Phone ← Sales-Managers` (0.2.0).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        because: Vec<String>,
    },
    Assign {
        license: License,
        reason: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        rule: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        because: Vec<String>,
    },
}

impl LicenseDecision {
    /// Keeps the current license, for `reason`, with no structured reason.
    pub fn no_change(reason: impl Into<String>) -> LicenseDecision {
        LicenseDecision::NoChange {
            reason: reason.into(),
            rule: String::new(),
            because: Vec::new(),
        }
    }

    /// Assigns `license`, for `reason`, with no structured reason.
    pub fn assign(license: License, reason: impl Into<String>) -> LicenseDecision {
        LicenseDecision::Assign {
            license,
            reason: reason.into(),
            rule: String::new(),
            because: Vec::new(),
        }
    }
}

/// Why a plugin call failed. The kinds are kept apart because an admin acts differently on each:
/// fix the config, fix the guest, or raise a limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin} returned error `{code}`: {message}")]
    Guest {
        plugin: PluginId,
        code: String,
        message: String,
    },
    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: PluginId, message: String },
    #[error("plugin {plugin} exceeded its time limit of {limit_ms} ms")]
    Deadline { plugin: PluginId, limit_ms: u64 },
    #[error("plugin {plugin} ran out of fuel (limit {limit})")]
    OutOfFuel { plugin: PluginId, limit: u64 },
    #[error("plugin {plugin} exceeded its memory limit of {limit_bytes} bytes")]
    MemoryLimit { plugin: PluginId, limit_bytes: u64 },
    #[error("plugin {plugin} returned output over the limit of {limit_bytes} bytes")]
    OutputTooLarge { plugin: PluginId, limit_bytes: u64 },
    #[error("invalid plugin component {name}: {message}")]
    InvalidComponent { name: String, message: String },
}

impl PluginError {
    /// A short, stable name of the error kind for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Guest { .. } => "guest-error",
            PluginError::Trap { .. } => "trap",
            PluginError::Deadline { .. } => "deadline",
            PluginError::OutOfFuel { .. } => "out-of-fuel",
            PluginError::MemoryLimit { .. } => "memory-limit",
            PluginError::OutputTooLarge { .. } => "output-too-large",
            PluginError::InvalidComponent { .. } => "invalid-component",
        }
    }
}

/// An attribute transform. `config` is the plugin's configuration as a JSON document.
pub trait Transform: Send + Sync {
    fn id(&self) -> PluginId;
    fn transform(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> Result<TransformOutcome, PluginError>;
}

/// A license rule. `current` is the license the target holds now, if any.
pub trait LicenseRule: Send + Sync {
    fn id(&self) -> PluginId;
    fn decide(
        &self,
        person: &PluginInput,
        current: Option<&License>,
        config: &str,
    ) -> Result<LicenseDecision, PluginError>;
}
