//! The schema: numbered SQL files under `migrations/sqlite/` and `migrations/postgres/`,
//! compiled in, applied in order. Both backends share the numbers: schema 8 is the same tables
//! in either, so `muster migrate-state` copies between equal versions.
//!
//! SQLite: `PRAGMA user_version` holds the number of the last migration applied; it lives in
//! the file header. PostgreSQL: the one row of `muster_schema`. Either changes in the same
//! transaction as the schema, so a crash mid-migration leaves the old version and the old
//! schema. A database newer than this binary is refused rather than guessed at: an older
//! muster could otherwise write rows a newer schema does not expect.

use crate::db::{Conn, params};
use crate::error::{Ctx, StoreError};

/// Marks the file as muster's (`PRAGMA application_id`, "must" in ASCII), so pointing muster at
/// some other SQLite file fails instead of adding tables to it.
const APPLICATION_ID: i64 = 0x6d75_7374;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Append only: a released migration is never edited, a change is a new file.
const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "gateway",
        sql: include_str!("../migrations/sqlite/0002_gateway.sql"),
    },
    Migration {
        version: 3,
        name: "outbox_dropped",
        sql: include_str!("../migrations/sqlite/0003_outbox_dropped.sql"),
    },
    Migration {
        version: 4,
        name: "gateway_lists",
        sql: include_str!("../migrations/sqlite/0004_gateway_lists.sql"),
    },
    Migration {
        version: 5,
        name: "replay_blobs",
        sql: include_str!("../migrations/sqlite/0005_replay_blobs.sql"),
    },
    Migration {
        version: 6,
        name: "settled_people",
        sql: include_str!("../migrations/sqlite/0006_settled_people.sql"),
    },
    Migration {
        version: 7,
        name: "plugin_answers",
        sql: include_str!("../migrations/sqlite/0007_plugin_answers.sql"),
    },
    Migration {
        version: 8,
        name: "plugin_activations",
        sql: include_str!("../migrations/sqlite/0008_plugin_activations.sql"),
    },
    Migration {
        version: 9,
        name: "replicas",
        sql: include_str!("../migrations/sqlite/0009_replicas.sql"),
    },
    Migration {
        version: 10,
        name: "plugin_components",
        sql: include_str!("../migrations/sqlite/0010_plugin_components.sql"),
    },
];

/// PostgreSQL's migrations. Its history starts at 8, the schema SQLite had reached when the
/// PostgreSQL backend came; from then on each change is a file in both lists.
const POSTGRES: &[Migration] = &[
    Migration {
        version: 8,
        name: "initial",
        sql: include_str!("../migrations/postgres/0008_initial.sql"),
    },
    Migration {
        version: 9,
        name: "replicas",
        sql: include_str!("../migrations/postgres/0009_replicas.sql"),
    },
    Migration {
        version: 10,
        name: "plugin_components",
        sql: include_str!("../migrations/postgres/0010_plugin_components.sql"),
    },
];

/// The schema version this binary writes.
pub(crate) fn latest() -> i64 {
    SQLITE.last().map_or(0, |m| m.version)
}

/// Brings the database up to [`latest`] in one transaction, which holds the write lock (SQLite's
/// IMMEDIATE, PostgreSQL's advisory lock), so two processes opening a fresh database at once
/// cannot both run the migrations.
pub(crate) fn run(conn: &Conn) -> Result<(), StoreError> {
    crate::transact(conn, "run the migrations", true, |tx| {
        let migrations = if let Some(schema) = tx.postgres_schema() {
            // The name was checked to be a plain identifier (`PgTarget::new`).
            tx.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .ctx("create the schema")?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS muster_schema (
                     version BIGINT NOT NULL, only_row BOOLEAN PRIMARY KEY DEFAULT TRUE
                         CHECK (only_row))",
            )
            .ctx("create the schema version table")?;
            POSTGRES
        } else {
            check_application_id(tx)?;
            SQLITE
        };
        let found = schema_version(tx)?;
        if found > latest() {
            return Err(StoreError::TooNew {
                found,
                supported: latest(),
            });
        }
        if found == latest() {
            return Ok(());
        }
        for m in migrations.iter().filter(|m| m.version > found) {
            tx.execute_batch(m.sql)
                .map_err(|source| StoreError::Migration {
                    version: m.version,
                    name: m.name,
                    source,
                })?;
        }
        set_schema_version(tx, latest())
    })
}

fn set_schema_version(conn: &Conn, version: i64) -> Result<(), StoreError> {
    if conn.is_postgres() {
        conn.execute(
            "INSERT INTO muster_schema (version) VALUES (?1)
             ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
            params![version],
        )
        .ctx("record the schema version")?;
        return Ok(());
    }
    // PRAGMA takes no parameters; both are integers.
    conn.execute_batch(&format!(
        "PRAGMA user_version = {version}; PRAGMA application_id = {APPLICATION_ID};"
    ))
    .ctx("record the schema version")
}

/// For read-only opens, which cannot migrate: the schema must be exactly this binary's.
pub(crate) fn check_current(conn: &Conn) -> Result<(), StoreError> {
    if !conn.is_postgres() {
        check_application_id(conn)?;
    }
    let found = schema_version(conn)?;
    match found.cmp(&latest()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::TooNew {
            found,
            supported: latest(),
        }),
        std::cmp::Ordering::Less => Err(StoreError::NotMigrated {
            found,
            expected: latest(),
        }),
    }
}

/// The schema version of the database; 0 when it has none yet.
pub(crate) fn schema_version(conn: &Conn) -> Result<i64, StoreError> {
    let sql = if conn.is_postgres() {
        "SELECT COALESCE((SELECT version FROM muster_schema), 0)"
    } else {
        "PRAGMA user_version"
    };
    conn.query_row(sql, params![], |r| r.get(0))
        .ctx("read the schema version")
}

/// Zero is a fresh file (SQLite's default); anything else but ours is someone else's file.
fn check_application_id(conn: &Conn) -> Result<(), StoreError> {
    let found: i64 = conn
        .query_row("PRAGMA application_id", params![], |r| r.get(0))
        .ctx("read the application id")?;
    if found == 0 || found == APPLICATION_ID {
        Ok(())
    } else {
        Err(StoreError::NotMuster { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use rusqlite::Connection;

    #[test]
    fn migrations_are_numbered_without_gaps_and_end_at_the_same_version() {
        for (i, m) in SQLITE.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        let first = POSTGRES.first().map_or(0, |m| m.version);
        for (i, m) in POSTGRES.iter().enumerate() {
            assert_eq!(m.version, first + i as i64, "{}", m.name);
        }
        assert_eq!(POSTGRES.last().map(|m| m.version), Some(latest()));
    }

    #[test]
    fn reopen_keeps_data_and_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        Store::open(&path)
            .expect("first open")
            .set_meta("k", "v")
            .expect("set");
        let store = Store::open(&path).expect("second open");
        assert_eq!(store.meta("k").expect("get").as_deref(), Some("v"));
        assert_eq!(schema_version(&store.conn()).expect("version"), latest());
        drop(store);
        Store::open(&path).expect("third open");
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        drop(Store::open(&path).expect("open"));
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", latest() + 1)
            .expect("bump");
        drop(conn);
        match Store::open(&path) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (latest() + 1, latest()));
            }
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn foreign_sqlite_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "application_id", 42).expect("set");
        drop(conn);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::NotMuster { found: 42 })
        ));
    }

    #[test]
    fn read_only_open_of_unmigrated_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.db");
        drop(Connection::open(&path).expect("raw open"));
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::NotMigrated { found: 0, .. })
        ));
    }
}
