//! muster's state, in one SQLite file or a PostgreSQL database: what was provisioned, what was
//! about to be, and what happened.
//!
//! How this crate is laid out:
//! - [`Store`] (here): opening the file or connecting, the connection settings, and the lock
//!   that makes one connection safe to share between threads.
//! - `db`: the one SQL interface both backends answer (statements, rows, values); `postgres`:
//!   the PostgreSQL connection behind it.
//! - `migrate`: the schema, as numbered SQL files under `migrations/` (one folder per backend),
//!   applied on open.
//! - `records`: source person ↔ target resource, with what was last applied.
//! - `intents`: the write-ahead of every target request, and its atomic completion.
//! - `cycles`: one row per sync run; runs a crash left `running` become `interrupted`.
//! - `logs`: the provisioning log, its queries and its retention, and the replay blobs (what
//!   each plugin step was shown and configured with) kept as long as an entry refers to them.
//! - `gateway`: gateway mode's source view (users and groups Entra pushed) and its outbox.
//! - `settled`: delta planning's input hash of each person whose last plan was settled.
//! - `answers`: the memo of plugin answers, one per plugin and person.
//! - `activations`: who made each plugin version active, and the components replicas follow.
//! - `watermarks`, `meta`: small key/value tables; `pause`: the job's on/off switch, kept in
//!   `meta`.
//! - `graph_mirror`: the Graph source's copy of the directory and its delta links.
//! - `leases`: which replica leads the scheduled cycles, until when.
//! - `copy`: a whole state copied into an empty store (`muster migrate-state`).
//! - `quarantine`, `staged`: the job's quarantine and the deletes held back by the threshold.
//! - `time`: unix seconds and their RFC 3339 form.
//! - `crash` (tests only): a real `kill -9` of a writing child process, then the checks a restart
//!   relies on.
//!
//! The API is synchronous: SQLite is a local file and each call is short, and a PostgreSQL
//! statement is one round trip on a connection driven by its own thread (`postgres`).
//!
//! # Backends
//! SQLite is the default and needs nothing. PostgreSQL lets several replicas share one state:
//! every write transaction first takes one transaction-scoped advisory lock, so writes are
//! serialised across replicas exactly as SQLite serialises them in one process, and each
//! transaction reads what the previous one committed. Reads do not take it.
//!
//! # Crash safety
//! A target request is recorded as a pending intent ([`Store::begin_intent`]) before it is sent,
//! and completed in the same transaction as the record it produced
//! ([`Store::commit_success`], [`Store::commit_removal`]). After a `kill -9`, an intent still
//! pending is a request whose outcome is unknown: the engine looks the person up in the target
//! by the intent's matching value and settles it. A create that is lost with its intent is
//! covered by the look-up before every create.

mod activations;
mod answers;
mod copy;
#[cfg(test)]
mod crash;
mod cycles;
mod db;
mod error;
mod gateway;
mod graph_mirror;
mod intents;
mod leases;
mod logs;
mod meta;
mod migrate;
mod pause;
mod postgres;
mod quarantine;
mod records;
mod requests;
mod retention;
mod sessions;
mod settled;
mod staged;
#[cfg(test)]
mod testing;
mod time;
mod watermarks;

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use db::Conn;
pub use db::DbError;

pub use activations::Activation;
pub use answers::KeptAnswer;
pub use copy::Copied;
pub use cycles::{CycleCounts, CycleKind, CycleRecord, CycleStatus, LicenseTally};
pub use error::StoreError;
pub use gateway::{
    DroppedChange, GatewayKind, GatewayResource, GatewayUpsert, GatewayWrite, OutboxEntry,
};
pub use graph_mirror::{GraphMirror, MemberKind, MirrorChanges, MirrorGroup, MirrorUser};
pub use intents::Intent;
pub use leases::{Lease, LeaseClaim};
pub use logs::{LogQuery, LogRecord, LogRow};
pub use pause::Paused;
pub use postgres::{PgTarget, redact};
pub use quarantine::QuarantineState;
pub use requests::CycleRequest;
pub use retention::Pruned;
pub use settled::{Settled, Settlement};
pub use staged::{StagedAction, StagedDelete, StagedRecord};
#[cfg(feature = "simulated-clock")]
pub use time::simulate_now;
pub use time::{now_unix, parse_time, rfc3339};

