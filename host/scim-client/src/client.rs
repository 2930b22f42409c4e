//! The client and the one path every request takes: limits, send, classify, retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use backon::Retryable;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde_json::Value;
use tracing::Instrument;

use crate::auth::{Authenticator, Credential};
use crate::config::ClientConfig;
use crate::error::{ClientError, ErrorCode, parse_error_body};
use crate::limits::Limits;
use crate::request::{Method, RequestKind};
use crate::stats::{self, ClassRate, Stats};
use crate::{retry, transport};

pub(crate) const SCIM_MEDIA_TYPE: &str = "application/scim+json";

/// A SCIM 2.0 client for one target. Cheap to clone; clones share limits and counters.
#[derive(Clone, Debug)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: Authenticator,
    /// `base_url` without its trailing slashes.
    base: String,
    config: ClientConfig,
    limits: Limits,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimClient")
            .field("base", &self.base)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One logical call, retried as a whole.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// What the request does, for its rate class.
    pub kind: RequestKind,
    /// The path below the base URL, ids already encoded (`/Users/k%26Kd`); logged.
    pub path: String,
    /// `?filter=…` or empty; not logged, as filters carry people's e-mail addresses.
    pub query: String,
    pub body: Option<&'a Value>,
    /// The path names a resource id the engine holds, so a 404 means `InvalidAnchor`.
    pub on_known_id: bool,
    /// Retry a POST even where the server may have acted on it.
    pub retry_post: bool,
    /// Overrides `max_attempts` (test connection answers at once).
    pub max_attempts: Option<u32>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: String) -> Self {
        Call {
            method,
            kind: crate::request::request_kind(method, &path),
            path,
            query: String::new(),
            body: None,
            on_known_id: false,
            retry_post: false,
            max_attempts: None,
        }
    }
}

