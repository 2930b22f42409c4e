//! Where the state lives when it is not a SQLite file: `state_url` and `[postgres]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Errors, check_env_name};

/// The PostgreSQL backend's settings beside `state_url`: the password kept out of the URL,
/// the schema, and how replicas share the scheduled cycles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// An environment variable holding the password (a Kubernetes Secret as env).
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the password (a mounted Secret); its trailing newline is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The schema muster's tables live in, so several jobs can share one database.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Seconds the leader's lease on the scheduled cycles lasts without a renewal: after a
    /// leader dies, another replica takes over within this (renewed every third of it).
    #[serde(default = "default_leader_lease")]
    pub leader_lease_secs: u64,
    /// Seconds a replica's claim on a person's outbox row lasts: the longest a forward may
    /// take, and how long a replica that dies mid-forward holds that person's changes back.
    #[serde(default = "default_outbox_claim")]
    pub outbox_claim_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            password_env: None,
            password_file: None,
            schema: default_schema(),
            leader_lease_secs: default_leader_lease(),
            outbox_claim_secs: default_outbox_claim(),
        }
    }
}

fn default_schema() -> String {
    "public".into()
}

fn default_leader_lease() -> u64 {
    30
}

fn default_outbox_claim() -> u64 {
    60
}

impl PostgresConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        if let Some(env) = &self.password_env {
            check_env_name(env, &format!("{at}.password_env"), errors);
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            errors.push(at, "set password_env or password_file, not both");
        }
        if self.leader_lease_secs < 3 {
            errors.push(
                format!("{at}.leader_lease_secs"),
                "must be at least 3 seconds (the lease is renewed every third of it)",
            );
        }
        if self.outbox_claim_secs < 5 {
            errors.push(
                format!("{at}.outbox_claim_secs"),
                "must be at least 5 seconds (a forward must finish within it)",
            );
        }
        let schema_ok = !self.schema.is_empty()
            && self.schema.len() <= 63
            && self
                .schema
                .starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && self
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !schema_ok {
            errors.push(
                format!("{at}.schema"),
                "must be a plain lower-case identifier (a-z, 0-9, _; at most 63 characters)",
            );
        }
    }
}

/// Checks `state_url` names PostgreSQL; the rest of it is checked when connecting.
pub(crate) fn validate_state_url(url: &str, errors: &mut Errors) {
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !postgres {
        errors.push(
            "state_url",
            "must be a PostgreSQL URL (postgres://user@host:5432/database); for SQLite set \
             state_path instead",
        );
    }
}
