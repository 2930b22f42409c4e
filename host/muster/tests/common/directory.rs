//! The directory the crash tests provision, the job that provisions it, a working folder per
//! run, and what a clean run of the same job makes of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::config::Config;
use engine::plan::{Action, to_flat};
use muster::job::Job;
use muster::sync::{CycleOptions, run_cycle};
use muster_test_support::Directory;
use muster_test_support::directory::population_id;
use scim::flat::Flat;
use serde_json::Value as Json;

/// The target's bearer token.
pub const TOKEN: &str = "crash-test-token";

const TITLES: [&str; 4] = ["Engineer", "Analyst", "Designer", "Account Manager"];

/// Version 2 changes every person with `i % 4 == 1`.
pub fn changed(i: usize) -> bool {
    i % 4 == 1
}

pub fn changed_people(people: usize) -> usize {
    (0..people).filter(|&i| changed(i)).count()
}

/// The snapshot: the shared test population (a third licensed, a fifth with Zoom Phone) with
/// four titles. Version 2 gives the changed people a new title and flips their licence
/// (`i % 8 == 1`) or their phone add-on (`i % 8 == 5`), so plans go up and down and add-ons are
/// granted and removed.
pub fn directory(people: usize, version: u32) -> Directory {
    let v2 = |i: usize| version >= 2 && changed(i);
    let licensed = |i: usize| i.is_multiple_of(3) != (v2(i) && i % 8 == 1);
    let phone = |i: usize| i.is_multiple_of(5) != (v2(i) && i % 8 == 5);
    let mut d = Directory::population(people, "crash.example", licensed, phone);
    for i in 0..people {
        let title = TITLES[i % TITLES.len()];
        let title = if v2(i) {
            format!("Senior {title}")
        } else {
            title.to_string()
        };
        d.get(&population_id(i)).set("jobTitle", title);
    }
    d
}

/// The job template shared with the sync benchmark (`tests/data/job.toml`), unthrottled,
/// cycles every `interval_secs` when served, with `extra` (TOML tables) appended.
pub fn job_config(base_url: &str, interval_secs: u64, extra: &str) -> String {
    let lookup = |name: &str| match name {
        "MUSTER_TARGET_URL" => Some(base_url.to_string()),
        "RATE" => Some("100000".to_string()),
        "CONCURRENCY" => Some("8".to_string()),
        "INTERVAL" => Some(interval_secs.to_string()),
        _ => None,
    };
    let text = muster::job::expand_env(include_str!("../data/job.toml"), lookup)
        .expect("the template's variables");
    format!("{text}\n{extra}")
}

/// A run's folder: its job configuration, snapshot and state.
pub struct Workdir {
    dir: tempfile::TempDir,
    pub config: PathBuf,
    pub people: usize,
}

impl Workdir {
    /// A folder for a job over `people` people, configured by `config` (a [`job_config`]).
    pub fn new(name: &str, people: usize, config: &str) -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("muster-crash-{name}-"))
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("muster.toml");
        std::fs::write(&path, config).expect("write the config");
        Workdir {
            dir,
            config: path,
            people,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The state file (`state_path` of the template).
    pub fn state(&self) -> PathBuf {
        self.path().join("muster.db")
    }

    pub fn write_directory(&self, version: u32) {
        directory(self.people, version).write(&self.path().join("directory.json"));
    }
}

/// A clean run, planned in this process with the same configuration and plugins.
pub struct CleanRun {
    work: Workdir,
    job: Job,
}

impl CleanRun {
    pub fn new(base_url: &str, people: usize) -> CleanRun {
        let work = Workdir::new("clean", people, &job_config(base_url, 60, ""));
        let text = std::fs::read_to_string(&work.config).expect("read the config");
        let config = Config::from_toml_str(&text).expect("a valid config");
        let job = Job::build_with_token(config, work.path(), TOKEN.into()).expect("build a job");
        CleanRun { work, job }
    }

    /// What a clean run into an empty target creates, person by person (keyed by userName):
    /// a dry run from an empty state, so every person is a create.
    pub fn expected_state(&self, version: u32) -> BTreeMap<String, Flat> {
        self.work.write_directory(version);
        let options = CycleOptions {
            dry_run: true,
            ..CycleOptions::default()
        };
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let report = runtime
            .block_on(run_cycle(&self.job, &options))
            .expect("a dry run")
            .expect("a report");
        assert_eq!(report.plan.summary.failed, 0, "the clean plan has failures");
        let expected: BTreeMap<String, Flat> = report
            .plan
            .actions
            .iter()
            .map(|planned| match &planned.action {
                Action::Create { attributes } => {
                    let flat = assigned(to_flat(attributes));
                    let name = flat["userName"]
                        .as_str()
                        .expect("a userName")
                        .to_lowercase();
                    (name, flat)
                }
                other => panic!("a clean run only creates, not {other:?}"),
            })
            .collect();
        assert_eq!(
            expected.len(),
            self.work.people,
            "the clean run creates everyone"
        );
        expected
    }
}

/// Leaves out unassigned values, as `scim::flat::flatten` does.
fn assigned(flat: Flat) -> Flat {
    flat.into_iter()
        .filter(|(_, v)| match v {
            Json::Null => false,
            Json::String(s) => !s.is_empty(),
            Json::Array(a) => !a.is_empty(),
            Json::Object(o) => !o.is_empty(),
            _ => true,
        })
        .collect()
}