use error::Ctx;

/// How long a statement waits for another connection's lock (a `muster logs` reader, a WAL
/// checkpoint) before failing with `SQLITE_BUSY`. Inside one process the mutex already
/// serialises; this only covers other processes, whose transactions are short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening waits for the state file's lock before it says another process owns it.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// Takes the exclusive lock on `<path>.lock`, or says which process holds it.
fn own(path: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Seek, Write};
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let failed = |source| StoreError::Lock {
        path: lock_path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(failed)?;
    // A lock held for a moment is not an owner: a process forking a child (to exec it) shares
    // the lock's open file with the child until the exec closes it. An owner holds it for good.
    let patience = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < patience => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
    }
    file.set_len(0).map_err(failed)?;
    file.rewind().map_err(failed)?;
    write!(file, "{}", std::process::id()).map_err(failed)?;
    Ok(file)
}

/// muster's state database. Cheap to share: wrap it in an `Arc`.
///
/// One connection behind a mutex: every write is a short transaction and SQLite allows one
/// writer at a time anyway, so a pool would add contention without throughput. On PostgreSQL
/// the writers of all replicas are serialised too (see the crate's docs), so one connection per
/// replica serves as well.
pub struct Store {
    conn: Mutex<Conn>,
    /// The open lock file of a store opened read-write from a path: the OS releases the lock
    /// when the process ends, however it ends.
    _owner: Option<std::fs::File>,
    /// Whether [`Store::write_durable`] syncs its commits (on, but for benchmarks that measure
    /// what the sync costs).
    durable: std::sync::atomic::AtomicBool,
}

/// The advisory lock every PostgreSQL write transaction takes ("must" in ASCII, then "wr").
const WRITE_LOCK: i64 = 0x6d75_7374_7772;

impl Store {
    /// Opens (creating the file and its directory if needed) and migrates the database, then
    /// marks the cycles a crash left `running` as `interrupted`.
    ///
    /// One process at a time owns a file: a second one would mark the first one's running cycle
    /// interrupted and plan from the same records. The owner holds an exclusive lock on
    /// `<path>.lock` (which records its pid, for the error the next one gets) until it exits.
    /// Tools that only look use [`Store::open_read_only`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let owner = own(path)?;
        let conn = Connection::open(path).ctx("open the database file")?;
        let mut store = Self::init(conn, true)?;
        store._owner = Some(owner);
        Ok(store)
    }

    /// A private database in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().ctx("open an in-memory database")?;
        Self::init(conn, false)
    }

    /// Opens an existing database for reading only (`muster logs` beside a running server):
    /// no migration, no crash recovery. The schema must be exactly the one this binary knows.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ctx("open the database file")?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .ctx("set the busy timeout")?;
        let conn = Conn::Sqlite(conn);
        migrate::check_current(&conn)?;
        Ok(Self::with(conn))
    }

    /// Connects to PostgreSQL and migrates muster's schema there (creating the schema if
    /// needed). Unlike [`Store::open`], this leaves running cycles alone: other replicas may
    /// share the database, and the one that holds the leadership runs (and recovers) cycles
    /// ([`Store::interrupt_running_cycles`]).
    pub fn open_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        let conn = postgres::PgConn::open(target).ctx("connect to PostgreSQL")?;
        let conn = Conn::Postgres(Box::new(RefCell::new(conn)));
        migrate::run(&conn)?;
        Ok(Self::with(conn))
    }

    /// Which backend this store writes to, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        if self.conn().is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        }
    }

    fn init(conn: Connection, wal: bool) -> Result<Store, StoreError> {
        configure(&conn, wal)?;
        let conn = Conn::Sqlite(conn);
        migrate::run(&conn)?;
        cycles::interrupt_running(&conn)?;
        Ok(Self::with(conn))
    }

    fn with(conn: Conn) -> Store {
        Store {
            conn: Mutex::new(conn),
            _owner: None,
            durable: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The connection, even if a thread panicked while holding it: an unfinished transaction
    /// is rolled back when its guard is dropped ([`transact`]), so the connection is never left
    /// half-written.
    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one write transaction, committed only if `f` succeeds. Not waited onto
    /// disk (SQLite's `synchronous=NORMAL`, PostgreSQL's `synchronous_commit = off` for the
    /// transaction): a crash of the database server may lose the last few commits, never
    /// corrupt them, and what they recorded a later cycle reconciles. What muster acknowledges
    /// to a client goes through [`Store::write_durable`].
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        transact(&self.conn(), op, false, f)
    }

    /// Turns the sync of acknowledged writes off (or back on): only for a benchmark that
    /// measures what it costs, alternating both in one run.
    pub fn set_durable_commits(&self, on: bool) {
        self.durable.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// [`Store::write`], committed with `synchronous=FULL` on SQLite: the WAL is on disk
    /// (fsync) before this returns, so what is acknowledged to a client survives a power cut,
    /// not only a crash of the process. For what muster answers for (a gateway change Entra is
    /// told was accepted); everything else keeps `NORMAL`, which a later cycle reconciles.
    /// On PostgreSQL, the commit waits for the WAL flush (`synchronous_commit` as the server
    /// has it, on by default).
    fn write_durable<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        let durable = self.durable.load(std::sync::atomic::Ordering::Relaxed);
        if conn.is_postgres() || !durable {
            return transact(&conn, op, durable, f);
        }
        conn.execute_batch("PRAGMA synchronous = FULL").ctx(op)?;
        let result = transact(&conn, op, true, f);
        // Back to NORMAL whatever happened; failing that, later writes are merely slower.
        let _ = conn.execute_batch("PRAGMA synchronous = NORMAL");
        result
    }
}

