//! The simulator's configuration, validated before anything listens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rate::Category;

/// Zoom's SCIM base path (<https://developers.zoom.us/docs/api/scim2/>).
pub const DEFAULT_BASE_PATH: &str = "/scim2";

/// How the simulator is started (`muster simulate zoom --listen … --token … --rate-limit …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// The one bearer token accepted; every other request gets Zoom's 401.
    pub token: String,
    /// Requests per second for the whole account; `None` for no limit. Zoom's real limit is
    /// uncertain: 1/s per endpoint in the old marketplace SCIM2 docs, 30–80/s per label in
    /// <https://developers.zoom.us/docs/api/rate-limits/>.
    #[serde(default)]
    pub rate_limit_per_sec: Option<u32>,
    /// Requests per second per Zoom category instead (a bucket each), as Zoom limits them; a
    /// category left out is not limited. Not together with `rate_limit_per_sec`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub category_limits: BTreeMap<Category, u32>,
    /// Where `/Users` and `/Groups` live; `"/scim2"` like Zoom, `""` for the root.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// A Server-to-Server OAuth app: `/oauth/token` issues tokens to it, and only those are
    /// accepted (the fixed `token` then is not), as Zoom accepts OAuth access tokens only.
    #[serde(default)]
    pub oauth: Option<OAuthApp>,
    /// Seats the account has bought, by name (see [`crate::store::seats`]); an assignment past
    /// one is refused. None: no limit.
    #[serde(default)]
    pub seats: std::collections::BTreeMap<String, u32>,
}

/// A Server-to-Server OAuth app (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub account_id: String,
    /// How long an issued token lives; Zoom's live an hour.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("account_id", &self.account_id)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .finish_non_exhaustive()
    }
}

fn default_token_ttl() -> u64 {
    3600
}

impl OAuthApp {
    /// From the CLI's `--oauth CLIENT_ID:SECRET:ACCOUNT_ID`.
    pub fn parse(text: &str, token_ttl_secs: u64) -> Result<OAuthApp, ConfigError> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts[..] {
            [client_id, client_secret, account_id]
                if [client_id, client_secret, account_id]
                    .iter()
                    .all(|p| !p.trim().is_empty()) =>
            {
                Ok(OAuthApp {
                    client_id: client_id.to_string(),
                    client_secret: client_secret.to_string(),
                    account_id: account_id.to_string(),
                    token_ttl_secs,
                })
            }
            _ => Err(ConfigError::OAuth),
        }
    }
}

fn default_base_path() -> String {
    DEFAULT_BASE_PATH.to_string()
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the bearer token is empty: every request would be refused")]
    EmptyToken,
    #[error("base path {0:?} must be empty or start with '/' and not end with '/'")]
    BasePath(String),
    #[error(
        "rate limit {0:?} is not of the form N/s, or light=N/s,medium=N/s, with N ≥ 1 (leave it \
         out for no limit)"
    )]
    RateLimit(String),
    #[error("give one rate limit for the account or limits per category, not both")]
    BothRateLimits,
    #[error("--oauth must be CLIENT_ID:SECRET:ACCOUNT_ID, none of them empty")]
    OAuth,
    #[error("the token lifetime must be at least 1 second")]
    TokenTtl,
    #[error("seats {0:?} are not of the form NAME=N[,NAME=N...] (e.g. licensed=5,phone=2)")]
    Seats(String),
}

impl SimConfig {
    /// No rate limit, Zoom's base path.
    pub fn new(token: impl Into<String>) -> Self {
        SimConfig {
            token: token.into(),
            rate_limit_per_sec: None,
            category_limits: BTreeMap::new(),
            base_path: default_base_path(),
            oauth: None,
            seats: Default::default(),
        }
    }

