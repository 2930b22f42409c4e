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
    let person = person_of(job, who).await?;
    let (entry, cycle_id) = run_one(job, person, false).await?;
    let cycle_id =
        cycle_id.ok_or_else(|| anyhow::anyhow!("on-demand provisioning ran as a dry run"))?;
    let row = log_row(&entry)?;
    Ok(OnDemand {
        cycle_id,
        person_id: row.person_id,
        action: row.action,
        status: row.status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        entry,
    })
}

/// What on-demand provisioning would do for the person now, and why: the whole pipeline as
/// [`provision_one`] runs it, as a dry run (nothing sent, nothing recorded).
pub async fn explain_one(job: &Job, who: &str) -> Result<(Person, LogEntry), OnDemandError> {
    let person = person_of(job, who).await?;
    let (entry, _) = run_one(job, person.clone(), true).await?;
    Ok((person, entry))
}

/// The person `who` names, as the source has them now.
pub async fn person_of(job: &Job, who: &str) -> Result<Person, OnDemandError> {
    if job.config.is_gateway() {
        // What Entra last sent; the outbox worker may forward the same person at the same time,
        // which the look-up before create and minimal PATCHes make harmless.
        crate::gateway::stored_person(&job.store, who).map_err(anyhow::Error::from)?
    } else {
        // A Graph source's delta changes are not committed here: the next cycle reads them
        // again.
        let read = sources::read(job, false).await?;
        find(job, &read.directory.people, who).cloned()
    }
    .ok_or_else(|| OnDemandError::NotFound(who.to_string()))
}

/// Runs `person` through the pipeline against every record; returns their log entry and the
/// run's id (None for a dry run).
async fn run_one(
    job: &Job,
    person: Person,
    dry_run: bool,
) -> Result<(LogEntry, Option<i64>), OnDemandError> {
    let (pinned, _snapshot) = job.pin_plugins()?;
    let id = person.id.clone();
    let only = HashSet::from_iter([id.clone()]);
    let people = [person];
    let run = || Run {
        dry_run,
        ..Run::for_people(&pinned, &people, Records::All, Population::Only(&only))
    };
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
    let entry = provisioned
        .plan
        .log
        .into_iter()
        .next_back()
        .ok_or_else(|| anyhow::anyhow!("the plan has no log entry for {id}"))?;
    Ok((entry, provisioned.cycle_id))
}

/// Up to `limit` people of the source whose id, or a name attribute (the matching and
/// userName sources, `displayName`, `mail`, the name parts) contains `text`, ignoring case.
pub async fn search(job: &Job, text: &str, limit: usize) -> anyhow::Result<Vec<Person>> {
    let needle = text.trim().to_lowercase();
    let fields = name_fields(job);
    let hit = |p: &Person| {
        p.id.to_lowercase().contains(&needle)
            || fields.iter().any(|f| {
                p.attributes
                    .get(f.as_str())
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| v.to_lowercase().contains(&needle))
            })
    };
    if !job.config.is_gateway() {
        let read = sources::read(job, false).await?;
        return Ok(read
            .directory
            .people
            .into_iter()
            .filter(|p| hit(p))
            .take(limit)
            .collect());
    }
    // The gateway's people, in batches: what Entra sent, as stored.
    let mut found = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let batch = job.store.gateway_batch_after(
            store::GatewayKind::User,
            after.as_ref().map(|(c, id)| (*c, id.as_str())),
            500,
        )?;
        let Some(last) = batch.last() else { break };
        after = Some((last.created, last.id.clone()));
        for user in &batch {
            if found.len() >= limit {
                return Ok(found);
            }
            if let Some(person) = crate::gateway::stored_person(&job.store, &user.id)?
                && hit(&person)
            {
                found.push(person);
            }
        }
    }
    Ok(found)
}

/// The source attributes behind the matching mappings and the userName mapping.
fn identity_sources(job: &Job) -> Vec<&str> {
    job.pipeline
        .matching
        .iter()
        .chain(
            job.pipeline
                .mappings
                .iter()
                .filter(|m| m.target == "userName"),
        )
        .filter_map(|m| m.source.as_deref())
        .collect()
}

/// The source attributes a person is known by.
fn name_fields(job: &Job) -> Vec<String> {
    let mut fields: Vec<String> = identity_sources(job)
        .into_iter()
        .map(str::to_string)
        .collect();
    for name in [
        "displayName",
        "userPrincipalName",
        "mail",
        "givenName",
        "surname",
    ] {
        if !fields.iter().any(|f| f == name) {
            fields.push(name.to_string());
        }
    }
    fields
}

fn find<'a>(job: &Job, people: &'a [Person], who: &str) -> Option<&'a Person> {
    if let Some(p) = people.iter().find(|p| p.id == who) {
        return Some(p);
    }
    let fields = identity_sources(job);
    people.iter().find(|p| {
        fields.iter().any(|s| {
            p.attributes
                .get(s)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.eq_ignore_ascii_case(who))
        })
    })
}
