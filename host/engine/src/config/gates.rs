//! `[plugins]`: the bounds a new plugin version's impact must stay within before it goes live
//! (`[plugins.gates]`, or `gates` on one plugin's entry), and shadow runs of a staged version
//! (`[plugins.shadow]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Errors;

/// `[plugins]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginPolicyConfig {
    /// The gates every plugin's new version is held to; a plugin's own `gates` override them
    /// key by key.
    #[serde(default)]
    pub gates: Gates,
    /// Shadow runs of staged versions.
    #[serde(default)]
    pub shadow: ShadowConfig,
}

/// `[plugins.shadow]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// Activate a shadowed version once this many cycles (or gateway outbox passes) in a row
    /// compared within the gates, without an error; left out, a shadow runs until an admin
    /// activates or drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_after_cycles: Option<u32>,
}

impl PluginPolicyConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        self.gates.validate(&format!("{at}.gates"), errors);
        if self.shadow.promote_after_cycles == Some(0) {
            errors.push(
                format!("{at}.shadow.promote_after_cycles"),
                "must be at least 1 (leave it out to never promote by itself)",
            );
        }
    }
}

/// Bounds on a rule change's impact, over the people a preview planned. A version that
/// exceeds one is staged, not activated. Keys left out are not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// People whose plan or add-ons change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_license_changes: Option<Bound>,
    /// Per plan or add-on name: how far its holder count may move, up or down (`%` of the
    /// holders before the change).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_seat_delta: BTreeMap<String, Bound>,
    /// People a plugin fails for with the new version who did not fail before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_failures: Option<Bound>,
    /// People whose provisioned attributes (other than the license's) change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attribute_changes: Option<Bound>,
}

impl Gates {
    /// True when no gate is set: a new version goes live without a preview.
    pub fn is_empty(&self) -> bool {
        *self == Gates::default()
    }

    /// `self` with `over`'s keys laid over it.
    pub fn overlaid(&self, over: &Gates) -> Gates {
        let mut seats = self.max_seat_delta.clone();
        seats.extend(over.max_seat_delta.clone());
        Gates {
            max_license_changes: over.max_license_changes.or(self.max_license_changes),
            max_seat_delta: seats,
            max_new_failures: over.max_new_failures.or(self.max_new_failures),
            max_attribute_changes: over.max_attribute_changes.or(self.max_attribute_changes),
        }
    }

    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        for name in self.max_seat_delta.keys() {
            if name.trim().is_empty() {
                errors.push(
                    format!("{at}.max_seat_delta"),
                    "a plan or add-on name must not be empty",
                );
            }
        }
    }
}

/// A gate's bound: a count (`20`) or a share (`"5%"`) of what it is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBound", into = "RawBound")]
pub enum Bound {
    Count(u64),
    Percent(f64),
}

impl Bound {
    /// The largest count allowed out of `of`.
    pub fn allowed(self, of: u64) -> u64 {
        match self {
            Bound::Count(n) => n,
            Bound::Percent(p) => (p / 100.0 * of as f64).floor() as u64,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Count(n) => write!(f, "{n}"),
            Bound::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawBound {
    Count(u64),
    Text(String),
}

impl TryFrom<RawBound> for Bound {
    type Error = String;

    fn try_from(raw: RawBound) -> Result<Bound, String> {
        let text = match raw {
            RawBound::Count(n) => return Ok(Bound::Count(n)),
            RawBound::Text(text) => text,
        };
        let percent = text
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite() && (0.0..=100.0).contains(p));
        percent.map(Bound::Percent).ok_or_else(|| {
            format!("`{text}` is not a bound: give a count (20) or a percentage (\"5%\", 0 to 100)")
        })
    }
}

impl From<Bound> for RawBound {
    fn from(bound: Bound) -> RawBound {
        match bound {
            Bound::Count(n) => RawBound::Count(n),
            Bound::Percent(_) => RawBound::Text(bound.to_string()),
        }
    }
}
