//! A rule change's impact before it goes live: the same people planned twice from the same
//! records, once with the active plugin versions and once with the candidates, compared person
//! by person; and the activation [`Gates`] checked against the difference.
//!
//! A person's outcome is what the target would hold once a plan were applied: the record after
//! their action, or the record as it stands when the plan has no action for them (unchanged,
//! skipped, failed). Licenses are counted as the target holds them: an add-on the target
//! profile has no attributes for is never provisioned, so it is not counted. Since both plans start from the same records and the same people, every
//! difference is one the plugins made.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{Bound, Gates};
use crate::cycle::Plan;
use crate::log::Status;
use crate::model::{Attributes, Key, License, ProvisionedRecord, Value};
use crate::plugin_stage::describe;
use crate::profile::TargetProfile;
use crate::seats::SeatBudgets;

/// How a rule change would move licenses and people, and whether it passes the gates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// People planned (each side plans the same people).
    pub people: u64,
    /// Holders per plan and add-on, before and after.
    pub licenses: Vec<LicenseCount>,
    pub license_changes: Changed<LicenseChange>,
    pub attribute_changes: Changed<AttributeChange>,
    pub newly_skipped: Changed<StatusChange>,
    pub newly_failed: Changed<StatusChange>,
    /// Failures by code (`PluginFailed:out-of-fuel`, `UnknownPlan`, ...), before and after.
    pub errors: Vec<ErrorCount>,
    /// Every configured gate, checked.
    pub gates: Vec<GateCheck>,
}

impl Impact {
    /// True when every gate passed (also when none is configured).
    pub fn passed(&self) -> bool {
        self.gates.iter().all(|g| g.passed)
    }

    /// The gates that failed, as one sentence for logs and errors.
    pub fn failed_gates(&self) -> String {
        let failed: Vec<String> = self
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| {
                format!(
                    "{} is {} (bound {}, at most {})",
                    g.gate, g.actual, g.bound, g.allowed
                )
            })
            .collect();
        failed.join("; ")
    }
}

/// A shadow run's comparison in one cycle, as the cycle history keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowCounts {
    pub plugin: String,
    pub version: String,
    pub license_changes: u64,
    pub attribute_changes: u64,
    pub newly_skipped: u64,
    pub newly_failed: u64,
    /// Within the gates and without a failure of its own.
    pub passed: bool,
}

impl Impact {
    /// The counts a shadow run of `plugin` at `version` keeps for one cycle. A shadow that
    /// fails a person the active version does not has not passed, gates or no gates.
    pub fn shadow_counts(&self, plugin: &str, version: &str) -> ShadowCounts {
        ShadowCounts {
            plugin: plugin.to_string(),
            version: version.to_string(),
            license_changes: self.license_changes.count,
            attribute_changes: self.attribute_changes.count,
            newly_skipped: self.newly_skipped.count,
            newly_failed: self.newly_failed.count,
            passed: self.passed() && self.newly_failed.count == 0,
        }
    }

    /// Adds a `shadow:<plugin>` warning step to the log entry of each sampled person on whom
    /// the shadow version disagreed with the active one, saying how.
    pub fn annotate(&self, plan: &mut Plan, plugin: &str, version: &str) {
        let mut notes: HashMap<&str, Vec<String>> = HashMap::new();
        for c in &self.license_changes.samples {
            notes.entry(&c.person.id).or_default().push(format!(
                "license {} → {}",
                c.before.as_deref().unwrap_or("none"),
                c.after.as_deref().unwrap_or("none")
            ));
        }
        for c in &self.attribute_changes.samples {
            for d in &c.changes {
                notes.entry(&c.person.id).or_default().push(format!(
                    "{} {} → {}",
                    d.path,
                    d.before.as_deref().unwrap_or("(none)"),
                    d.after.as_deref().unwrap_or("(none)")
                ));
            }
        }
        for c in self
            .newly_skipped
            .samples
            .iter()
            .chain(&self.newly_failed.samples)
        {
            notes
                .entry(&c.person.id)
                .or_default()
                .push(format!("{}: {}", c.after, c.reason));
        }
        if notes.is_empty() {
            return;
        }
        let name = format!("shadow:{plugin}");
        for entry in &mut plan.log {
            let Some(said) = notes.get(entry.source_identity.id.as_str()) else {
                continue;
            };
            let description = format!("shadow version {version} disagrees: {}", said.join("; "));
            entry.provisioning_steps.push(crate::log::Step::new(
                crate::log::StepType::Processing,
                name.clone(),
                Status::Warning,
                description,
            ));
        }
    }
}

