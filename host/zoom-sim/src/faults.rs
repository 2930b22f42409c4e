//! Fault injection: make the next N requests fail (or stall) the way a real target does, so that
//! retry, back-off and quarantine logic can be tested against a server that misbehaves on cue;
//! and hold the answer to a write that has landed, so a test can kill the client between the
//! write and its answer by construction rather than by timing.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::error::SimError;
use crate::state::SimState;

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and no side effect. 429 gets Zoom's throttling body, anything
    /// else a SCIM error body; `retry_after` (seconds) adds a `Retry-After` header.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Wait this long, then serve the request normally: for client timeouts.
    Delay(Duration),
}

impl Fault {
    /// A bare status, no `Retry-After`.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// A 429 with `Retry-After`, like Zoom's own throttling but without touching the bucket.
    pub fn throttled(retry_after_secs: u64) -> Self {
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after_secs),
        }
    }
}

/// The queue of faults still to fire, in order.
#[derive(Debug, Default)]
pub struct FaultQueue {
    pending: VecDeque<Fault>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault, count: usize) {
        self.pending.extend(std::iter::repeat_n(fault, count));
    }

    pub fn pop(&mut self) -> Option<Fault> {
        self.pending.pop_front()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Which request a [`HeldAnswer`] waits for.
#[derive(Debug)]
pub(crate) struct Hold {
    method: Method,
    /// A path segment the request's path must contain, e.g. `Users`.
    segment: String,
    /// Matching successful requests still to let through before the one that is held.
    skip: usize,
    landed: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl Hold {
    fn matches(&self, method: &Method, path: &str) -> bool {
        *method == self.method && path.split('/').any(|s| s == self.segment)
    }
}

/// The test's end of a hold: tells when the held request has been served (its write is in the
/// store) and lets its answer go. Dropping it lets the answer go too.
#[derive(Debug)]
pub struct HeldAnswer {
    landed: oneshot::Receiver<()>,
    release: Option<oneshot::Sender<()>>,
}

impl HeldAnswer {
    pub(crate) fn new(method: Method, segment: &str, skip: usize) -> (Hold, HeldAnswer) {
        let (landed_tx, landed_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let hold = Hold {
            method,
            segment: segment.to_string(),
            skip,
            landed: landed_tx,
            release: release_rx,
        };
        let held = HeldAnswer {
            landed: landed_rx,
            release: Some(release_tx),
        };
        (hold, held)
    }

    /// True once the held request's write has landed and its answer is being withheld.
    pub fn has_landed(&mut self) -> bool {
        self.landed.try_recv().is_ok()
    }

    /// Sends the withheld answer (to a client that may no longer be there).
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

/// The holds waiting for their request, in the order they were armed.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    pending: Vec<Hold>,
}

impl Holds {
    pub(crate) fn arm(&mut self, hold: Hold) {
        self.pending.push(hold);
    }

    /// The hold this served request fires, counting it against the skips of the first hold
    /// that matches it.
    pub(crate) fn take(&mut self, method: &Method, path: &str) -> Option<Hold> {
        let index = self.pending.iter().position(|h| h.matches(method, path))?;
        let hold = &mut self.pending[index];
        if hold.skip > 0 {
            hold.skip -= 1;
            return None;
        }
        Some(self.pending.remove(index))
    }
}

/// Middleware: fires the next pending fault, if any, then withholds the answer of a successful
/// request a hold waits for. Runs after authentication (a bad token still gets its 401) and before
/// the rate limit (an injected failure spends no token).
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = serve_or_fail(&state, request, next).await;
    if !response.status().is_success() {
        return response;
    }
    if let Some(hold) = state.take_hold(&method, &path) {
        tracing::info!(%method, path, "answer withheld");
        let _ = hold.landed.send(());
        let _ = hold.release.await;
    }
    response
}

async fn serve_or_fail(state: &SimState, request: Request, next: Next) -> Response {
    match state.next_fault() {
        None => next.run(request).await,
        Some(Fault::Delay(wait)) => {
            tracing::info!(?wait, "injected delay");
            tokio::time::sleep(wait).await;
            next.run(request).await
        }
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            tracing::info!(status, ?retry_after, "injected failure");
            SimError::Injected {
                status,
                retry_after,
            }
            .into_response()
        }
    }
}
