//! What a [`ScimClient`](crate::ScimClient) is built from.
//!
//! This is runtime configuration, not the TOML file: the binary reads the file (which names the
//! environment variables and files holding secrets) and the environment, then fills this in.

use std::fmt;
use std::time::Duration;

use crate::auth::{OAuthStyle, TargetAuth};
use crate::limits::DEFAULT_CLASS;
use crate::request::RequestKind;

/// A token or a client secret. It never prints: `Debug` redacts it and there is no
/// `Display`, so a secret cannot reach a log line through `{:?}` of a config or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A bearer token is a [`Secret`].
pub type BearerToken = Secret;

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that builds the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<Secret> for TargetAuth {
    fn from(token: Secret) -> Self {
        TargetAuth::Bearer(token)
    }
}

/// Request kinds limited together, at `per_second`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateClass {
    pub name: String,
    pub per_second: f64,
    pub requests: Vec<RequestKind>,
}

impl RateClass {
    pub fn new(name: impl Into<String>, per_second: f64, requests: &[RequestKind]) -> Self {
        RateClass {
            name: name.into(),
            per_second,
            requests: requests.to_vec(),
        }
    }
}

/// How a [`ScimClient`](crate::ScimClient) talks to one SCIM target.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The SCIM base URL, up to but excluding `/Users` (`https://api.zoom.us/scim2`).
    pub base_url: String,
    /// How requests are signed in.
    pub auth: TargetAuth,
    /// Requests per second, across all callers of this client, of the request kinds that no
    /// class of `rate_classes` names; `None` for no limit. Fractional values (0.5 = one every
    /// two seconds) work.
    pub rate_limit_per_sec: Option<f64>,
    /// Request kinds the target limits together, each class at its own rate. Every rate is
    /// where the class starts and the most it reaches: a 429 lowers it (to the target's
    /// `X-RateLimit-Limit` when it sends one) and pauses the class for `Retry-After`, and quiet
    /// periods raise it again (see `limits/adaptive.rs`).
    pub rate_classes: Vec<RateClass>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The limit for one attempt, connection included.
    pub timeout: Duration,
    /// Attempts per call, the first included (1 = never retry).
    pub max_attempts: u32,
    /// First retry delay; doubles per retry up to `max_backoff`, each with up to 100 % jitter
    /// added so clients that failed together do not retry together.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` obeyed inside a call. A longer one (Zoom's daily limit answers
    /// with tomorrow's midnight) fails the call at once with
    /// [`ErrorCode::TooManyRequests`](crate::ErrorCode) and the wait, so the caller can pause the
    /// cycle instead of holding a request open for hours.
    pub max_retry_after: Duration,
    pub user_agent: String,
}

impl ClientConfig {
    /// A configuration with conservative defaults: 5 requests/s, 4 in flight, 30 s per
    /// attempt, 5 attempts, backoff 500 ms → 30 s, `Retry-After` obeyed up to 2 minutes.
    /// `auth` is a [`TargetAuth`] or a [`BearerToken`].
    pub fn new(base_url: impl Into<String>, auth: impl Into<TargetAuth>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            auth: auth.into(),
            rate_limit_per_sec: Some(5.0),
            rate_classes: Vec::new(),
            concurrency: 4,
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            user_agent: concat!("muster-scim-client/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// Every problem with the configuration, not just the first.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            problems.push(format!(
                "base_url {:?} must start with https:// or http://",
                self.base_url
            ));
        }
        if self.base_url.contains(['?', '#']) {
            problems.push(format!(
                "base_url {:?} must not carry a query or fragment",
                self.base_url
            ));
        }
        match &self.auth {
            TargetAuth::Bearer(token) if token.expose().trim().is_empty() => {
                problems.push("the bearer token is empty".to_string());
            }
            TargetAuth::OAuth(oauth) => {
                if !(oauth.token_url.starts_with("https://")
                    || oauth.token_url.starts_with("http://"))
                {
                    problems.push(format!(
                        "token_url {:?} must start with https:// or http://",
                        oauth.token_url
                    ));
                }
                if oauth.client_id.trim().is_empty() {
                    problems.push("client_id is empty".to_string());
                }
                if oauth.client_secret.expose().trim().is_empty() {
                    problems.push("the client secret is empty".to_string());
                }
                if let OAuthStyle::Zoom { account_id } = &oauth.style
                    && account_id.trim().is_empty()
                {
                    problems.push("account_id is empty".to_string());
                }
            }
            _ => {}
        }
        if let Some(rate) = self.rate_limit_per_sec
            && !(rate.is_finite() && rate > 0.0)
        {
            problems.push(format!(
                "rate_limit_per_sec must be a positive number, not {rate}"
            ));
        }
        self.rate_class_problems(&mut problems);
        if self.concurrency == 0 {
            problems.push("concurrency must be at least 1".to_string());
        }
        if self.max_attempts == 0 {
            problems.push("max_attempts must be at least 1".to_string());
        }
        if self.timeout.is_zero() {
            problems.push("timeout must be positive".to_string());
        }
        if self.min_backoff > self.max_backoff {
            problems.push("min_backoff must not exceed max_backoff".to_string());
        }
        problems
    }
}