/// How many people a kind of change touches, with the first few of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changed<T> {
    pub count: u64,
    /// The first people by source id, at most the preview's sample size.
    pub samples: Vec<T>,
}

impl<T> Default for Changed<T> {
    fn default() -> Self {
        Changed {
            count: 0,
            samples: Vec::new(),
        }
    }
}

impl<T> Changed<T> {
    fn add(&mut self, limit: usize, sample: impl FnOnce() -> T) {
        self.count += 1;
        if self.samples.len() < limit {
            self.samples.push(sample());
        }
    }
}

/// Whether a license name is a plan or an add-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LicenseKind {
    Plan,
    AddOn,
}

/// Holders of one plan or add-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseCount {
    pub name: String,
    pub kind: LicenseKind,
    pub before: u64,
    pub after: u64,
    /// `[license] seats`, where set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u32>,
}

impl LicenseCount {
    pub fn delta(&self) -> i64 {
        self.after as i64 - self.before as i64
    }
}

/// A person as the report names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    pub id: String,
    /// The matching value or display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseChange {
    pub person: Who,
    /// `plan+add-on`, or none.
    pub before: Option<String>,
    pub after: Option<String>,
    /// Why, in the license rule's words on each side (its step in the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChange {
    pub person: Who,
    pub changes: Vec<AttributeDiff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeDiff {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub person: Who,
    pub before: String,
    pub after: String,
    /// Why, from the new side's log entry.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    pub code: String,
    pub before: u64,
    pub after: u64,
}

/// One gate against the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCheck {
    /// `max_license_changes`, `max_seat_delta.phone`, ...
    pub gate: String,
    /// As configured (`20`, `5%`).
    pub bound: String,
    /// The bound as a count of this preview's people (or, for a seat delta, holders).
    pub allowed: u64,
    pub actual: u64,
    pub passed: bool,
}

/// The two plans to compare and what they were planned against.
pub struct Sides<'a> {
    pub before: &'a Plan,
    pub after: &'a Plan,
    /// The records both plans started from.
    pub records: &'a [ProvisionedRecord],
    pub profile: &'a TargetProfile,
    pub seats: &'a SeatBudgets,
}

