//! A scriptable SCIM target over real HTTP on 127.0.0.1: it answers with the responses a test
//! queues, in order, and records what it received. It does not implement SCIM; each test scripts
//! exactly the answers its case needs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn json(status: u16, body: Value) -> Self {
        Canned {
            status,
            headers: vec![("content-type", "application/scim+json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("content-type", "text/html".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// A ListResponse of `resources`.
    pub fn list(resources: Vec<Value>) -> Self {
        let n = resources.len();
        Canned::json(
            200,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": n,
                   "startIndex": 1, "itemsPerPage": n, "Resources": resources}),
        )
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query as sent, still percent-encoded.
    pub raw: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Canned>>,
    fallback: Mutex<Option<Canned>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// See [`Fake::hold_until_in_flight`].
    hold: Mutex<Option<(usize, Duration)>>,
}

#[derive(Clone, Default)]
pub struct Fake(Arc<Shared>);

impl Fake {
    /// Starts the server; returns it and its SCIM base URL.
    pub async fn start(script: Vec<Canned>) -> (Fake, String) {
        let fake = Fake::default();
        lock(&fake.0.script).extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().fallback(answer).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, format!("http://{addr}/scim/v2"))
    }

    /// Queues another answer behind the script, for an answer that must be made after setup.
    pub fn push(&self, canned: Canned) {
        lock(&self.0.script).push_back(canned);
    }

    /// Holds every answer until `n` requests have been in flight at once (or `limit` passes),
    /// then answers as scripted: an overlap of `n` that does not depend on scheduling.
    pub fn hold_until_in_flight(&self, n: usize, limit: Duration) {
        *lock(&self.0.hold) = Some((n, limit));
    }

    /// The answer once the script is spent (otherwise 500).
    pub fn otherwise(&self, canned: Canned) {
        *lock(&self.0.fallback) = Some(canned);
    }

    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.0.seen).clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.0.max_in_flight.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn answer(State(fake): State<Fake>, request: Request) -> Response {
    let now = fake.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.0.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let hold = *lock(&fake.0.hold);
    if let Some((n, limit)) = hold {
        let deadline = Instant::now() + limit;
        while fake.0.max_in_flight.load(Ordering::SeqCst) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // In a block: a `&Request` alive across an await would make the handler not `Send`.
    let mut seen = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Seen {
            method: request.method().to_string(),
            raw: request
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            authorization: header("authorization"),
            accept: header("accept"),
            content_type: header("content-type"),
            body: String::new(),
            at: Instant::now(),
        }
    };
    let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    seen.body = String::from_utf8_lossy(&bytes).into_owned();
    lock(&fake.0.seen).push(seen);
    let next = lock(&fake.0.script).pop_front();
    let canned = next
        .or_else(|| lock(&fake.0.fallback).clone())
        .unwrap_or_else(|| Canned::text(500, "script exhausted"));
    tokio::time::sleep(canned.delay).await;
    fake.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = Response::new(Body::from(canned.body));
    *response.status_mut() =
        StatusCode::from_u16(canned.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in canned.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}
