//! The one error type of the store, with the operation that failed.

use std::path::PathBuf;

use crate::db::DbError;

/// What went wrong with the state database. Every database error says which operation it broke,
/// since "database is locked" alone does not tell an operator whether logs or records are at
/// stake.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {path} for the state database")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state database {path} is in use by another muster process{}; only one process \
         may own a state file (stop it, or give this job its own `state_path`)",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse { path: PathBuf, holder: Option<u32> },
    #[error("cannot lock the state database with {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database: cannot {op}")]
    Database {
        op: &'static str,
        #[source]
        source: DbError,
    },
    #[error("state database: migration {version:04} ({name}) failed")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: DbError,
    },
    #[error("the state URL {url:?} is not a PostgreSQL connection string: {problem}")]
    BadUrl { url: String, problem: String },
    #[error(
        "the state database has schema version {found}, newer than this muster knows \
         ({supported}); run a newer muster, or point this one at another database"
    )]
    TooNew { found: i64, supported: i64 },
    #[error(
        "the state database has schema version {found}, but this muster needs {expected}; \
         open it once read-write (muster serve or sync) to migrate it"
    )]
    NotMigrated { found: i64, expected: i64 },
    #[error("the file is not a muster state database (its application id is {found:#010x})")]
    NotMuster { found: i64 },
    #[error("the state database could not switch to WAL (journal mode stays {mode:?})")]
    NoWal { mode: String },
    /// A stored value no longer decodes: a hand edit, or a downgrade past a format change.
    #[error("corrupt state: {what}")]
    Corrupt { what: String },
    #[error("cannot encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The intent is unknown or already settled: settling twice would hide an engine bug.
    #[error("intent {id} is not pending")]
    IntentNotPending { id: i64 },
    #[error(
        "the destination already holds state (table {table} has rows); copy only into an \
         empty database or schema"
    )]
    NotEmpty { table: String },
    #[error("invalid request to the state store: {what}")]
    Invalid { what: &'static str },
    #[error("cycle {id} does not exist or is not running")]
    CycleNotRunning { id: i64 },
    /// Two source people would share one target resource, so look-ups by target id would lie.
    #[error("target id {target_id:?} already belongs to source id {owner:?}")]
    TargetIdInUse { target_id: String, owner: String },
}

/// Attaches the operation to a database error.
pub(crate) trait Ctx<T> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, DbError> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { op, source })
    }
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database {
            op,
            source: source.into(),
        })
    }
}

/// Serialises a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode { what, source })
}

/// Decodes a JSON column; `what` names the column and the row for the error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: format!("{}: {e}", what()),
    })
}