/// Compares the two plans and checks `gates`; `samples` people are listed per kind of change.
pub fn compare(sides: &Sides, gates: &Gates, samples: usize) -> Impact {
    let records: HashMap<&str, &ProvisionedRecord> = sides
        .records
        .iter()
        .map(|r| (r.source_id.as_str(), r))
        .collect();
    let before = outcomes(sides.before, &records);
    let after = outcomes(sides.after, &records);
    let ids: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let license_paths = sides.profile.license_paths();
    let mut impact = Impact::default();
    let mut counts: BTreeMap<(LicenseKind, String), (u64, u64)> = BTreeMap::new();
    let mut errors: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let none = Outcome::default();
    for id in ids {
        let old = before.get(id).unwrap_or(&none);
        let new = after.get(id).unwrap_or(&none);
        if old.planned || new.planned {
            impact.people += 1;
        }
        let (held_before, held_after) = (
            old.license().map(|l| expressed(l, sides.profile)),
            new.license().map(|l| expressed(l, sides.profile)),
        );
        for (license, side) in [(&held_before, 0), (&held_after, 1)] {
            let Some(license) = license else { continue };
            let names = std::iter::once((LicenseKind::Plan, &license.plan))
                .chain(license.add_ons.iter().map(|a| (LicenseKind::AddOn, a)));
            for (kind, name) in names {
                let count = counts.entry((kind, name.clone())).or_default();
                if side == 0 {
                    count.0 += 1;
                } else {
                    count.1 += 1;
                }
            }
        }
        for (outcome, side) in [(old, 0), (new, 1)] {
            if outcome.status == Status::Failure {
                let code = outcome.code.unwrap_or("failed").to_string();
                let count = errors.entry(code).or_default();
                if side == 0 {
                    count.0 += 1;
                } else {
                    count.1 += 1;
                }
            }
        }
        let who = || Who {
            id: id.to_string(),
            name: new.name.or(old.name).map(str::to_string),
        };
        if held_before != held_after {
            impact.license_changes.add(samples, || LicenseChange {
                person: who(),
                before: held_before.as_ref().map(describe),
                after: held_after.as_ref().map(describe),
                reason_before: old.license_step.map(license_reason),
                reason_after: new.license_step.map(license_reason),
            });
        }
        let diffs = attribute_diffs(old.attributes(), new.attributes(), &license_paths);
        if !diffs.is_empty() {
            impact.attribute_changes.add(samples, || AttributeChange {
                person: who(),
                changes: diffs,
            });
        }
        let status_change = || StatusChange {
            person: who(),
            before: status_name(old.status).to_string(),
            after: status_name(new.status).to_string(),
            reason: new.reason.unwrap_or_default().to_string(),
        };
        if new.status == Status::Skipped && old.status != Status::Skipped {
            impact.newly_skipped.add(samples, status_change);
        } else if new.status == Status::Failure && old.status != Status::Failure {
            impact.newly_failed.add(samples, status_change);
        }
    }
    impact.licenses = counts
        .into_iter()
        .map(|((kind, name), (before, after))| LicenseCount {
            budget: sides.seats.get(&name).copied(),
            name,
            kind,
            before,
            after,
        })
        .collect();
    impact.errors = errors
        .into_iter()
        .map(|(code, (before, after))| ErrorCount {
            code,
            before,
            after,
        })
        .collect();
    impact.gates = check_gates(&impact, gates);
    impact
}

/// Every configured gate against `impact`.
pub fn check_gates(impact: &Impact, gates: &Gates) -> Vec<GateCheck> {
    let mut checks = Vec::new();
    let mut check = |gate: String, bound: Option<Bound>, actual: u64, of: u64| {
        if let Some(bound) = bound {
            let allowed = bound.allowed(of);
            checks.push(GateCheck {
                gate,
                bound: bound.to_string(),
                allowed,
                actual,
                passed: actual <= allowed,
            });
        }
    };
    let people = impact.people;
    check(
        "max_license_changes".into(),
        gates.max_license_changes,
        impact.license_changes.count,
        people,
    );
    for (name, bound) in &gates.max_seat_delta {
        let count = impact.licenses.iter().find(|c| &c.name == name);
        let (before, delta) = count.map_or((0, 0), |c| (c.before, c.delta().unsigned_abs()));
        check(
            format!("max_seat_delta.{name}"),
            Some(*bound),
            delta,
            before,
        );
    }
    check(
        "max_new_failures".into(),
        gates.max_new_failures,
        impact.newly_failed.count,
        people,
    );
    check(
        "max_attribute_changes".into(),
        gates.max_attribute_changes,
        impact.attribute_changes.count,
        people,
    );
    checks
}

/// A person's outcome on one side.
#[derive(Debug, Clone, Copy)]
struct Outcome<'p> {
    /// The record after the plan (`None`: none, or deleted).
    record: Option<&'p ProvisionedRecord>,
    /// The person has a log entry in the plan.
    planned: bool,
    status: Status,
    code: Option<&'p str>,
    reason: Option<&'p str>,
    name: Option<&'p str>,
    /// The license rule's step.
    license_step: Option<&'p crate::log::Step>,
}

