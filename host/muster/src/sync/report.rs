//! What a cycle did, for people at a terminal: the plan of a dry run, the summary table at the
//! end of a cycle, licenses by plan and add-on.

use std::collections::BTreeMap;
use std::fmt::Write;

use engine::log::{ProvisioningAction, Status};
use engine::plan::Action;

use super::{CycleReport, Planned};

/// The plan of a dry run: the first `shown` actions with their operations, then the summary.
/// `total`: the plan's actions, held ones included (the report's plan may hold only the first
/// ones). `file`: where the whole plan was written, said when some actions are not shown.
pub fn dry_run(
    report: &CycleReport,
    shown: usize,
    total: usize,
    file: Option<&std::path::Path>,
) -> String {
    let mut out = String::new();
    let plan = &report.plan;
    let _ = writeln!(
        out,
        "Dry run ({:?} cycle): nothing was sent or recorded.",
        report.kind
    );
    // One pass over the log, not one per action: a large first cycle plans every person.
    let names: std::collections::HashMap<&str, &str> = plan
        .log
        .iter()
        .filter_map(|e| {
            let name = e.source_identity.display_name.as_deref()?;
            Some((e.source_identity.id.as_str(), name))
        })
        .collect();
    let identity = |source_id: &str| match names.get(source_id) {
        Some(name) => format!("{name} [{source_id}]"),
        None => source_id.to_string(),
    };
    for planned in plan.actions.iter().take(shown) {
        let who = identity(&planned.source_id);
        match &planned.action {
            Action::Create { attributes } => {
                let _ = writeln!(out, "  create  {who} ({} attributes)", attributes.len());
            }
            Action::Update { operations, .. } => {
                let _ = writeln!(out, "  update  {who}");
                for op in operations {
                    let value = op
                        .value
                        .as_ref()
                        .map(|v| format!(" = {v}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "            {:?} {}{value}",
                        op.op,
                        op.path.as_deref().unwrap_or("")
                    );
                }
            }
            Action::Disable { .. } => {
                let _ = writeln!(out, "  disable {who}");
            }
            Action::Delete { .. } => {
                let _ = writeln!(out, "  delete  {who}");
            }
        }
    }
    let room = shown.saturating_sub(plan.actions.len());
    for staged in plan.staged.iter().take(room) {
        let _ = writeln!(
            out,
            "  STAGED  {} (held back by the deletion threshold)",
            identity(&staged.source_id)
        );
    }
    if total > shown {
        let _ = writeln!(out, "  ... and {} more actions", total - shown);
    }
    if let Some(file) = file {
        let _ = writeln!(out, "The whole plan (actions, log): {}", file.display());
    }
    out.push_str(&summary(report));
    out
}

/// The end-of-cycle table.
pub fn summary(report: &CycleReport) -> String {
    let c = &report.counts;
    let s = &report.plan.summary;
    let mut out = String::new();
    let title = match report.cycle_id {
        Some(id) => format!(
            "Cycle {id} ({:?}) finished in {:.2?}: {:?}",
            report.kind, report.elapsed, report.status
        ),
        None => format!("Planned in {:.2?}", report.elapsed),
    };
    let _ = writeln!(out, "\n{title}");
    match &report.planned {
        Planned::Changed { planned, of } => {
            let _ = writeln!(
                out,
                "  planned {planned} of {of} people: the others are unchanged since their last \
                 settled plan (--full plans everyone)"
            );
        }
        Planned::Everyone { reason } => {
            let _ = writeln!(out, "  planned everyone: {reason}");
        }
    }
    let rows: [(&str, u64, usize); 8] = [
        ("created", c.created, s.creates),
        ("updated", c.updated, s.updates),
        ("disabled", c.disabled, s.disables),
        ("deleted", c.deleted, s.deletes),
        ("staged (held back)", c.staged, s.staged),
        ("unchanged", c.unchanged, s.unchanged),
        ("skipped", c.skipped, s.skipped),
        ("failed", c.failed, s.failed),
    ];
    let _ = writeln!(out, "  {:<20} {:>8} {:>8}", "", "planned", "done");
    for (name, done, planned) in rows {
        let done = if report.cycle_id.is_some() {
            done.to_string()
        } else {
            "-".into()
        };
        let _ = writeln!(out, "  {name:<20} {planned:>8} {done:>8}");
    }
    if report.cycle_id.is_some() {
        let _ = writeln!(out, "  requests to the target: {}", c.writes);
        let calls = c.memo_hits + c.memo_misses;
        if calls > 0 {
            let _ = writeln!(
                out,
                "  plugin calls: {calls}, {} of them answered from the memo without running the plugin",
                c.memo_hits
            );
        }
    }
    if !s.seats.is_empty() {
        let _ = writeln!(out, "\n  Seats (used / bought, as planned):");
        for (name, seat) in &s.seats {
            let full = if seat.used >= seat.budget {
                "  (full)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    {name:<24} {:>6} / {}{full}",
                seat.used, seat.budget
            );
        }
    }
    if let Some(hold) = &report.plan.deletion_hold {
        let _ = writeln!(
            out,
            "\n  !! DELETION THRESHOLD EXCEEDED: {hold:?}\n  !! The disables and deletes were held back. Check the source, then run \
             `muster sync --once --allow-deletes` to release them."
        );
    }
    if let Some(q) = &report.quarantine {
        let _ = writeln!(
            out,
            "\n  !! The job is QUARANTINED: {} (next attempt at {})",
            q.reason,
            store::rfc3339(q.next_attempt)
        );
    }
    for w in &report.source_warnings {
        let _ = writeln!(out, "  source warning: {w}");
    }
    let reasons = &report.reasons;
    if !reasons.is_empty() {
        let _ = writeln!(out, "\n  Skipped and failed, by reason:");
        for ((status, reason), n) in reasons {
            let _ = writeln!(out, "    {n:>4} {status:<8} {reason}");
        }
    }
    out
}

/// Skips and failures grouped by their reason, so a hundred people skipped for the same cause
/// read as one line: (status, code and reason) → people.
pub type Reasons = BTreeMap<(String, String), usize>;

/// Adds `log`'s skips and failures to `reasons`: a cycle planned in batches tallies each
/// batch before dropping it.
pub fn tally_reasons(reasons: &mut Reasons, log: &[engine::log::LogEntry]) {
    for entry in log {
        let info = &entry.provisioning_status_info;
        let unchanged = info.reason.as_deref() == Some(engine::cycle::NO_CHANGES);
        let status = match info.status {
            Status::Skipped
                if entry.provisioning_action == ProvisioningAction::Other && !unchanged =>
            {
                "skipped"
            }
            Status::Failure => "failed",
            _ => continue,
        };
        let mut reason = info.error_code.clone().unwrap_or_default();
        if let Some(r) = &info.reason {
            let short: String = r.chars().take(100).collect();
            reason = format!("{reason}: {short}");
        }
        *reasons.entry((status.to_string(), reason)).or_insert(0) += 1;
    }
}

/// Active people by license plan and by add-on, from what was provisioned: counted by the
/// store, so that a large directory's records are not read into memory to be counted.
pub fn licenses(store: &store::Store) -> Result<String, store::StoreError> {
    let tally = store.license_tally()?;
    let disabled = store.disabled_count()?;
    let (plans, add_ons) = (tally.plans, tally.add_ons);
    let mut out = String::from("\nLicenses in the target (active users):\n");
    for (plan, n) in plans {
        let _ = writeln!(out, "  plan {plan:<18} {n:>5}");
    }
    for (a, n) in add_ons {
        let _ = writeln!(out, "  add-on {a:<16} {n:>5}");
    }
    let _ = writeln!(out, "  disabled users       {disabled:>5}");
    Ok(out)
}
