//! The outbox worker: forwards accepted changes to the target through sync mode's plan and
//! apply, oldest first per person, and keeps a change until the target has taken it.
//!
//! Each pass takes the oldest waiting row of up to [`BATCH`] people, plans them together as
//! one small cycle (recorded in the store's cycles, with the plugin versions it pinned, and
//! logged per person like any cycle), applies the actions concurrently, then settles each row:
//! - sent, or nothing to send (no change, out of scope, a plugin skipped the person): the row
//!   is deleted;
//! - the target could not be reached, timed out, throttled or failed (5xx): the row stays and
//!   is retried after a backoff that doubles up to `[gateway] retry_max_ms`, without limit, so
//!   an outage loses nothing and later rows of that person wait behind it (order kept);
//! - the target rejected the change (a 4xx such as 409 or 400): retried up to
//!   `[gateway] max_rejections` times, then dropped; every attempt is in the provisioning log
//!   and counted in `muster_outbox_failures_total`.

use std::collections::HashMap;
use std::future::Future;

use anyhow::Context;
use engine::cycle::{CycleInput, plan_cycle};
use engine::model::{Person, ProvisionedRecord};
use engine::plan::{Action, PlannedAction};
use futures::StreamExt;
use store::{CycleCounts, CycleKind, CycleStatus, LogRow, OutboxEntry};

use super::GatewayState;
use super::resources::now_ms;
use crate::sync::apply::{self, Applied};
use crate::sync::{log_row, mark_done, mark_failed, matching_path};

/// People forwarded per pass.
pub const BATCH: usize = 64;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutboxPass {
    /// Rows worked on.
    pub taken: usize,
    /// Rows settled (sent, nothing to send, or given up on).
    pub settled: usize,
    /// Rows kept for a retry.
    pub retrying: usize,
}

/// Forwards until `shutdown` completes; a pass in flight finishes first.
pub async fn run_outbox(state: GatewayState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let wait = match forward_due(&state).await {
            Ok(pass) if pass.taken > 0 => None,
            Ok(_) => Some(idle_wait(&state)),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "outbox pass failed");
                Some(std::time::Duration::from_secs(1))
            }
        };
        match wait {
            None => {
                if futures::FutureExt::now_or_never(shutdown.as_mut()).is_some() {
                    return;
                }
            }
            Some(wait) => tokio::select! {
                _ = &mut shutdown => return,
                _ = state.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            },
        }
    }
}

/// Until the earliest waiting row is due (at most a minute; a new change wakes the worker).
fn idle_wait(state: &GatewayState) -> std::time::Duration {
    let next = state.job().store.outbox_next_attempt().ok().flatten();
    let ms = next.map_or(60_000, |at| (at - now_ms()).clamp(1, 60_000));
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(1))
}

