//! Where people and groups come from. Each source yields a [`Directory`]: people with their
//! memberships and assignments resolved, ready for `engine::cycle::plan_cycle`.

pub mod file;
pub mod graph;

use engine::model::{Group, Person};

/// One read of the source directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    /// Problems that did not stop the read (an unknown member id, a duplicate), for the log.
    pub warnings: Vec<String>,
}
