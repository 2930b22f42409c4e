//! The provisioning log: one entry per object per cycle, as Entra's provisioning logs have.
//!
//! The engine builds each entry (steps, modified properties, target response) and hands it
//! over as opaque JSON in `detail`; the store only lifts out the columns people filter on.
//!
//! Beside the entries: the replay blobs (`engine::replay`) their plugin steps refer to, by
//! content hash, each stored once; `log_blobs` says which entry refers to which, so that the
//! prunes delete a blob with the last entry referring to it.

use crate::db::{Conn, OptionalExtension, Row, params, params_from_iter};
use engine::replay::Blob;
use serde::Serialize;

use crate::error::{Ctx, StoreError, from_json};
use crate::{Store, now_unix};

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub person_id: String,
    /// What a person recognises: the userName, or a display name when there is none.
    pub identity: String,
    /// `create`, `update`, `disable`, `delete`, `stageddelete`, `other`
    pub action: String,
    /// `success`, `failure`, `skipped`, `warning`, ...
    pub status: String,
    /// The whole entry as the engine produced it, as JSON text: serialized once, straight from
    /// the entry (a `serde_json::Value` of a cycle's entries would take several times the
    /// memory of the entries themselves).
    pub detail: String,
    /// The hashes of the replay blobs (inputs, configurations) its plugin steps refer to.
    pub blobs: Vec<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    pub id: i64,
    pub cycle: i64,
    /// Unix seconds when the entry was appended.
    pub at: i64,
    pub person_id: String,
    pub identity: String,
    pub action: String,
    pub status: String,
    pub detail: serde_json::Value,
}

/// Which entries to read; unset filters match everything. Entries come newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    pub cycle: Option<i64>,
    /// Matches the source person id exactly, or the identity ignoring case (SCIM userNames are
    /// not case-exact).
    pub person: Option<String>,
    /// Matched ignoring case.
    pub status: Option<String>,
    /// `create`, `update`, `disable`, `delete`, `stageddelete`, `other`: matched ignoring case.
    pub action: Option<String>,
    /// Only entries appended at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only entries appended before this time (Unix seconds).
    pub until: Option<i64>,
    /// Only entries older than this id: pass the last id of a page to get the next one.
    pub before: Option<i64>,
    pub limit: usize,
}

impl Store {
    /// Appends a cycle's entries in one transaction: a batch is all there or not at all, and
    /// one fsync covers it.
    pub fn append_logs(&self, cycle: i64, entries: &[LogRow]) -> Result<(), StoreError> {
        self.append_logs_with_blobs(cycle, entries, &[])
    }

