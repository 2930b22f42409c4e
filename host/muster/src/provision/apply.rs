//! The only I/O step of the pipeline: sends what the plan decided, one action per person, with
//! the intent written before the request and the outcome committed after it.
//!
//! Crash safety: an intent left pending by a crash is simply superseded by the next cycle's
//! plan, which is computed from the records (what is known to have landed). A create that
//! landed without its record is found by the look-up before create and adopted; an update,
//! disable or delete that landed without its record is re-sent, and all three are idempotent.

use std::collections::BTreeSet;

use engine::log::ExportOutcome;
use engine::model::ProvisionedRecord;
use engine::plan::{Action, PlannedAction, to_flat};
use scim::patch::{PatchOp, PatchOperation};
use scim::resource::ResourceKind;
use scim_client::{ClientError, Deleted, ErrorCode, ScimClient};
use serde_json::Value as Json;
use store::Store;

/// What happened to one action.
#[derive(Debug)]
pub enum Applied {
    Done {
        target_id: String,
        adopted: bool,
    },
    Failed(Failure),
    /// Not sent: another run (on-demand, most often) wrote the person after this run planned,
    /// so this run's action was computed from a record that is no longer the latest.
    Superseded,
    /// Not sent: a disable or delete past the gateway's deprovision guard, kept for an admin.
    Held,
}

impl Applied {
    /// The outcome as the provisioning log records it.
    pub fn export(&self) -> ExportOutcome<'_> {
        match self {
            Applied::Done { target_id, adopted } => ExportOutcome::Done {
                target_id,
                adopted: *adopted,
            },
            Applied::Failed(failure) => ExportOutcome::Failed {
                code: failure.code.as_str(),
                message: &failure.message,
            },
            Applied::Superseded => ExportOutcome::Superseded,
            Applied::Held => ExportOutcome::Held,
        }
    }
}

/// Why an action failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

/// Who failed: the target (with Entra's code for its answer), or muster's own state store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    Target(ErrorCode),
    StateStore,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Target(code) => code.as_str(),
            FailureCode::StateStore => "InternalError",
        }
    }

    /// The target refused the change itself: sending it again cannot succeed.
    pub fn is_rejection(self) -> bool {
        matches!(self, FailureCode::Target(code) if code.is_rejection())
    }

    pub fn is_credential_failure(self) -> bool {
        matches!(self, FailureCode::Target(code) if code.is_credential_failure())
    }
}

/// Sends one planned action and records its outcome in the store.
pub async fn apply(
    store: &Store,
    client: &ScimClient,
    cycle: i64,
    target: &TargetPaths<'_>,
    planned: &PlannedAction,
) -> Applied {
    let matching_value = planned
        .record_after
        .as_ref()
        .map(|r| r.matching_value.clone())
        .unwrap_or_default();
    let payload = serde_json::to_value(&planned.action).unwrap_or_default();
    let intent = match store.begin_intent(
        cycle,
        &planned.source_id,
        kind_of(&planned.action),
        &matching_value,
        &payload,
    ) {
        Ok(id) => id,
        Err(e) => return failed(FailureCode::StateStore, format!("state store: {e}")),
    };
    let outcome = send(client, target, planned).await;
    let commit = match (&outcome, &planned.record_after) {
        (Ok(done), Some(after)) => {
            let record = ProvisionedRecord {
                target_id: done.0.clone(),
                ..after.clone()
            };
            match &planned.adopts {
                Some(orphan) if orphan != &planned.source_id => {
                    store.commit_adoption(intent, &record, orphan)
                }
                _ => store.commit_success(intent, &record),
            }
        }
        (Ok(_), None) => store.commit_removal(intent, &planned.source_id),
        (Err(e), _) if e.outcome_unknown() => Ok(()), // stays pending: reconciled next cycle
        (Err(e), _) => {
            // The target no longer has the user: forget the link so the next cycle creates it
            // again (Entra reports InvalidAnchor and does the same after a restart).
            if e.code() == ErrorCode::InvalidAnchor {
                let _ = store.remove_record(&planned.source_id);
            }
            store.fail_intent(intent, &e.to_string())
        }
    };
    match (outcome, commit) {
        (Ok((target_id, adopted)), Ok(())) => Applied::Done { target_id, adopted },
        (Ok(_), Err(e)) => failed(
            FailureCode::StateStore,
            format!("applied, but the state store failed: {e}"),
        ),
        (Err(e), _) => failed(FailureCode::Target(e.code()), e.to_string()),
    }
}

fn failed(code: FailureCode, message: String) -> Applied {
    Applied::Failed(Failure { code, message })
}

fn kind_of(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::Update { .. } => "update",
        Action::Disable { .. } => "disable",
        Action::Delete { .. } => "delete",
    }
}

/// What the apply step needs to know about the target's attributes for one person.
pub struct TargetPaths<'a> {
    /// The SCIM path to look the person up by before a create.
    pub matching: &'a str,
    /// Every path muster manages (mapping targets, the profile's license attributes): on an
    /// adopted user, these are made to match exactly; other attributes are left alone.
    pub managed: &'a BTreeSet<String>,
}

