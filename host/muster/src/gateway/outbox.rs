//! The outbox worker: forwards accepted changes to the target through the provisioning core
//! ([`crate::provision`]), oldest first per person, and keeps a change until the target has
//! taken it.
//!
//! Each pass takes up to [`BATCH`] people with a row due, each as their newest row has them
//! (rows hold whole states, so a backlog after an outage is one change per person, not a replay
//! of every intermediate state), plans them together as one small cycle (recorded in the store's cycles, with the plugin versions it pinned, and
//! logged per person like any cycle), applies the actions concurrently, then settles each row:
//! - sent, or nothing to send (no change, out of scope, a plugin skipped the person): the row
//!   is deleted;
//! - the target could not be reached, timed out, throttled or failed (5xx), or a plugin failed
//!   for the person: the row stays and is retried after a backoff that doubles up to
//!   `[gateway] retry_max_ms`, without limit, so an outage or a broken rule loses nothing and
//!   later rows of that person wait behind it (order kept);
//! - the target rejected the change (a 4xx such as 409 or 400), or the row no longer decodes:
//!   retried up to `[gateway] max_rejections` times, then moved to the dropped changes, which
//!   the admin API lists and replays (`/admin/outbox/dropped`) and
//!   `muster_outbox_dropped_total` counts. Every attempt is in the provisioning log and counted
//!   in `muster_outbox_failures_total`. A row that fails holds up only its own person.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use engine::cycle::Population;
use engine::model::Person;
use store::{CycleKind, OutboxEntry};

use super::GatewayState;
use super::time::now_ms;
use crate::provision::{Applied, Records, Run, provision};

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
    // Paused: Entra's changes are still accepted and wait here; nothing goes to the target.
    if store.paused()?.is_some() {
        return Ok(OutboxPass::default());
    }
    // Claimed for this replica: the others skip these people until they are settled.
    let replica = &job.replica;
    let claim_ms = i64::try_from(replica.outbox_claim.as_millis()).unwrap_or(i64::MAX);
    let heads = store.outbox_claim(now_ms(), BATCH, &replica.id, claim_ms)?;
    if heads.is_empty() {
        metrics::gauge!("muster_outbox_pending").set(store.outbox_len()? as f64);
        return Ok(OutboxPass::default());
    }
    let (pinned, _snapshot) = job.pin_plugins()?;
    let mut people: Vec<Person> = Vec::new();
    let mut undecodable: HashMap<String, RowFailure> = HashMap::new();
    for head in &heads {
        if let Some(corrupt) = &head.corrupt {
            let failure = RowFailure {
                code: "InvalidOutboxRow".into(),
                message: corrupt.clone(),
                rejected: true,
            };
            undecodable.insert(head.person_id.clone(), failure);
            continue;
        }
        if let Some(person) = &head.person {
            match serde_json::from_value(person.clone()) {
                Ok(person) => people.push(person),
                // One row that cannot be read holds up only its own person's changes.
                Err(e) => {
                    let failure = RowFailure {
                        code: "InvalidOutboxRow".into(),
                        message: format!("outbox row {} does not decode: {e}", head.seq),
                        rejected: true,
                    };
                    undecodable.insert(head.person_id.clone(), failure);
                }
            }
        }
    }
    // In the order Entra sent the changes.
    let ordered: Vec<String> = heads
        .iter()
        .map(|h| h.person_id.clone())
        .filter(|id| !undecodable.contains_key(id))
        .collect();
    let only: HashSet<String> = ordered.iter().cloned().collect();
    let provisioned = provision(
        job,
        Run {
            kind: CycleKind::Incremental,
            plugins: &pinned,
            people: &people,
            records: Records::Of(&ordered),
            population: Population::Only(&only),
            // Entra decided each delete already, and a pass of a few people would never reach
            // a threshold meant for whole cycles.
            deletion_threshold: false,
            release_staged: false,
            deprovision_budget: state.deprovision_budget(),
            supersede_pending_intents: true,
            failure_fails_run: true,
            dry_run: false,
            progress: None,
            progress_bar: false,
            unplanned: 0,
            settle: None,
            count_licenses: false,
            batch: None,
            parts: None,
        },
    )
    .await?;
    let outcomes: HashMap<String, Applied> = provisioned.outcomes.into_iter().collect();
    let sent_deprovisions = provisioned
        .plan
        .actions
        .iter()
        .filter(|a| a.action.is_deprovisioning())
        .filter(|a| matches!(outcomes.get(&a.source_id), Some(Applied::Done { .. })))
        .count();
    state.record_deprovisions(sent_deprovisions);

    let mut pass = OutboxPass {
        taken: heads.len(),
        ..OutboxPass::default()
    };
    // A person the plan failed (a plugin trapped, ran out of time, returned an error) is not
    // one the target refused: the row is retried with backoff, without limit, until the plugin
    // works again (an operator uploads a fixed version or rolls back), and nothing is dropped
    // because a rule was broken for a while.
    let plan_failures: HashMap<&str, RowFailure> = provisioned
        .plan
        .log
        .iter()
        .filter(|e| e.provisioning_status_info.status == engine::log::Status::Failure)
        .filter(|e| !outcomes.contains_key(&e.source_identity.id))
        .map(|e| {
            let info = &e.provisioning_status_info;
            let failure = RowFailure {
                code: info.error_code.clone().unwrap_or_default(),
                message: info.reason.clone().unwrap_or_default(),
                rejected: false,
            };
            (e.source_identity.id.as_str(), failure)
        })
        .collect();
    let mut done = Vec::with_capacity(heads.len());
    for head in &heads {
        let failure = match outcomes.get(&head.person_id) {
            Some(Applied::Failed(failure)) => Some(RowFailure {
                code: failure.code.as_str().to_string(),
                message: failure.message.clone(),
                rejected: failure.code.is_rejection(),
            }),
            Some(Applied::Done { .. } | Applied::Superseded) => None,
            // Kept, not counted as a rejection: it goes once an admin releases the guard.
            Some(Applied::Held) => {
                metrics::counter!("muster_outbox_held_total").increment(1);
                Some(RowFailure {
                    code: "DeletionThresholdExceeded".into(),
                    message: "held by the gateway's deprovision guard".into(),
                    rejected: false,
                })
            }
            None => undecodable
                .get(&head.person_id)
                .or_else(|| plan_failures.get(head.person_id.as_str()))
                .cloned(),
        };
        match settle(state, head, failure)? {
            Settled::Done => done.push((head.person_id.as_str(), head.through)),
            Settled::Dropped => pass.settled += 1,
            Settled::Retrying => pass.retrying += 1,
        }
    }
    pass.settled += done.len();
    store.outbox_done(&done)?;
    metrics::gauge!("muster_outbox_pending").set(store.outbox_len()? as f64);
    Ok(pass)
}