/// One pass over the rows that are due: what tests and the benchmark call directly.
pub async fn forward_due(state: &GatewayState) -> anyhow::Result<OutboxPass> {
    let job = state.job();
    let store = &job.store;
    let heads = store.outbox_heads(now_ms(), BATCH)?;
    if heads.is_empty() {
        metrics::gauge!("muster_outbox_pending").set(store.outbox_len()? as f64);
        return Ok(OutboxPass::default());
    }
    let (pinned, _snapshot) = job.pin_plugins()?;
    let versions = pinned.versions();
    for intent in store.pending_intents()? {
        // What landed is found by the look-up before create of this pass (see sync/apply.rs).
        store.fail_intent(
            intent.id,
            "interrupted before its outcome was recorded; superseded by the outbox",
        )?;
    }
    let cycle_id = store.start_cycle(CycleKind::Incremental, &versions)?;
    let mut people: Vec<Person> = Vec::new();
    let mut records: Vec<ProvisionedRecord> = Vec::new();
    for head in &heads {
        if let Some(person) = &head.person {
            people.push(
                serde_json::from_value(person.clone())
                    .with_context(|| format!("outbox row {} does not decode", head.seq))?,
            );
        }
        records.extend(store.record(&head.person_id)?);
    }
    let label = cycle_id.to_string();
    let pipeline = &state.inner.pipeline;
    let mut plan = tokio::task::block_in_place(|| {
        plan_cycle(&CycleInput {
            cycle_id: &label,
            people: &people,
            records: &records,
            pipeline,
            plugins: &pinned,
        })
    });
    let concurrency = (job.config.target.concurrency.max(1) as usize) * 2;
    let outcomes: HashMap<String, Applied> = futures::stream::iter(plan.actions.clone())
        .map(|planned: PlannedAction| async move {
            let path = matching_path(job, &planned);
            let target = apply::TargetPaths {
                matching: &path,
                managed: &job.managed_paths,
            };
            let outcome = apply::apply(store, &job.client, cycle_id, &target, &planned).await;
            (planned.source_id.clone(), outcome)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;

    let mut counts = CycleCounts {
        unchanged: plan.summary.unchanged as u64,
        skipped: plan.summary.skipped as u64,
        failed: plan.summary.failed as u64,
        ..CycleCounts::default()
    };
    for planned in &plan.actions {
        match outcomes.get(&planned.source_id) {
            Some(Applied::Done { .. }) => match planned.action {
                Action::Create { .. } => counts.created += 1,
                Action::Update { .. } => counts.updated += 1,
                Action::Disable { .. } => counts.disabled += 1,
                Action::Delete { .. } => counts.deleted += 1,
            },
            _ => counts.failed += 1,
        }
    }
    for entry in &mut plan.log {
        match outcomes.get(&entry.source_identity.id) {
            Some(Applied::Done { target_id, adopted }) => mark_done(entry, target_id, *adopted),
            Some(Applied::Failed { code, message }) => mark_failed(entry, code, message),
            None => {}
        }
    }
    let rows: Vec<LogRow> = plan.log.iter().map(log_row).collect::<Result<_, _>>()?;
    store.append_logs(cycle_id, &rows)?;
    let status = if counts.failed > 0 {
        CycleStatus::Failed
    } else {
        CycleStatus::Succeeded
    };
    store.finish_cycle(cycle_id, status, &counts)?;

    let mut pass = OutboxPass {
        taken: heads.len(),
        ..OutboxPass::default()
    };
    // A person the plan failed (a plugin trapped, ran out of time, returned an error) is
    // retried like a rejected change: a deadline missed on a busy machine gets another chance,
    // a plugin that always fails does not hold the person's later changes up for ever.
    let plan_failures: HashMap<&str, Failure> = plan
        .log
        .iter()
        .filter(|e| e.provisioning_status_info.status == engine::log::Status::Failure)
        .filter(|e| !outcomes.contains_key(&e.source_identity.id))
        .map(|e| {
            let info = &e.provisioning_status_info;
            let failure = Failure {
                code: info.error_code.clone().unwrap_or_default(),
                message: info.reason.clone().unwrap_or_default(),
                rejected: true,
            };
            (e.source_identity.id.as_str(), failure)
        })
        .collect();
    let mut done = Vec::with_capacity(heads.len());
    for head in &heads {
        let failure = match outcomes.get(&head.person_id) {
            Some(Applied::Failed { code, message }) => Some(Failure {
                code: code.clone(),
                message: message.clone(),
                rejected: is_rejection(code),
            }),
            Some(Applied::Done { .. }) => None,
            None => plan_failures.get(head.person_id.as_str()).cloned(),
        };
        if settle(state, head, failure)? {
            done.push(head.seq);
        } else {
            pass.retrying += 1;
        }
    }
    pass.settled = done.len();
    store.outbox_done(&done)?;
    metrics::gauge!("muster_outbox_pending").set(store.outbox_len()? as f64);
    Ok(pass)
}

/// Schedules the row's retry, or says it is settled (to be deleted by the caller).
fn settle(
    state: &GatewayState,
    head: &OutboxEntry,
    failure: Option<Failure>,
) -> anyhow::Result<bool> {
    let store = &state.job().store;
    let Some(Failure {
        code,
        message,
        rejected,
    }) = failure
    else {
        return Ok(true);
    };
    metrics::counter!("muster_outbox_failures_total").increment(1);
    let config = state.config();
    if rejected && head.rejections + 1 >= config.max_rejections {
        tracing::error!(person = %head.person_id, seq = head.seq, %code, %message,
            "the target rejected a change {} times; dropped (see the provisioning log)",
            config.max_rejections);
        return Ok(true);
    }
    let delay = backoff(config.retry_min_ms, config.retry_max_ms, head.attempts);
    tracing::warn!(person = %head.person_id, seq = head.seq, %code, %message, retry_in_ms = delay,
        "forwarding failed; kept in the outbox");
    let next = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    store.outbox_retry(head.seq, next, rejected, &format!("{code}: {message}"))?;
    Ok(false)
}

/// Why an attempt at a row failed.
#[derive(Debug, Clone)]
struct Failure {
    code: String,
    message: String,
    /// The change itself was refused (bounded retries), as opposed to the target being down.
    rejected: bool,
}

/// Codes (sync mode's, Entra's names) for answers that say the change itself is wrong, as
/// opposed to the target being unreachable, slow, throttling or failing.
fn is_rejection(code: &str) -> bool {
    matches!(
        code,
        "Conflict"
            | "EntryConflict"
            | "InvalidAnchor"
            | "MethodNotAllowed"
            | "UnprocessableEntity"
            | "NotImplemented"
            | "WebExceptionProtocolError"
            | "DuplicateTargetEntries"
            | "SystemForCrossDomainIdentityManagementServiceIncompatible"
    )
}

/// `min · 2^attempts`, at most `max` (milliseconds).
fn backoff(min: u64, max: u64, attempts: u32) -> u64 {
    min.saturating_mul(1u64 << attempts.min(32)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (0..6).map(|a| backoff(500, 6000, a)).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 6000, 6000]);
        assert_eq!(backoff(500, 60_000, 200), 60_000);
    }

    #[test]
    fn unreachable_or_failing_targets_are_not_rejections() {
        for code in [
            "ConnectionFailed",
            "Timeout",
            "TooManyRequests",
            "InternalServerError",
            "Unauthorized",
            "InternalError",
        ] {
            assert!(!is_rejection(code), "{code}");
        }
        assert!(is_rejection("EntryConflict"));
    }
}
