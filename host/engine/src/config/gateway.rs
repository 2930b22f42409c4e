//! Gateway mode: muster as the SCIM endpoint Entra ID provisions into (`[gateway]`), and the
//! HTTP listener it shares with the operations routes (`[server]`).
//!
//! A job is in gateway mode when its source is `[source] kind = "gateway"`: the people are
//! whatever Entra pushes to `/scim/v2`, so there is nothing to read on a schedule. The
//! `[gateway]` section must then be present (it may be empty), and it is refused with any other
//! source: two sources writing the same provisioned records would undo each other.

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name};

/// The SCIM 2.0 server Entra's "Tenant URL" and "Secret Token" point at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Name of the environment variable holding the bearer token Entra sends (its "Secret
    /// Token"). Compared in constant time.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The largest request body accepted; larger ones get `413`. Entra's biggest requests are
    /// group PATCHes of many members, well under the default 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most resources one list or search answer holds (`filter.maxResults` in
    /// `/ServiceProviderConfig`); a `count` above it is lowered to it.
    #[serde(default = "default_max_results")]
    pub max_results: usize,
    /// First delay before retrying a change the target refused or could not take; it doubles
    /// on each attempt up to `retry_max_ms`. The change stays in the outbox meanwhile.
    #[serde(default = "default_retry_min_ms")]
    pub retry_min_ms: u64,
    /// The longest delay between two attempts at a change.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Attempts at a change the target *rejected* (a 4xx other than 408/429) before it is
    /// moved to the dropped changes (listed and replayed through the admin API). Changes that
    /// failed because the target was unreachable, slow or throttling, or because a plugin
    /// failed, are retried without limit: that is what makes an outage lose nothing.
    #[serde(default = "default_max_rejections")]
    pub max_rejections: u32,
    /// Disables and deletes the outbox sends within `deprovision_window_secs`; beyond them the
    /// rest are held (and reported) until an admin releases them
    /// (`POST /admin/outbox/release-deprovisions`): the gateway's accidental-deletion guard,
    /// for a wave of deletes from a broken scoping rule upstream.
    #[serde(default = "default_max_deprovisions")]
    pub max_deprovisions: u32,
    #[serde(default = "default_deprovision_window")]
    pub deprovision_window_secs: u64,
}

fn default_max_deprovisions() -> u32 {
    100
}

fn default_deprovision_window() -> u64 {
    600
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            token_env: default_token_env(),
            max_body_bytes: default_max_body_bytes(),
            max_results: default_max_results(),
            retry_min_ms: default_retry_min_ms(),
            retry_max_ms: default_retry_max_ms(),
            max_rejections: default_max_rejections(),
            max_deprovisions: default_max_deprovisions(),
            deprovision_window_secs: default_deprovision_window(),
        }
    }
}

fn default_token_env() -> String {
    "MUSTER_SCIM_TOKEN".into()
}

fn default_max_body_bytes() -> usize {
    1 << 20
}

fn default_max_results() -> usize {
    200
}

fn default_retry_min_ms() -> u64 {
    500
}

fn default_retry_max_ms() -> u64 {
    60_000
}

fn default_max_rejections() -> u32 {
    3
}

impl GatewayConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        check_env_name(&self.token_env, &format!("{at}.token_env"), errors);
        if self.max_body_bytes < 1024 {
            errors.push(format!("{at}.max_body_bytes"), "must be at least 1024");
        }
        if self.max_results == 0 {
            errors.push(format!("{at}.max_results"), "must be at least 1");
        }
        if self.retry_min_ms == 0 {
            errors.push(format!("{at}.retry_min_ms"), "must be at least 1");
        }
        if self.retry_max_ms < self.retry_min_ms {
            errors.push(
                format!("{at}.retry_max_ms"),
                "must be at least retry_min_ms",
            );
        }
        if self.max_rejections == 0 {
            errors.push(format!("{at}.max_rejections"), "must be at least 1");
        }
        if self.deprovision_window_secs == 0 {
            errors.push(
                format!("{at}.deprovision_window_secs"),
                "must be at least 1",
            );
        }
    }
}
