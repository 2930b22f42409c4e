//! What the simulator was asked: a bounded request log and running counters, so tests can assert
//! on what a client *sent* (how many writes, which PATCH bodies) and not only on the end state.

use std::collections::{BTreeMap, VecDeque};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scim::ScimError;
use serde_json::Value;

use crate::error::SimError;
use crate::rate::Category;
use crate::state::SimState;

/// How many requests the log keeps; older ones are dropped (the counters keep counting).
pub const LOG_CAPACITY: usize = 10_000;

/// Largest request body read, in bytes. Zoom's documented limit is the 100,000 characters of a
/// group PATCH; twenty times that leaves room for any user while bounding memory.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// One request as received, with the status it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    pub query: Option<String>,
    /// The body as text, when there was one.
    pub body: Option<String>,
    pub status: u16,
}

impl RequestRecord {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
    }
}

/// Running totals since start (or the last [`crate::SimState::clear_log`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    /// Requests per HTTP method (`"GET"`, `"PATCH"`, …).
    pub by_method: BTreeMap<String, u64>,
    /// POST, PUT, PATCH and DELETE requests that succeeded (2xx): the ones that changed state.
    pub writes: u64,
    /// 429 responses served, from the rate limit or injected.
    pub throttled: u64,
    /// 401 responses served.
    pub unauthorized: u64,
    /// Requests per Zoom rate-limit category, and how many of them were answered 429.
    pub by_category: BTreeMap<Category, CategoryCounters>,
}

/// The requests of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoryCounters {
    pub requests: u64,
    pub throttled: u64,
}

/// The log and counters together.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: VecDeque<RequestRecord>,
    counters: Counters,
}

impl RequestLog {
    pub fn record(&mut self, record: RequestRecord) {
        let c = &mut self.counters;
        c.requests += 1;
        *c.by_method.entry(record.method.clone()).or_default() += 1;
        let is_write = matches!(record.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        if is_write && (200..300).contains(&record.status) {
            c.writes += 1;
        }
        let category = c
            .by_category
            .entry(Category::of(&record.method, &record.path))
            .or_default();
        category.requests += 1;
        category.throttled += u64::from(record.status == 429);
        match record.status {
            429 => c.throttled += 1,
            401 => c.unauthorized += 1,
            _ => {}
        }
        if self.records.len() == LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    pub fn records(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    pub fn clear(&mut self) {
        *self = RequestLog::default();
    }
}

/// Middleware, outermost: buffers the body (so it can be logged), serves the request, records it.
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let detail = format!("request body larger than {MAX_BODY_BYTES} bytes");
            return SimError::Scim(ScimError::new(413, None, detail)).into_response();
        }
    };
    let mut record = RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        body: (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned()),
        status: 0,
    };
    let method = parts.method.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    record.status = response.status().as_u16();
    log_line(&method, &record.path, response.status());
    state.record_request(record);
    response
}

fn log_line(method: &Method, path: &str, status: StatusCode) {
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%method, path, status = status.as_u16(), "request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str, status: u16) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            path: "/".into(),
            query: None,
            body: None,
            status,
        }
    }

    #[test]
    fn counts() {
        let mut log = RequestLog::default();
        for (m, s) in [
            ("POST", 201),
            ("POST", 409),
            ("GET", 200),
            ("PATCH", 429),
            ("GET", 401),
        ] {
            log.record(rec(m, s));
        }
        let c = log.counters();
        assert_eq!(
            (c.requests, c.writes, c.throttled, c.unauthorized),
            (5, 1, 1, 1)
        );
        assert_eq!(c.by_method.get("POST"), Some(&2));
    }
}