/// What became of a row.
enum Settled {
    /// Sent, or nothing to send: the caller deletes it.
    Done,
    /// Given up on, and kept among the dropped changes.
    Dropped,
    /// Kept, to be tried again after a backoff.
    Retrying,
}

/// Schedules the row's retry, or drops it after `[gateway] max_rejections` rejections, or says
/// it is done.
fn settle(
    state: &GatewayState,
    head: &OutboxEntry,
    failure: Option<RowFailure>,
) -> anyhow::Result<Settled> {
    let store = &state.job().store;
    let Some(RowFailure {
        code,
        message,
        rejected,
    }) = failure
    else {
        return Ok(Settled::Done);
    };
    metrics::counter!("muster_outbox_failures_total").increment(1);
    let config = state.config();
    if rejected && head.rejections + 1 >= config.max_rejections {
        tracing::error!(person = %head.person_id, seq = head.seq, %code, %message,
            "the target rejected a change {} times; dropped (GET /admin/outbox/dropped lists it, \
             POST /admin/outbox/dropped/{}/replay sends the person again)",
            config.max_rejections, head.seq);
        store.outbox_drop(head, &format!("{code}: {message}"), now_ms())?;
        metrics::counter!("muster_outbox_dropped_total").increment(1);
        return Ok(Settled::Dropped);
    }
    let delay = backoff(config.retry_min_ms, config.retry_max_ms, head.attempts);
    tracing::warn!(person = %head.person_id, seq = head.seq, %code, %message, retry_in_ms = delay,
        "forwarding failed; kept in the outbox");
    let next = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    store.outbox_retry(head.seq, next, rejected, &format!("{code}: {message}"))?;
    Ok(Settled::Retrying)
}

/// Why an attempt at a row failed.
#[derive(Debug, Clone)]
struct RowFailure {
    code: String,
    message: String,
    /// The change itself was refused (bounded retries), as opposed to the target being down.
    rejected: bool,
}

/// `min · 2^attempts`, at most `max`, plus jitter (milliseconds): the one backoff of muster.
fn backoff(min: u64, max: u64, attempts: u32) -> u64 {
    let delay = scim_client::retry::backoff_delay(
        std::time::Duration::from_millis(min),
        std::time::Duration::from_millis(max),
        attempts,
    );
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        for (attempt, base) in [500, 1000, 2000, 4000, 6000, 6000].into_iter().enumerate() {
            let delay = backoff(500, 6000, attempt as u32);
            assert!((base..2 * base).contains(&delay), "{attempt}: {delay}");
        }
        assert!((60_000..120_000).contains(&backoff(500, 60_000, 200)));
    }
}
