//! The job's quarantine: set when most calls fail or the deletion threshold is exceeded, lifted
//! by any success or by an admin. Kept here so a restart does not lift it by accident.

use crate::db::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Ctx, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineState {
    /// Why, in Entra's terms where one fits (`EncounteredEscrowProportionThreshold`, ...).
    pub reason: String,
    /// Unix seconds when the quarantine began; retries back off from here.
    pub since: i64,
    /// Unix seconds of the next attempt.
    pub next_attempt: i64,
}

impl Store {
    pub fn quarantine(&self) -> Result<Option<QuarantineState>, StoreError> {
        self.conn()
            .prepare_cached("SELECT reason, since, next_attempt FROM quarantine WHERE id = 1")
            .and_then(|mut stmt| {
                stmt.query_row(params![], |r| {
                    Ok(QuarantineState {
                        reason: r.get(0)?,
                        since: r.get(1)?,
                        next_attempt: r.get(2)?,
                    })
                })
                .optional()
            })
            .ctx("read the quarantine")
    }

    /// Enters or updates the quarantine. The caller keeps `since` from the current state when
    /// only the reason or the next attempt changes.
    pub fn set_quarantine(&self, state: &QuarantineState) -> Result<(), StoreError> {
        self.write("set the quarantine", |tx| {
            tx.execute(
                "INSERT INTO quarantine (id, reason, since, next_attempt) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason,
                   since = excluded.since, next_attempt = excluded.next_attempt",
                params![state.reason, state.since, state.next_attempt],
            )
            .ctx("set the quarantine")?;
            Ok(())
        })
    }

    pub fn clear_quarantine(&self) -> Result<(), StoreError> {
        self.write("lift the quarantine", |tx| {
            tx.execute("DELETE FROM quarantine", params![])
                .ctx("lift the quarantine")?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_round_trip() {
        let store = crate::testing::store();
        assert_eq!(store.quarantine().expect("get"), None);
        let first = QuarantineState {
            reason: "EncounteredQuarantineException".into(),
            since: 1_700_000_000,
            next_attempt: 1_700_021_600,
        };
        store.set_quarantine(&first).expect("set");
        assert_eq!(store.quarantine().expect("get"), Some(first.clone()));
        let later = QuarantineState {
            reason: "EncounteredEscrowProportionThreshold".into(),
            next_attempt: 1_700_043_200,
            ..first
        };
        store.set_quarantine(&later).expect("update");
        assert_eq!(store.quarantine().expect("get"), Some(later));
        store.clear_quarantine().expect("clear");
        store.clear_quarantine().expect("clear twice");
        assert_eq!(store.quarantine().expect("get"), None);
    }
}
