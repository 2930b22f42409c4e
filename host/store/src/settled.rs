//! Delta planning's memory: the input hash of each person whose last plan was settled, under
//! which pipeline fingerprint, and when everyone was last planned (`engine::delta`).

use std::collections::HashMap;

use crate::db::{Conn, params};

use crate::error::{Ctx, StoreError};
use crate::{Store, now_unix};

/// The meta key of the pipeline fingerprint the settled hashes were made under (hex).
const FINGERPRINT: &str = "settled_fingerprint";
/// The meta key of when a cycle last planned everyone (unix seconds).
const FULL_AT: &str = "settled_full_at";

/// What the store knows of earlier plans; the hashes themselves are read apart
/// ([`Store::settled_hashes`]), only when a cycle plans by them.
#[derive(Debug, Default)]
pub struct Settled {
    /// `None` before the first settled cycle.
    pub fingerprint: Option<[u8; 16]>,
    /// When a cycle last planned everyone; `None` if none has.
    pub full_at: Option<i64>,
}

/// What one cycle settled.
#[derive(Debug)]
pub struct Settlement<'a> {
    pub fingerprint: [u8; 16],
    /// The cycle planned everyone: the hashes below replace all others.
    pub full: bool,
    pub settled: &'a [(&'a str, [u8; 16])],
    /// People the cycle planned without settling, or who left the source.
    pub unsettled: &'a [&'a str],
}

impl Store {
    /// The fingerprint the settled hashes were made under, and when everyone was last planned.
    pub fn settled(&self) -> Result<Settled, StoreError> {
        Ok(Settled {
            fingerprint: self.meta(FINGERPRINT)?.and_then(|hex| parse_hex(&hex)),
            full_at: self.meta(FULL_AT)?.and_then(|s| s.parse().ok()),
        })
    }

    /// Every settled hash by source id, under the fingerprint [`Store::settled`] names.
    pub fn settled_hashes(&self) -> Result<HashMap<String, [u8; 16]>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT source_id, input_hash FROM settled_people")
            .ctx("read settled people")?;
        let mut rows = stmt.query(params![]).ctx("read settled people")?;
        let mut hashes = HashMap::new();
        while let Some(row) = rows.next().ctx("read settled people")? {
            let id: String = row.get(0).ctx("read settled people")?;
            let hash: Vec<u8> = row.get(1).ctx("read settled people")?;
            // A row of another length cannot come from this code; it only means a re-plan.
            if let Ok(hash) = <[u8; 16]>::try_from(hash.as_slice()) {
                hashes.insert(id, hash);
            }
        }
        Ok(hashes)
    }

    /// Records what a cycle settled, in one transaction.
    pub fn settle(&self, settlement: &Settlement<'_>) -> Result<(), StoreError> {
        self.write("settle planned people", |tx| {
            if settlement.full {
                tx.execute("DELETE FROM settled_people", params![])
                    .ctx("settle planned people")?;
                crate::meta::set_meta_in(tx, FULL_AT, &now_unix().to_string())?;
            }
            crate::meta::set_meta_in(tx, FINGERPRINT, &hex(&settlement.fingerprint))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO settled_people (source_id, input_hash) VALUES (?1, ?2)
                     ON CONFLICT (source_id) DO UPDATE SET input_hash = excluded.input_hash",
                )
                .ctx("settle planned people")?;
            for (id, hash) in settlement.settled {
                insert
                    .execute(params![id, &hash[..]])
                    .ctx("settle planned people")?;
            }
            for id in settlement.unsettled {
                forget(tx, id)?;
            }
            Ok(())
        })
    }
}

/// Forgets one person's settled hash: their record was written by something other than the
/// cycle that settled them.
pub(crate) fn forget(conn: &Conn, source_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM settled_people WHERE source_id = ?1")
        .and_then(|mut stmt| stmt.execute([source_id]))
        .ctx("forget a settled person")?;
    Ok(())
}

fn hex(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if text.len() != 32 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::model::{Attributes, ProvisionedRecord};

    fn record(id: &str) -> ProvisionedRecord {
        ProvisionedRecord {
            source_id: id.into(),
            target_id: format!("t-{id}"),
            matching_value: format!("{id}@x.com"),
            last_applied: Attributes::new(),
            license: None,
            plugin_versions: Default::default(),
            disabled: false,
        }
    }

    #[test]
    fn settling_then_writing_a_record_forgets_that_person() {
        let store = crate::testing::store();
        assert!(store.settled().expect("settled").fingerprint.is_none());
        let fingerprint = [7u8; 16];
        store
            .settle(&Settlement {
                fingerprint,
                full: true,
                settled: &[("a", [1; 16]), ("b", [2; 16]), ("c", [3; 16])],
                unsettled: &[],
            })
            .expect("settle");
        let settled = store.settled().expect("settled");
        assert_eq!(settled.fingerprint, Some(fingerprint));
        assert!(settled.full_at.is_some());
        assert_eq!(store.settled_hashes().expect("hashes").len(), 3);
        // Another run writes a's record, removes b's; a delta cycle unsettles c.
        store.upsert_record(&record("a")).expect("upsert");
        store.remove_record("b").expect("remove");
        store
            .settle(&Settlement {
                fingerprint,
                full: false,
                settled: &[("d", [4; 16])],
                unsettled: &["c"],
            })
            .expect("settle");
        let hashes = store.settled_hashes().expect("hashes");
        let mut ids: Vec<&str> = hashes.keys().map(String::as_str).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["d"]);
        // A full settlement replaces everything.
        store
            .settle(&Settlement {
                fingerprint: [8; 16],
                full: true,
                settled: &[("e", [5; 16])],
                unsettled: &[],
            })
            .expect("settle");
        let settled = store.settled().expect("settled");
        assert_eq!(settled.fingerprint, Some([8; 16]));
        let hashes = store.settled_hashes().expect("hashes");
        assert_eq!(hashes.keys().collect::<Vec<_>>(), ["e"]);
    }

    #[test]
    fn record_keys_and_records_of_read_only_what_is_asked() {
        let store = crate::testing::store();
        for id in ["a", "b", "c"] {
            store.upsert_record(&record(id)).expect("upsert");
        }
        let mut keys: Vec<(String, String)> = store
            .record_keys()
            .expect("keys")
            .into_iter()
            .map(|k| (k.source_id, k.matching_value))
            .collect();
        keys.sort();
        assert_eq!(keys[1], ("b".to_string(), "b@x.com".to_string()));
        let some = store.records_of(["c", "missing", "a"]).expect("records");
        let ids: Vec<&str> = some.iter().map(|r| r.source_id.as_str()).collect();
        assert_eq!(ids, ["c", "a"]);
    }
}
