//! The schema: numbered SQL files under `migrations/`, compiled in, applied in order.
//!
//! `PRAGMA user_version` holds the number of the last migration applied; it lives in the file
//! header and changes in the same transaction as the schema, so a crash mid-migration leaves
//! the old version and the old schema. A file newer than this binary is refused rather than
//! guessed at: an older muster could otherwise write rows a newer schema does not expect.

use rusqlite::{Connection, TransactionBehavior};

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
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "gateway",
        sql: include_str!("../migrations/0002_gateway.sql"),
    },
    Migration {
        version: 3,
        name: "outbox_dropped",
        sql: include_str!("../migrations/0003_outbox_dropped.sql"),
    },
    Migration {
        version: 4,
        name: "gateway_lists",
        sql: include_str!("../migrations/0004_gateway_lists.sql"),
    },
    Migration {
        version: 5,
        name: "replay_blobs",
        sql: include_str!("../migrations/0005_replay_blobs.sql"),
    },
    Migration {
        version: 6,
        name: "settled_people",
        sql: include_str!("../migrations/0006_settled_people.sql"),
    },
    Migration {
        version: 7,
        name: "plugin_answers",
        sql: include_str!("../migrations/0007_plugin_answers.sql"),
    },
    Migration {
        version: 8,
        name: "plugin_activations",
        sql: include_str!("../migrations/0008_plugin_activations.sql"),
    },
];

/// The schema version this binary writes.
fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database up to [`latest`] in one transaction. IMMEDIATE, so two processes opening
/// a fresh file at once cannot both run the migrations.
pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("begin the migrations")?;
    check_application_id(&tx)?;
    let found = user_version(&tx)?;
    if found > latest() {
        return Err(StoreError::TooNew {
            found,
            supported: latest(),
        });
    }
    if found == latest() {
        return Ok(());
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.execute_batch(m.sql)
            .map_err(|source| StoreError::Migration {
                version: m.version,
                name: m.name,
                source,
            })?;
    }
    tx.pragma_update(None, "user_version", latest())
        .ctx("record the schema version")?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .ctx("mark the file as muster's")?;
    tx.commit().ctx("commit the migrations")
}

/// For read-only opens, which cannot migrate: the schema must be exactly this binary's.
pub(crate) fn check_current(conn: &Connection) -> Result<(), StoreError> {
    check_application_id(conn)?;
    let found = user_version(conn)?;
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

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx("read the schema version")
}

/// Zero is a fresh file (SQLite's default); anything else but ours is someone else's file.
fn check_application_id(conn: &Connection) -> Result<(), StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
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

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
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
        assert_eq!(user_version(&store.conn()).expect("version"), latest());
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
