//! Disables and deletes held back because a cycle exceeded the deletion threshold. They wait
//! here for an admin to allow them (the engine applies and clears them) or to fix the cause.

use crate::db::{Row, params};
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, StoreError};
use crate::{Store, now_unix};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagedAction {
    Disable,
    Delete,
}

impl StagedAction {
    fn as_str(self) -> &'static str {
        match self {
            StagedAction::Disable => "disable",
            StagedAction::Delete => "delete",
        }
    }
}

/// One held-back action, as the engine stages it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedDelete {
    pub source_id: String,
    pub target_id: String,
    pub action: StagedAction,
    /// Why the person would be disabled or deleted (out of scope, deleted in the source, ...).
    pub reason: String,
}

/// A held-back action with the cycle that staged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StagedRecord {
    pub cycle: i64,
    /// Unix seconds.
    pub staged_at: i64,
    #[serde(flatten)]
    pub delete: StagedDelete,
}

impl Store {
    /// Holds actions back. One per person: staging a person again replaces their entry, since
    /// the newest cycle knows best what should happen to them.
    pub fn stage_deletes(&self, cycle: i64, deletes: &[StagedDelete]) -> Result<(), StoreError> {
        let now = now_unix();
        self.write("stage deletes", |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO staged_deletes
                       (source_id, cycle_id, target_id, action, reason, staged_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (source_id) DO UPDATE SET cycle_id = excluded.cycle_id,
                       target_id = excluded.target_id, action = excluded.action,
                       reason = excluded.reason, staged_at = excluded.staged_at",
                )
                .ctx("stage deletes")?;
            for d in deletes {
                stmt.execute(params![
                    d.source_id,
                    cycle,
                    d.target_id,
                    d.action.as_str(),
                    d.reason,
                    now
                ])
                .ctx("stage deletes")?;
            }
            Ok(())
        })
    }

    /// Every held-back action, in the order they were staged.
    pub fn staged_deletes(&self) -> Result<Vec<StagedRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(conn.dialect(
                "SELECT source_id, cycle_id, target_id, action, reason, staged_at
                 FROM staged_deletes ORDER BY staged_at, rowid",
                "SELECT source_id, cycle_id, target_id, action, reason, staged_at
                 FROM staged_deletes ORDER BY staged_at, seq",
            ))
            .ctx("read staged deletes")?;
        let mut rows = stmt.query(params![]).ctx("read staged deletes")?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().ctx("read staged deletes")? {
            out.push(decode(&row)?);
        }
        Ok(out)
    }

    /// Drops one person's held-back action (they came back in scope, or it was applied).
    pub fn unstage(&self, source_id: &str) -> Result<bool, StoreError> {
        self.write("unstage a delete", |tx| {
            let n = tx
                .execute(
                    "DELETE FROM staged_deletes WHERE source_id = ?1",
                    [source_id],
                )
                .ctx("unstage a delete")?;
            Ok(n > 0)
        })
    }

    /// Drops every held-back action; returns how many there were.
    pub fn clear_staged(&self) -> Result<usize, StoreError> {
        self.write("clear staged deletes", |tx| {
            tx.execute("DELETE FROM staged_deletes", params![])
                .ctx("clear staged deletes")
        })
    }
}

fn decode(row: &Row<'_>) -> Result<StagedRecord, StoreError> {
    let source_id: String = row.get(0).ctx("read staged deletes")?;
    let action: String = row.get(3).ctx("read staged deletes")?;
    let action = match action.as_str() {
        "disable" => StagedAction::Disable,
        "delete" => StagedAction::Delete,
        _ => {
            return Err(StoreError::Corrupt {
                what: format!("staged_deletes.action {action:?} of source id {source_id:?}"),
            });
        }
    };
    Ok(StagedRecord {
        cycle: row.get(1).ctx("read staged deletes")?,
        staged_at: row.get(5).ctx("read staged deletes")?,
        delete: StagedDelete {
            target_id: row.get(2).ctx("read staged deletes")?,
            reason: row.get(4).ctx("read staged deletes")?,
            action,
            source_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CycleKind;

    fn staged(source_id: &str, action: StagedAction) -> StagedDelete {
        StagedDelete {
            source_id: source_id.into(),
            target_id: format!("t-{source_id}"),
            action,
            reason: "out of scope".into(),
        }
    }

    #[test]
    fn staged_round_trip_replace_and_clear() {
        let store = crate::testing::store();
        let c1 = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("c1");
        store
            .stage_deletes(
                c1,
                &[
                    staged("a", StagedAction::Disable),
                    staged("b", StagedAction::Delete),
                ],
            )
            .expect("stage");
        let got = store.staged_deletes().expect("read");
        assert_eq!(
            got.iter().map(|s| s.delete.clone()).collect::<Vec<_>>(),
            [
                staged("a", StagedAction::Disable),
                staged("b", StagedAction::Delete)
            ]
        );
        assert!(got.iter().all(|s| s.cycle == c1 && s.staged_at > 0));

        let c2 = store
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("c2");
        store
            .stage_deletes(c2, &[staged("a", StagedAction::Delete)])
            .expect("restage");
        let got = store.staged_deletes().expect("read");
        assert_eq!(got.len(), 2);
        let a = got.iter().find(|s| s.delete.source_id == "a").expect("a");
        assert_eq!((a.cycle, a.delete.action), (c2, StagedAction::Delete));

        assert!(store.unstage("b").expect("unstage"));
        assert!(!store.unstage("b").expect("unstage again"));
        assert_eq!(store.clear_staged().expect("clear"), 1);
        assert!(store.staged_deletes().expect("read").is_empty());
    }
}