/// Rolls back the transaction it guards unless it was committed, including when the closure
/// in it panicked.
struct Rollback<'c> {
    conn: &'c Conn,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Runs `f` in one transaction on `conn`, committed only if `f` succeeds. SQLite: IMMEDIATE
/// takes the write lock up front, so a transaction never fails half-way because another
/// connection started writing after it read. PostgreSQL: the advisory lock [`WRITE_LOCK`] does
/// the same across replicas. `durable`: a PostgreSQL commit waits for the WAL flush (the other
/// commits do not; SQLite's setting is made by the caller).
fn transact<T>(
    conn: &Conn,
    op: &'static str,
    durable: bool,
    f: impl FnOnce(&Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if conn.is_postgres() {
        let relaxed = if durable {
            ""
        } else {
            "SET LOCAL synchronous_commit = off; "
        };
        let begun = conn.execute_batch(&format!(
            "BEGIN; {relaxed}SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ));
        if let Err(e) = begun {
            // Part of the batch may have run: the transaction is left aborted, not open.
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e).ctx(op);
        }
    } else {
        conn.execute_batch("BEGIN IMMEDIATE").ctx(op)?;
    }
    let mut guard = Rollback { conn, armed: true };
    let out = f(conn)?;
    guard.armed = false;
    if let Err(e) = conn.execute_batch("COMMIT") {
        guard.armed = true;
        return Err(e).ctx(op);
    }
    Ok(out)
}

/// Connection settings, applied on every open (none of them persist in the file except WAL).
fn configure(conn: &Connection, wal: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("set the busy timeout")?;
    if wal {
        // WAL: readers (admin API, `muster logs`) never block the cycle's writes, and a commit
        // is one append to the log instead of a rewrite of the pages.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .ctx("switch to WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal { mode });
        }
    }
    // NORMAL (with WAL): a commit survives a crash of the process (`kill -9`) at once, and a
    // power cut only the last few commits lose, with no corruption. Losing those is safe by
    // design: a record that did not reach the disk makes the next cycle re-send an idempotent
    // update, or find a created user by the look-up before create and adopt it. FULL would add
    // an fsync to each of the two commits per request, which measured as the bottleneck of an
    // unthrottled initial sync.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx("set synchronous")?;
    conn.pragma_update(None, "foreign_keys", true)
        .ctx("enable foreign keys")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
    }

    #[test]
    fn a_durable_write_commits_with_full_sync_and_the_others_do_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("state.db")).expect("open");
        let mode = |tx: &Conn| -> Result<i64, StoreError> {
            tx.query_row("PRAGMA synchronous", db::params![], |r| r.get(0))
                .ctx("read synchronous")
        };
        assert_eq!(
            store.write_durable("durable", mode).expect("durable"),
            2,
            "FULL"
        );
        assert_eq!(store.write("plain", mode).expect("plain"), 1, "NORMAL");
        let failed: Result<(), StoreError> = store.write_durable("failing", |_| {
            Err(StoreError::Invalid {
                what: "a failing write",
            })
        });
        assert!(failed.is_err());
        assert_eq!(
            store.write("plain", mode).expect("plain"),
            1,
            "NORMAL again"
        );
    }

    #[test]
    fn on_postgres_only_durable_writes_wait_for_the_flush() {
        if !crate::testing::on_postgres() {
            // SQLite: a_durable_write_commits_with_full_sync_and_the_others_do_not.
            return;
        }
        let store = crate::testing::store();
        let mode = |tx: &Conn| -> Result<String, StoreError> {
            tx.query_row("SHOW synchronous_commit", db::params![], |r| r.get(0))
                .ctx("read synchronous_commit")
        };
        assert_eq!(store.write_durable("durable", mode).expect("durable"), "on");
        assert_eq!(store.write("plain", mode).expect("plain"), "off");
    }

    /// A connection lost in the middle of a write leaves nothing of it: the rest is not run
    /// on a new connection outside the transaction, and the next write reconnects.
    #[test]
    fn a_connection_lost_mid_write_applies_nothing_and_the_next_write_reconnects() {
        let Some((a, b)) = crate::testing::replicas() else {
            return;
        };
        let lost = a.write("a write that loses its connection", |tx| {
            meta::set_meta_in(tx, "first", "1")?;
            let pid: i64 = tx
                .query_row(
                    "SELECT CAST(pg_backend_pid() AS BIGINT)",
                    db::params![],
                    |r| r.get(0),
                )
                .ctx("read the backend pid")?;
            // A read on b's connection (a write would wait for a's write lock).
            b.conn()
                .query_row(
                    "SELECT pg_terminate_backend(CAST(?1 AS INTEGER))",
                    db::params![pid],
                    |r| r.get::<i64>(0),
                )
                .ctx("terminate")?;
            // Wait until the server has really closed it.
            std::thread::sleep(Duration::from_millis(200));
            meta::set_meta_in(tx, "second", "2")
        });
        assert!(lost.is_err(), "the write must fail: {lost:?}");
        assert_eq!(b.meta("first").expect("read"), None, "half a write landed");
        assert_eq!(
            b.meta("second").expect("read"),
            None,
            "a statement ran outside it"
        );
        a.set_meta("after", "3").expect("the next write reconnects");
        assert_eq!(b.meta("after").expect("read").as_deref(), Some("3"));
    }

    #[test]
    fn one_owner_at_a_time_and_the_error_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let owner = Store::open(&path).expect("the first owner");
        let Err(error) = Store::open(&path) else {
            panic!("a second owner opened the same file")
        };
        match &error {
            StoreError::InUse { path: p, holder } => {
                assert_eq!(p, &path);
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("not InUse: {other}"),
        }
        let text = error.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // Readers may look beside the owner.
        Store::open_read_only(&path).expect("a reader beside the owner");
        drop(owner);
        Store::open(&path).expect("the next owner, once the first is gone");
    }

    #[test]
    fn open_creates_parent_dir_and_uses_wal_and_normal_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/deeper/state.db");
        let store = Store::open(&path).expect("open");
        assert!(path.exists());
        let conn = store.conn();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", db::params![], |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", db::params![], |r| r.get(0))
            .expect("synchronous");
        assert_eq!(sync, 1, "NORMAL");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", db::params![], |r| r.get(0))
            .expect("foreign_keys");
        assert_eq!(fk, 1);
    }

    #[test]
    fn read_only_store_reads_but_cannot_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let store = Store::open(&path).expect("open");
        store.set_meta("config_hash", "abc").expect("set");
        // Closed writer: SQLite has removed the -wal and -shm files the reader needs.
        drop(store);
        let reader = Store::open_read_only(&path).expect("open read-only");
        assert_eq!(
            reader.meta("config_hash").expect("get").as_deref(),
            Some("abc")
        );
        assert!(reader.set_meta("config_hash", "def").is_err());
    }

    #[test]
    fn read_only_store_leaves_running_cycles_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let store = Store::open(&path).expect("open");
        let id = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("start");
        let reader = Store::open_read_only(&path).expect("open read-only");
        let seen = reader.last_cycle().expect("read").expect("a cycle");
        assert_eq!((seen.id, seen.status), (id, CycleStatus::Running));
    }

    #[test]
    fn read_only_open_of_missing_file_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(Store::open_read_only(&dir.path().join("none.db")).is_err());
    }

    /// Two replicas on one PostgreSQL database: what one commits the other reads, writes from
    /// both at once all land (serialised by the write lock), and one of them leads.
    #[test]
    fn replicas_share_state_and_their_writes_are_serialised() {
        let Some((a, b)) = crate::testing::replicas() else {
            // SQLite: one owner per file (one_owner_at_a_time_and_the_error_names_it).
            return;
        };
        let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
        let cycle = a
            .start_cycle(CycleKind::Initial, &Default::default())
            .expect("start");
        let handles: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .enumerate()
            .map(|(t, store)| {
                std::thread::spawn(move || {
                    for i in 0..30 {
                        let source_id = format!("p{t}-{i}");
                        let rec = records::tests::record(&source_id, &format!("t{t}-{i}"));
                        let intent = store
                            .begin_intent(cycle, &source_id, "create", "m", &serde_json::json!({}))
                            .expect("intent");
                        store.commit_success(intent, &rec).expect("commit");
                        // Read-modify-write under the lock: no increment is lost.
                        store
                            .write("count", |tx| {
                                let n: i64 = tx
                                    .query_row(
                                        "SELECT CAST(COALESCE((SELECT value FROM meta
                                           WHERE key = 'n'), '0') AS BIGINT)",
                                        db::params![],
                                        |r| r.get(0),
                                    )
                                    .ctx("read")?;
                                meta::set_meta_in(tx, "n", &(n + 1).to_string())
                            })
                            .expect("increment");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(a.records().expect("a reads").len(), 60);
        assert_eq!(b.records().expect("b reads").len(), 60);
        assert_eq!(b.meta("n").expect("n").as_deref(), Some("60"));
        assert!(matches!(
            a.claim_lease("leader", "a", 60_000).expect("a"),
            LeaseClaim::Held { .. }
        ));
        assert!(matches!(
            b.claim_lease("leader", "b", 60_000).expect("b"),
            LeaseClaim::Other(lease) if lease.holder == "a"
        ));
    }

    #[test]
    fn concurrent_use_from_several_threads() {
        let store = std::sync::Arc::new(crate::testing::store());
        let cycle = store
            .start_cycle(CycleKind::Initial, &Default::default())
            .expect("start");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let source_id = format!("p{t}-{i}");
                        let rec = records::tests::record(&source_id, &format!("t{t}-{i}"));
                        let intent = store
                            .begin_intent(cycle, &source_id, "create", "m", &serde_json::json!({}))
                            .expect("intent");
                        store.commit_success(intent, &rec).expect("commit");
                        store
                            .set_watermark(&format!("w{t}"), &i.to_string())
                            .expect("wm");
                        store.records().expect("read");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(store.records().expect("records").len(), 100);
        assert!(store.pending_intents().expect("pending").is_empty());
        assert_eq!(store.watermark("w3").expect("wm").as_deref(), Some("24"));
    }
}