/// A success response, body read in full.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl ScimClient {
    /// Builds a client; reports every configuration problem at once.
    pub fn new(config: ClientConfig) -> Result<ScimClient, ClientError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ClientError::InvalidConfig(problems));
        }
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A redirect would turn a POST into a GET and may drop the token; test_connection
            // reports it so the admin configures the final URL instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ClientError::InvalidConfig(vec![format!("cannot build the HTTP client: {e}")])
            })?;
        let inner = Inner {
            auth: Authenticator::new(config.auth.clone(), http.clone()),
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            limits: Limits::new(&config),
            stats: Arc::default(),
            config,
        };
        Ok(ScimClient {
            inner: Arc::new(inner),
        })
    }

    /// The live counters of this client (and its clones).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.inner.stats)
    }

    /// The rate of each request class now (see [`ClientConfig::rate_classes`]).
    pub fn rate_classes(&self) -> Vec<ClassRate> {
        self.inner.limits.rates()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Runs a call with retries (see [`retry`](crate::retry) for which and why).
    pub(crate) async fn execute(&self, call: &Call<'_>) -> Result<Reply, ClientError> {
        let config = &self.inner.config;
        let mut policy = retry::backoff(config);
        if let Some(max) = call.max_attempts {
            policy = policy.with_max_times(max.saturating_sub(1) as usize);
        }
        let attempt = AtomicU32::new(0);
        (|| self.attempt(call, attempt.fetch_add(1, Ordering::Relaxed) + 1))
            .retry(policy)
            .sleep(tokio::time::sleep)
            .when(|e| retry::retryable(e, call.method, call.retry_post))
            .adjust(|e, backoff| retry::next_delay(e, backoff, config.max_retry_after))
            .notify(|e, wait| {
                self.inner.stats.record_retry();
                tracing::warn!(method = %call.method, path = %call.path, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
            })
            .await
    }

    /// One attempt. A 401 to a credential that can be renewed (OAuth, a token file) renews it
    /// and sends once more, within the same attempt.
    async fn attempt(&self, call: &Call<'_>, attempt: u32) -> Result<Reply, ClientError> {
        let mut used = None;
        match self.send(call, attempt, &mut used).await {
            Err(ClientError::Status { status: 401, .. })
                if let Some(credential) = &used
                    && self.inner.auth.refused(credential).await =>
            {
                tracing::info!(method = %call.method, path = %call.path, "the target refused the token; signing in again");
                self.send(call, attempt, &mut used).await
            }
            answer => answer,
        }
    }

    /// Token requests sent, or token file reads, so far.
    pub fn sign_ins(&self) -> u64 {
        self.inner.auth.fetches()
    }

    /// Signs in (OAuth: asks the token endpoint unless a token is cached) without sending a
    /// request to the target.
    pub async fn sign_in(&self) -> Result<(), ClientError> {
        self.inner.auth.credential().await.map(drop)
    }

    /// One request: a slot, then the credential (taken after waiting for the slot, so it is
    /// not stale by the time it is sent), the request, the whole body. `used` is set to the
    /// credential sent.
    async fn send(
        &self,
        call: &Call<'_>,
        attempt: u32,
        used: &mut Option<Credential>,
    ) -> Result<Reply, ClientError> {
        let span = tracing::info_span!("scim_request", method = %call.method, path = %call.path, attempt, status = tracing::field::Empty);
        async {
            let admission = self.inner.limits.acquire(call.kind).await;
            let credential = used.insert(self.inner.auth.credential().await?);
            let sent = Instant::now();
            let url = format!("{}{}{}", self.inner.base, call.path, call.query);
            let mut request = self
                .inner
                .http
                .request(call.method.to_reqwest(), url)
                .header(header::ACCEPT, HeaderValue::from_static(SCIM_MEDIA_TYPE))
                .header(header::AUTHORIZATION, credential.header.clone());
            if let Some(body) = call.body {
                let bytes = serde_json::to_vec(body).map_err(|e| {
                    ClientError::InvalidConfig(vec![format!("unserialisable body: {e}")])
                })?;
                request = request
                    .header(header::CONTENT_TYPE, SCIM_MEDIA_TYPE)
                    .body(bytes);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return Err(self.transport_failure(e, call, sent)),
            };
            let status = response.status().as_u16();
            tracing::Span::current().record("status", status);
            self.inner.stats.record(call.method, Some(status));
            let retry_after = header_text(response.headers(), header::RETRY_AFTER)
                .and_then(|v| retry::parse_retry_after(&v, SystemTime::now()));
            if status == 429 {
                let (announced, daily) = rate_limit_headers(response.headers());
                self.inner
                    .limits
                    .throttled(&admission, retry_after, announced, daily);
            }
            let location = header_text(response.headers(), header::LOCATION);
            let body = match response.bytes().await {
                Ok(body) => body.to_vec(),
                Err(e) => return Err(transport::classify(e, call.method, &call.path)),
            };
            stats::observe(call.method, Some(status), sent.elapsed());
            if (200..300).contains(&status) {
                tracing::debug!("ok");
                return Ok(Reply { status, body });
            }
            let error = status_error(call, status, &body, retry_after, location);
            tracing::debug!(error = %error, "failed");
            Err(error)
        }
        .instrument(span)
        .await
    }

    fn transport_failure(
        &self,
        error: reqwest::Error,
        call: &Call<'_>,
        sent: Instant,
    ) -> ClientError {
        self.inner.stats.record(call.method, None);
        stats::observe(call.method, None, sent.elapsed());
        let error = transport::classify(error, call.method, &call.path);
        tracing::debug!(error = %error, "no response");
        error
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Zoom's `X-RateLimit-Limit` (the category's requests per second) and whether
/// `X-RateLimit-Type` says the daily limit was reached
/// (<https://developers.zoom.us/docs/api/rate-limits/>).
fn rate_limit_headers(headers: &HeaderMap) -> (Option<f64>, bool) {
    let limit = header_text(
        headers,
        header::HeaderName::from_static("x-ratelimit-limit"),
    )
    .and_then(|v| v.trim().parse::<f64>().ok());
    let daily = header_text(headers, header::HeaderName::from_static("x-ratelimit-type"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("daily-limit"));
    (limit, daily)
}

fn status_error(
    call: &Call<'_>,
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    location: Option<String>,
) -> ClientError {
    let parsed = parse_error_body(body);
    let detail = match (status, location) {
        (300..=399, Some(location)) => format!("redirected to {location}"),
        _ => parsed.detail.unwrap_or_else(|| "(no detail)".to_string()),
    };
    ClientError::Status {
        method: call.method,
        path: call.path.clone(),
        status,
        scim_type: parsed.scim_type,
        detail,
        code: ErrorCode::from_status(status, parsed.scim_type, call.on_known_id),
        retry_after,
    }
}
