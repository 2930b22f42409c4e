//! `[alerts]`: who is told when the job stops working, and when.

use serde::{Deserialize, Serialize};

use super::Errors;

/// Alerts to a webhook: a POST of a JSON body when a condition starts, again every
/// `resend_minutes` while it lasts, and once when it clears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts are POSTed (`http://` or `https://`).
    pub webhook_url: String,
    /// Name of the environment variable holding the key of the `X-Muster-Signature` header
    /// (`sha256=` and the hex HMAC-SHA256 of the body). Unset: alerts are not signed.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `json`: muster's alert document. `slack`: `{"text": ...}`, which Slack and Microsoft
    /// Teams incoming webhooks accept.
    #[serde(default)]
    pub format: AlertFormat,
    /// Minutes between two sends of an alert whose condition lasts.
    #[serde(default = "default_resend_minutes")]
    pub resend_minutes: u64,
    /// A finished cycle whose failed people are over this share of those it planned raises an
    /// alert.
    #[serde(default = "default_failure_percent")]
    pub failure_percent: u64,
    /// A cycle running for longer than this raises an alert.
    #[serde(default = "default_cycle_minutes")]
    pub cycle_minutes: u64,
    /// A gateway change waiting in the outbox for longer than this raises an alert.
    #[serde(default = "default_outbox_minutes")]
    pub outbox_minutes: u64,
    /// Seconds between two looks at the conditions.
    #[serde(default = "default_check_secs")]
    pub check_interval_secs: u64,
    /// The base URL under which this muster's admin API is reached, for the link each alert
    /// carries (e.g. `https://muster.example.com`). Unset: links are paths.
    #[serde(default)]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    #[default]
    Json,
    Slack,
}

fn default_resend_minutes() -> u64 {
    60
}

fn default_failure_percent() -> u64 {
    10
}

fn default_cycle_minutes() -> u64 {
    60
}

fn default_outbox_minutes() -> u64 {
    15
}

fn default_check_secs() -> u64 {
    30
}

impl AlertsConfig {
    pub(super) fn validate(&self, at: &str, errors: &mut Errors) {
        let url = self.webhook_url.as_str();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.push(
                format!("{at}.webhook_url"),
                format!("`{url}` is not an http:// or https:// URL"),
            );
        }
        for (key, value) in [
            ("resend_minutes", self.resend_minutes),
            ("cycle_minutes", self.cycle_minutes),
            ("outbox_minutes", self.outbox_minutes),
            ("check_interval_secs", self.check_interval_secs),
        ] {
            if value == 0 {
                errors.push(format!("{at}.{key}"), "must be at least 1");
            }
        }
        if self.failure_percent > 100 {
            errors.push(
                format!("{at}.failure_percent"),
                "is a share of the people planned: at most 100",
            );
        }
    }
}
