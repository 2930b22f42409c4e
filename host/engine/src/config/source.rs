//! Where people and groups come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name, check_url};

/// The identity source. `kind` selects the connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A directory snapshot in a JSON file (people, groups, assignments): for demos, tests and
    /// sources muster has no connector for.
    File {
        /// Path to the snapshot file, relative to the configuration file's folder.
        path: PathBuf,
    },
    /// Microsoft Graph (Entra ID) with client credentials.
    Graph(GraphSourceConfig),
    /// Gateway mode: Entra ID's own provisioning job pushes people to muster's SCIM endpoint
    /// (`/scim/v2`, configured in `[gateway]`); nothing is read on a schedule.
    Gateway,
}

/// Connection settings for Microsoft Graph. The client secret is read from the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSourceConfig {
    /// The Entra tenant id (a GUID) or a verified domain.
    pub tenant_id: String,
    /// The application (client) id of the app registration muster signs in as.
    pub client_id: String,
    /// Name of the environment variable holding the client secret. Give this or
    /// `certificate_path`.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A PEM file with the certificate uploaded to the app registration (Certificates &
    /// secrets); muster signs each token request with its private key instead of sending a
    /// secret. Relative to the configuration file.
    #[serde(default)]
    pub certificate_path: Option<PathBuf>,
    /// The PEM file with the certificate's RSA private key (PKCS#8 or PKCS#1), if it is not in
    /// `certificate_path` too. Relative to the configuration file.
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    /// Graph's base URL; changed for national clouds or a fake Graph server in tests.
    #[serde(default = "default_graph_url")]
    pub graph_base_url: String,
    /// The token endpoint's base URL (the tenant id is appended).
    #[serde(default = "default_login_url")]
    pub login_base_url: String,
    /// Object id of the app's service principal (Enterprise application), whose
    /// `appRoleAssignedTo` says who is assigned and whose `appRoles` name the roles. Needed by
    /// `[scope] mode = "assigned"` unless `assigned_groups`/`assigned_users` say who is.
    #[serde(default)]
    pub service_principal_id: Option<String>,
    /// User properties to read besides those the mappings and scoping filters name (what the
    /// plugins read). `$select` asks Graph for these and no more.
    #[serde(default)]
    pub extra_attributes: Vec<String>,
    /// `$top` of the listings (appRoleAssignedTo, users in test-connection): 1 to 999.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Graph requests in flight at once (the delta rounds and the assignments run side by side).
    #[serde(default = "default_graph_concurrency")]
    pub concurrency: u32,
}

fn default_page_size() -> u32 {
    999
}

fn default_graph_concurrency() -> u32 {
    4
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
}

fn default_login_url() -> String {
    "https://login.microsoftonline.com".into()
}

impl SourceConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        match self {
            SourceConfig::File { path } => {
                if path.as_os_str().is_empty() {
                    errors.push(format!("{at}.path"), "must not be empty");
                }
            }
            SourceConfig::Gateway => {}
            SourceConfig::Graph(graph) => {
                for (field, value) in [
                    ("tenant_id", &graph.tenant_id),
                    ("client_id", &graph.client_id),
                ] {
                    if value.trim().is_empty() {
                        errors.push(format!("{at}.{field}"), "must not be empty");
                    }
                }
                match (&graph.client_secret_env, &graph.certificate_path) {
                    (Some(env), None) => {
                        check_env_name(env, &format!("{at}.client_secret_env"), errors)
                    }
                    (None, Some(path)) if path.as_os_str().is_empty() => {
                        errors.push(format!("{at}.certificate_path"), "must not be empty");
                    }
                    (None, Some(_)) => {}
                    (Some(_), Some(_)) => errors.push(
                        format!("{at}.certificate_path"),
                        "give either client_secret_env or certificate_path, not both",
                    ),
                    (None, None) => errors.push(
                        format!("{at}.client_secret_env"),
                        "is required (or certificate_path, to sign in with a certificate)",
                    ),
                }
                if graph.private_key_path.is_some() && graph.certificate_path.is_none() {
                    errors.push(
                        format!("{at}.private_key_path"),
                        "goes with certificate_path",
                    );
                }
                check_url(
                    &graph.graph_base_url,
                    &format!("{at}.graph_base_url"),
                    errors,
                );
                check_url(
                    &graph.login_base_url,
                    &format!("{at}.login_base_url"),
                    errors,
                );
                if !(1..=999).contains(&graph.page_size) {
                    errors.push(format!("{at}.page_size"), "must be between 1 and 999");
                }
                if graph.concurrency == 0 {
                    errors.push(format!("{at}.concurrency"), "must be at least 1");
                }
                if graph
                    .service_principal_id
                    .as_deref()
                    .is_some_and(|id| id.trim().is_empty())
                {
                    errors.push(
                        format!("{at}.service_principal_id"),
                        "must not be empty (leave it out instead)",
                    );
                }
            }
        }
    }
}
