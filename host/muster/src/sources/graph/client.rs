//! Microsoft Graph over HTTP: the client-credentials token (cached, refreshed before it
//! expires), GETs bounded in concurrency and retried on throttling, and `@odata.nextLink`
//! paging.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::certificate::{CertificateError, ClientCertificate};
use crate::meters;

/// The `client_assertion_type` of a certificate-signed assertion (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What can go wrong talking to Graph or its token endpoint, kept apart because the operator
/// acts differently on each (fix the tenant, the secret, a permission; wait; resync).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The token endpoint refused: `error` is OAuth's code, `aadsts` Entra's (`AADSTS7000215`).
    #[error("token endpoint {url}: HTTP {status} {error}: {description}")]
    Token {
        url: String,
        status: u16,
        error: String,
        aadsts: Option<u64>,
        description: String,
    },
    /// Graph answered with an error body (`{"error":{"code":…,"message":…}}`).
    #[error("GET {url}: HTTP {status} {code}: {message}")]
    Api {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("GET {url}: still throttled after {attempts} attempts (last: HTTP {status})")]
    Throttled {
        url: String,
        attempts: u32,
        status: u16,
    },
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: the answer is not the JSON Graph sends: {detail}")]
    Decode { url: String, detail: String },
    #[error("the client certificate: {0}")]
    Certificate(#[from] CertificateError),
}

impl GraphError {
    /// A delta token Graph no longer knows: `410 Gone` or `syncStateNotFound` (tokens of
    /// directory objects live 7 days), or one it cannot read. The cure is a full read.
    pub fn is_delta_expired(&self) -> bool {
        match self {
            GraphError::Api { status, code, .. } => {
                *status == 410
                    || matches!(
                        code.as_str(),
                        "syncStateNotFound" | "syncStateInvalid" | "resyncRequired"
                    )
            }
            _ => false,
        }
    }
}

/// How throttled requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Backoff when a 429/503/504 carries no `Retry-After`: doubled per attempt from here.
    pub min_backoff: Duration,
    /// The longest wait obeyed, `Retry-After` included.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            min_backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(300),
        }
    }
}

/// How muster proves to Entra ID that it is the app.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A client secret's value.
    Secret(String),
    /// A certificate registered on the app: each token request carries a signed assertion.
    Certificate(Arc<ClientCertificate>),
}

impl From<String> for ClientAuth {
    fn from(secret: String) -> Self {
        ClientAuth::Secret(secret)
    }
}

/// Where to sign in and as whom.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `{login_base_url}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    pub client_id: String,
    pub auth: ClientAuth,
    /// `{graph origin}/.default`: every application permission granted to the app.
    pub scope: String,
}

struct CachedToken {
    value: String,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// Requests sent, for the benchmark and the tests.
#[derive(Debug, Default)]
pub struct GraphStats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub tokens: AtomicU64,
}

/// Each count also goes to the process's metrics (`muster_graph_*`, see `meters.rs`).
impl GraphStats {
    fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(meters::GRAPH_REQUESTS).increment(1);
    }

    fn count_throttled(&self, status: u16) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(meters::GRAPH_THROTTLED, "status" => status.to_string()).increment(1);
    }

    fn count_token(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(meters::GRAPH_TOKENS).increment(1);
    }
}

pub struct GraphClient {
    http: reqwest::Client,
    credentials: Credentials,
    token: Mutex<Option<CachedToken>>,
    permits: Semaphore,
    pub retry: RetryPolicy,
    pub stats: GraphStats,
}

