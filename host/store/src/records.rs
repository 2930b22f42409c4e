//! What muster provisioned: one row per source person, keyed by source id.
//!
//! `last_applied`, `license` and `plugin_versions` are JSON columns: the engine owns their
//! shape and only ever reads them whole, so columns per attribute would buy nothing.

use std::collections::BTreeMap;

use crate::db::{Conn, OptionalExtension, Row, params};
use engine::matching::RecordKey;
use engine::model::ProvisionedRecord;

use crate::error::{Ctx, StoreError, from_json, to_json};
use crate::{Store, now_unix};

const COLUMNS: &str =
    "source_id, target_id, matching_value, last_applied, license, plugin_versions, disabled";

impl Store {
    /// Every record, keyed by source id: the engine loads them once per cycle to diff against.
    pub fn records(&self) -> Result<BTreeMap<String, ProvisionedRecord>, StoreError> {
        let mut out = BTreeMap::new();
        self.scan_records(
            |_| true,
            |record| {
                out.insert(record.source_id.clone(), record);
            },
        )?;
        Ok(out)
    }

    /// The records whose source id `keep` accepts, in one scan of the table: past a few
    /// thousand ids, cheaper than a look-up each, and only the kept rows are decoded, so the
    /// others never take memory.
    pub fn records_where(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<ProvisionedRecord>, StoreError> {
        let mut out = Vec::new();
        self.scan_records(keep, |record| out.push(record))?;
        Ok(out)
    }

    /// One scan of the records table: each row whose source id `keep` accepts, decoded, to
    /// `each`.
    fn scan_records(
        &self,
        keep: impl Fn(&str) -> bool,
        mut each: impl FnMut(ProvisionedRecord),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM records"))
            .ctx("read records")?;
        let mut rows = stmt.query(params![]).ctx("read records")?;
        while let Some(row) = rows.next().ctx("read records")? {
            let id = row.get_str(0).ctx("read records")?;
            if keep(id) {
                each(decode(&row)?);
            }
        }
        Ok(())
    }

    /// How many people are provisioned.
    pub fn record_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM records", params![], |r| r.get(0))
            .ctx("count records")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// How many records are of disabled users.
    pub fn disabled_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM records WHERE disabled = 1",
                params![],
                |r| r.get(0),
            )
            .ctx("count disabled records")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The source id and matching value of every record: what a delta cycle needs of the
    /// records it does not load.
    pub fn record_keys(&self) -> Result<Vec<RecordKey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT source_id, matching_value FROM records")
            .ctx("read record keys")?;
        let keys = stmt
            .query_map(params![], |row| {
                Ok(RecordKey {
                    source_id: row.get(0)?,
                    matching_value: row.get(1)?,
                })
            })
            .ctx("read record keys")?;
        keys.collect::<Result<_, _>>().ctx("read record keys")
    }

    /// The records of these source ids (those that have one), in one read.
    pub fn records_of<'i>(
        &self,
        ids: impl IntoIterator<Item = &'i str>,
    ) -> Result<Vec<ProvisionedRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM records WHERE source_id = ?1"
            ))
            .ctx("read records")?;
        let mut out = Vec::new();
        for id in ids {
            let mut rows = stmt.query([id]).ctx("read records")?;
            if let Some(row) = rows.next().ctx("read records")? {
                out.push(decode(&row)?);
            }
        }
        Ok(out)
    }

    pub fn record(&self, source_id: &str) -> Result<Option<ProvisionedRecord>, StoreError> {
        self.record_where("source_id", source_id)
    }

    /// The record owning a target resource (the gateway and reconciliation know target ids).
    pub fn record_by_target_id(
        &self,
        target_id: &str,
    ) -> Result<Option<ProvisionedRecord>, StoreError> {
        self.record_where("target_id", target_id)
    }

    /// Inserts or replaces the record of `record.source_id`. Fails with
    /// [`StoreError::TargetIdInUse`] if another source person already holds the target id.
    pub fn upsert_record(&self, record: &ProvisionedRecord) -> Result<(), StoreError> {
        self.write("write a record", |tx| upsert(tx, record))
    }

    /// Forgets a record; true if there was one.
    pub fn remove_record(&self, source_id: &str) -> Result<bool, StoreError> {
        self.write("remove a record", |tx| remove(tx, source_id))
    }

    fn record_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<ProvisionedRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM records WHERE {column} = ?1"
            ))
            .ctx("read a record")?;
        let mut rows = stmt.query([value]).ctx("read a record")?;
        match rows.next().ctx("read a record")? {
            Some(row) => decode(&row).map(Some),
            None => Ok(None),
        }
    }
}

/// Shared with the intents, which write a record in the transaction that settles the intent.
pub(crate) fn upsert(conn: &Conn, record: &ProvisionedRecord) -> Result<(), StoreError> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT source_id FROM records WHERE target_id = ?1 AND source_id <> ?2",
            params![record.target_id, record.source_id],
            |r| r.get(0),
        )
        .optional()
        .ctx("check the target id")?;
    if let Some(owner) = owner {
        return Err(StoreError::TargetIdInUse {
            target_id: record.target_id.clone(),
            owner,
        });
    }
    let license = record
        .license
        .as_ref()
        .map(|l| to_json("a license", l))
        .transpose()?;
    let last_applied = to_json("last applied attributes", &record.last_applied)?;
    let plugin_versions = to_json("plugin versions", &record.plugin_versions)?;
    conn.prepare_cached(&format!(
        "INSERT INTO records ({COLUMNS}, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (source_id) DO UPDATE SET
           target_id = excluded.target_id, matching_value = excluded.matching_value,
           last_applied = excluded.last_applied, license = excluded.license,
           plugin_versions = excluded.plugin_versions, disabled = excluded.disabled,
           updated_at = excluded.updated_at"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            record.source_id,
            record.target_id,
            record.matching_value,
            last_applied,
            license,
            plugin_versions,
            record.disabled,
            now_unix(),
        ])
    })
    .ctx("write a record")?;
    crate::settled::forget(conn, &record.source_id)
}

