//! Where people and groups come from. Each source yields a [`Directory`]: people with their
//! memberships and assignments resolved, ready for `engine::cycle::plan_cycle`.

pub mod file;
pub mod graph;

use anyhow::{Context, bail};
use engine::config::SourceConfig;
use engine::model::{Group, Person};

use crate::job::Job;

/// One read of the source directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    /// Problems that did not stop the read (an unknown member id, a duplicate), for the log.
    pub warnings: Vec<String>,
}

/// One read of the job's source.
#[derive(Debug)]
pub struct Read {
    pub directory: Directory,
    /// For Graph: the mirror changes to commit once the cycle has applied them.
    pub graph_changes: Option<store::MirrorChanges>,
    /// The read was a full one (first cycle, a refused delta token, or asked for).
    pub full: bool,
}

/// Reads the job's source; `full_read` ignores saved delta links.
pub async fn read(job: &Job, full_read: bool) -> anyhow::Result<Read> {
    match &job.config.source {
        SourceConfig::File { path } => {
            let directory = file::read(&job.source_path(path), job.config.scope.nested_groups)?;
            Ok(Read {
                directory,
                graph_changes: None,
                full: false,
            })
        }
        SourceConfig::Gateway => bail!(
            "people come from the SCIM gateway (`[source] kind = \"gateway\"`); \
             run `muster serve`, which forwards what Entra sends as it arrives"
        ),
        SourceConfig::Graph(_) => {
            let Some(graph) = &job.graph else {
                bail!("the job was built without its Graph source")
            };
            let mut read = graph
                .read(&job.store, full_read)
                .await
                .context("reading Microsoft Graph")?;
            let full = read.full_reason.is_some();
            if let Some(reason) = read.full_reason.take() {
                read.directory.warnings.insert(0, reason);
            }
            Ok(Read {
                directory: read.directory,
                graph_changes: Some(read.changes),
                full,
            })
        }
    }
}