impl GraphClient {
    pub fn new(credentials: Credentials, concurrency: usize) -> Result<GraphClient, GraphError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("muster/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| GraphError::Transport {
                url: credentials.token_url.clone(),
                source,
            })?;
        Ok(GraphClient {
            http,
            credentials,
            token: Mutex::new(None),
            permits: Semaphore::new(concurrency.max(1)),
            retry: RetryPolicy::default(),
            stats: GraphStats::default(),
        })
    }

    /// Where and as whom this client signs in.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A valid access token, from the cache unless it is within a quarter of its lifetime (at
    /// most 5 minutes) of expiring, so no request leaves with a token that dies in flight.
    pub async fn token(&self) -> Result<String, GraphError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    async fn fetch_token(&self) -> Result<CachedToken, GraphError> {
        let c = &self.credentials;
        let url = c.token_url.clone();
        let sent = Instant::now();
        self.stats.count_token();
        let proof = match &c.auth {
            ClientAuth::Secret(secret) => vec![("client_secret", secret.clone())],
            ClientAuth::Certificate(certificate) => vec![
                ("client_assertion_type", JWT_BEARER.to_string()),
                (
                    "client_assertion",
                    certificate.assertion(&c.token_url, &c.client_id, SystemTime::now())?,
                ),
            ],
        };
        let mut form = vec![
            ("client_id", c.client_id.clone()),
            ("scope", c.scope.clone()),
            ("grant_type", "client_credentials".to_string()),
        ];
        form.extend(proof);
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|source| GraphError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| GraphError::Transport {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            let e: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            return Err(GraphError::Token {
                url,
                status: status.as_u16(),
                error: e.error,
                aadsts: e.error_codes.first().copied(),
                description: e.error_description,
            });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let lifetime = Duration::from_secs(answer.expires_in);
        let margin = (lifetime / 4).min(Duration::from_secs(300));
        tracing::debug!(
            expires_in = answer.expires_in,
            "Graph access token obtained"
        );
        Ok(CachedToken {
            value: answer.access_token,
            refresh_at: sent + lifetime - margin,
        })
    }

    /// GETs a Graph URL as JSON. 429, 503 and 504 are retried after `Retry-After` (or a
    /// doubling backoff without one); a 401 refreshes the token once.
    pub async fn get(&self, url: &str) -> Result<Value, GraphError> {
        let mut attempts = 0;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let token = self.token().await?;
            let (status, wait, body) = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| GraphError::Decode {
                        url: url.to_string(),
                        detail: "the client is shutting down".into(),
                    })?;
                self.stats.count_request();
                let response = match self.http.get(url).bearer_auth(&token).send().await {
                    Ok(response) => response,
                    // A dropped connection or a timeout is retried like a 503: GETs are safe.
                    Err(source) if attempts < self.retry.max_attempts => {
                        let wait = self.backoff(attempts);
                        tracing::warn!(url, error = %source, wait_ms = wait.as_millis() as u64, "Graph request failed; retrying");
                        drop(_permit);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(source) => {
                        return Err(GraphError::Transport {
                            url: url.to_string(),
                            source,
                        });
                    }
                };
                log_headers(url, &response);
                let status = response.status();
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| scim_client::retry::parse_retry_after(v, SystemTime::now()));
                let body = response
                    .bytes()
                    .await
                    .map_err(|source| GraphError::Transport {
                        url: url.to_string(),
                        source,
                    })?;
                (status, wait, body)
            };
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
                    url: url.to_string(),
                    detail: e.to_string(),
                });
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.forget_token().await;
                continue;
            }
            if matches!(status.as_u16(), 429 | 503 | 504) {
                self.stats.count_throttled(status.as_u16());
                if attempts >= self.retry.max_attempts {
                    return Err(GraphError::Throttled {
                        url: url.to_string(),
                        attempts,
                        status: status.as_u16(),
                    });
                }
                let wait = wait
                    .unwrap_or(self.backoff(attempts))
                    .min(self.retry.max_wait);
                tracing::warn!(
                    url,
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "Graph throttled the request; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(api_error(url, status, &body));
        }
    }

    /// After the `attempts`th failure: the one backoff of muster, doubled from `min_backoff`
    /// with jitter, at most `max_wait`.
    fn backoff(&self, attempts: u32) -> Duration {
        scim_client::retry::backoff_delay(
            self.retry.min_backoff,
            self.retry.max_wait,
            attempts.saturating_sub(1),
        )
        .min(self.retry.max_wait)
    }

    /// Follows `@odata.nextLink` from `url`, handing each page's `value` to `each`; returns the
    /// `@odata.deltaLink` of the last page (delta queries), if any.
    pub async fn pages(
        &self,
        url: &str,
        mut each: impl FnMut(Vec<Value>),
    ) -> Result<Option<String>, GraphError> {
        let mut next = url.to_string();
        loop {
            let mut page = self.get(&next).await?;
            let values = match page.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => values,
                _ => {
                    return Err(GraphError::Decode {
                        url: next,
                        detail: "no `value` array".into(),
                    });
                }
            };
            each(values);
            if let Some(link) = page.get("@odata.nextLink").and_then(Value::as_str) {
                next = link.to_string();
                continue;
            }
            return Ok(page
                .get("@odata.deltaLink")
                .and_then(Value::as_str)
                .map(str::to_string));
        }
    }
}

fn api_error(url: &str, status: StatusCode, body: &[u8]) -> GraphError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    GraphError::Api {
        url: url.to_string(),
        status: status.as_u16(),
        code: error["code"].as_str().unwrap_or("unknown").to_string(),
        message: error["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
    }
}

/// Graph's diagnostics (`request-id`, `x-ms-resource-unit`, `x-ms-throttle-*`) for the debug
/// log: what Microsoft support asks for, and how close the app runs to its throttling budget.
fn log_headers(url: &str, response: &reqwest::Response) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n.starts_with("x-ms-") || n == "request-id" || n == "client-request-id"
        })
        .map(|(name, value)| format!("{name}={}", value.to_str().unwrap_or("?")))
        .collect();
    tracing::debug!(url, status = response.status().as_u16(), headers = %headers.join(" "), "Graph response");
}
