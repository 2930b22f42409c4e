//! The target probe behind `/readyz`: a test connection every `[server] probe_interval_secs`.
//! Ready means the last probe succeeded and is recent (younger than two intervals, so a stuck
//! probe shows too).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::job::Job;

pub struct TargetProbe {
    interval: Duration,
    last: Mutex<Option<(Instant, ProbeResult)>>,
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
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
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
