//! How the client signs in to the target, and the `Authorization` header of every request.
//!
//! - [`TargetAuth::Bearer`]: one token for the life of the client.
//! - [`TargetAuth::BearerFile`]: a token kept in a file, re-read when the file changes, so a
//!   rotated Kubernetes Secret takes effect without a restart.
//! - [`TargetAuth::OAuth`]: OAuth 2.0 client credentials, either RFC 6749 §4.4 or Zoom's
//!   Server-to-Server variant (`grant_type=account_credentials&account_id=…` in the query,
//!   <https://developers.zoom.us/docs/internal-apps/s2s-oauth/>). The token is cached, refreshed
//!   at 80 % of its lifetime, and fetched by one task at a time.
//!
//! Written on reqwest rather than with the `oauth2` crate: Zoom's grant type is not one the
//! crate's client-credentials request can send, and the whole exchange is one POST.
//!
//! After a 401 the client asks [`Authenticator::refused`] whether a new credential could help:
//! the cached token is dropped only if it is still the one that was refused, so eight requests
//! that meet a 401 together cause one refresh, not eight.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::Secret;
use crate::error::ClientError;

/// How the client proves who it is to the target.
#[derive(Debug, Clone)]
pub enum TargetAuth {
    Bearer(Secret),
    /// A file holding the token (surrounding whitespace ignored).
    BearerFile(PathBuf),
    OAuth(OAuthClient),
}

/// An OAuth 2.0 client that signs in with its own credentials.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Sent as `scope` when set.
    pub scope: Option<String>,
    pub style: OAuthStyle,
}

/// Which token request the endpoint expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthStyle {
    /// RFC 6749 §4.4: `grant_type=client_credentials` in a form body, the client authenticated
    /// with HTTP Basic (§2.3.1).
    Rfc6749,
    /// Zoom's Server-to-Server OAuth: `POST {token_url}?grant_type=account_credentials&
    /// account_id=…`, HTTP Basic `client_id:client_secret`.
    Zoom { account_id: String },
}

/// The header value a request was sent with, and which token it was.
#[derive(Clone)]
pub(crate) struct Credential {
    pub header: HeaderValue,
    generation: u64,
}

/// A token and when to stop using it.
struct Cached {
    token: Secret,
    generation: u64,
    /// OAuth: refresh from this moment on.
    refresh_at: Option<Instant>,
    /// Token file: the modification time and length it was read at.
    stamp: Option<(SystemTime, u64)>,
}

/// Hands out the current credential; the one place that knows how tokens are obtained.
pub(crate) struct Authenticator {
    auth: TargetAuth,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
    /// Token requests sent (OAuth) or file reads (token file), for tests and metrics.
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds. RFC 6749 makes it optional; without it the token is treated as living an hour,
    /// Zoom's lifetime, and a 401 before then still refreshes it.
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A token endpoint's refusal: RFC 6749 §5.2's `error` and `error_description`, and Zoom's
/// `reason`.
#[derive(Deserialize, Default)]
struct TokenRefusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    reason: String,
}

const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

impl Authenticator {
    pub(crate) fn new(auth: TargetAuth, http: reqwest::Client) -> Authenticator {
        let cached = match &auth {
            TargetAuth::Bearer(token) => Some(Cached {
                token: token.clone(),
                generation: 0,
                refresh_at: None,
                stamp: None,
            }),
            _ => None,
        };
        Authenticator {
            auth,
            http,
            cached: Mutex::new(cached),
            fetches: Default::default(),
        }
    }

    /// How many tokens were fetched or token files read so far.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The credential to send now: the cached one while it is good, else a new one. Holding the
    /// lock while fetching makes concurrent callers wait for that one fetch.
    pub(crate) async fn credential(&self) -> Result<Credential, ClientError> {
        let mut cached = self.cached.lock().await;
        let stale = match (&self.auth, cached.as_ref()) {
            (_, None) => true,
            (TargetAuth::Bearer(_), Some(_)) => false,
            (TargetAuth::BearerFile(path), Some(c)) => c.stamp != file_stamp(path),
            (TargetAuth::OAuth(_), Some(c)) => c.refresh_at.is_none_or(|t| Instant::now() >= t),
        };
        if stale {
            let generation = cached.as_ref().map_or(1, |c| c.generation + 1);
            *cached = Some(self.obtain(generation).await?);
        }
        let Some(current) = cached.as_ref() else {
            return Err(ClientError::InvalidConfig(vec![
                "no credential for the target".into(),
            ]));
        };
        Ok(Credential {
            header: header_value(&current.token)?,
            generation: current.generation,
        })
    }

