//! Target profile data: how a license decision becomes target attributes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Errors, check_scim_path};
use crate::model::{Attributes, Key};

/// A target profile, or (in the `[profile]` table) additions to the built-in one: entries here
/// replace the built-in entries of the same name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Plan name → the target attributes (SCIM path → value) that express it.
    #[serde(default)]
    pub plans: BTreeMap<String, Attributes>,
    /// A SCIM path that receives the plan's name itself when `plans` has no entry for it.
    #[serde(default)]
    pub plan_attribute: Option<Key>,
    /// Add-on name → the attributes that express holding it, and not holding it.
    #[serde(default)]
    pub add_ons: BTreeMap<String, AddOnAttributes>,
    /// What to do with an add-on that `add_ons` does not know.
    #[serde(default)]
    pub unmapped_add_ons: Option<UnmappedAddOns>,
    /// The plan a new person gets when the plan the license rule chose has no seat left
    /// (`[license] seats`); without one, such a person is provisioned with no license
    /// attributes and the target's own default applies.
    #[serde(default)]
    pub default_plan: Option<String>,
    /// SCIM paths the target accepts but never returns (Zoom's `zoomPhoneNumber` and
    /// `zoomPhoneCallingPlan`): sent when a user is created, never rewritten by the diff, and
    /// not compared when reconciling against what the target returns.
    #[serde(default)]
    pub write_only: std::collections::BTreeSet<Key>,
}

/// The attributes of one add-on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddOnAttributes {
    /// Set while the person holds the add-on.
    #[serde(default)]
    pub held: Attributes,
    /// Set while the person does not hold it (e.g. a feature boolean set to false). Paths in
    /// neither are removed from the target when the add-on goes.
    #[serde(default)]
    pub not_held: Attributes,
}

/// Handling of add-ons the profile has no attributes for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmappedAddOns {
    /// Log a warning for the person and go on.
    #[default]
    Warn,
    /// Go on silently: the target has no notion of add-ons.
    Ignore,
}

impl ProfileConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        let mut check = |location: String, path: &str| {
            if let Err(message) = check_scim_path(path) {
                errors.push(location, message);
            }
        };
        for (plan, attributes) in &self.plans {
            for path in attributes.keys() {
                check(format!("{at}.plans.{plan}.\"{path}\""), path);
            }
        }
        if let Some(path) = &self.plan_attribute {
            check(format!("{at}.plan_attribute"), path);
        }
        for path in &self.write_only {
            check(format!("{at}.write_only.\"{path}\""), path);
        }
        for (name, add_on) in &self.add_ons {
            for (kind, attributes) in [("held", &add_on.held), ("not_held", &add_on.not_held)] {
                for path in attributes.keys() {
                    check(format!("{at}.add_ons.{name}.{kind}.\"{path}\""), path);
                }
            }
        }
    }

    /// This profile with `other`'s entries laid over it.
    pub fn merged_with(mut self, other: &ProfileConfig) -> ProfileConfig {
        self.plans
            .extend(other.plans.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.add_ons
            .extend(other.add_ons.iter().map(|(k, v)| (k.clone(), v.clone())));
        if other.plan_attribute.is_some() {
            self.plan_attribute.clone_from(&other.plan_attribute);
        }
        if other.unmapped_add_ons.is_some() {
            self.unmapped_add_ons = other.unmapped_add_ons;
        }
        if other.default_plan.is_some() {
            self.default_plan.clone_from(&other.default_plan);
        }
        self.write_only.extend(other.write_only.iter().cloned());
        self
    }
}
