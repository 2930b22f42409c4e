//! Cycles one at a time. A scheduled cycle waits its turn; one an admin starts while another
//! runs is refused (409), so two cycles never plan from the same records at once. On-demand
//! provisioning needs no turn: it is serialised per person with whatever else runs (see
//! `provision::people`), so it answers while a cycle runs, as Entra's does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{Mutex, OwnedMutexGuard};
use utoipa::ToSchema;

use crate::job::Job;
use crate::meters;
use crate::on_demand::{OnDemand, OnDemandError, provision_one};
use crate::provision::Progress;
use crate::sync::{CycleOptions, CycleReport, run_cycle};

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Admin,
}

/// The run in progress, as the status endpoint shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Running {
    pub trigger: Trigger,
    /// Unix seconds.
    pub started_at: i64,
    /// Actions applied so far, of `total` planned (0 of 0 while planning).
    pub done: u64,
    pub total: u64,
    /// Of `done`, the actions that failed.
    pub failed: u64,
}

#[derive(Default)]
pub struct CycleRunner {
    turn: Arc<Mutex<()>>,
    current: std::sync::Mutex<Option<(Trigger, i64, Arc<Progress>)>>,
}

/// The turn of one run; dropping it lets the next one start.
pub struct Turn(#[allow(dead_code)] OwnedMutexGuard<()>);

#[derive(Debug, thiserror::Error)]
#[error("a cycle is running; try again when it has finished")]
pub struct Busy;

impl CycleRunner {
    /// The turn now, or `Busy`.
    pub fn try_turn(&self) -> Result<Turn, Busy> {
        self.turn
            .clone()
            .try_lock_owned()
            .map(Turn)
            .map_err(|_| Busy)
    }

    /// Waits for the turn.
    pub async fn turn(&self) -> Turn {
        Turn(self.turn.clone().lock_owned().await)
    }

    pub fn current(&self) -> Option<Running> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().map(|(trigger, started_at, p)| Running {
            trigger: *trigger,
            started_at: *started_at,
            done: p.done.load(Ordering::Relaxed),
            total: p.total.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
        })
    }

    /// Runs one cycle in the given turn, with its progress shown and its metrics recorded.
    pub async fn cycle(
        &self,
        _turn: &Turn,
        job: &Job,
        mut options: CycleOptions,
        trigger: Trigger,
    ) -> anyhow::Result<Option<CycleReport>> {
        let progress = self.begin(trigger);
        options.counter = Some(progress);
        let started = Instant::now();
        let result = run_cycle(job, &options).await;
        self.end();
        match &result {
            Ok(Some(report)) => {
                meters::cycle(
                    kind_name(report.kind),
                    status_name(report.status),
                    started.elapsed(),
                );
                meters::seats(&report.plan.summary.seats);
            }
            Ok(None) => {}
            Err(_) => meters::cycle("cycle", "failed", started.elapsed()),
        }
        result
    }

    /// Provisions one person now (see [`provision_one`]), beside a running cycle if there is
    /// one: it waits only for a write of the same person in flight.
    pub async fn on_demand(&self, job: &Job, who: &str) -> Result<OnDemand, OnDemandError> {
        let started = Instant::now();
        let result = provision_one(job, who).await;
        let status = match &result {
            Ok(_) => "succeeded",
            Err(OnDemandError::NotFound(_)) => "not_found",
            Err(_) => "failed",
        };
        meters::cycle("on_demand", status, started.elapsed());
        result
    }

    fn begin(&self, trigger: Trigger) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((trigger, store::now_unix(), progress.clone()));
        metrics::gauge!(meters::CYCLE_RUNNING).set(1.0);
        progress
    }

    fn end(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        metrics::gauge!(meters::CYCLE_RUNNING).set(0.0);
    }
}

pub fn kind_name(kind: store::CycleKind) -> &'static str {
    match kind {
        store::CycleKind::Initial => "initial",
        store::CycleKind::Incremental => "incremental",
        store::CycleKind::OnDemand => "on_demand",
    }
}

pub fn status_name(status: store::CycleStatus) -> &'static str {
    match status {
        store::CycleStatus::Running => "running",
        store::CycleStatus::Succeeded => "succeeded",
        store::CycleStatus::Failed => "failed",
        store::CycleStatus::Interrupted => "interrupted",
        store::CycleStatus::Staged => "staged",
    }
}
