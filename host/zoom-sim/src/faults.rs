//! Fault injection: make the next N requests fail (or stall) the way a real target does, so that
//! retry, back-off and quarantine logic can be tested against a server that misbehaves on cue.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

/// Middleware: fires the next pending fault, if any. Runs after authentication (a bad token still
/// gets its 401) and before the rate limit (an injected failure spends no token).
pub async fn layer(State(state): State<SimState>, request: Request, next: Next) -> Response {
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
