//! `[alerts]`: who is told when the job stops working, and when.

use serde::{Deserialize, Serialize};

use super::Errors;

/// Alerts to a webhook (a POST of a JSON body) and/or by e-mail, when a condition starts,
/// again every `resend_minutes` while it lasts, and once when it clears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts are POSTed (`http://` or `https://`). Unset: no webhook (`[alerts.email]`
    /// is then needed).
    #[serde(default)]
    pub webhook_url: Option<String>,
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
    /// E-mail over SMTP, beside or instead of the webhook.
    #[serde(default)]
    pub email: Option<EmailConfig>,
}

/// `[alerts.email]`: alerts as e-mail, through an SMTP server (RFC 5321).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Signs in with this user name and the password in `password_env`; unset: no sign-in (a
    /// relay that trusts this host).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// `muster <muster@example.com>` or `muster@example.com`.
    pub from: String,
    pub to: Vec<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (RFC 3207).
    #[default]
    Starttls,
    /// TLS from the first byte (RFC 8314).
    Tls,
    /// No encryption: only for a relay on this host or a trusted network, and never with a
    /// password.
    None,
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    fn validate(&self, at: &str, errors: &mut Errors) {
        if self.smtp_host.trim().is_empty() {
            errors.push(format!("{at}.smtp_host"), "is empty");
        }
        let looks_like_address = |a: &str| {
            let a = a.trim();
            let inner = match (a.rfind('<'), a.strip_suffix('>')) {
                (Some(open), Some(_)) => &a[open + 1..a.len() - 1],
                _ => a,
            };
            inner.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && (domain.contains('.') || domain == "localhost")
            })
        };
        if !looks_like_address(&self.from) {
            errors.push(
                format!("{at}.from"),
                format!("`{}` is not an e-mail address", self.from),
            );
        }
        if self.to.is_empty() {
            errors.push(format!("{at}.to"), "names no recipient");
        }
        for (i, to) in self.to.iter().enumerate() {
            if !looks_like_address(to) {
                errors.push(
                    format!("{at}.to[{i}]"),
                    format!("`{to}` is not an e-mail address"),
                );
            }
        }
        match (&self.username, &self.password_env) {
            (Some(_), None) => errors.push(
                format!("{at}.password_env"),
                "is needed with `username`: the variable holding the password",
            ),
            (None, Some(_)) => {
                errors.push(format!("{at}.username"), "is needed with `password_env`")
            }
            _ => {}
        }
        if self.username.is_some() && self.security == SmtpSecurity::None {
            errors.push(
                format!("{at}.security"),
                "`none` would send the password in clear: use `starttls` or `tls`",
            );
        }
        if let Some(name) = &self.password_env {
            super::check_env_name(name, &format!("{at}.password_env"), errors);
        }
    }
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
        if let Some(url) = self.webhook_url.as_deref()
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            errors.push(
                format!("{at}.webhook_url"),
                format!("`{url}` is not an http:// or https:// URL"),
            );
        }
        match &self.email {
            Some(email) => email.validate(&format!("{at}.email"), errors),
            None if self.webhook_url.is_none() => errors.push(
                format!("{at}.webhook_url"),
                "is needed, or `[alerts.email]`: alerts must go somewhere",
            ),
            None => {}
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
