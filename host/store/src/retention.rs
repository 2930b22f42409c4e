//! Pruning: the state keeps what the next cycle needs for ever (records, pending intents,
//! outbox rows, staged deletes, watermarks) and what only explains the past (provisioning logs,
//! finished cycles, settled intents, dropped gateway changes) for a while, within a size.

use crate::db::params;
use serde::Serialize;

use crate::Store;
use crate::error::{Ctx, StoreError};

/// The most logs removed per statement when the size bound is over: small enough that the
/// writer is never held for long.
const BATCH: i64 = 5_000;

/// What one prune removed, and what is left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub logs: u64,
    /// Replay blobs no remaining log entry referred to.
    pub blobs: u64,
    pub cycles: u64,
    pub intents: u64,
    pub dropped_changes: u64,
    /// Bytes of live data after the prune (pages in use, not the file, which keeps free pages
    /// for reuse).
    pub live_bytes: u64,
}

impl Store {
    /// Removes history older than `cutoff` (unix seconds), then the oldest logs while the live
    /// data is over `max_bytes`. Never touches a running cycle, a pending intent, or a cycle a
    /// remaining log, intent or staged delete refers to.
    pub fn prune(&self, cutoff: i64, max_bytes: u64) -> Result<Pruned, StoreError> {
        let mut pruned = self.write("prune old history", |tx| {
            let logs = tx
                .execute("DELETE FROM logs WHERE at < ?1", [cutoff])
                .ctx("prune logs")?;
            // A blob is orphaned only by the deletion of the last entry that refers to it: when
            // no entry went, the sweep (a scan of every blob) would find nothing.
            let blobs = if logs > 0 {
                crate::logs::sweep_blobs(tx)?
            } else {
                0
            };
            let intents = tx
                .execute(
                    "DELETE FROM intents WHERE state != 'pending' AND created_at < ?1",
                    [cutoff],
                )
                .ctx("prune intents")?;
            let dropped = tx
                .execute(
                    "DELETE FROM gateway_dropped WHERE dropped_at < ?1",
                    [cutoff.saturating_mul(1000)],
                )
                .ctx("prune dropped changes")?;
            Ok(Pruned {
                logs: logs as u64,
                blobs,
                intents: intents as u64,
                dropped_changes: dropped as u64,
                ..Pruned::default()
            })
        })?;
        // Over the bound, the oldest logs go a twentieth at a time, so the prune stops close to
        // the bound rather than far below it.
        let logs: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM logs", params![], |r| r.get(0))
            .ctx("count logs")?;
        let step = (logs / 20).clamp(1, BATCH);
        while self.live_bytes()? > max_bytes {
            let removed = self.write("prune the oldest logs", |tx| {
                let logs = tx
                    .execute(
                        "DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY id LIMIT ?1)",
                        params![step],
                    )
                    .ctx("prune the oldest logs")?;
                Ok((logs, crate::logs::sweep_blobs(tx)?))
            })?;
            let (removed, blobs) = removed;
            if removed == 0 {
                break;
            }
            pruned.logs += removed as u64;
            pruned.blobs += blobs;
        }
        pruned.cycles = self.write("prune old cycles", |tx| {
            let n = tx
                .execute(
                    "DELETE FROM cycles
                     WHERE status != 'running' AND started_at < ?1
                       AND NOT EXISTS (SELECT 1 FROM logs l WHERE l.cycle_id = cycles.id)
                       AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.cycle_id = cycles.id)
                       AND NOT EXISTS (SELECT 1 FROM staged_deletes s
                                       WHERE s.cycle_id = cycles.id)",
                    [cutoff],
                )
                .ctx("prune cycles")?;
            Ok(n as u64)
        })?;
        pruned.live_bytes = self.live_bytes()?;
        Ok(pruned)
    }

    /// Bytes in pages that hold data: what the file would shrink to after a `VACUUM`.
    ///
    /// On PostgreSQL, the bytes of the rows of the tables that grow (logs and their blobs,
    /// intents, records, the gateway's resources and outbox). Not the files' size: a delete
    /// frees space for reuse without shrinking them, so a size-bounded prune measuring files
    /// would never reach its bound. Counting reads those tables whole, which is fine for a
    /// prune that runs once per cycle.
    pub fn live_bytes(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        if conn.is_postgres() {
            let bytes: i64 = conn
                .query_row(
                    "SELECT CAST(COALESCE(SUM(b), 0) AS BIGINT) FROM (
                       SELECT SUM(pg_column_size(t.*)) AS b FROM logs t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM replay_blobs t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM log_blobs t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM intents t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM records t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM gateway_resources t
                       UNION ALL SELECT SUM(pg_column_size(t.*)) FROM gateway_outbox t
                     ) sizes",
                    params![],
                    |r| r.get(0),
                )
                .ctx("measure the stored rows")?;
            return Ok(u64::try_from(bytes).unwrap_or(0));
        }
        let pragma = |name: &'static str, op| -> Result<i64, StoreError> {
            conn.query_row(name, params![], |r| r.get(0)).ctx(op)
        };
        let pages = pragma("PRAGMA page_count", "read the page count")?;
        let free = pragma("PRAGMA freelist_count", "read the free page count")?;
        let size = pragma("PRAGMA page_size", "read the page size")?;
        Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use engine::model::{Attributes, ProvisionedRecord};
    use serde_json::json;

    use crate::{CycleCounts, CycleKind, CycleStatus, LogRow, StagedAction, StagedDelete, Store};

    fn log_rows(n: usize, size: usize) -> Vec<LogRow> {
        (0..n)
            .map(|i| LogRow {
                person_id: format!("p{i}"),
                identity: format!("p{i}@x.example"),
                action: "other".into(),
                status: "skipped".into(),
                detail: json!({"padding": "x".repeat(size)}).to_string(),
                blobs: Vec::new(),
            })
            .collect()
    }

    fn finished_cycle(store: &Store) -> i64 {
        let id = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("start");
        store
            .finish_cycle(id, CycleStatus::Succeeded, &CycleCounts::default())
            .expect("finish");
        id
    }

    #[test]
    fn old_history_goes_and_what_the_next_cycle_needs_stays() {
        let store = crate::testing::store();
        let old = finished_cycle(&store);
        store.append_logs(old, &log_rows(3, 10)).expect("logs");
        let staged = finished_cycle(&store);
        store
            .stage_deletes(
                staged,
                &[StagedDelete {
                    source_id: "p9".into(),
                    target_id: "t9".into(),
                    action: StagedAction::Delete,
                    reason: "held".into(),
                }],
            )
            .expect("stage");
        let pending = store
            .begin_intent(old, "p1", "update", "p1@x.example", &json!({}))
            .expect("intent");
        let record = ProvisionedRecord {
            source_id: "p1".into(),
            target_id: "t1".into(),
            matching_value: "p1@x.example".into(),
            last_applied: Attributes::new(),
            license: None,
            plugin_versions: Default::default(),
            disabled: false,
        };
        store.upsert_record(&record).expect("record");
        let running = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("a running cycle");

        // Everything above is older than a cutoff in the future.
        let pruned = store
            .prune(crate::now_unix() + 10, u64::MAX)
            .expect("prune");
        assert_eq!(pruned.logs, 3);
        assert!(store.record("p1").expect("read").is_some(), "records stay");
        let intents = store.pending_intents().expect("intents");
        assert_eq!(intents.len(), 1, "the pending intent stays");
        assert_eq!(intents[0].id, pending);
        assert_eq!(store.staged_deletes().expect("staged").len(), 1);
        let cycles: Vec<i64> = store
            .cycles(10)
            .expect("cycles")
            .iter()
            .map(|c| c.id)
            .collect();
        assert!(cycles.contains(&old), "the pending intent's cycle stays");
        assert!(cycles.contains(&staged), "the staged delete's cycle stays");
        assert!(cycles.contains(&running), "a running cycle stays");
    }

    #[test]
    fn over_the_size_bound_the_oldest_logs_go_first() {
        let store = crate::testing::store();
        for _ in 0..4 {
            let cycle = finished_cycle(&store);
            store
                .append_logs(cycle, &log_rows(500, 1_000))
                .expect("logs");
        }
        let before = store.live_bytes().expect("size");
        assert!(before > 2_000_000, "{before}");
        let bound = before / 2;
        let pruned = store.prune(0, bound).expect("prune by size");
        assert!(pruned.live_bytes <= bound, "{pruned:?} over {bound}");
        assert!(pruned.logs > 0 && pruned.logs < 2_000, "{pruned:?}");
        let query = crate::LogQuery {
            limit: usize::MAX,
            ..crate::LogQuery::default()
        };
        let kept = store.logs(&query).expect("logs");
        let newest_cycle = kept.iter().map(|l| l.cycle).max();
        assert_eq!(
            kept.iter()
                .filter(|l| Some(l.cycle) == newest_cycle)
                .count(),
            500,
            "the newest cycle's logs are whole"
        );
    }
}
