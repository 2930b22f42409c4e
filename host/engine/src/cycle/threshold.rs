//! Accidental-deletion prevention (Microsoft Learn, "Enable accidental deletions prevention"): over
//! the threshold, a cycle's disables and deletes are all held back as `StagedDelete`, not just the
//! ones past the limit, because a mass deprovisioning is usually a mistake upstream (a broken
//! filter, an emptied group) and half-applying it is the worst outcome. Entra also quarantines the
//! job; the runtime does that from [`Plan::deletion_hold`](super::Plan::deletion_hold).

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::config::DeletionThresholdConfig;
use crate::log::{ProvisioningAction, Status, StatusInfo};

/// Why a plan's disables and deletes were held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionHold {
    /// Disables plus deletes the cycle would have sent.
    pub count: usize,
    pub threshold: u32,
}

impl std::fmt::Display for DeletionHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "deletion threshold exceeded: {} disables and deletes in this cycle, more than the {} allowed; held back \
             until an admin allows them",
            self.count, self.threshold
        )
    }
}

pub(super) fn apply(plan: &mut Plan, config: &DeletionThresholdConfig) {
    let count = plan
        .actions
        .iter()
        .filter(|a| a.action.is_deprovisioning())
        .count();
    if !config.enabled || count <= config.max as usize {
        return;
    }
    let hold = DeletionHold {
        count,
        threshold: config.max,
    };
    let (staged, kept) = std::mem::take(&mut plan.actions)
        .into_iter()
        .partition(|a| a.action.is_deprovisioning());
    plan.actions = kept;
    plan.staged = staged;
    for entry in &mut plan.log {
        if matches!(
            entry.provisioning_action,
            ProvisioningAction::Disable | ProvisioningAction::Delete
        ) {
            entry.provisioning_action = ProvisioningAction::StagedDelete;
            entry.provisioning_status_info = StatusInfo {
                status: Status::Skipped,
                error_code: Some("DeletionThresholdExceeded".into()),
                reason: Some(hold.to_string()),
            };
            if let Some(export) = entry.provisioning_steps.last_mut() {
                export.status = Status::Skipped;
            }
        }
    }
    plan.deletion_hold = Some(hold);
}
