//! The write-ahead of target requests.
//!
//! The engine calls [`Store::begin_intent`] before it sends a request and settles the intent
//! after the response: [`Store::commit_success`] / [`Store::commit_removal`] write the outcome
//! and settle in one transaction, so no crash can leave a settled intent without its record or
//! a record without its settled intent. [`Store::fail_intent`] is for requests the target
//! definitely refused; a request whose outcome is unknown (timeout, lost connection) stays
//! pending and is reconciled like a crash.

use crate::db::{Conn, Row, params};

use crate::error::{Ctx, StoreError, from_json, to_json};
use crate::{Store, now_unix, records};

use engine::model::ProvisionedRecord;

/// A request that was about to be sent, or was sent, and whose outcome was never recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub id: i64,
    pub cycle: i64,
    pub source_id: String,
    /// The engine's name for the request (`create`, `update`, `disable`, `delete`, ...).
    pub action: String,
    /// What to look the person up by in the target to learn whether the request landed.
    pub matching_value: String,
    /// What the engine needs to finish or redo the request; opaque here.
    pub payload: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

impl Store {
    /// Records that a request is about to be sent; returns the intent id to settle it with.
    pub fn begin_intent(
        &self,
        cycle: i64,
        source_id: &str,
        action: &str,
        matching_value: &str,
        payload: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let payload = to_json("an intent payload", payload)?;
        self.write("record an intent", |tx| {
            tx.prepare_cached(
                "INSERT INTO intents
                   (cycle_id, source_id, action, matching_value, payload, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) RETURNING id",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        cycle,
                        source_id,
                        action,
                        matching_value,
                        payload,
                        now_unix()
                    ],
                    |r| r.get(0),
                )
            })
            .ctx("record an intent")
        })
    }

    /// Settles an intent whose request changed nothing muster keeps (a skipped no-op, say).
    pub fn complete_intent(&self, id: i64) -> Result<(), StoreError> {
        self.write("settle an intent", |tx| settle(tx, id, None))
    }

    /// Settles an intent whose request the target refused; the error stays for diagnosis.
    pub fn fail_intent(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.write("fail an intent", |tx| settle(tx, id, Some(error)))
    }

    /// Settles an intent and writes the record its request produced, atomically.
    pub fn commit_success(&self, id: i64, record: &ProvisionedRecord) -> Result<(), StoreError> {
        self.write("commit a request's outcome", |tx| {
            settle(tx, id, None)?;
            records::upsert(tx, record)
        })
    }

    /// Settles an intent whose request made `record.source_id` the owner of an orphan's
    /// account (an adoption: the orphan's person is gone from the source), atomically: the
    /// orphan's record goes, which frees its target id for the adopter's.
    pub fn commit_adoption(
        &self,
        id: i64,
        record: &ProvisionedRecord,
        orphan: &str,
    ) -> Result<(), StoreError> {
        self.write("commit an adoption", |tx| {
            settle(tx, id, None)?;
            records::remove(tx, orphan)?;
            records::upsert(tx, record)
        })
    }

    /// Settles an intent and forgets the record of a person deleted from the target, atomically.
    pub fn commit_removal(&self, id: i64, source_id: &str) -> Result<(), StoreError> {
        self.write("commit a removal", |tx| {
            settle(tx, id, None)?;
            records::remove(tx, source_id).map(|_| ())
        })
    }

    /// Intents a crash (or an unknown outcome) left pending, oldest first: the order they were
    /// sent in, which is the order to reconcile them in.
    pub fn pending_intents(&self) -> Result<Vec<Intent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, cycle_id, source_id, action, matching_value, payload, created_at
                 FROM intents WHERE state = 'pending' ORDER BY id",
            )
            .ctx("read pending intents")?;
        let mut rows = stmt.query(params![]).ctx("read pending intents")?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().ctx("read pending intents")? {
            out.push(decode(&row)?);
        }
        Ok(out)
    }
}

