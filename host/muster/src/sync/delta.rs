//! Whom a sync cycle plans ([`engine::delta`]): everyone, or only the people whose inputs
//! changed since their last settled plan (and the records whose person left the source).

use std::collections::HashSet;

use engine::delta::{self, InputHash};
use engine::model::Person;
use engine::plugin_stage::PinnedPlugins;

use crate::job::Job;

/// A cycle's choice of whom to plan.
#[derive(Debug)]
pub struct Planning {
    /// The people to plan; `None`: everyone.
    pub changed: Option<HashSet<String>>,
    /// `hashes[i]` is the input hash of `people[i]`.
    pub hashes: Vec<InputHash>,
    pub fingerprint: InputHash,
    /// Why everyone is planned, when they are.
    pub full_reason: Option<&'static str>,
}

impl Planning {
    /// People of the source left out of the population: unchanged since their last settled
    /// plan.
    pub fn unplanned(&self, people: usize) -> usize {
        self.changed
            .as_ref()
            .map_or(0, |changed| people.saturating_sub(changed.len()))
    }
}

/// Hashes the people and compares with what the store settled. `full`: plan everyone anyway.
pub fn prepare(
    job: &Job,
    pinned: &PinnedPlugins,
    people: &[Person],
    full: bool,
) -> anyhow::Result<Planning> {
    let fingerprint = fingerprint(job, pinned)?;
    let hashes = hash_all(people);
    let settled = job.store.settled()?;
    let interval = job.config.full_plan_interval_secs;
    let now = store::now_unix();
    let full_reason = if full {
        Some("a full plan was asked for")
    } else if interval == 0 {
        Some("full_plan_interval_secs = 0: every cycle plans everyone")
    } else if settled.fingerprint.is_none() {
        Some("no plan has been settled yet")
    } else if settled.fingerprint != Some(fingerprint) {
        Some("the configuration, the target profile, a plugin or muster itself changed")
    } else if settled
        .full_at
        .is_none_or(|at| now.saturating_sub(at) >= i64::try_from(interval).unwrap_or(i64::MAX))
    {
        Some("the periodic full plan is due (full_plan_interval_secs)")
    } else if !job.pipeline.seats.is_empty() {
        Some("seat budgets are set: a seat one person frees may go to another")
    } else if !job.staging.shadowed().is_empty() {
        Some("a staged plugin version runs in shadow, compared on everyone")
    } else {
        None
    };
    let changed = match full_reason {
        Some(_) => None,
        None => {
            let kept = job.store.settled_hashes()?;
            Some(delta::changed(people, &hashes, |id| kept.get(id).copied()))
        }
    };
    Ok(Planning {
        changed,
        hashes,
        fingerprint,
        full_reason,
    })
}

/// The pipeline's fingerprint: the configuration, the resolved target profile, and each pinned
/// plugin's version and configuration document.
fn fingerprint(job: &Job, pinned: &PinnedPlugins) -> anyhow::Result<InputHash> {
    let config = serde_json::to_vec(&job.config)?;
    let profile = serde_json::to_vec(&job.pipeline.profile.data)?;
    let versions = serde_json::to_vec(&pinned.versions())?;
    let configs = pinned
        .transforms
        .iter()
        .map(|p| p.config.as_bytes())
        .chain(pinned.license.iter().map(|p| p.config.as_bytes()));
    let mut parts: Vec<&[u8]> = vec![
        &config,
        &profile,
        job.pipeline.profile.label.as_bytes(),
        &versions,
    ];
    parts.extend(configs);
    Ok(delta::fingerprint(&parts))
}

/// Every person's input hash, on every core: 100,000 people are about 50 MB to hash.
fn hash_all(people: &[Person]) -> Vec<InputHash> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = people.len().div_ceil(threads).max(1_024);
    std::thread::scope(|s| {
        let parts: Vec<_> = people
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(delta::person_hash).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| match part.join() {
                Ok(hashes) => hashes,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
