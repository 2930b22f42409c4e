//! Plugin entries: the transforms, in order, and the license rule.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Errors;

/// A plugin path with this prefix names an example plugin shipped inside the binary
/// (`builtin:license-by-group`), so example configurations run without building anything.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// One plugin: a WebAssembly component and its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The name the logs and the admin API use; unique among the plugins.
    pub name: String,
    /// Path to the component (`.wasm`), relative to the configuration file's folder, or
    /// `builtin:<name>` for an example plugin shipped with muster.
    pub path: PathBuf,
    /// The plugin's own configuration, handed to it as a JSON document.
    #[serde(default)]
    pub config: toml::Table,
    /// Limits on each call; the host's defaults apply to what is left out.
    #[serde(default)]
    pub limits: Option<PluginLimits>,
    /// What the plugin is shown of each person; everything when left out.
    #[serde(default)]
    pub inputs: PluginInputs,
    /// `[license]` only: the seats the target account has per plan or add-on name
    /// (`seats = { licensed = 500, phone = 100 }`). The planner never plans past them; names
    /// left out have no limit.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub seats: crate::seats::SeatBudgets,
    /// Gates for this plugin's new versions, over `[plugins.gates]` key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<super::Gates>,
}

/// The parts of a person a plugin receives. A plugin sees only what it needs (a license rule
/// that reads groups has no business with phone numbers), and every entry it is not sent is one
/// it does not pay to receive: a Python or JavaScript guest spends tens of microseconds turning
/// each attribute or group into one of its own objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginInputs {
    /// The source attributes it receives, by name (case-insensitive); all when left out.
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
    /// Which of the person's group lists it receives; the other arrives empty.
    #[serde(default)]
    pub groups: GroupInputs,
    /// Only the groups whose display name starts with one of these (ASCII case-insensitive, as
    /// Entra compares group names), e.g. `["Zoom-"]`; all groups when left out. People are in
    /// dozens to hundreds of groups, of which a rule usually reads a handful.
    #[serde(default)]
    pub group_prefixes: Option<Vec<String>>,
    /// The target attributes computed so far (SCIM paths, case-insensitive) it receives; all
    /// when left out. A transform's changes still apply to the whole target.
    #[serde(default)]
    pub target: Option<Vec<String>>,
    /// Whether it receives the person's app roles (interface 0.2.0 and later).
    #[serde(default = "yes")]
    pub app_roles: bool,
    /// Whether it receives the person's manager (interface 0.2.0 and later).
    #[serde(default = "yes")]
    pub manager: bool,
}

fn yes() -> bool {
    true
}

/// Everything: the whole person.
impl Default for PluginInputs {
    fn default() -> Self {
        PluginInputs {
            attributes: None,
            groups: GroupInputs::All,
            group_prefixes: None,
            target: None,
            app_roles: true,
            manager: true,
        }
    }
}

impl PluginInputs {
    /// What the plugin is shown, for the provisioning log (`None`: the whole person).
    pub fn describe(&self) -> Option<String> {
        if self.is_everything() {
            return None;
        }
        let list = |names: &[String]| match names {
            [] => "none".to_string(),
            names => names.join(", "),
        };
        let mut parts = Vec::new();
        if let Some(names) = &self.attributes {
            parts.push(format!("attributes {}", list(names)));
        }
        let groups = match self.groups {
            GroupInputs::All => "direct and transitive groups",
            GroupInputs::Direct => "direct groups",
            GroupInputs::Transitive => "transitive groups",
            GroupInputs::None => "no groups",
        };
        match self.group_prefixes.as_deref() {
            Some([]) => parts.push("no groups".to_string()),
            Some(prefixes) if self.groups != GroupInputs::None => {
                let named: Vec<String> = prefixes.iter().map(|p| format!("{p}*")).collect();
                parts.push(format!("{groups} named {}", named.join(", ")))
            }
            _ => parts.push(groups.to_string()),
        }
        if let Some(paths) = &self.target {
            parts.push(format!("target {}", list(paths)));
        }
        if !self.app_roles {
            parts.push("no app roles".to_string());
        }
        if !self.manager {
            parts.push("no manager".to_string());
        }
        Some(parts.join("; "))
    }