    /// Every problem, not only the first: the CLI reports them together.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.token.trim().is_empty() {
            errors.push(ConfigError::EmptyToken);
        }
        let p = &self.base_path;
        if !p.is_empty() && (!p.starts_with('/') || p.ends_with('/')) {
            errors.push(ConfigError::BasePath(p.clone()));
        }
        if self.rate_limit_per_sec.is_some() && !self.category_limits.is_empty() {
            errors.push(ConfigError::BothRateLimits);
        }
        if self.category_limits.values().any(|n| *n == 0) {
            errors.push(ConfigError::RateLimit("0/s".into()));
        }
        if self.oauth.as_ref().is_some_and(|o| o.token_ttl_secs == 0) {
            errors.push(ConfigError::TokenTtl);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Parses the CLI's `--seats licensed=5,phone=2`.
pub fn parse_seats(text: &str) -> Result<std::collections::BTreeMap<String, u32>, ConfigError> {
    let bad = || ConfigError::Seats(text.to_string());
    text.split(',')
        .map(|pair| {
            let (name, n) = pair.split_once('=').ok_or_else(bad)?;
            let name = name.trim();
            if name.is_empty() {
                return Err(bad());
            }
            let n = n.trim().parse::<u32>().map_err(|_| bad())?;
            Ok((name.to_string(), n))
        })
        .collect()
}

/// Parses the CLI's `--rate-limit` for the whole account: `N/s` or a bare `N`.
pub fn parse_rate_limit(text: &str) -> Result<u32, ConfigError> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ConfigError::RateLimit(text.to_string())),
    }
}

/// What `--rate-limit` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimits {
    /// `N/s`: one bucket for the whole account.
    Account(u32),
    /// `light=N/s,medium=N/s`: a bucket per category (either may be left out).
    PerCategory(BTreeMap<Category, u32>),
}

impl RateLimits {
    /// Parses either form.
    pub fn parse(text: &str) -> Result<RateLimits, ConfigError> {
        if !text.contains('=') {
            return parse_rate_limit(text).map(RateLimits::Account);
        }
        let bad = || ConfigError::RateLimit(text.to_string());
        let mut limits = BTreeMap::new();
        for part in text.split(',') {
            let (name, rate) = part.split_once('=').ok_or_else(bad)?;
            let category = Category::parse(name).ok_or_else(bad)?;
            let rate = parse_rate_limit(rate).map_err(|_| bad())?;
            if limits.insert(category, rate).is_some() {
                return Err(bad());
            }
        }
        Ok(RateLimits::PerCategory(limits))
    }

    /// Sets these limits on `config`.
    pub fn apply(self, config: &mut SimConfig) {
        match self {
            RateLimits::Account(n) => config.rate_limit_per_sec = Some(n),
            RateLimits::PerCategory(limits) => config.category_limits = limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits() {
        assert_eq!(parse_rate_limit("10/s"), Ok(10));
        assert_eq!(parse_rate_limit(" 3 "), Ok(3));
        for bad in ["0/s", "x/s", "-1", "10/m", ""] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(RateLimits::parse("10/s"), Ok(RateLimits::Account(10)));
        assert_eq!(
            RateLimits::parse("light=30/s, Medium=20"),
            Ok(RateLimits::PerCategory(BTreeMap::from([
                (Category::Light, 30),
                (Category::Medium, 20)
            ])))
        );
        assert_eq!(
            RateLimits::parse("medium=2/s"),
            Ok(RateLimits::PerCategory(BTreeMap::from([(
                Category::Medium,
                2
            )])))
        );
        for bad in [
            "light=0/s",
            "heavy=10/s",
            "light=1,light=2",
            "light=",
            "=3",
            "light=1,",
        ] {
            assert!(RateLimits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seats() {
        let parsed = parse_seats("licensed=5, phone = 2").expect("valid");
        assert_eq!(parsed.get("licensed"), Some(&5));
        assert_eq!(parsed.get("phone"), Some(&2));
        for bad in ["licensed", "=5", "licensed=x", "licensed=-1", ""] {
            assert!(parse_seats(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_reports_everything() {
        let config = SimConfig {
            token: " ".into(),
            rate_limit_per_sec: Some(3),
            category_limits: BTreeMap::from([(Category::Light, 3)]),
            base_path: "scim2/".into(),
            oauth: None,
            seats: Default::default(),
        };
        assert_eq!(config.validate().map_err(|e| e.len()), Err(3));
        assert!(SimConfig::new("t").validate().is_ok());
    }

    #[test]
    fn oauth_apps() {
        let app = OAuthApp::parse("id:secret:acct", 2).expect("valid");
        assert_eq!(
            (
                app.client_id.as_str(),
                app.account_id.as_str(),
                app.token_ttl_secs
            ),
            ("id", "acct", 2)
        );
        assert!(
            !format!("{app:?}").contains("secret"),
            "the secret never prints"
        );
        for bad in ["id:secret", "id::acct", "a:b:c:d", ""] {
            assert_eq!(OAuthApp::parse(bad, 2), Err(ConfigError::OAuth), "{bad}");
        }
    }
}
