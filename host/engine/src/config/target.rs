//! The SCIM target muster provisions into.

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name, check_url};

/// The SCIM 2.0 endpoint. The bearer token is read from the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The SCIM base URL, e.g. `https://api.zoom.us/scim2`.
    pub base_url: String,
    /// Name of the environment variable holding the bearer token.
    pub token_env: String,
    /// Requests per second muster allows itself. Zoom's documents disagree (1/s per endpoint in
    /// the old ones, 30–80/s per account in the new), so it is the admin's call; 429 and
    /// `Retry-After` are obeyed whatever this says.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_second: f64,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// The built-in profile that turns license decisions into attributes (`zoom` or `generic`);
    /// the top-level `[profile]` table adds to it.
    #[serde(default)]
    pub profile: ProfileName,
}

fn default_rate_limit() -> f64 {
    10.0
}

fn default_concurrency() -> u32 {
    4
}

/// The built-in target profiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileName {
    /// Zoom: plans to `userType` and the Zoom license extension, add-ons to its fields.
    #[default]
    Zoom,
    /// Any SCIM server: the plan goes to `userType`, add-ons are not provisioned.
    Generic,
}

impl TargetConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        check_url(&self.base_url, &format!("{at}.base_url"), errors);
        check_env_name(&self.token_env, &format!("{at}.token_env"), errors);
        if !(self.rate_limit_per_second.is_finite() && self.rate_limit_per_second > 0.0) {
            errors.push(
                format!("{at}.rate_limit_per_second"),
                "must be a positive number",
            );
        }
        if self.concurrency == 0 {
            errors.push(format!("{at}.concurrency"), "must be at least 1");
        }
    }
}
