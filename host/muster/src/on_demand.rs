//! On-demand provisioning of one person, as Entra's "Provision on demand": the person goes
//! through the whole pipeline now, against every record (so matching, adoption and conflicts
//! are decided exactly as in a cycle), and only that person's action is sent. The answer is the
//! person's log entry: its steps and the action taken.
//!
//! Unlike a cycle it leaves the source watermark, the staged deletes and the quarantine alone,
//! and the deletion threshold does not apply (one person is never a mass deletion).

use std::collections::HashSet;
use std::time::Instant;

use engine::cycle::Population;
use engine::log::LogEntry;
use engine::model::Person;
use serde::Serialize;

use crate::job::Job;
use crate::provision::{Applied, Records, Run, log_row, provision};
use crate::sources;

/// What on-demand provisioning did for one person.
#[derive(Debug, Clone, Serialize)]
pub struct OnDemand {
    /// The run's id in the cycle history (kind `on_demand`) and the provisioning log.
    pub cycle_id: i64,
    pub person_id: String,
    /// `create`, `update`, `disable`, `delete`, `other` (nothing to do), ...
    pub action: String,
    /// `success`, `failure`, `skipped`, ...
    pub status: String,
    pub elapsed_ms: u64,
    /// The provisioning log entry: steps, modified properties, status and reason.
    pub entry: LogEntry,
}

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error("no person with id or userName {0:?} in the source")]
    NotFound(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Provisions the person whose source id is `who`, or whose matching attribute (the userName,
/// usually the UPN) equals `who` ignoring case.
pub async fn provision_one(job: &Job, who: &str) -> Result<OnDemand, OnDemandError> {
    let started = Instant::now();
    let person = if job.config.is_gateway() {
        // What Entra last sent; the outbox worker may forward the same person at the same time,
        // which the look-up before create and minimal PATCHes make harmless.
        crate::gateway::stored_person(&job.store, who).map_err(anyhow::Error::from)?
    } else {
        // A Graph source's delta changes are not committed here: the next cycle reads them
        // again.
        let read = sources::read(job, false).await?;
        find(job, &read.directory.people, who).cloned()
    }
    .ok_or_else(|| OnDemandError::NotFound(who.to_string()))?;
    let (pinned, _snapshot) = job.pin_plugins()?;
    let id = person.id.clone();
    let only = HashSet::from_iter([id.clone()]);
    let people = [person];
    let run = || Run::for_people(&pinned, &people, Records::All, Population::Only(&only));
    let mut provisioned = provision(job, run()).await?;
    // A cycle wrote the person between this run's plan and its turn: plan again from the
    // record it left (once; a second overtaking write would need a second running cycle).
    if provisioned
        .outcomes
        .iter()
        .any(|(_, o)| matches!(o, Applied::Superseded))
    {
        provisioned = provision(job, run()).await?;
    }
    let cycle_id = provisioned
        .cycle_id
        .ok_or_else(|| anyhow::anyhow!("on-demand provisioning ran as a dry run"))?;
    let entry = provisioned
        .plan
        .log
        .into_iter()
        .next_back()
        .ok_or_else(|| anyhow::anyhow!("the plan has no log entry for {id}"))?;
    let row = log_row(&entry)?;
    Ok(OnDemand {
        cycle_id,
        person_id: id,
        action: row.action,
        status: row.status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        entry,
    })
}

fn find<'a>(job: &Job, people: &'a [Person], who: &str) -> Option<&'a Person> {
    if let Some(p) = people.iter().find(|p| p.id == who) {
        return Some(p);
    }
    // The source attributes behind the matching mappings and the userName mapping.
    let sources: Vec<&str> = job
        .pipeline
        .matching
        .iter()
        .chain(
            job.pipeline
                .mappings
                .iter()
                .filter(|m| m.target == "userName"),
        )
        .filter_map(|m| m.source.as_deref())
        .collect();
    people.iter().find(|p| {
        sources.iter().any(|s| {
            p.attributes
                .get(s)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.eq_ignore_ascii_case(who))
        })
    })
}