impl ClientConfig {
    fn rate_class_problems(&self, problems: &mut Vec<String>) {
        let mut owner: [Option<&str>; RequestKind::ALL.len()] = [None; RequestKind::ALL.len()];
        for (i, class) in self.rate_classes.iter().enumerate() {
            let name = class.name.as_str();
            if name.trim().is_empty() || name == DEFAULT_CLASS {
                problems.push(format!(
                    "rate class {name:?}: the name must not be empty or {DEFAULT_CLASS:?}"
                ));
            }
            if self.rate_classes[..i].iter().any(|c| c.name == name) {
                problems.push(format!("rate class {name:?} is given twice"));
            }
            if !(class.per_second.is_finite() && class.per_second > 0.0) {
                problems.push(format!(
                    "rate class {name:?}: per_second must be a positive number, not {}",
                    class.per_second
                ));
            }
            if class.requests.is_empty() {
                problems.push(format!("rate class {name:?} names no requests"));
            }
            for kind in &class.requests {
                match owner[kind.index()].replace(name) {
                    Some(other) if other == name => {
                        problems.push(format!("rate class {name:?} names {kind} twice"));
                    }
                    Some(other) => problems.push(format!(
                        "{kind} requests are in two rate classes, {other:?} and {name:?}"
                    )),
                    None => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints() {
        let config = ClientConfig::new("https://x.example/scim2", BearerToken::new("s3cr3t"));
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn all_problems_reported() {
        let mut config = ClientConfig::new("ftp://x?y", BearerToken::new(" "));
        config.concurrency = 0;
        config.rate_limit_per_sec = Some(0.0);
        assert_eq!(config.problems().len(), 5, "{:?}", config.problems());
        let good = ClientConfig::new("https://x.example/scim2", BearerToken::new("t"));
        assert!(good.problems().is_empty());
    }

    #[test]
    fn rate_class_problems() {
        use RequestKind::*;
        let mut config = ClientConfig::new("https://x.example/scim2", BearerToken::new("t"));
        config.rate_classes = vec![
            RateClass::new("light", 30.0, &[Get, Create, Patch]),
            RateClass::new("medium", 20.0, &[List]),
        ];
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        config.rate_classes = vec![
            RateClass::new("light", 0.0, &[Get, Patch]),
            RateClass::new("heavy", f64::NAN, &[Patch]),
            RateClass::new("light", 5.0, &[]),
            RateClass::new("default", 5.0, &[List]),
        ];
        let problems = config.problems();
        for expected in [
            "rate class \"light\": per_second must be a positive number, not 0",
            "rate class \"heavy\": per_second must be a positive number, not NaN",
            "patch requests are in two rate classes, \"light\" and \"heavy\"",
            "rate class \"light\" is given twice",
            "rate class \"light\" names no requests",
            "rate class \"default\": the name must not be empty or \"default\"",
        ] {
            assert!(
                problems.iter().any(|p| p == expected),
                "{expected} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 6, "{problems:#?}");
    }
}
