//! Opening the job's state store: the SQLite file of `state_path`, or the PostgreSQL database
//! of `state_url` with `[postgres]`'s password and schema.

use std::path::Path;

use anyhow::Context;
use engine::config::{Config, PostgresConfig};
use store::{PgTarget, Store};

use crate::job::resolve;

/// Where the job's state lives, described for logs and errors (no password).
pub fn describe(config: &Config, config_dir: &Path) -> String {
    match &config.state_url {
        Some(url) => store::redact(url),
        None => resolve(config_dir, &config.state_path)
            .display()
            .to_string(),
    }
}

/// Opens the job's state for writing: the file (owned by this process) or the database
/// (shared with the other replicas).
pub fn open(config: &Config, config_dir: &Path) -> anyhow::Result<Store> {
    match &config.state_url {
        Some(url) => {
            let target = postgres_target(url, &config.postgres, config_dir)?;
            Store::open_postgres(&target)
                .with_context(|| format!("opening the state database {}", store::redact(url)))
        }
        None => {
            let path = resolve(config_dir, &config.state_path);
            Store::open(&path)
                .with_context(|| format!("opening the state store {}", path.display()))
        }
    }
}

/// Opens the job's state to read it beside a running server (`muster logs`, `replay`).
pub fn open_read_only(config: &Config, config_dir: &Path) -> anyhow::Result<Store> {
    match &config.state_url {
        Some(_) => open(config, config_dir),
        None => {
            let path = resolve(config_dir, &config.state_path);
            Store::open_read_only(&path).with_context(|| format!("opening {}", path.display()))
        }
    }
}

/// The connection settings of `state_url`, with the password from `[postgres]`.
pub fn postgres_target(
    url: &str,
    postgres: &PostgresConfig,
    config_dir: &Path,
) -> anyhow::Result<PgTarget> {
    let password = match (&postgres.password_env, &postgres.password_file) {
        (Some(env), _) => Some(std::env::var(env).with_context(|| {
            format!("[postgres] password_env: environment variable {env} is not set")
        })?),
        (None, Some(file)) => {
            let path = resolve(config_dir, file);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("[postgres] password_file: cannot read {}", path.display())
            })?;
            Some(text.trim_end_matches(['\r', '\n']).to_owned())
        }
        (None, None) => None,
    };
    Ok(PgTarget::new(
        url,
        password.as_deref(),
        Some(&postgres.schema),
    )?)
}
