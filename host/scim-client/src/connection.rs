//! Test connection, as Entra does it: `GET /Users?filter=userName eq "<random GUID>"` must
//! answer 200 with an empty ListResponse. Each way it can fail gets a message that says what to
//! change, since this is what an admin sees when setting a target up.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use scim::ResourceKind;

use crate::auth::TargetAuth;
use crate::client::{Call, ScimClient};
use crate::error::{ClientError, TransportKind};
use crate::request::{Method, eq_filter, query_string};

/// What kind of problem a failed test connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    Dns,
    Tls,
    ConnectionRefused,
    Timeout,
    Network,
    /// The token endpoint refused or could not be reached.
    SignIn,
    Unauthorized,
    Forbidden,
    /// 404: the base URL's path is wrong.
    NotFound,
    Redirected,
    Throttled,
    ServerError,
    /// 2xx, but not a ListResponse.
    NotScim,
    /// A ListResponse with people in it for a value nobody has: the target ignores `filter`,
    /// so look-up-before-create would adopt the wrong person.
    FilterIgnored,
    Rejected,
}

/// A failed test connection: the problem, a message for the admin, and the error behind it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectionFailure {
    pub problem: Problem,
    pub message: String,
    #[source]
    pub error: ClientError,
}

impl ScimClient {
    /// Checks the base URL, the token and the filter support in one request, without retries so
    /// the answer comes at once.
    pub async fn test_connection(&self) -> Result<(), ConnectionFailure> {
        let filter = eq_filter("userName", &random_guid());
        let mut call = Call::new(Method::Get, ResourceKind::User.endpoint().to_string());
        call.query = query_string(&[("filter", &filter)]);
        call.max_attempts = Some(1);
        // Signing in first: a refusal there names the credential to fix, not the target.
        if let Err(error) = self.sign_in().await {
            return Err(self.diagnose(error));
        }
        match self.find_with(&call).await {
            Ok(found) if found.total == 0 && found.resources.is_empty() => Ok(()),
            Ok(found) => {
                let count = found.total.max(found.resources.len() as u64);
                let error = ClientError::Incompatible {
                    method: Method::Get,
                    path: call.path,
                    status: 200,
                    detail: format!("{count} users match a random userName"),
                };
                Err(ConnectionFailure {
                    problem: Problem::FilterIgnored,
                    message: format!(
                        "{}/Users returned {count} users for a userName nobody has: the target ignores `filter`, so muster \
                         cannot find existing users before creating them",
                        self.base_url()
                    ),
                    error,
                })
            }
            Err(error) => Err(self.diagnose(error)),
        }
    }

    fn diagnose(&self, error: ClientError) -> ConnectionFailure {
        let base = self.base_url();
        let host = host_of(base);
        let (problem, message) = match &error {
            ClientError::Transport { kind, message, .. } => match kind {
                TransportKind::Dns => (
                    Problem::Dns,
                    format!(
                        "cannot resolve {host}: check the host name in the base URL {base} ({message})"
                    ),
                ),
                TransportKind::Tls => (
                    Problem::Tls,
                    format!(
                        "TLS with {host} failed: the certificate is not trusted or has another name, or the server speaks plain \
                         HTTP (then use http://) ({message})"
                    ),
                ),
                TransportKind::ConnectionRefused => (
                    Problem::ConnectionRefused,
                    format!(
                        "{host} refused the connection: nothing listens on that port; check the port in {base} and that the service runs"
                    ),
                ),
                TransportKind::ConnectTimeout | TransportKind::Timeout => (
                    Problem::Timeout,
                    format!(
                        "{host} did not answer within {:?}: a firewall or proxy may drop the traffic, or the target is overloaded",
                        self.config().timeout
                    ),
                ),
                _ => (
                    Problem::Network,
                    format!("the connection to {host} failed: {message}"),
                ),
            },
            ClientError::Status {
                status,
                detail,
                retry_after,
                ..
            } => match status {
                401 => (
                    Problem::Unauthorized,
                    match &self.config().auth {
                        TargetAuth::OAuth(oauth) => format!(
                            "{host} rejected the access token that {} issued (401): the OAuth app may belong to another account or \
                             be deactivated ({detail})",
                            oauth.token_url
                        ),
                        TargetAuth::BearerFile(path) => format!(
                            "{host} rejected the bearer token in {} (401): check that the file holds the current token ({detail})",
                            path.display()
                        ),
                        TargetAuth::Bearer(_) => format!(
                            "{host} rejected the bearer token (401): check the environment variable that holds it and that the \
                             token has not expired ({detail})"
                        ),
                    },
                ),
                403 => (
                    Problem::Forbidden,
                    format!(
                        "the token is accepted but not allowed to read users (403): give it the SCIM scope (Zoom: scim2 or \
                         scim2:admin, from an owner or admin) ({detail})"
                    ),
                ),
                404 => (
                    Problem::NotFound,
                    format!("{base}/Users does not exist (404): {}", path_hint(base)),
                ),
                300..=399 => (
                    Problem::Redirected,
                    format!(
                        "{base}/Users redirects ({status}, {detail}): put the final URL in the base URL"
                    ),
                ),
                429 => (
                    Problem::Throttled,
                    format!(
                        "the target is throttling requests (429){}; lower the rate limit if this persists",
                        retry_after
                            .map(|d| format!(", retry in {}s", d.as_secs()))
                            .unwrap_or_default()
                    ),
                ),
                500..=599 => (
                    Problem::ServerError,
                    format!("the target failed ({status}): {detail}"),
                ),
                _ => (
                    Problem::Rejected,
                    format!("the target rejected the test query ({status}): {detail}"),
                ),
            },
            ClientError::Incompatible { status, detail, .. } => (
                Problem::NotScim,
                format!(
                    "{base}/Users answered {status} but not with a SCIM ListResponse: the base URL likely points at a web page \
                     or another API; {} ({detail})",
                    path_hint(base)
                ),
            ),
            ClientError::SignIn { .. } => (Problem::SignIn, error.to_string()),
            other => (Problem::Rejected, other.to_string()),
        };
        ConnectionFailure {
            problem,
            message,
            error,
        }
    }
}

/// Which SCIM base path to try instead. Zoom's is `/scim2`; most servers use `/scim/v2`.
fn path_hint(base: &str) -> String {
    if base.ends_with("/scim2") {
        format!(
            "try {}/scim/v2 if this is not Zoom",
            base.trim_end_matches("/scim2")
        )
    } else if base.ends_with("/scim/v2") {
        format!(
            "try {}/scim2 for Zoom (https://api.zoom.us/scim2)",
            base.trim_end_matches("/scim/v2")
        )
    } else {
        "the base URL should end at the SCIM root, e.g. https://api.zoom.us/scim2 for Zoom or …/scim/v2 for most \
         other servers"
            .to_string()
    }
}

fn host_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// A random GUID-shaped value, as Entra sends; random enough that no real user has it.
fn random_guid() -> String {
    let high = RandomState::new().hash_one(std::time::SystemTime::now());
    let low = RandomState::new().hash_one(high);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        low >> 52,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        assert!(path_hint("https://api.zoom.us/scim2").contains("https://api.zoom.us/scim/v2"));
        assert!(path_hint("https://h/scim/v2").contains("https://h/scim2"));
        assert_eq!(host_of("https://api.zoom.us:443/scim2"), "api.zoom.us:443");
        let (a, b) = (random_guid(), random_guid());
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
    }
}