    /// True when the plugin is shown the whole person.
    pub fn is_everything(&self) -> bool {
        self.attributes.is_none()
            && self.groups == GroupInputs::All
            && self.group_prefixes.is_none()
            && self.target.is_none()
            && self.app_roles
            && self.manager
    }
}

/// The group lists a plugin receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupInputs {
    /// Direct and transitive groups.
    #[default]
    All,
    /// Direct groups only.
    Direct,
    /// Transitive groups only (which include the direct ones).
    Transitive,
    /// Neither.
    None,
}

/// Per-call limits on a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    /// Wall-clock limit for one call, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Fuel (roughly, WebAssembly instructions) for one call.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Linear memory the instance may grow to, in MiB.
    #[serde(default)]
    pub memory_mib: Option<u64>,
}

impl PluginConfig {
    /// The `config` table as the JSON document the plugin receives (`{}` when empty).
    pub fn config_json(&self) -> String {
        // A TOML table always has a JSON form (datetimes become strings).
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }

    fn validate(&self, at: &str, errors: &mut Errors) {
        // The name names files too (`<plugins_dir>/<name>.wasm`, uploads kept there), and
        // appears in URLs (`/admin/plugins/<name>`): keep it to what is safe in both.
        if self.name.trim().is_empty() {
            errors.push(format!("{at}.name"), "must not be empty");
        } else if self.name.starts_with('.')
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errors.push(
                format!("{at}.name"),
                format!(
                    "`{}` may hold only ASCII letters, digits, `-`, `_` and `.`, and must not \
                     start with `.`",
                    self.name
                ),
            );
        }
        let builtin = self
            .path
            .to_str()
            .is_some_and(|p| p.starts_with(BUILTIN_PREFIX));
        if !builtin && self.path.extension().is_none_or(|e| e != "wasm") {
            errors.push(
                format!("{at}.path"),
                format!("`{}` is not a .wasm file", self.path.display()),
            );
        }
        let names = [
            ("attributes", &self.inputs.attributes),
            ("group_prefixes", &self.inputs.group_prefixes),
            ("target", &self.inputs.target),
        ];
        for (field, list) in names {
            for (i, name) in list.iter().flatten().enumerate() {
                if name.trim().is_empty() {
                    errors.push(format!("{at}.inputs.{field}[{i}]"), "must not be empty");
                }
            }
        }
        if let Some(gates) = &self.gates {
            gates.validate(&format!("{at}.gates"), errors);
        }
        if let Some(limits) = &self.limits {
            let fields = [
                ("timeout_ms", limits.timeout_ms),
                ("fuel", limits.fuel),
                ("memory_mib", limits.memory_mib),
            ];
            for (field, value) in fields {
                if value == Some(0) {
                    errors.push(format!("{at}.limits.{field}"), "must be greater than 0");
                }
            }
        }
    }
}

pub(crate) fn validate_all(
    transforms: &[PluginConfig],
    license: Option<&PluginConfig>,
    errors: &mut Errors,
) {
    let mut names = BTreeSet::new();
    let all = transforms
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("transforms[{i}]"), p))
        .chain(license.map(|p| ("license".to_string(), p)));
    for (at, plugin) in all {
        plugin.validate(&at, errors);
        if !names.insert(plugin.name.as_str()) {
            errors.push(
                format!("{at}.name"),
                format!("plugin name `{}` is used twice", plugin.name),
            );
        }
    }
    for (i, transform) in transforms.iter().enumerate() {
        if !transform.seats.is_empty() {
            errors.push(
                format!("transforms[{i}].seats"),
                "seat budgets belong to the license rule: move them to [license]",
            );
        }
    }
    for name in license.iter().flat_map(|l| l.seats.keys()) {
        if name.trim().is_empty() {
            errors.push("license.seats", "a plan or add-on name must not be empty");
        }
    }
}
