//! `muster test-connection` for the Graph side: a token, one page of users, one of groups, and
//! the service principal, each failure turned into what to fix.

use engine::config::GraphSourceConfig;

use super::{ClientAuth, GraphError, GraphSource};

/// One check and its outcome: `Ok(what was seen)` or `Err(what to fix)`.
pub struct Check {
    pub name: &'static str,
    pub outcome: Result<String, String>,
}

/// Runs the checks in order; after a failed token the others are not attempted.
pub async fn run(source: &GraphSource, config: &GraphSourceConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    match source.client.token().await {
        Ok(_) => checks.push(Check {
            name: "token",
            outcome: Ok(format!(
                "client credentials accepted by tenant {}{}",
                config.tenant_id,
                certificate_note(source)
            )),
        }),
        Err(e) => {
            checks.push(Check {
                name: "token",
                outcome: Err(format!(
                    "{}{}",
                    token_advice(&e, config),
                    certificate_note(source)
                )),
            });
            return checks;
        }
    }
    let base = source.base_url();
    let probes: [(&'static str, String, &str); 2] = [
        (
            "users",
            format!("{base}/users?$top=1&$select=id,userPrincipalName"),
            "User.Read.All",
        ),
        (
            "groups",
            format!("{base}/groups?$top=1&$select=id,displayName"),
            "GroupMember.Read.All",
        ),
    ];
    for (name, url, permission) in probes {
        let outcome = match source.client.get(&url).await {
            Ok(page) => Ok(format!(
                "read one page ({} object(s))",
                page["value"].as_array().map_or(0, Vec::len)
            )),
            Err(e) => Err(api_advice(&e, permission, None)),
        };
        checks.push(Check { name, outcome });
    }
    if let Some(sp) = &config.service_principal_id {
        let url = format!("{base}/servicePrincipals/{sp}?$select=id,appId,displayName,appRoles");
        let outcome = match source.client.get(&url).await {
            Ok(sp) => Ok(format!(
                "service principal {:?} (appId {}) with {} app role(s)",
                sp["displayName"].as_str().unwrap_or_default(),
                sp["appId"].as_str().unwrap_or_default(),
                sp["appRoles"].as_array().map_or(0, Vec::len)
            )),
            Err(e) => Err(api_advice(&e, "Application.Read.All", Some(sp))),
        };
        checks.push(Check {
            name: "service principal",
            outcome,
        });
    }
    checks
}

/// Entra's AADSTS codes (https://login.microsoftonline.com/error) that a setup gets wrong.
fn token_advice(error: &GraphError, config: &GraphSourceConfig) -> String {
    let GraphError::Token { aadsts, .. } = error else {
        return format!(
            "{error}; check [source] login_base_url ({}) and the network",
            config.login_base_url
        );
    };
    let fix = match aadsts {
        Some(90002 | 90023 | 900023) => format!(
            "tenant {:?} was not found: set [source] tenant_id to the directory (tenant) id \
             or a verified domain, and login_base_url to your cloud's login endpoint",
            config.tenant_id
        ),
        Some(700016) => format!(
            "application {:?} is not in tenant {:?}: set [source] client_id to the app \
             registration's Application (client) ID",
            config.client_id, config.tenant_id
        ),
        Some(7000215) => format!(
            "the client secret is wrong: put the secret's Value (not its Secret ID) in the \
             environment variable {}",
            secret_env(config)
        ),
        Some(7000222) => format!(
            "the client secret has expired: create a new one and put it in {}",
            secret_env(config)
        ),
        Some(700027 | 700021 | 700023) => format!(
            "the certificate was refused: upload {} (its public part) under the app \
             registration's Certificates & secrets, and check that the private key belongs to it",
            config
                .certificate_path
                .as_deref()
                .map_or_else(|| "the certificate".into(), |p| p.display().to_string())
        ),
        Some(700024) => "the client assertion is outside its valid time: check this \
             machine's clock"
            .to_string(),
        Some(70011) => format!(
            "the scope was refused: check [source] graph_base_url ({})",
            config.graph_base_url
        ),
        _ => "see the AADSTS code at https://login.microsoftonline.com/error".to_string(),
    };
    format!("{fix} ({error})")
}

/// Which certificate muster signs with, as the portal lists it; empty with a secret.
fn certificate_note(source: &GraphSource) -> String {
    match &source.client.credentials().auth {
        ClientAuth::Certificate(c) => {
            format!(" (certificate thumbprint {})", c.portal_thumbprint())
        }
        ClientAuth::Secret(_) => String::new(),
    }
}

fn secret_env(config: &GraphSourceConfig) -> &str {
    config
        .client_secret_env
        .as_deref()
        .unwrap_or("[source] client_secret_env")
}

fn api_advice(error: &GraphError, permission: &str, service_principal: Option<&str>) -> String {
    match error {
        GraphError::Api { status: 403, .. } => format!(
            "the app lacks the application permission {permission}: add it under API \
             permissions (Microsoft Graph, Application) and grant admin consent ({error})"
        ),
        GraphError::Api { status: 404, .. } if service_principal.is_some() => format!(
            "service principal {} was not found: set [source] service_principal_id to the \
             Enterprise application's Object ID (not the app registration's) ({error})",
            service_principal.unwrap_or_default()
        ),
        GraphError::Api { status: 401, .. } => format!(
            "Graph refused the token: check that [source] graph_base_url and login_base_url \
             belong to the same cloud ({error})"
        ),
        _ => error.to_string(),
    }
}
