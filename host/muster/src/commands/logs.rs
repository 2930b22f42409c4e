//! `muster logs`: the provisioning log, as a table, JSON or CSV.

use std::path::Path;
use std::process::ExitCode;

use store::LogQuery;

use crate::job::read_config;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub struct Filters {
    pub cycle: Option<i64>,
    pub person: Option<String>,
    pub status: Option<String>,
    pub limit: usize,
}

/// Log entries as CSV, one row each: what `muster logs --format csv` prints and
/// `GET /admin/logs?format=csv` answers.
pub fn write_csv(entries: &[store::LogRecord], to: impl std::io::Write) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(to);
    out.write_record([
        "cycle",
        "at",
        "person_id",
        "identity",
        "action",
        "status",
        "error_code",
        "reason",
    ])?;
    for e in entries {
        let info = &e.detail["provisioningStatusInfo"];
        out.write_record([
            e.cycle.to_string(),
            store::rfc3339(e.at),
            e.person_id.clone(),
            e.identity.clone(),
            e.action.clone(),
            e.status.clone(),
            info["errorCode"].as_str().unwrap_or_default().to_string(),
            info["reason"].as_str().unwrap_or_default().to_string(),
        ])?;
    }
    out.flush()?;
    Ok(())
}

pub fn show(config: &Path, filters: Filters, format: Format) -> anyhow::Result<ExitCode> {
    let cfg = read_config(config)?;
    let dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let store = crate::state::open_read_only(&cfg, dir)?;
    let query = LogQuery {
        cycle: filters.cycle,
        person: filters.person,
        status: filters.status,
        limit: filters.limit,
        ..LogQuery::default()
    };
    let entries = store.logs(&query)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Csv => write_csv(&entries, std::io::stdout())?,
        Format::Table => {
            println!(
                "{:>5}  {:<10} {:<36} {:<13} {:<8} reason",
                "cycle", "entry", "identity", "action", "status"
            );
            for e in &entries {
                let info = &e.detail["provisioningStatusInfo"];
                let reason = [info["errorCode"].as_str(), info["reason"].as_str()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                // The change id is what `muster replay --log-entry` takes.
                let entry = e.detail["changeId"].as_str().unwrap_or_default();
                println!(
                    "{:>5}  {entry:<10} {:<36} {:<13} {:<8} {reason}",
                    e.cycle, e.identity, e.action, e.status
                );
                for step in e.detail["provisioningSteps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    println!(
                        "         - {} [{}] {}",
                        step["name"].as_str().unwrap_or_default(),
                        step["status"].as_str().unwrap_or_default(),
                        step["description"].as_str().unwrap_or_default()
                    );
                }
                for p in e.detail["modifiedProperties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    println!(
                        "         ~ {}: {} -> {}",
                        p["displayName"].as_str().unwrap_or_default(),
                        p["oldValue"],
                        p["newValue"]
                    );
                }
            }
            println!("{} entries", entries.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