/// Returns the target id and whether an existing user was adopted.
async fn send(
    client: &ScimClient,
    target: &TargetPaths<'_>,
    planned: &PlannedAction,
) -> Result<(String, bool), ClientError> {
    match &planned.action {
        Action::Create { attributes } => {
            let matching_value = planned
                .record_after
                .as_ref()
                .map(|r| r.matching_value.as_str())
                .unwrap_or_default();
            let desired = to_flat(attributes);
            // Look up before create, as Entra does: adopts a user made by hand, by an earlier
            // tool, or by a create of ours whose answer a crash lost.
            if let Some(existing) = client
                .lookup_one(ResourceKind::User, target.matching, matching_value)
                .await?
            {
                let id = id_of(&existing)?;
                // Zoom's list answers leave the license extension out; its GET by id has it.
                let full = client.get_user(&id).await?;
                let ops = adoption_ops(&full, &desired, target.managed);
                if !ops.is_empty() {
                    client.patch_user(&id, &ops).await?;
                }
                return Ok((id, true));
            }
            let body = scim::flat::unflatten(&desired, ResourceKind::User)
                .map_err(|e| invalid_body(e.to_string()))?;
            let created = client.create_user(&body).await?;
            Ok((id_of(&created)?, false))
        }
        Action::Update {
            target_id,
            operations,
        }
        | Action::Disable {
            target_id,
            operations,
        } => {
            client.patch_user(target_id, operations).await?;
            Ok((target_id.clone(), false))
        }
        Action::Delete { target_id } => match client.delete_user(target_id).await? {
            Deleted::Removed | Deleted::AlreadyGone => Ok((target_id.clone(), false)),
        },
    }
}

/// What to change on an adopted user: remove the managed paths it holds that are not desired
/// (a license field left by an earlier owner, or by our own create whose answer a crash lost
/// before the person lost that add-on), then replace every desired path whose value differs.
/// What the user holds beyond muster's mappings and profile is not muster's to drop.
fn adoption_ops(
    existing: &Json,
    desired: &scim::flat::Flat,
    managed: &BTreeSet<String>,
) -> Vec<PatchOperation> {
    let current = scim::flat::flatten(existing);
    let removes = current
        .keys()
        .filter(|path| managed.contains(*path) && !desired.contains_key(*path))
        .map(|path| PatchOperation {
            op: PatchOp::Remove,
            path: Some(path.clone()),
            value: None,
        });
    let replaces = desired
        .iter()
        .filter(|(path, value)| current.get(*path) != Some(*value))
        .map(|(path, value)| PatchOperation {
            op: PatchOp::Replace,
            path: Some(path.clone()),
            value: Some(value.clone()),
        });
    removes.chain(replaces).collect()
}

fn id_of(resource: &Json) -> Result<String, ClientError> {
    match resource.get("id").and_then(Json::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(invalid_body("the target's answer has no `id`".into())),
    }
}

fn invalid_body(detail: String) -> ClientError {
    ClientError::Incompatible {
        method: scim_client::Method::Post,
        path: "/Users".into(),
        status: 0,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unreachable_or_failing_targets_are_not_rejections() {
        for code in [
            ErrorCode::ConnectionFailed,
            ErrorCode::Timeout,
            ErrorCode::TooManyRequests,
            ErrorCode::InternalServerError,
            ErrorCode::Unauthorized,
        ] {
            assert!(!FailureCode::Target(code).is_rejection(), "{code}");
        }
        assert!(!FailureCode::StateStore.is_rejection());
        assert_eq!(FailureCode::StateStore.as_str(), "InternalError");
        assert!(FailureCode::Target(ErrorCode::EntryConflict).is_rejection());
        assert!(FailureCode::Target(ErrorCode::Unauthorized).is_credential_failure());
        assert!(!FailureCode::StateStore.is_credential_failure());
    }

    #[test]
    fn adoption_fixes_managed_paths_and_leaves_the_rest() {
        let phone = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhoneCallingPlan";
        let existing = json!({
            "id": "1", "userName": "a@x.example", "title": "Boss", "displayName": "A",
            "urn:ietf:params:scim:schemas:extension:zoom:1.0:User": {"zoomPhoneCallingPlan": "3000"},
        });
        let desired: scim::flat::Flat = [
            ("userName".to_string(), json!("a@x.example")),
            ("displayName".to_string(), json!("Anna")),
        ]
        .into();
        let managed: BTreeSet<String> = ["userName", "displayName", phone]
            .into_iter()
            .map(String::from)
            .collect();
        let ops = adoption_ops(&existing, &desired, &managed);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(
            (ops[0].op, ops[0].path.as_deref()),
            (PatchOp::Remove, Some(phone))
        );
        assert_eq!(ops[1].path.as_deref(), Some("displayName"));
        assert_eq!(ops[1].value, Some(json!("Anna")));
    }
}
