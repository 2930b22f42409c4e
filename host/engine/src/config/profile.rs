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
    /// SCIM paths the target accepts but never returns (Zoom's `zoomPhoneNumber` and
    /// `zoomPhoneCallingPlan`): sent when a user is created, never rewritten by the diff, and
    /// not compared when reconciling against what the target returns.
    #[serde(default)]
    pub write_only: std::collections::BTreeSet<Key>,
    /// Request kinds the target limits together, by class name (`[profile.rate_classes.light]`),
    /// each with the rate muster starts at and never exceeds. A 429 lowers a class's rate and
    /// pauses it, quiet periods raise it again; requests in no class use
    /// `[target] rate_limit_per_second`. In a job's `[profile]`, a class without `requests`
    /// changes the rate of the built-in class of that name, and a request kind named here leaves
    /// the built-in class that had it.
    #[serde(default)]
    pub rate_classes: BTreeMap<String, RateClassConfig>,
}

/// One class of requests and its rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateClassConfig {
    /// Requests per second; fractions work (0.5 = one every two seconds).
    pub per_second: f64,
    /// The requests of the class.
    #[serde(default)]
    pub requests: Vec<RequestKind>,
}

/// What a request to the target does, as rate limits tell requests apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// `GET /Users` (and `/Groups`), filtered or not: the look-up before a create is one.
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
    /// `builtin`: the profile this one is laid over, whose classes a class without `requests`
    /// takes its requests from.
    pub(crate) fn validate(&self, at: &str, builtin: &ProfileConfig, errors: &mut Errors) {
        self.validate_rate_classes(at, builtin, errors);
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

    fn validate_rate_classes(&self, at: &str, builtin: &ProfileConfig, errors: &mut Errors) {
        let mut owners: BTreeMap<RequestKind, &str> = BTreeMap::new();
        for (name, class) in &self.rate_classes {
            let at = format!("{at}.rate_classes.{name}");
            if !(class.per_second.is_finite() && class.per_second > 0.0) {
                errors.push(format!("{at}.per_second"), "must be a positive number");
            }
            if class.requests.is_empty() && !builtin.rate_classes.contains_key(name) {
                errors.push(
                    format!("{at}.requests"),
                    "missing: the built-in profile has no class of this name to take them from",
                );
            }
            for kind in &class.requests {
                match owners.insert(*kind, name) {
                    Some(other) if other == name => errors.push(
                        format!("{at}.requests"),
                        format!("names `{}` twice", kind.as_str()),
                    ),
                    Some(other) => errors.push(
                        format!("{at}.requests"),
                        format!(
                            "`{}` is also in class `{other}`: a request has one rate",
                            kind.as_str()
                        ),
                    ),
                    None => {}
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
        self.write_only.extend(other.write_only.iter().cloned());
        for (name, class) in &other.rate_classes {
            let mut class = class.clone();
            if class.requests.is_empty()
                && let Some(base) = self.rate_classes.get(name)
            {
                class.requests.clone_from(&base.requests);
            }
            for base in self.rate_classes.values_mut() {
                base.requests.retain(|kind| !class.requests.contains(kind));
            }
            self.rate_classes.insert(name.clone(), class);
        }
        self.rate_classes
            .retain(|_, class| !class.requests.is_empty());
        self
    }
}
