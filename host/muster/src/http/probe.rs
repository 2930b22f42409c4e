//! The probes behind `/readyz`: a test connection to the target and a read of the state store,
//! every `[server] probe_interval_secs`. Ready means the last probes succeeded and are recent
//! (younger than two intervals, so a stuck probe shows too). `/readyz` only reads what the
//! probes found: it never waits on the store's writer or the target.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::job::Job;

pub struct TargetProbe {
    interval: Duration,
    last: Mutex<Option<(Instant, ProbeResult)>>,
    /// When the store last answered a read, or why it did not.
    store: Mutex<Option<(Instant, Result<(), String>)>>,
}

/// The outcome of the last test connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProbeResult {
    pub ok: bool,
    /// Unix seconds.
    pub at: i64,
    pub message: String,
}

impl TargetProbe {
    pub fn new(interval: Duration) -> TargetProbe {
        TargetProbe {
            interval,
            last: Mutex::new(None),
            store: Mutex::new(None),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reads the state store now (off the async workers: the read waits behind a write in
    /// progress) and remembers the outcome.
    pub async fn check_store(&self, job: &std::sync::Arc<Job>) {
        let reading = job.clone();
        let result = tokio::task::spawn_blocking(move || {
            reading
                .store
                .meta("readiness")
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the store probe failed: {e}")));
        if let Err(e) = &result {
            tracing::warn!(error = %e, "store probe failed");
        }
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), result));
    }

    /// Ok when the store answered within the last two intervals.
    pub fn store_ready(&self) -> Result<(), String> {
        let last = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_ref() {
            None => Err("the state store has not been probed yet".into()),
            Some((_, Err(e))) => Err(e.clone()),
            Some((when, _)) if when.elapsed() > self.interval * 2 => Err(format!(
                "the state store last answered {} s ago (a write holding it?)",
                when.elapsed().as_secs()
            )),
            Some(_) => Ok(()),
        }
    }

    /// Runs a test connection now and remembers the outcome.
    pub async fn check(&self, job: &Job) -> ProbeResult {
        let result = match job.client.test_connection().await {
            Ok(()) => ProbeResult {
                ok: true,
                at: store::now_unix(),
                message: format!("{} answers as a SCIM 2.0 server", job.client.base_url()),
            },
            Err(failure) => ProbeResult {
                ok: false,
                at: store::now_unix(),
                message: failure.message,
            },
        };
        if !result.ok {
            tracing::warn!(message = %result.message, "target probe failed");
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), result.clone()));
        result
    }

    pub fn last(&self) -> Option<ProbeResult> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref().map(|(_, r)| r.clone())
    }

    /// Ok when the target answered within the last interval (two, for slack).
    pub fn ready(&self) -> Result<(), String> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_ref() {
            None => Err("the target has not been probed yet".into()),
            Some((_, r)) if !r.ok => Err(r.message.clone()),
            Some((when, _)) if when.elapsed() > self.interval * 2 => Err(format!(
                "the last successful probe is {} s old",
                when.elapsed().as_secs()
            )),
            Some(_) => Ok(()),
        }
    }
}