pub(crate) fn remove(conn: &Conn, source_id: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM records WHERE source_id = ?1")
        .and_then(|mut stmt| stmt.execute([source_id]))
        .ctx("remove a record")?;
    crate::settled::forget(conn, source_id)?;
    Ok(n > 0)
}

fn decode(row: &Row<'_>) -> Result<ProvisionedRecord, StoreError> {
    let source_id: String = row.get(0).ctx("read a record")?;
    let column = |name: &str| format!("records.{name} of source id {source_id:?}");
    let last_applied: String = row.get(3).ctx("read a record")?;
    let license: Option<String> = row.get(4).ctx("read a record")?;
    let plugin_versions: String = row.get(5).ctx("read a record")?;
    Ok(ProvisionedRecord {
        target_id: row.get(1).ctx("read a record")?,
        matching_value: row.get(2).ctx("read a record")?,
        last_applied: from_json(&last_applied, || column("last_applied"))?,
        license: license
            .map(|l| from_json(&l, || column("license")))
            .transpose()?,
        plugin_versions: from_json(&plugin_versions, || column("plugin_versions"))?,
        disabled: row.get(6).ctx("read a record")?,
        source_id,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use engine::model::{License, Value};

    use super::*;

    /// A record with a bit of everything, for tests across the crate.
    pub(crate) fn record(source_id: &str, target_id: &str) -> ProvisionedRecord {
        ProvisionedRecord {
            source_id: source_id.into(),
            target_id: target_id.into(),
            matching_value: format!("{source_id}@example.com"),
            last_applied: engine::model::Attributes::from([
                (
                    "userName".into(),
                    Value::Text(format!("{source_id}@example.com").into()),
                ),
                ("active".into(), Value::Bool(true)),
                ("emails[type eq \"work\"].value".into(), Value::Null),
                ("x:seats".into(), Value::Int(3)),
                (
                    "x:tags".into(),
                    Value::TextList(vec!["a".into(), "b".into()].into()),
                ),
            ]),
            license: Some(License::new("licensed", ["webinar", "large_meeting"])),
            plugin_versions: BTreeMap::from([("license-by-group".into(), "sha256:ab12".into())])
                .into(),
            disabled: false,
        }
    }

    #[test]
    fn record_round_trip_and_lookups() {
        let store = crate::testing::store();
        // Zoom target ids contain `&`; nothing may treat them as a query string.
        let rec = record("src-1", "zoom&id=1");
        store.upsert_record(&rec).expect("upsert");
        assert_eq!(store.record("src-1").expect("get"), Some(rec.clone()));
        assert_eq!(
            store.record_by_target_id("zoom&id=1").expect("get"),
            Some(rec.clone())
        );
        assert_eq!(store.record("nobody").expect("get"), None);
        assert_eq!(store.record_by_target_id("nothing").expect("get"), None);
        let all = store.records().expect("all");
        assert_eq!(all.len(), 1);
        assert_eq!(all.get("src-1"), Some(&rec));
    }

    #[test]
    fn upsert_replaces_and_remove_forgets() {
        let store = crate::testing::store();
        store.upsert_record(&record("a", "t-a")).expect("insert");
        let mut changed = record("a", "t-a2");
        changed.license = None;
        changed.disabled = true;
        changed.last_applied.clear();
        store.upsert_record(&changed).expect("update");
        assert_eq!(store.record("a").expect("get"), Some(changed));
        assert_eq!(store.record_by_target_id("t-a").expect("get"), None);
        assert!(store.remove_record("a").expect("remove"));
        assert!(!store.remove_record("a").expect("remove again"));
        assert!(store.records().expect("all").is_empty());
    }

    #[test]
    fn a_target_id_belongs_to_one_source_person() {
        let store = crate::testing::store();
        store.upsert_record(&record("a", "t-1")).expect("insert");
        match store.upsert_record(&record("b", "t-1")) {
            Err(StoreError::TargetIdInUse { target_id, owner }) => {
                assert_eq!((target_id.as_str(), owner.as_str()), ("t-1", "a"));
            }
            other => panic!("expected TargetIdInUse, got {other:?}"),
        }
        assert_eq!(store.records().expect("all").len(), 1);
    }

    #[test]
    fn records_where_decodes_only_the_rows_it_keeps() {
        let store = crate::testing::store();
        for id in ["a", "b", "bad"] {
            store
                .upsert_record(&record(id, &format!("t-{id}")))
                .expect("insert");
        }
        store
            .conn()
            .execute(
                "UPDATE records SET last_applied = '{not json' WHERE source_id = 'bad'",
                params![],
            )
            .expect("corrupt one");
        let kept = store.records_where(|id| id != "bad").expect("read");
        let mut ids: Vec<&str> = kept.iter().map(|r| r.source_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a", "b"]);
        assert!(matches!(
            store.records_where(|_| true),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn undecodable_json_is_an_error_not_a_panic() {
        let store = crate::testing::store();
        store.upsert_record(&record("a", "t-a")).expect("insert");
        store
            .conn()
            .execute("UPDATE records SET last_applied = '{not json'", params![])
            .expect("corrupt it");
        for result in [
            store.record("a").map(|_| ()),
            store.records().map(|_| ()),
            store.record_by_target_id("t-a").map(|_| ()),
        ] {
            match result {
                Err(StoreError::Corrupt { what }) => {
                    assert!(
                        what.contains("last_applied") && what.contains("\"a\""),
                        "{what}"
                    );
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }
}