fn settle(conn: &Conn, id: i64, error: Option<&str>) -> Result<(), StoreError> {
    let state = if error.is_some() { "failed" } else { "done" };
    let n = conn
        .prepare_cached(
            "UPDATE intents SET state = ?2, error = ?3, finished_at = ?4
             WHERE id = ?1 AND state = 'pending'",
        )
        .and_then(|mut stmt| stmt.execute(params![id, state, error, now_unix()]))
        .ctx("settle an intent")?;
    if n == 0 {
        return Err(StoreError::IntentNotPending { id });
    }
    Ok(())
}

fn decode(row: &Row<'_>) -> Result<Intent, StoreError> {
    let id: i64 = row.get(0).ctx("read pending intents")?;
    let payload: String = row.get(5).ctx("read pending intents")?;
    Ok(Intent {
        id,
        cycle: row.get(1).ctx("read pending intents")?,
        source_id: row.get(2).ctx("read pending intents")?,
        action: row.get(3).ctx("read pending intents")?,
        matching_value: row.get(4).ctx("read pending intents")?,
        payload: from_json(&payload, || format!("intents.payload of intent {id}"))?,
        created_at: row.get(6).ctx("read pending intents")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::CycleKind;
    use crate::records::tests::record;

    fn store_with_cycle() -> (Store, i64) {
        let store = crate::testing::store();
        let cycle = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("cycle");
        (store, cycle)
    }

    #[test]
    fn pending_intents_round_trip_in_order() {
        let (store, cycle) = store_with_cycle();
        let payload = json!({"op": "create", "body": {"userName": "a@x"}});
        let a = store
            .begin_intent(cycle, "a", "create", "a@x", &payload)
            .expect("a");
        let b = store
            .begin_intent(cycle, "b", "update", "b@x", &json!(null))
            .expect("b");
        let pending = store.pending_intents().expect("pending");
        assert_eq!(pending.iter().map(|i| i.id).collect::<Vec<_>>(), [a, b]);
        let first = &pending[0];
        assert_eq!(
            (first.cycle, first.source_id.as_str(), first.action.as_str()),
            (cycle, "a", "create")
        );
        assert_eq!(
            (first.matching_value.as_str(), &first.payload),
            ("a@x", &payload)
        );
        assert!(first.created_at > 0);
    }

    #[test]
    fn settled_intents_are_no_longer_pending_and_settle_once() {
        let (store, cycle) = store_with_cycle();
        let ids: Vec<i64> = (0..4)
            .map(|i| {
                store
                    .begin_intent(cycle, &format!("p{i}"), "update", "m", &json!({}))
                    .expect("begin")
            })
            .collect();
        store.complete_intent(ids[0]).expect("complete");
        store.fail_intent(ids[1], "409 Conflict").expect("fail");
        store
            .commit_success(ids[2], &record("p2", "t2"))
            .expect("success");
        store.commit_removal(ids[3], "p3").expect("removal");
        assert!(store.pending_intents().expect("pending").is_empty());
        for id in ids {
            assert!(matches!(
                store.complete_intent(id),
                Err(StoreError::IntentNotPending { id: i }) if i == id
            ));
        }
        assert!(matches!(
            store.fail_intent(999, "x"),
            Err(StoreError::IntentNotPending { id: 999 })
        ));
        let error: Option<String> = store
            .conn()
            .query_row(
                "SELECT error FROM intents WHERE state = 'failed'",
                params![],
                |r| r.get(0),
            )
            .expect("failed row");
        assert_eq!(error.as_deref(), Some("409 Conflict"));
    }

    #[test]
    fn commit_success_writes_record_and_settles_in_one_transaction() {
        let (store, cycle) = store_with_cycle();
        let intent = store
            .begin_intent(cycle, "a", "create", "a@x", &json!({}))
            .expect("begin");
        store
            .commit_success(intent, &record("a", "t-a"))
            .expect("commit");
        assert_eq!(store.record("a").expect("get"), Some(record("a", "t-a")));
        assert!(store.pending_intents().expect("pending").is_empty());

        // If the record cannot be written, the intent must stay pending: the failure rolls back
        // the settlement, as a crash between the two would.
        store.upsert_record(&record("owner", "t-b")).expect("owner");
        let clash = store
            .begin_intent(cycle, "b", "create", "b@x", &json!({}))
            .expect("begin");
        assert!(matches!(
            store.commit_success(clash, &record("b", "t-b")),
            Err(StoreError::TargetIdInUse { .. })
        ));
        let pending = store.pending_intents().expect("pending");
        assert_eq!(pending.iter().map(|i| i.id).collect::<Vec<_>>(), [clash]);
        assert_eq!(store.record("b").expect("get"), None);

        // And a settled intent cannot write a record a second time.
        assert!(matches!(
            store.commit_success(intent, &record("c", "t-c")),
            Err(StoreError::IntentNotPending { .. })
        ));
        assert_eq!(store.record("c").expect("get"), None);
    }

    #[test]
    fn commit_adoption_moves_the_account_to_the_adopter() {
        let (store, cycle) = store_with_cycle();
        store.upsert_record(&record("gone", "t-a")).expect("orphan");
        let intent = store
            .begin_intent(cycle, "new", "update", "a@x", &json!({}))
            .expect("begin");
        store
            .commit_adoption(intent, &record("new", "t-a"), "gone")
            .expect("commit");
        assert_eq!(store.record("gone").expect("get"), None);
        assert_eq!(
            store.record_by_target_id("t-a").expect("get"),
            Some(record("new", "t-a"))
        );
        assert!(store.pending_intents().expect("pending").is_empty());

        // An account another (present) person holds is not taken: nothing changes.
        store.upsert_record(&record("owner", "t-b")).expect("owner");
        let clash = store
            .begin_intent(cycle, "b", "update", "b@x", &json!({}))
            .expect("begin");
        assert!(matches!(
            store.commit_adoption(clash, &record("b", "t-b"), "somebody-else"),
            Err(StoreError::TargetIdInUse { .. })
        ));
        assert_eq!(store.pending_intents().expect("pending").len(), 1);
    }

    #[test]
    fn commit_removal_forgets_the_record_atomically() {
        let (store, cycle) = store_with_cycle();
        store.upsert_record(&record("a", "t-a")).expect("record");
        let intent = store
            .begin_intent(cycle, "a", "delete", "a@x", &json!({}))
            .expect("begin");
        store.commit_removal(intent, "a").expect("commit");
        assert_eq!(store.record("a").expect("get"), None);
        assert!(matches!(
            store.commit_removal(intent, "a"),
            Err(StoreError::IntentNotPending { .. })
        ));
    }

    #[test]
    fn pending_intents_survive_a_crash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let store = Store::open(&path).expect("open");
        let cycle = store
            .start_cycle(CycleKind::Initial, &Default::default())
            .expect("cycle");
        let intent = store
            .begin_intent(cycle, "a", "create", "a@x", &json!({"userName": "a@x"}))
            .expect("begin");
        // No settlement and no clean shutdown: dropping without finishing the cycle is what a
        // restart after `kill -9` sees (every commit is already durable).
        drop(store);
        let store = Store::open(&path).expect("reopen");
        let pending = store.pending_intents().expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].cycle), (intent, cycle));
        store
            .commit_success(intent, &record("a", "t-a"))
            .expect("reconcile");
        assert!(store.pending_intents().expect("pending").is_empty());
    }

    #[test]
    fn an_intent_needs_an_existing_cycle() {
        let store = crate::testing::store();
        assert!(matches!(
            store.begin_intent(42, "a", "create", "a@x", &json!({})),
            Err(StoreError::Database { .. })
        ));
    }
}
