//! Delta planning: a cycle plans only the people whose inputs may have changed since they were
//! last settled, and the records whose person is gone; everyone else is unchanged without being
//! mapped, run through the plugins or diffed.
//!
//! A person's plan is a function of their resolved inputs (attributes, groups, assignment, as
//! [`crate::membership`] leaves them), of the pipeline (configuration, profile, pinned plugin
//! versions and configurations: the [`fingerprint`]) and of their record. So a person whose
//! [`person_hash`] equals the one stored when their last plan was *settled* (applied, or
//! nothing to apply), under the same fingerprint, and whose record nobody wrote since, would be
//! planned to "no changes" again. The state store forgets a person's settled hash whenever it
//! writes their record, which keeps the last condition true by construction.
//!
//! What depends on other people is never settled: a person limited by a seat budget (the seats
//! may free up), a failure (a duplicate matching value may go away), anything the deletion
//! threshold held. A full plan (`--full`, a changed fingerprint, or the periodic re-plan) is
//! the safety net, and the property test in `tests` shows both reach the same actions.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::cycle::NO_CHANGES;
use crate::log::{LogEntry, ProvisioningAction, Status};
use crate::model::Person;

/// The first 128 bits of a SHA-256: collisions between two states of one person are not a
/// practical concern, and the store keeps 16 bytes per person.
pub type InputHash = [u8; 16];

/// Everything of a person a plan reads, hashed. Stable across processes (the serialization of
/// [`Person`] is ordered: attributes are a sorted map, groups a list in source order).
pub fn person_hash(person: &Person) -> InputHash {
    let mut hasher = Sha256::new();
    // Serializing into the hasher avoids a buffer per person. `Person` has no map with
    // non-string keys, so this cannot fail; a failure would only mean a re-plan.
    let written = serde_json::to_writer(HashWriter(&mut hasher), person);
    if written.is_err() {
        hasher.update(b"\0unhashable");
    }
    truncate(hasher.finalize().as_slice())
}

/// The hash of the pipeline a settled plan was made with: the serialized configuration and
/// target profile, the pinned plugin versions, and muster's own version (a new release may plan
/// differently).
pub fn fingerprint(parts: &[&[u8]]) -> InputHash {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for part in parts {
        // Length-prefixed, so that two splits of the same bytes differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    truncate(hasher.finalize().as_slice())
}

fn truncate(digest: &[u8]) -> InputHash {
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The people to plan in a delta cycle: those whose hash differs from the settled one (or who
/// have none). `hashes[i]` is `people[i]`'s. Records whose person is absent are planned by
/// [`crate::cycle::Population::Delta`] itself.
pub fn changed(
    people: &[Person],
    hashes: &[InputHash],
    settled: impl Fn(&str) -> Option<InputHash>,
) -> HashSet<String> {
    people
        .iter()
        .zip(hashes)
        .filter(|(person, hash)| settled(&person.id).as_ref() != Some(*hash))
        .map(|(person, _)| person.id.clone())
        .collect()
}

/// Whether a finished log entry (its export step completed with the target's answer) is a
/// settled plan: planning the same person from the same inputs and record again would find
/// nothing to do. Failures, seat-limited people and whatever the deletion threshold held are
/// not: what decides them can change without their inputs changing.
pub fn is_settled(entry: &LogEntry) -> bool {
    let info = &entry.provisioning_status_info;
    if entry.provisioning_action == ProvisioningAction::StagedDelete {
        return false;
    }
    let stable = match info.status {
        Status::Success => true,
        Status::Skipped => {
            info.reason.as_deref() == Some(NO_CHANGES)
                || matches!(
                    info.error_code.as_deref(),
                    Some("EntrySynchronizationSkipped" | "PluginSkipped" | "ImportSkipped")
                )
        }
        Status::Warning | Status::Failure => false,
    };
    stable && !entry.provisioning_steps.iter().any(|s| &*s.name == "seats")
}

#[cfg(test)]
pub(crate) mod tests;
