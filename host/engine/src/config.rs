//! muster's configuration: one TOML file, validated as a whole before anything starts.
//!
//! Every section is its own type with `deny_unknown_fields`, so a typo is an error rather than a
//! silently ignored setting. [`Config::from_toml_str`] reports every problem it finds at once,
//! each with its location in the file (`mappings[3].target: ...`; array indexes count from 0).
//! Secrets never appear in the file, only the names of environment variables holding them.

mod alerts;
mod gates;
mod gateway;
mod load;
mod mapping;
mod plugins;
mod policy;
mod profile;
mod scope;
mod server;
mod source;
mod state;
mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use alerts::{AlertFormat, AlertsConfig, EmailConfig, SmtpSecurity};
pub use gates::{Bound, Gates, PluginPolicyConfig, ShadowConfig};
pub use gateway::GatewayConfig;
pub use mapping::{ApplyMode, MappingConfig, MappingKind};
pub use plugins::{BUILTIN_PREFIX, GroupInputs, PluginConfig, PluginInputs, PluginLimits};
pub use policy::{
    CompileConfig, DeletionThresholdConfig, DeprovisionAction, DeprovisioningConfig,
    QuarantineConfig, RetentionConfig,
};
pub use profile::{
    AddOnAttributes, ProfileConfig, RateClassConfig, RequestKind, UnmappedAddOns, ValueCheck,
};
pub use scope::{ClauseConfig, Operator, ScopeConfig, ScopeMode, ScopingFilterConfig};
pub use server::{AdminConfig, ServerConfig};
pub use source::{GraphSourceConfig, SourceConfig};
pub use state::PostgresConfig;
pub use target::{DEFAULT_RATE_LIMIT, OAuthStyleName, ProfileName, TargetAuthConfig, TargetConfig};

/// The whole configuration of one provisioning job (one source, one target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where people and groups come from.
    pub source: SourceConfig,
    /// The SCIM endpoint people are provisioned into.
    pub target: TargetConfig,
    /// Who is provisioned: assignment and scoping filters (Entra's "scope" settings).
    #[serde(default)]
    pub scope: ScopeConfig,
    /// Attribute mappings from source attributes to target SCIM paths, the matching attributes
    /// among them.
    pub mappings: Vec<MappingConfig>,
    /// Transform plugins, run in this order after the mappings; each sees the target attributes
    /// the mappings and earlier transforms produced.
    #[serde(default)]
    pub transforms: Vec<PluginConfig>,
    /// The license rule plugin; without one, muster leaves licenses alone.
    #[serde(default)]
    pub license: Option<PluginConfig>,
    /// How a new plugin version goes live: the gates its previewed impact must pass.
    #[serde(default)]
    pub plugins: PluginPolicyConfig,
    /// Additions to or replacements of the target profile named in `target.profile`: how a
    /// license decision becomes target attributes.
    #[serde(default)]
    pub profile: Option<ProfileConfig>,
    /// What happens to people who leave scope, are disabled or are deleted in the source.
    #[serde(default)]
    pub deprovisioning: DeprovisioningConfig,
    /// Accidental-deletion prevention: how many disables and deletes one cycle may carry.
    #[serde(default)]
    pub deletion_threshold: DeletionThresholdConfig,
    /// When a job with too many failures is quarantined (Entra's escrow thresholds by default).
    #[serde(default)]
    pub quarantine: QuarantineConfig,
    /// Seconds between the start of two scheduled cycles. Entra uses about 40 minutes and does
    /// not let it be changed; muster does.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Seconds between two cycles that plan everyone. Between them, a cycle plans only the
    /// people whose inputs changed since their last settled plan (`engine::delta`); the full
    /// plan is the safety net. 0: every cycle plans everyone.
    #[serde(default = "default_full_plan_interval")]
    pub full_plan_interval_secs: u64,
    /// People a sync cycle plans, applies and logs at a time (`engine::cycle::CyclePlanner`):
    /// a cycle holds one batch's plan (about 10 KB a person) instead of everyone's, so its
    /// memory does not grow with the directory. Larger batches give the plugins more people
    /// per core at once; at least 1.
    #[serde(default = "default_batch_people")]
    pub batch_people: usize,
    /// Where the state store keeps what was provisioned: a SQLite file, unless `state_url`
    /// is set.
    #[serde(default = "default_state_path")]
    pub state_path: PathBuf,
    /// A PostgreSQL database for the state instead of the file (`postgres://user@host/db`),
    /// which several replicas of `muster serve` can share; see `[postgres]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_url: Option<String>,
    /// The PostgreSQL backend's password, schema and leader lease (with `state_url`).
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Gateway mode's SCIM server; required with `[source] kind = "gateway"` and refused
    /// otherwise (see [`GatewayConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayConfig>,
    /// `muster serve`'s HTTP listener and plugin folder.
    #[serde(default)]
    pub server: ServerConfig,
    /// The admin API's token.
    #[serde(default)]
    pub admin: AdminConfig,
    /// How long provisioning logs and history are kept, and how large the state may grow.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// How plugin components are compiled (in a bounded child process) and how much compiled
    /// code is cached.
    #[serde(default)]
    pub compile: CompileConfig,
    /// Webhook alerts when the job stops working (`muster serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsConfig>,
}

fn default_sync_interval() -> u64 {
    40 * 60
}

fn default_full_plan_interval() -> u64 {
    24 * 60 * 60
}

