//! `muster migrate-state`: moves a deployment's state from its SQLite file into PostgreSQL (or
//! from one database into another), logs, records, pending intents and outbox rows included.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use store::{PgTarget, Store};

/// Where to copy from and to.
pub struct Options {
    /// The SQLite file, or a PostgreSQL URL.
    pub from: String,
    /// A PostgreSQL URL, or a SQLite file.
    pub to: String,
    /// The PostgreSQL schema (of whichever side is PostgreSQL).
    pub schema: String,
    /// An environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
}

fn open(place: &str, options: &Options) -> anyhow::Result<Store> {
    if place.starts_with("postgres://") || place.starts_with("postgresql://") {
        let password = options
            .password_env
            .as_ref()
            .map(|env| {
                std::env::var(env).with_context(|| format!("--password-env: {env} is not set"))
            })
            .transpose()?;
        let target = PgTarget::new(place, password.as_deref(), Some(&options.schema))?;
        Store::open_postgres(&target).with_context(|| format!("opening {}", store::redact(place)))
    } else {
        let path = PathBuf::from(place);
        if !path.exists() {
            anyhow::bail!("{} does not exist", path.display());
        }
        // Owning the file also makes sure no muster still writes to it.
        Store::open(&path).with_context(|| format!("opening {}", path.display()))
    }
}

pub fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let from = open(&options.from, options)?;
    let to = open(&options.to, options)?;
    let copied = from.copy_into(&to).with_context(|| {
        format!(
            "copying {} into {}",
            store::redact(&options.from),
            store::redact(&options.to)
        )
    })?;
    for (table, rows) in &copied.tables {
        if *rows > 0 {
            println!("{table:<20} {rows:>10}");
        }
    }
    println!(
        "copied {} rows into {}; point the job's state_url there and start it",
        copied.rows(),
        store::redact(&options.to)
    );
    Ok(ExitCode::SUCCESS)
}
