//! The simulator's configuration, validated before anything listens.

use serde::{Deserialize, Serialize};

/// Zoom's SCIM base path (<https://developers.zoom.us/docs/api/scim2/>).
pub const DEFAULT_BASE_PATH: &str = "/scim2";

/// How the simulator is started (`muster simulate zoom --listen … --token … --rate-limit N/s`).
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
    #[error("rate limit {0:?} is not of the form N/s with N ≥ 1 (leave it out for no limit)")]
    RateLimit(String),
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

/// Parses the CLI's `--rate-limit`: `N/s` or a bare `N`.
pub fn parse_rate_limit(text: &str) -> Result<u32, ConfigError> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ConfigError::RateLimit(text.to_string())),
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
            rate_limit_per_sec: None,
            base_path: "scim2/".into(),
            oauth: None,
            seats: Default::default(),
        };
        assert_eq!(config.validate().map_err(|e| e.len()), Err(2));
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