/// 2,048 people keep a batch's plan near 20 MB and still give each core hundreds of plugin
/// calls per batch.
fn default_batch_people() -> usize {
    2_048
}

fn default_state_path() -> PathBuf {
    PathBuf::from("muster.db")
}

/// One problem in a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// A TOML key path such as `mappings[3].target`, or `line 4, column 2` for syntax errors.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found in a configuration, in file order as far as it can be known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Collects errors while walking the configuration.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<ConfigError>);

impl Errors {
    pub(crate) fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: location.into(),
            message: message.into(),
        });
    }
}

impl Config {
    /// Parses and validates a configuration, reporting every problem at once.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        let mut errors = Errors::default();
        let config = load::load(text, &mut errors);
        if let Some(config) = &config {
            config.validate(&mut errors);
        }
        match config {
            Some(config) if errors.0.is_empty() => Ok(config),
            _ => Err(ConfigErrors(errors.0)),
        }
    }

    fn validate(&self, errors: &mut Errors) {
        self.source.validate("source", errors);
        self.target.validate("target", errors);
        self.scope.validate("scope", errors);
        mapping::validate_all(&self.mappings, errors);
        plugins::validate_all(&self.transforms, self.license.as_ref(), errors);
        self.plugins.validate("plugins", errors);
        if let Some(profile) = &self.profile {
            // With a profile file, its classes are known only when it is read: the built-in
            // profile's stand in.
            let builtin = crate::profile::builtin(self.target.profile_name());
            profile.validate("profile", &builtin, errors);
        }
        self.deletion_threshold
            .validate("deletion_threshold", errors);
        self.retention.validate("retention", errors);
        self.compile.validate("compile", errors);
        self.quarantine.validate("quarantine", errors);
        if self.batch_people == 0 {
            errors.push("batch_people", "must be at least 1");
        }
        if self.sync_interval_secs == 0 {
            errors.push("sync_interval_secs", "must be at least 1 second");
        }
        if self.state_path.as_os_str().is_empty() {
            errors.push("state_path", "must not be empty");
        }
        if let Some(url) = &self.state_url {
            state::validate_state_url(url, errors);
        }
        self.postgres.validate("postgres", errors);
        self.server.validate("server", errors);
        if let Some(alerts) = &self.alerts {
            alerts.validate("alerts", errors);
        }
        self.admin.validate("admin", errors);
        self.validate_gateway(errors);
    }

    /// `[source] kind = "gateway"` and `[gateway]` come together or not at all.
    fn validate_gateway(&self, errors: &mut Errors) {
        let gateway_source = matches!(self.source, SourceConfig::Gateway);
        match (&self.gateway, gateway_source) {
            (Some(gateway), true) => gateway.validate("gateway", errors),
            (None, true) => errors.push(
                "gateway",
                "missing: `[source] kind = \"gateway\"` needs a [gateway] section (it may be empty)",
            ),
            (Some(_), false) => errors.push(
                "gateway",
                "only for `[source] kind = \"gateway\"`: with another source, two sources would \
                 provision the same people",
            ),
            (None, false) => {}
        }
    }

    /// Whether people come from the SCIM gateway rather than a source read on a schedule.
    pub fn is_gateway(&self) -> bool {
        matches!(self.source, SourceConfig::Gateway)
    }

    /// The rate classes requests to the target go by, from `profile`, the resolved target
    /// profile (the built-in one with `[profile]` laid over it): all of its classes, or, when
    /// `[target] rate_limit_per_second` is set, only those the job's `[profile.rate_classes]`
    /// names. Requests in none go at [`TargetConfig::default_rate`].
    pub fn rate_classes(&self, profile: &ProfileConfig) -> BTreeMap<String, RateClassConfig> {
        let named = |name: &String| {
            self.profile
                .as_ref()
                .is_some_and(|p| p.rate_classes.contains_key(name))
        };
        profile
            .rate_classes
            .iter()
            .filter(|(name, _)| self.target.rate_limit_per_second.is_none() || named(name))
            .map(|(name, class)| (name.clone(), class.clone()))
            .collect()
    }

    /// The mappings that are matching attributes, by precedence (lowest number first).
    pub fn matching_mappings(&self) -> Vec<&MappingConfig> {
        let mut matching: Vec<&MappingConfig> = self
            .mappings
            .iter()
            .filter(|m| m.matching_precedence.is_some())
            .collect();
        matching.sort_by_key(|m| m.matching_precedence);
        matching
    }
}

/// An environment variable name as POSIX shells accept it. Checked so that a secret pasted
/// into a `*_env` field by mistake is refused instead of being looked up (and logged) as a name.
pub(crate) fn check_env_name(value: &str, location: &str, errors: &mut Errors) {
    let mut chars = value.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        errors.push(
            location,
            "must be the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*); secrets are \
             never written in the configuration file",
        );
    }
}

/// An http(s) URL with a host. Deliberately shallow: the connector that uses it reports the rest.
pub(crate) fn check_url(value: &str, location: &str, errors: &mut Errors) {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => errors.push(location, format!("`{value}` is not an http(s) URL")),
    }
}

/// A SCIM attribute path as muster writes target attributes (`attr`, `attr.sub`,
/// `attr[filter].sub`, each optionally behind a schema URN), as the `scim` crate parses them.
pub(crate) fn check_scim_path(path: &str) -> Result<(), String> {
    scim::AttrPath::parse(path)
        .map(|_| ())
        .map_err(|e| format!("invalid SCIM path `{path}`: {}", e.detail))
}

#[cfg(test)]
mod tests;
