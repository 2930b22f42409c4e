//! Target profile data: how a license decision becomes target attributes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, ConfigErrors, Errors, check_scim_path};
use crate::model::{Attributes, Key};
pub use scim::RequestKind;

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
    /// `zoomPhoneCallingPlan`): not compared when reconciling against what the target returns.
    /// Cycles compare with what muster last sent, so these are sent again only when they
    /// change.
    #[serde(default)]
    pub write_only: std::collections::BTreeSet<Key>,
    /// Values checked before anything is sent (e.g. Zoom Phone's extension number): a person
    /// with a value that does not match is not provisioned, and the log says why.
    #[serde(default)]
    pub checks: Vec<ValueCheck>,
    /// Sent when a user is created, where the mappings, transforms and license leave the path
    /// unset (Zoom's `loginType`); never rewritten afterwards.
    #[serde(default)]
    pub create_defaults: Attributes,
    /// Request kinds the target limits together, by class name (`[profile.rate_classes.light]`),
    /// each with the rate muster starts at and never exceeds. A 429 lowers a class's rate and
    /// pauses it, quiet periods raise it again; requests in no class use
    /// `[target] rate_limit_per_second`. In a job's `[profile]`, a class without `requests`
    /// changes the rate of the built-in class of that name, and a request kind named here leaves
    /// the built-in class that had it.
    #[serde(default)]
    pub rate_classes: BTreeMap<String, RateClassConfig>,
}

/// A pattern the text of a target value must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueCheck {
    /// The SCIM path checked, when a person's target has it.
    pub path: Key,
    /// A regular expression (Rust `regex` syntax) the value's text must match.
    pub pattern: String,
    /// What the value must be, for the log.
    pub message: String,
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
        for path in self.create_defaults.keys() {
            check(format!("{at}.create_defaults.\"{path}\""), path);
        }
        for (i, value_check) in self.checks.iter().enumerate() {
            check(format!("{at}.checks[{i}].path"), &value_check.path);
        }
        for (name, add_on) in &self.add_ons {
            for (kind, attributes) in [("held", &add_on.held), ("not_held", &add_on.not_held)] {
                for path in attributes.keys() {
                    check(format!("{at}.add_ons.{name}.{kind}.\"{path}\""), path);
                }
            }
        }
        for (i, value_check) in self.checks.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&value_check.pattern) {
                errors.push(format!("{at}.checks[{i}].pattern"), e.to_string());
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
        if other.default_plan.is_some() {
            self.default_plan.clone_from(&other.default_plan);
        }
        self.write_only.extend(other.write_only.iter().cloned());
        self.checks.extend(other.checks.iter().cloned());
        self.create_defaults.extend(
            other
                .create_defaults
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
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

impl ProfileConfig {
    /// Reads a profile file (`profiles/zoom.toml`, or an admin's own), reporting every problem
    /// with the file's name and line: `my-zoom.toml, line 12 (plans.licensed): …`.
    pub fn from_file_text(file: &str, text: &str) -> Result<ProfileConfig, ConfigErrors> {
        let at = |span: Option<std::ops::Range<usize>>, key: &str| {
            let line = span.map(|s| line_of_offset(text, s.start));
            let mut location = file.to_string();
            if let Some(line) = line {
                location.push_str(&format!(", line {line}"));
            }
            if !key.is_empty() {
                location.push_str(&format!(" ({key})"));
            }
            location
        };
        let profile: ProfileConfig = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                let message = e.message().lines().next().unwrap_or_default().to_string();
                return Err(ConfigErrors(vec![ConfigError {
                    location: at(e.span(), ""),
                    message,
                }]));
            }
        };
        let mut errors = Errors::default();
        // A file is a whole profile: its classes name their requests.
        profile.validate("", &ProfileConfig::default(), &mut errors);
        if errors.0.is_empty() {
            return Ok(profile);
        }
        let spans = toml::de::DeTable::parse(text).ok();
        let located = errors
            .0
            .into_iter()
            .map(|e| {
                let key = e.location.trim_start_matches('.').to_string();
                let span = spans.as_ref().and_then(|t| span_of(t, &key));
                ConfigError {
                    location: at(span, &key),
                    message: e.message,
                }
            })
            .collect();
        Err(ConfigErrors(located))
    }
}

/// 1-based.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// Where the deepest part of `key` (`plans.licensed."userType"`, `checks[1].pattern`) that the
/// document has is written.
fn span_of(
    root: &toml::Spanned<toml::de::DeTable<'_>>,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    let mut segments = key_segments(key).into_iter();
    let first = segments.next()?;
    let (_, mut value) = root.get_ref().iter().find(|(k, _)| k.get_ref() == &first)?;
    let mut span = value.span();
    for segment in segments {
        let next = match segment.parse::<usize>() {
            Ok(i) if value.get_ref().is_array() => value.get_ref().get(i),
            _ => value.get_ref().get(segment.as_str()),
        };
        match next {
            Some(v) => {
                value = v;
                span = v.span();
            }
            None => break,
        }
    }
    Some(span)
}

/// `a.b."c.d"[2].e` → `a`, `b`, `c.d`, `2`, `e`.
fn key_segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' | '[' | ']' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