impl Default for Outcome<'_> {
    fn default() -> Self {
        Outcome {
            record: None,
            planned: false,
            status: Status::Success,
            code: None,
            reason: None,
            name: None,
            license_step: None,
        }
    }
}

impl<'p> Outcome<'p> {
    /// What the person holds: nothing while disabled (a target frees a deactivated user's
    /// licenses).
    fn license(&self) -> Option<&'p License> {
        self.record
            .filter(|r| !r.disabled)
            .and_then(|r| r.license.as_ref())
    }

    fn attributes(&self) -> Option<&'p Attributes> {
        self.record.map(|r| &r.last_applied)
    }
}

fn outcomes<'p>(
    plan: &'p Plan,
    records: &HashMap<&'p str, &'p ProvisionedRecord>,
) -> HashMap<&'p str, Outcome<'p>> {
    let mut out: HashMap<&str, Outcome> = records
        .iter()
        .map(|(id, record)| {
            let outcome = Outcome {
                record: Some(*record),
                ..Outcome::default()
            };
            (*id, outcome)
        })
        .collect();
    for entry in &plan.log {
        let outcome = out.entry(entry.source_identity.id.as_str()).or_default();
        let info = &entry.provisioning_status_info;
        outcome.planned = true;
        outcome.status = info.status;
        outcome.code = info.error_code.as_deref();
        outcome.reason = info.reason.as_deref();
        outcome.name = entry.source_identity.display_name.as_deref();
        outcome.license_step = entry
            .provisioning_steps
            .iter()
            .rev()
            .find(|step| step.name.as_str().starts_with("license:"));
    }
    for action in plan.actions.iter().chain(&plan.staged) {
        let outcome = out.entry(action.source_id.as_str()).or_default();
        outcome.record = action.record_after.as_ref();
    }
    out
}

/// A license step's sentence, followed by the rule that decided and the facts it rests on
/// where the plugin gave them (interface 0.2.0): `plan pro: app role Admin [rule
/// admins-get-pro; because app role Admin]`.
fn license_reason(step: &crate::log::Step) -> String {
    let detail = |key: &str| step.details.get(key).map(|v| v.as_str());
    let why: Vec<String> = [
        detail(crate::plugin_stage::RULE).map(|r| format!("rule {r}")),
        detail(crate::plugin_stage::BECAUSE).map(|b| format!("because {b}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if why.is_empty() {
        step.description.to_string()
    } else {
        format!("{} [{}]", step.description.as_str(), why.join("; "))
    }
}

/// `license` as the target holds it: without the add-ons the profile has no attributes for
/// (they are never provisioned, so they hold no seat and a rule moving them changes nothing).
fn expressed(license: &License, profile: &TargetProfile) -> License {
    let mut held = license.clone();
    held.add_ons
        .retain(|a| profile.data.add_ons.contains_key(a));
    held
}

/// The attributes (other than the license's) that differ, in path order. A person with a
/// record on one side only (created on one side, failed or skipped on the other) is counted by
/// status, not here.
fn attribute_diffs(
    before: Option<&Attributes>,
    after: Option<&Attributes>,
    license_paths: &BTreeSet<Key>,
) -> Vec<AttributeDiff> {
    let (Some(before), Some(after)) = (before, after) else {
        return Vec::new();
    };
    if before == after {
        return Vec::new();
    }
    let paths: BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| !license_paths.contains(*p))
        .filter_map(|path| {
            let (old, new) = (before.get(path), after.get(path));
            (old != new).then(|| AttributeDiff {
                path: path.to_string(),
                before: old.map(show),
                after: new.map(show),
            })
        })
        .collect()
}

fn show(value: &Value) -> String {
    match value.as_str() {
        Some(text) => text.to_string(),
        None => value.to_json().to_string(),
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Success => "success",
        Status::Warning => "warning",
        Status::Failure => "failure",
        Status::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests;
