//! One test's world: a temp folder holding the configuration's relative paths (the snapshot
//! `directory.json` and the store `muster.db`), a simulator, and the job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::config::{Config, PluginLimits};
use engine::cycle::NO_CHANGES;
use engine::model::ProvisionedRecord;
use muster::job::{Job, expand_env};
use muster::sync::{CycleOptions, CycleReport, run_cycle};
use scim_client::{BearerToken, ClientConfig, ScimClient};
use store::{LogQuery, LogRecord};

use crate::{Directory, Sim};

/// A Zoom job over the file source: the demo's mappings, the example plugins, Entra's
/// deprovisioning defaults (disable when disabled or out of scope, delete when gone), no rate
/// limit to speak of. `${MUSTER_TARGET_URL}` is the simulator. `license` replaces the
/// `[license]` table when given; `extra` is appended (more tables).
pub fn zoom_config(license: Option<&str>, extra: &str) -> String {
    format!("{BASE}\n{}\n{extra}\n", license.unwrap_or(LICENSE_BY_GROUP))
}

const BASE: &str = r#"
state_path = "muster.db"

[source]
kind = "file"
path = "directory.json"

[target]
base_url = "${MUSTER_TARGET_URL}"
token_env = "MUSTER_TARGET_TOKEN"
rate_limit_per_second = 1000
concurrency = 4
profile = "zoom"

[scope]
mode = "assigned"

[[mappings]]
source = "userPrincipalName"
target = "userName"
matching_precedence = 1

[[mappings]]
source = "mail"
target = 'emails[type eq "work"].value'

[[mappings]]
source = "givenName"
target = "name.givenName"

[[mappings]]
source = "surname"
target = "name.familyName"

[[mappings]]
source = "displayName"
target = "displayName"

[[mappings]]
source = "jobTitle"
target = "title"

[[transforms]]
name = "normalize-attributes"
path = "builtin:normalize-attributes"
"#;

const LICENSE_BY_GROUP: &str = r#"
[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [
    { group = "Zoom-Licensed", plan = "licensed" },
    { group = "Zoom-Phone", add_on = "phone" },
] }
"#;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub sim: Sim,
    pub job: Job,
}

impl Harness {
    /// A simulator and a job built from `config_toml`, whose `${MUSTER_TARGET_URL}` is the
    /// simulator and whose other `${NAME}`s come from `vars`.
    pub async fn start(config_toml: &str, vars: &[(&str, &str)]) -> Harness {
        let sim = Sim::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: Vec<(&str, &str)> = vars.to_vec();
        vars.push(("MUSTER_TARGET_URL", &sim.url));
        let config = config_from(config_toml, &vars);
        let job = Job::build_with_token(config, dir.path(), sim.token.clone())
            .unwrap_or_else(|e| panic!("building the job: {e:#}"));
        Harness { dir, sim, job }
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.path().join("directory.json")
    }

    /// Writes `directory` as the job's snapshot: what the next cycle reads.
    pub fn write(&self, directory: &Directory) {
        directory.write(&self.snapshot_path());
    }

    pub async fn cycle(&self) -> CycleReport {
        self.cycle_with(&CycleOptions::default()).await
    }

    pub async fn cycle_with(&self, options: &CycleOptions) -> CycleReport {
        run_cycle(&self.job, options)
            .await
            .unwrap_or_else(|e| panic!("the cycle failed: {e:#}"))
            .expect("a cycle not skipped by quarantine ran")
    }

    /// Rebuilds the job's client with fast retries (10–100 ms backoff, 20 attempts), so a test
    /// can throw many 429s and 5xx at it quickly. `Retry-After` is still obeyed.
    pub fn fast_retries(&mut self) {
        let target = &self.job.config.target;
        let mut config = ClientConfig::new(
            target.base_url.clone(),
            BearerToken::new(self.sim.token.clone()),
        );
        config.rate_limit_per_sec = Some(target.default_rate());
        config.concurrency = target.concurrency as usize;
        config.min_backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(100);
        config.max_attempts = 20;
        self.job.client = ScimClient::new(config).expect("client config");
    }

    /// Requests the job's client has sent so far (every method, retries included).
    pub fn client_requests(&self) -> u64 {
        self.job.client.stats().snapshot().total()
    }

    pub fn records(&self) -> BTreeMap<String, ProvisionedRecord> {
        self.job.store.records().expect("reading records")
    }

    pub fn record(&self, source_id: &str) -> ProvisionedRecord {
        self.job
            .store
            .record(source_id)
            .expect("reading a record")
            .unwrap_or_else(|| panic!("no record for {source_id}"))
    }

    /// A cycle's log entries by person id.
    pub fn logs(&self, report: &CycleReport) -> BTreeMap<String, LogRecord> {
        let query = LogQuery {
            cycle: Some(report.cycle_id.expect("not a dry run")),
            limit: 10_000,
            ..LogQuery::default()
        };
        let entries = self.job.store.logs(&query).expect("reading logs");
        entries
            .into_iter()
            .map(|e| (e.person_id.clone(), e))
            .collect()
    }

    /// The reasons of a cycle's failed entries, by person id: for assertion messages.
    pub fn failures(&self, report: &CycleReport) -> BTreeMap<String, String> {
        self.logs(report)
            .into_values()
            .filter(|e| e.status == "failure")
            .map(|e| (e.person_id, e.detail["provisioningStatusInfo"].to_string()))
            .collect()
    }

    /// A cycle's stored log as `person id → "action/status"`, leaving out unchanged people
    /// (skipped with reason "no changes").
    pub fn actions(&self, report: &CycleReport) -> BTreeMap<String, String> {
        self.logs(report)
            .into_values()
            .filter(|e| e.detail["provisioningStatusInfo"]["reason"] != NO_CHANGES)
            .map(|e| (e.person_id, format!("{}/{}", e.action, e.status)))
            .collect()
    }
}

/// Expands `${NAME}` from `vars` only (never the process environment) and validates.
///
/// Plugins without limits get a 2 s deadline instead of the host's 50 ms: these tests are about
/// sync, and six jobs compiling and calling components at once on a loaded 2-core machine can
/// overrun 50 ms and fail a person by deadline (the plugin-host tests cover deadlines).
pub fn config_from(text: &str, vars: &[(&str, &str)]) -> Config {
    let text = expand_env(text, |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap_or_else(|e| panic!("expanding the configuration: {e}"));
    let mut config =
        Config::from_toml_str(&text).unwrap_or_else(|e| panic!("invalid configuration: {e}"));
    for plugin in config
        .transforms
        .iter_mut()
        .chain(config.license.iter_mut())
    {
        plugin.limits.get_or_insert_with(|| PluginLimits {
            timeout_ms: Some(2000),
            ..PluginLimits::default()
        });
    }
    config
}

/// `"a" → "b"` pairs as the map [`Harness::actions`] returns.
pub fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The folder of the workspace (for `examples/`).
pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