    /// [`Store::append_logs`], with the replay blobs the entries refer to, in the same
    /// transaction: a blob already stored is not written again, and every entry records which
    /// blobs it refers to, so that a prune keeps them exactly as long as an entry does.
    pub fn append_logs_with_blobs(
        &self,
        cycle: i64,
        entries: &[LogRow],
        blobs: &[Blob],
    ) -> Result<(), StoreError> {
        let at = now_unix();
        self.write("append log entries", |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO logs (cycle_id, at, person_id, identity, action, status, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                )
                .ctx("append log entries")?;
            let mut blob = tx
                .prepare_cached(
                    "INSERT INTO replay_blobs (hash, data) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )
                .ctx("store replay blobs")?;
            for b in blobs {
                blob.execute(params![&*b.hash, &*b.data])
                    .ctx("store replay blobs")?;
            }
            let mut reference = tx
                .prepare_cached(
                    "INSERT INTO log_blobs (log_id, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )
                .ctx("refer to replay blobs")?;
            for e in entries {
                let id: i64 = stmt
                    .query_row(
                        params![
                            cycle,
                            at,
                            e.person_id,
                            e.identity,
                            e.action,
                            e.status,
                            e.detail
                        ],
                        |r| r.get(0),
                    )
                    .ctx("append log entries")?;
                for hash in &e.blobs {
                    reference
                        .execute(params![id, hash])
                        .ctx("refer to replay blobs")?;
                }
            }
            Ok(())
        })
    }

    /// The entry with this change id (`{cycle}-{n}`, the entry's `changeId`) or, given a
    /// number, this row id (`id` in `muster logs --format json`).
    pub fn log_entry(&self, change: &str) -> Result<Option<LogRecord>, StoreError> {
        const COLUMNS: &str = "id, cycle_id, at, person_id, identity, action, status, detail";
        let conn = self.conn();
        let row = if let Ok(id) = change.parse::<i64>() {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM logs WHERE id = ?1"),
                [id],
                |row| Ok(decode(row)),
            )
        } else {
            let Some(cycle) = change
                .rsplit_once('-')
                .and_then(|(cycle, _)| cycle.parse::<i64>().ok())
            else {
                return Ok(None);
            };
            // Through the cycle's index: only that cycle's entries are looked into.
            conn.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM logs
                     WHERE cycle_id = ?1 AND {} = ?2
                     ORDER BY id DESC LIMIT 1",
                    conn.dialect(
                        "json_extract(detail, '$.changeId')",
                        "CAST(detail AS JSONB) ->> 'changeId'"
                    )
                ),
                params![cycle, change],
                |row| Ok(decode(row)),
            )
        };
        row.optional().ctx("read a log entry")?.transpose()
    }

    /// The replay blob with this hash, unless no log entry refers to it any more (pruned).
    pub fn replay_blob(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT data FROM replay_blobs WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .optional()
            .ctx("read a replay blob")
    }

    /// Entries matching `query`, newest first, at most `query.limit`.
    pub fn logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<crate::db::OwnedValue> = Vec::new();
        if let Some(cycle) = query.cycle {
            args.push(cycle.into());
            clauses.push(format!("cycle_id = ?{}", args.len()));
        }
        if let Some(person) = &query.person {
            args.push(person.clone().into());
            let n = args.len();
            clauses.push(format!("(person_id = ?{n} OR identity = ?{n})"));
        }
        if let Some(status) = &query.status {
            args.push(status.clone().into());
            clauses.push(format!("status = ?{}", args.len()));
        }
        if let Some(action) = &query.action {
            args.push(action.to_ascii_lowercase().into());
            clauses.push(format!("action = ?{}", args.len()));
        }
        if let Some(since) = query.since {
            args.push(since.into());
            clauses.push(format!("at >= ?{}", args.len()));
        }
        if let Some(until) = query.until {
            args.push(until.into());
            clauses.push(format!("at < ?{}", args.len()));
        }
        if let Some(before) = query.before {
            args.push(before.into());
            clauses.push(format!("id < ?{}", args.len()));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        args.push(i64::try_from(query.limit).unwrap_or(i64::MAX).into());
        let sql = format!(
            "SELECT id, cycle_id, at, person_id, identity, action, status, detail
             FROM logs {filter} ORDER BY id DESC LIMIT ?{}",
            args.len()
        );

        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).ctx("read log entries")?;
        let mut rows = stmt.query(params_from_iter(args)).ctx("read log entries")?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().ctx("read log entries")? {
            out.push(decode(&row)?);
        }
        Ok(out)
    }

    /// Keeps the entries of the newest `keep_cycles` cycles and deletes older ones, with the
    /// settled intents of those cycles. Pending intents stay whatever their age: they are the
    /// only trace of a request whose outcome is unknown. Returns the log entries deleted.
    pub fn prune_logs(&self, keep_cycles: usize) -> Result<usize, StoreError> {
        self.write("prune log entries", |tx| {
            let offset = i64::try_from(keep_cycles).unwrap_or(i64::MAX);
            // The oldest cycle kept; everything below it goes. None: fewer cycles than kept.
            let oldest_kept: Option<i64> = if keep_cycles == 0 {
                Some(i64::MAX)
            } else {
                let mut stmt = tx
                    .prepare("SELECT id FROM cycles ORDER BY id DESC LIMIT 1 OFFSET ?1")
                    .ctx("prune log entries")?;
                let mut rows = stmt.query([offset - 1]).ctx("prune log entries")?;
                match rows.next().ctx("prune log entries")? {
                    Some(row) => Some(row.get(0).ctx("prune log entries")?),
                    None => None,
                }
            };
            let Some(oldest_kept) = oldest_kept else {
                return Ok(0);
            };
            let n = tx
                .execute("DELETE FROM logs WHERE cycle_id < ?1", [oldest_kept])
                .ctx("prune log entries")?;
            sweep_blobs(tx)?;
            tx.execute(
                "DELETE FROM intents WHERE cycle_id < ?1 AND state <> 'pending'",
                [oldest_kept],
            )
            .ctx("prune settled intents")?;
            Ok(n)
        })
    }
}

