//! Accidental-deletion prevention (Microsoft Learn, "Enable accidental deletions prevention"): over
//! the threshold (a count, or a share of the people provisioned), a cycle's disables, deletes and
//! license downgrades are all held back, not just the ones past the limit, because a mass
//! deprovisioning is usually a mistake upstream (a broken filter, an emptied group) and
//! half-applying it is the worst outcome. Disables and deletes are logged as `StagedDelete`, held
//! downgrades as updates skipped with `DeletionThresholdExceeded`. Entra also quarantines the job;
//! the runtime does that from [`Plan::deletion_hold`](super::Plan::deletion_hold).

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::config::DeletionThresholdConfig;
use crate::log::{ProvisioningAction, Status, StatusInfo};

/// The error code of a held-back action's log entry.
pub(super) const HELD: &str = "DeletionThresholdExceeded";

/// Why a plan's disables, deletes and license downgrades were held back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionHold {
    /// Disables, deletes and downgrades the cycle would have sent.
    pub count: usize,
    pub threshold: u32,
    /// `[deletion_threshold] max_percent`, when that is the limit crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// People provisioned before the cycle (what `percent` is of).
    #[serde(default)]
    pub provisioned: usize,
}

impl std::fmt::Display for DeletionHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.percent {
            Some(percent) => write!(
                f,
                "deletion threshold exceeded: {} disables, deletes and license downgrades in this \
                 cycle, more than {percent} % of the {} people provisioned; held back until an \
                 admin allows them",
                self.count, self.provisioned
            ),
            None => write!(
                f,
                "deletion threshold exceeded: {} disables, deletes and license downgrades in this \
                 cycle, more than the {} allowed; held back until an admin allows them",
                self.count, self.threshold
            ),
        }
    }
}

pub(super) fn held_back(action: &crate::plan::PlannedAction) -> bool {
    action.action.is_deprovisioning() || action.downgrade
}

/// Whether `plan` crosses the threshold, and why. `provisioned`: the records the plan started
/// from.
pub(super) fn assess(
    plan: &Plan,
    config: &DeletionThresholdConfig,
    provisioned: usize,
) -> Option<DeletionHold> {
    let count = plan.actions.iter().filter(|a| held_back(a)).count();
    if !config.enabled {
        return None;
    }
    let over_max = count > config.max as usize;
    let over_percent = config
        .max_percent
        .filter(|_| provisioned > 0)
        .filter(|p| count as f64 * 100.0 > p * provisioned as f64);
    if !over_max && over_percent.is_none() {
        return None;
    }
    Some(DeletionHold {
        count,
        threshold: config.max,
        percent: if over_max { None } else { over_percent },
        provisioned,
    })
}

/// Moves the plan's disables, deletes and downgrades to `staged`, and says so in their entries.
pub(super) fn hold_back(plan: &mut Plan, hold: DeletionHold) {
    let (staged, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.actions)
        .into_iter()
        .partition(held_back);
    let downgraded: std::collections::HashSet<&str> = staged
        .iter()
        .filter(|a| a.downgrade)
        .map(|a| a.source_id.as_str())
        .collect();
    for entry in &mut plan.log {
        let deprovision = matches!(
            entry.provisioning_action,
            ProvisioningAction::Disable | ProvisioningAction::Delete
        );
        if !deprovision && !downgraded.contains(entry.source_identity.id.as_str()) {
            continue;
        }
        if deprovision {
            entry.provisioning_action = ProvisioningAction::StagedDelete;
        }
        entry.provisioning_status_info = StatusInfo {
            status: Status::Skipped,
            error_code: Some(HELD.into()),
            reason: Some(hold.to_string()),
        };
        if let Some(export) = entry.provisioning_steps.last_mut() {
            export.status = Status::Skipped;
        }
    }
    plan.actions = kept;
    plan.staged = staged;
    plan.deletion_hold = Some(hold);
}
