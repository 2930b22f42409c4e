//! `muster reconcile`: the report as a table or JSON, and its exit code.
//!
//! Exit codes: 0 in sync (or every difference fixed), 3 drift or missing users found and not
//! (all) fixed, 2 a fix failed at the target or the store; 1, as for every command, when
//! reconcile could not run (configuration, source, target unreachable).

use std::path::Path;
use std::process::ExitCode;

use engine::reconcile::Report;

use crate::commands::sync::build_job;
use crate::reconcile::{Fixed, ReconcileOptions, Reconciled, reconcile};

/// Drift or missing users found and left.
pub const EXIT_DRIFT: u8 = 3;
/// A fix failed.
pub const EXIT_FIX_FAILED: u8 = 2;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub async fn run(
    config: &Path,
    options: ReconcileOptions,
    format: Format,
) -> anyhow::Result<ExitCode> {
    // Building the job takes the state file's lock: no cycle runs meanwhile.
    let job = build_job(config)?;
    let done = reconcile(&job, options).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&done)?),
        Format::Table => print!("{}", table(&done)),
    }
    Ok(exit_code(&done))
}

pub fn exit_code(done: &Reconciled) -> ExitCode {
    if done.fix_failed() {
        ExitCode::from(EXIT_FIX_FAILED)
    } else if done.settled() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DRIFT)
    }
}

/// The report as text tables.
pub fn table(done: &Reconciled) -> String {
    let mut out = report_table(&done.report);
    if let Some(fix) = &done.fix {
        out.push_str(&fix_table(fix));
    }
    out
}

fn report_table(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} target users: {} in sync, {} drifted, {} missing, {} not managed by muster",
        report.target_users,
        report.in_sync,
        report.drifted.len(),
        report.missing.len(),
        report.orphans.len()
    );
    if !report.drifted.is_empty() {
        let _ = writeln!(out, "\ndrift:");
        let _ = writeln!(
            out,
            "  {:<14} {:<32} {:<40} {:<24} found",
            "person", "userName", "attribute", "wanted"
        );
        for d in &report.drifted {
            for a in &d.attributes {
                let found = a.found.as_ref().map_or("(none)".into(), |f| f.to_string());
                let _ = writeln!(
                    out,
                    "  {:<14} {:<32} {:<40} {:<24} {found}",
                    d.source_id,
                    d.matching_value,
                    a.attribute,
                    a.wanted.to_string()
                );
            }
        }
    }
    if !report.missing.is_empty() {
        let _ = writeln!(out, "\nmissing from the target:");
        let _ = writeln!(out, "  {:<14} {:<32} target id", "person", "userName");
        for m in &report.missing {
            let _ = writeln!(
                out,
                "  {:<14} {:<32} {}",
                m.source_id, m.matching_value, m.target_id
            );
        }
    }
    if !report.orphans.is_empty() {
        let _ = writeln!(out, "\nnot managed by muster (orphans):");
        let _ = writeln!(out, "  {:<24} {:<32} matches", "target id", "userName");
        for o in &report.orphans {
            let matches = match (&o.matches, &o.matched_person_has) {
                (Some(p), None) => format!("{p} (adoptable)"),
                (Some(p), Some(t)) => format!("{p}, already provisioned as {t}"),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<32} {matches}",
                o.target_id,
                o.user_name.as_deref().unwrap_or("-")
            );
        }
    }
    out
}

fn fix_table(fix: &Fixed) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match fix.cycle_id {
        Some(id) => {
            let _ = writeln!(out, "\nfixed in cycle {id} (muster logs --cycle {id}):");
        }
        None => {
            let _ = writeln!(out, "\nnothing to fix");
        }
    }
    for p in fix.people.iter().chain(&fix.left) {
        let _ = writeln!(
            out,
            "  {:<14} {:<10} {}",
            p.source_id,
            p.outcome,
            p.detail.as_deref().unwrap_or("")
        );
    }
    out
}