/// Deletes the replay blobs no log entry refers to any more (deleting an entry deletes its
/// references): run in the transaction that deleted entries.
pub(crate) fn sweep_blobs(tx: &Conn) -> Result<u64, StoreError> {
    let n = tx
        .execute(
            "DELETE FROM replay_blobs
             WHERE NOT EXISTS (SELECT 1 FROM log_blobs r WHERE r.hash = replay_blobs.hash)",
            params![],
        )
        .ctx("prune replay blobs")?;
    Ok(n as u64)
}

fn decode(row: &Row<'_>) -> Result<LogRecord, StoreError> {
    let id: i64 = row.get(0).ctx("read log entries")?;
    let detail: String = row.get(7).ctx("read log entries")?;
    Ok(LogRecord {
        id,
        cycle: row.get(1).ctx("read log entries")?,
        at: row.get(2).ctx("read log entries")?,
        person_id: row.get(3).ctx("read log entries")?,
        identity: row.get(4).ctx("read log entries")?,
        action: row.get(5).ctx("read log entries")?,
        status: row.get(6).ctx("read log entries")?,
        detail: from_json(&detail, || format!("logs.detail of entry {id}"))?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::CycleKind;

    fn row(person: &str, identity: &str, action: &str, status: &str) -> LogRow {
        LogRow {
            person_id: person.into(),
            identity: identity.into(),
            action: action.into(),
            status: status.into(),
            detail: json!({
                "provisioningSteps": [{"name": "import", "status": "success"}],
                "modifiedProperties": [{"name": "active", "old": true, "new": false}],
            })
            .to_string(),
            blobs: Vec::new(),
        }
    }

    /// Two cycles: c1 has a and b, c2 has a (failed) and c.
    fn fixture() -> (Store, i64, i64) {
        let store = crate::testing::store();
        let c1 = store
            .start_cycle(CycleKind::Initial, &Default::default())
            .expect("c1");
        store
            .append_logs(
                c1,
                &[
                    row("a", "Ann@Example.com", "create", "success"),
                    row("b", "bob@example.com", "create", "success"),
                ],
            )
            .expect("c1 logs");
        let c2 = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("c2");
        store
            .append_logs(
                c2,
                &[
                    row("a", "ann@example.com", "update", "failure"),
                    row("c", "Carol", "other", "skipped"),
                ],
            )
            .expect("c2 logs");
        (store, c1, c2)
    }

    fn query(f: impl FnOnce(&mut LogQuery)) -> LogQuery {
        let mut q = LogQuery {
            limit: 100,
            ..LogQuery::default()
        };
        f(&mut q);
        q
    }

    fn people(store: &Store, q: &LogQuery) -> Vec<String> {
        store
            .logs(q)
            .expect("logs")
            .into_iter()
            .map(|r| format!("{}:{}", r.person_id, r.action))
            .collect()
    }

    #[test]
    fn entries_round_trip_newest_first() {
        let (store, _, c2) = fixture();
        let all = store.logs(&query(|_| {})).expect("logs");
        assert_eq!(all.len(), 4);
        let newest = &all[0];
        assert_eq!(newest.cycle, c2);
        assert_eq!(newest.person_id, "c");
        let expected: serde_json::Value =
            serde_json::from_str(&row("c", "Carol", "other", "skipped").detail).expect("json");
        assert_eq!(newest.detail, expected);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    }

    #[test]
    fn filters_combine() {
        let (store, c1, c2) = fixture();
        let cases: Vec<(LogQuery, Vec<&str>)> = vec![
            (query(|q| q.cycle = Some(c1)), vec!["b:create", "a:create"]),
            (query(|q| q.cycle = Some(c2)), vec!["c:other", "a:update"]),
            (
                query(|q| q.person = Some("a".into())),
                vec!["a:update", "a:create"],
            ),
            // Identity ignores case; person ids do not.
            (
                query(|q| q.person = Some("ANN@example.COM".into())),
                vec!["a:update", "a:create"],
            ),
            (query(|q| q.person = Some("A".into())), vec![]),
            (
                query(|q| q.status = Some("Failure".into())),
                vec!["a:update"],
            ),
            (
                query(|q| {
                    q.cycle = Some(c1);
                    q.person = Some("a".into());
                }),
                vec!["a:create"],
            ),
            (
                query(|q| {
                    q.cycle = Some(c1);
                    q.status = Some("failure".into());
                }),
                vec![],
            ),
            (
                query(|q| q.action = Some("CREATE".into())),
                vec!["b:create", "a:create"],
            ),
            (
                query(|q| {
                    q.action = Some("update".into());
                    q.since = Some(0);
                }),
                vec!["a:update"],
            ),
            // Every entry was appended now: none before the epoch, none in the future.
            (query(|q| q.until = Some(0)), vec![]),
            (query(|q| q.since = Some(i64::MAX)), vec![]),
            (query(|q| q.limit = 1), vec!["c:other"]),
            (query(|q| q.limit = 0), vec![]),
        ];
        for (q, want) in cases {
            assert_eq!(people(&store, &q), want, "{q:?}");
        }
    }

    #[test]
    fn paging_with_before() {
        let (store, _, _) = fixture();
        let first = store.logs(&query(|q| q.limit = 3)).expect("page 1");
        let last_id = first.last().map(|r| r.id);
        let next = people(
            &store,
            &query(|q| {
                q.limit = 3;
                q.before = last_id;
            }),
        );
        assert_eq!(next, ["a:create"]);
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let store = crate::testing::store();
        // Cycle 9 does not exist: the foreign key fails the batch, and nothing is left behind.
        assert!(
            store
                .append_logs(9, &[row("a", "a", "create", "success")])
                .is_err()
        );
        assert!(store.logs(&query(|_| {})).expect("logs").is_empty());
        store.append_logs(9, &[]).expect("an empty batch is fine");
    }

    #[test]
    fn prune_keeps_the_newest_cycles_and_pending_intents() {
        let (store, c1, c2) = fixture();
        let settled = store
            .begin_intent(c1, "a", "create", "a@x", &json!({}))
            .expect("intent");
        store.complete_intent(settled).expect("settle");
        let pending = store
            .begin_intent(c1, "b", "create", "b@x", &json!({}))
            .expect("intent");

        assert_eq!(
            store.prune_logs(5).expect("prune"),
            0,
            "fewer cycles than kept"
        );
        assert_eq!(store.prune_logs(2).expect("prune"), 0);
        assert_eq!(store.prune_logs(1).expect("prune"), 2);
        let left = store.logs(&query(|_| {})).expect("logs");
        assert!(left.iter().all(|r| r.cycle == c2));
        let intents: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM intents", params![], |r| r.get(0))
            .expect("count");
        assert_eq!(intents, 1);
        assert_eq!(store.pending_intents().expect("pending")[0].id, pending);

        assert_eq!(store.prune_logs(0).expect("prune all"), 2);
        assert!(store.logs(&query(|_| {})).expect("logs").is_empty());
        assert_eq!(store.cycles(10).expect("cycles").len(), 2, "cycles stay");
    }

    fn blob_count(store: &Store) -> i64 {
        store
            .conn()
            .query_row("SELECT count(*) FROM replay_blobs", params![], |r| r.get(0))
            .expect("count")
    }

    /// An entry referring to `blobs`.
    fn referring(person: &str, blobs: &[&Blob]) -> LogRow {
        LogRow {
            blobs: blobs.iter().map(|b| b.hash.to_string()).collect(),
            ..row(person, person, "update", "success")
        }
    }

    #[test]
    fn replay_blobs_are_stored_once_and_pruned_with_the_last_entry_referring_to_them() {
        let store = crate::testing::store();
        let config = Blob::new(b"{\"rules\": []}".to_vec());
        let (a, b) = (
            Blob::new(b"input a".to_vec()),
            Blob::new(b"input b".to_vec()),
        );
        let start = |store: &Store| {
            store
                .start_cycle(CycleKind::Incremental, &Default::default())
                .expect("cycle")
        };
        let c1 = start(&store);
        let all = [config.clone(), a.clone(), b.clone()];
        store
            .append_logs_with_blobs(
                c1,
                &[
                    referring("a", &[&a, &config]),
                    referring("b", &[&b, &config]),
                ],
                &all,
            )
            .expect("c1");
        // The next cycle shows `a` the same input: nothing new is stored.
        let c2 = start(&store);
        store
            .append_logs_with_blobs(
                c2,
                &[referring("a", &[&a, &config])],
                &[a.clone(), config.clone()],
            )
            .expect("c2");
        assert_eq!(blob_count(&store), 3, "each blob once");
        assert_eq!(
            store.replay_blob(&a.hash).expect("read").as_deref(),
            Some(&b"input a"[..])
        );

        // Cycle 1 goes: `b` was only its, `a` and the configuration are still referred to.
        assert_eq!(store.prune_logs(1).expect("prune"), 2);
        assert_eq!(blob_count(&store), 2);
        assert!(
            store.replay_blob(&b.hash).expect("read").is_none(),
            "pruned"
        );
        assert!(store.replay_blob(&a.hash).expect("read").is_some(), "kept");
        assert!(
            store.replay_blob(&config.hash).expect("read").is_some(),
            "kept"
        );

        // The age prune (retention) sweeps them too.
        let pruned = store
            .prune(crate::now_unix() + 10, u64::MAX)
            .expect("prune");
        assert_eq!((pruned.logs, pruned.blobs), (1, 2));
        assert_eq!(blob_count(&store), 0);
    }

    #[test]
    fn a_log_entry_is_found_by_change_id_or_row_id() {
        let (store, c1, c2) = fixture();
        let all = store.logs(&query(|_| {})).expect("logs");
        let mut entry = row("d", "dan", "create", "success");
        entry.detail = json!({"changeId": format!("{c2}-7")}).to_string();
        store.append_logs(c2, &[entry]).expect("append");
        let found = store
            .log_entry(&format!("{c2}-7"))
            .expect("read")
            .expect("found");
        assert_eq!(found.person_id, "d");
        let by_id = store
            .log_entry(&all[0].id.to_string())
            .expect("read")
            .expect("found");
        assert_eq!(by_id, all[0]);
        for missing in [
            format!("{c1}-7"),
            "x-1".into(),
            "nothing".into(),
            "999".into(),
        ] {
            assert!(
                store.log_entry(&missing).expect("read").is_none(),
                "{missing}"
            );
        }
    }

    #[test]
    fn filters_use_the_indexes() {
        if crate::testing::on_postgres() {
            // SQLite's plans; the SQLite run of the tests checks them.
            return;
        }
        let (store, _, _) = fixture();
        let conn = store.conn();
        for (sql, index) in [
            ("SELECT id FROM logs WHERE cycle_id = 1", "logs_cycle"),
            ("SELECT id FROM logs WHERE status = 'x'", "logs_status"),
            (
                "SELECT id FROM logs WHERE person_id = 'a' OR identity = 'a'",
                "logs_identity",
            ),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .and_then(|mut s| {
                    s.query_map(params![], |r| r.get::<String>(3))?
                        .collect::<Result<_, _>>()
                })
                .expect("plan");
            assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
        }
    }
}