    /// The target answered 401 to `used`. Returns whether another credential may be accepted:
    /// never for a fixed token; otherwise the cached one is dropped, unless a newer one has
    /// replaced it meanwhile, which the caller then simply uses.
    pub(crate) async fn refused(&self, used: &Credential) -> bool {
        if matches!(self.auth, TargetAuth::Bearer(_)) {
            return false;
        }
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.generation == used.generation)
        {
            // Keep the generation counting up: the next token gets a new one.
            if let Some(c) = cached.as_mut() {
                c.refresh_at = Some(Instant::now());
                c.stamp = None;
            }
        }
        true
    }

    async fn obtain(&self, generation: u64) -> Result<Cached, ClientError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.auth {
            TargetAuth::Bearer(token) => Ok(Cached {
                token: token.clone(),
                generation,
                refresh_at: None,
                stamp: None,
            }),
            TargetAuth::BearerFile(path) => {
                let stamp = file_stamp(path);
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    ClientError::InvalidConfig(vec![format!(
                        "cannot read the token file {}: {e}",
                        path.display()
                    )])
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(ClientError::InvalidConfig(vec![format!(
                        "the token file {} is empty",
                        path.display()
                    )]));
                }
                tracing::info!(file = %path.display(), "target token read");
                Ok(Cached {
                    token: Secret::new(token),
                    generation,
                    refresh_at: None,
                    stamp,
                })
            }
            TargetAuth::OAuth(client) => {
                let sent = Instant::now();
                let (token, lifetime) = self.fetch(client).await?;
                tracing::info!(
                    token_url = %client.token_url,
                    expires_in = lifetime.as_secs(),
                    "target access token obtained"
                );
                Ok(Cached {
                    token,
                    generation,
                    refresh_at: Some(sent + lifetime.mul_f64(0.8)),
                    stamp: None,
                })
            }
        }
    }

    /// One token request.
    async fn fetch(&self, client: &OAuthClient) -> Result<(Secret, Duration), ClientError> {
        let url = &client.token_url;
        let mut request = self
            .http
            .post(url)
            .basic_auth(&client.client_id, Some(client.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json");
        request = match &client.style {
            OAuthStyle::Zoom { account_id } => request.query(&[
                ("grant_type", "account_credentials"),
                ("account_id", account_id.as_str()),
            ]),
            OAuthStyle::Rfc6749 => {
                let mut form = vec![("grant_type", "client_credentials")];
                if let Some(scope) = &client.scope {
                    form.push(("scope", scope.as_str()));
                }
                request.form(&form)
            }
        };
        if let (OAuthStyle::Zoom { .. }, Some(scope)) = (&client.style, &client.scope) {
            request = request.query(&[("scope", scope.as_str())]);
        }
        let failed = |kind: SignInFailure, reason: String| ClientError::SignIn {
            url: url.clone(),
            kind,
            reason,
        };
        let response = request
            .send()
            .await
            .map_err(|e| failed(SignInFailure::Unreachable, describe(e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(SignInFailure::Unreachable, describe(e)))?;
        if !status.is_success() {
            let refusal: TokenRefusal = serde_json::from_slice(&body).unwrap_or_default();
            let said = [&refusal.error_description, &refusal.reason]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            let kind = if status.is_server_error() || status.as_u16() == 429 {
                SignInFailure::Unavailable
            } else {
                SignInFailure::Refused
            };
            let code = if refusal.error.is_empty() {
                String::new()
            } else {
                format!(" {}", refusal.error)
            };
            let reason = format!(
                "HTTP {}{code}{}{}",
                status.as_u16(),
                if said.is_empty() { "" } else { ": " },
                said
            );
            return Err(failed(
                kind,
                format!("{reason}{}", hint(&refusal, &client.style)),
            ));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            failed(
                SignInFailure::Refused,
                format!("the answer is not an OAuth token response: {e}"),
            )
        })?;
        if answer.access_token.trim().is_empty() {
            return Err(failed(
                SignInFailure::Refused,
                "the answer carries an empty access_token".into(),
            ));
        }
        let lifetime = answer
            .expires_in
            .filter(|&s| s > 0)
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok((Secret::new(answer.access_token), lifetime))
    }
}

/// Why signing in failed, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// The endpoint could not be reached or did not answer.
    Unreachable,
    /// The endpoint failed or throttled (5xx, 429).
    Unavailable,
    /// The endpoint refused the credentials or the request: only the admin can fix it.
    Refused,
}

/// What to check for a refusal, in the admin's terms.
fn hint(refusal: &TokenRefusal, style: &OAuthStyle) -> &'static str {
    let said = format!("{} {}", refusal.error_description, refusal.reason).to_lowercase();
    match refusal.error.as_str() {
        "invalid_client" | "unauthorized_client" => {
            " (check client_id and the client secret: copy both again from the app's page)"
        }
        "invalid_scope" => " (check scope: the app must be granted it)",
        "unsupported_grant_type" => match style {
            OAuthStyle::Zoom { .. } => {
                " (the endpoint does not take Zoom's account credentials: use style = \"rfc6749\")"
            }
            OAuthStyle::Rfc6749 => {
                " (the endpoint does not take client credentials; for Zoom use style = \"zoom\")"
            }
        },
        _ if said.contains("account") => {
            " (check account_id: the Account ID on the Server-to-Server OAuth app's page)"
        }
        _ => "",
    }
}

fn header_value(token: &Secret) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        ClientError::InvalidConfig(vec![
            "the bearer token contains characters not allowed in a header".into(),
        ])
    })?;
    // Keeps the value out of hyper's and reqwest's own debug output.
    value.set_sensitive(true);
    Ok(value)
}

fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A reqwest error's message, without the URL (which, for Zoom, carries the account id).
fn describe(error: reqwest::Error) -> String {
    crate::transport::describe(&error.without_url()).0
}
