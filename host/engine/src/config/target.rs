//! The SCIM target muster provisions into.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name, check_url};

/// The SCIM 2.0 endpoint and how muster signs in to it: `token_env` (a bearer token in an
/// environment variable) or `[target.auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The SCIM base URL, e.g. `https://api.zoom.us/scim2`.
    pub base_url: String,
    /// Name of the environment variable holding the bearer token; the short form of
    /// `[target.auth] kind = "bearer"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// How muster signs in, when not with `token_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<TargetAuthConfig>,
    /// Requests per second of the requests in no class of the profile's `rate_classes` (10 when
    /// not set). When set, it also replaces the built-in profile's classes: they apply only
    /// while this is left out (or by naming them in `[profile.rate_classes]`), so a job that
    /// chose one rate for everything keeps it. 429 and `Retry-After` are obeyed whatever this
    /// says, and a 429 lowers the rate for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<f64>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// The built-in profile that turns license decisions into attributes (`zoom`, the
    /// default, or `generic`); the top-level `[profile]` table adds to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileName>,
    /// A profile file instead of a built-in one (relative to the configuration file): a copy of
    /// `profiles/zoom.toml` changed without a rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_file: Option<PathBuf>,
}

/// `[target.auth]`: how muster signs in to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetAuthConfig {
    /// A static bearer token, from an environment variable or from a file that is read again
    /// when it changes (a mounted Kubernetes Secret rotates without a restart).
    Bearer {
        #[serde(default)]
        token_env: Option<String>,
        /// Relative to the configuration file.
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
    /// OAuth 2.0 client credentials: a token from `token_url`, renewed before it expires and
    /// after a 401.
    OauthClientCredentials {
        token_url: String,
        client_id: String,
        #[serde(default)]
        client_secret_env: Option<String>,
        /// Relative to the configuration file.
        #[serde(default)]
        client_secret_file: Option<PathBuf>,
        #[serde(default)]
        scope: Option<String>,
        style: OAuthStyleName,
        /// Zoom's account id (`style = "zoom"` only).
        #[serde(default)]
        account_id: Option<String>,
    },
}

/// Which token request the endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuthStyleName {
    /// Zoom's Server-to-Server OAuth: the account-credentials grant with `account_id`.
    Zoom,
    /// RFC 6749 §4.4's client-credentials grant, for other SCIM apps.
    Rfc6749,
}

/// The rate of requests in no class when `rate_limit_per_second` is not set.
pub const DEFAULT_RATE_LIMIT: f64 = 10.0;

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
    /// The built-in profile named, `zoom` when none is.
    pub fn profile_name(&self) -> ProfileName {
        self.profile.unwrap_or_default()
    }

    /// The rate of requests in no class.
    pub fn default_rate(&self) -> f64 {
        self.rate_limit_per_second.unwrap_or(DEFAULT_RATE_LIMIT)
    }

    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        check_url(&self.base_url, &format!("{at}.base_url"), errors);
        match (&self.token_env, &self.auth) {
            (Some(env), None) => check_env_name(env, &format!("{at}.token_env"), errors),
            (None, Some(auth)) => auth.validate(&format!("{at}.auth"), errors),
            (Some(_), Some(_)) => errors.push(
                format!("{at}.token_env"),
                "set either token_env or [target.auth], not both",
            ),
            (None, None) => errors.push(
                at.to_string(),
                "says nothing about signing in: set token_env or a [target.auth] table",
            ),
        }
        if let Some(rate) = self.rate_limit_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            errors.push(
                format!("{at}.rate_limit_per_second"),
                "must be a positive number",
            );
        }
        if self.concurrency == 0 {
            errors.push(format!("{at}.concurrency"), "must be at least 1");
        }
        if self.profile.is_some() && self.profile_file.is_some() {
            errors.push(
                format!("{at}.profile_file"),
                "set either profile (a built-in) or profile_file, not both",
            );
        }
    }
}

impl TargetAuthConfig {
    fn validate(&self, at: &str, errors: &mut Errors) {
        match self {
            TargetAuthConfig::Bearer {
                token_env,
                token_file,
            } => match (token_env, token_file) {
                (Some(env), None) => check_env_name(env, &format!("{at}.token_env"), errors),
                (None, Some(_)) => {}
                _ => errors.push(
                    at.to_string(),
                    "a bearer token comes from exactly one of token_env and token_file",
                ),
            },
            TargetAuthConfig::OauthClientCredentials {
                token_url,
                client_id,
                client_secret_env,
                client_secret_file,
                style,
                account_id,
                ..
            } => {
                check_url(token_url, &format!("{at}.token_url"), errors);
                if client_id.trim().is_empty() {
                    errors.push(format!("{at}.client_id"), "must not be empty");
                }
                match (client_secret_env, client_secret_file) {
                    (Some(env), None) => {
                        check_env_name(env, &format!("{at}.client_secret_env"), errors)
                    }
                    (None, Some(_)) => {}
                    _ => errors.push(
                        at.to_string(),
                        "the client secret comes from exactly one of client_secret_env and \
                         client_secret_file",
                    ),
                }
                match (style, account_id) {
                    (OAuthStyleName::Zoom, Some(id)) if !id.trim().is_empty() => {}
                    (OAuthStyleName::Zoom, _) => errors.push(
                        format!("{at}.account_id"),
                        "style = \"zoom\" needs the Account ID of the Server-to-Server OAuth app",
                    ),
                    (OAuthStyleName::Rfc6749, Some(_)) => errors.push(
                        format!("{at}.account_id"),
                        "is Zoom's: with style = \"rfc6749\" leave it out (or use style = \"zoom\")",
                    ),
                    (OAuthStyleName::Rfc6749, None) => {}
                }
            }
        }
    }
}
