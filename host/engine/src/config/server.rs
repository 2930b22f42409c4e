//! `muster serve` as a service: where it listens, the admin API's token, the plugin folder.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name};

/// The HTTP listener of `muster serve` (health, metrics, admin API and, with `[gateway]`, SCIM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Loopback by default: exposing it is a deliberate choice.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A folder of `<plugin name>.wasm` files watched while serving: a file written there
    /// becomes the active version of that plugin (a Kubernetes ConfigMap or volume update).
    #[serde(default)]
    pub plugins_dir: Option<PathBuf>,
    /// Seconds between two test connections to the target; `/readyz` fails when the last one
    /// failed or is older than twice this.
    #[serde(default = "default_probe_interval")]
    pub probe_interval_secs: u64,
    /// Seconds a SIGTERM waits for a cycle in flight before exiting anyway (what is not done
    /// is resumed by the next cycle, see the crash-safety notes).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// Run sync cycles every `sync_interval_secs` while serving. Off for a gateway-only sidecar,
    /// or to start cycles only through the admin API.
    #[serde(default = "yes")]
    pub scheduled_sync: bool,
    /// A second listener for the admin API, health and metrics, so that only SCIM faces the
    /// network Entra comes from; unset, everything is on `listen`.
    #[serde(default)]
    pub admin_listen: Option<String>,
    /// Seconds a client has to send a request's headers, and the longest an idle keep-alive
    /// connection is kept: a client that trickles bytes (slow loris) or idles is cut off.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Connections served at once, per listener; more wait in the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a request may take from its headers to its answer, body included: a client
    /// that trickles its body, or a handler that stalls, is answered 503 after this. The
    /// admin calls that run a cycle, provision a person or compile a plugin are exempt (they
    /// are bounded by their own limits and need the admin token).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}

fn default_request_timeout() -> u64 {
    60
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    1024
}

fn yes() -> bool {
    true
}

/// The admin API (`/admin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Name of the environment variable holding the admin bearer token. Unset: the admin API
    /// answers 503 to everything.
    #[serde(default = "default_admin_token_env")]
    pub token_env: String,
    /// Name of the environment variable holding a read-only token: it reads the admin API
    /// (`GET`) and signs in to the console as a viewer. Unset: no read-only role.
    #[serde(default = "default_viewer_token_env")]
    pub viewer_token_env: String,
    /// How long a console sign-in lasts, in hours.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
}

fn default_viewer_token_env() -> String {
    "MUSTER_VIEWER_TOKEN".into()
}

fn default_session_hours() -> u64 {
    8
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_probe_interval() -> u64 {
    30
}

fn default_shutdown_grace() -> u64 {
    25
}

fn default_admin_token_env() -> String {
    "MUSTER_ADMIN_TOKEN".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            plugins_dir: None,
            probe_interval_secs: default_probe_interval(),
            shutdown_grace_secs: default_shutdown_grace(),
            scheduled_sync: true,
            admin_listen: None,
            header_read_timeout_secs: default_header_read_timeout(),
            max_connections: default_max_connections(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            token_env: default_admin_token_env(),
            viewer_token_env: default_viewer_token_env(),
            session_hours: default_session_hours(),
        }
    }
}

impl ServerConfig {
    /// The listen address, parsed (validation has checked it).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }

    /// The admin listener's address, if one is set (validation has checked it).
    pub fn admin_listen_addr(&self) -> Option<Result<SocketAddr, std::net::AddrParseError>> {
        self.admin_listen.as_deref().map(str::parse)
    }

    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if let Some(Err(_)) = self.admin_listen_addr() {
            errors.push(
                format!("{at}.admin_listen"),
                format!(
                    "`{}` is not an address and port such as 127.0.0.1:9090",
                    self.admin_listen.as_deref().unwrap_or_default()
                ),
            );
        }
        // Port 0 picks a free port for each listener, so the same text is two addresses then.
        let same = match (self.admin_listen_addr(), self.listen_addr()) {
            (Some(Ok(admin)), Ok(listen)) => admin == listen && admin.port() != 0,
            _ => false,
        };
        if same {
            errors.push(
                format!("{at}.admin_listen"),
                "must differ from `listen` (leave it unset to serve everything on `listen`)",
            );
        }
        if self.header_read_timeout_secs == 0 {
            errors.push(
                format!("{at}.header_read_timeout_secs"),
                "must be at least 1 second",
            );
        }
        if self.request_timeout_secs == 0 {
            errors.push(
                format!("{at}.request_timeout_secs"),
                "must be at least 1 second",
            );
        }
        if self.max_connections == 0 {
            errors.push(format!("{at}.max_connections"), "must be at least 1");
        }
        if self.listen_addr().is_err() {
            errors.push(
                format!("{at}.listen"),
                format!(
                    "`{}` is not an address and port such as 127.0.0.1:8080 or 0.0.0.0:8080",
                    self.listen
                ),
            );
        }
        if self.probe_interval_secs == 0 {
            errors.push(
                format!("{at}.probe_interval_secs"),
                "must be at least 1 second",
            );
        }
    }
}

impl AdminConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        check_env_name(&self.token_env, &format!("{at}.token_env"), errors);
        check_env_name(
            &self.viewer_token_env,
            &format!("{at}.viewer_token_env"),
            errors,
        );
        if self.viewer_token_env == self.token_env {
            errors.push(
                format!("{at}.viewer_token_env"),
                "must differ from `token_env`: the read-only token cannot be the admin token",
            );
        }
        if !(1..=24 * 30).contains(&self.session_hours) {
            errors.push(
                format!("{at}.session_hours"),
                "must be from 1 to 720 hours (30 days)",
            );
        }
    }
}
