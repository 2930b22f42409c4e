//! Sync runs: one row each, written when the run starts and again when it ends.

use std::collections::BTreeMap;

use crate::db::{Conn, Row, params};
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, StoreError, from_json, to_json};
use crate::{Store, now_unix};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleKind {
    /// Everything in scope, from scratch (first run, restart, changed mappings).
    Initial,
    /// Changes since the watermark.
    Incremental,
    /// One person, on an admin's request.
    OnDemand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStatus {
    Running,
    Succeeded,
    Failed,
    /// The process stopped (crash, `kill -9`) while the cycle ran; set on the next open.
    Interrupted,
    /// Finished, but deletes were held back by the deletion threshold.
    Staged,
}

/// What a cycle did, by outcome. Stored as JSON with every field defaulted, so a count added
/// later reads as zero from older rows without a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CycleCounts {
    pub created: u64,
    pub updated: u64,
    pub disabled: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub failed: u64,
    pub staged: u64,
    pub unchanged: u64,
    /// Requests sent to the target (retries included).
    pub writes: u64,
    /// Seats used and bought per plan or add-on, as planned, where `[license] seats` sets a
    /// budget.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub seats: std::collections::BTreeMap<String, engine::seats::SeatUse>,
    /// Staged plugin versions run in shadow beside the active ones, and how they compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow: Vec<engine::preview::ShadowCounts>,
    /// A delta cycle's planned people (their inputs changed since their last settled plan, or
    /// their record's person is gone); the rest are in `unchanged` without being planned.
    /// `None`: everyone was planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<u64>,
    /// Plugin calls answered from the memo of plugin answers, and calls made.
    #[serde(skip_serializing_if = "is_zero")]
    pub memo_hits: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub memo_misses: u64,
    /// The licenses the provisioned people held when the cycle finished (enabled records
    /// only, [`Store::license_tally`]): the console's licenses-over-time chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<LicenseTally>,
}

/// How many enabled provisioned people hold each plan and each add-on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LicenseTally {
    pub plans: BTreeMap<String, u64>,
    pub add_ons: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleRecord {
    pub id: i64,
    pub kind: CycleKind,
    pub status: CycleStatus,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// None while running, and for a cycle a crash interrupted (nobody counted).
    pub counts: Option<CycleCounts>,
    /// Plugin name → version, pinned for the whole cycle.
    pub plugin_versions: BTreeMap<String, String>,
}

impl CycleKind {
    fn as_str(self) -> &'static str {
        match self {
            CycleKind::Initial => "initial",
            CycleKind::Incremental => "incremental",
            CycleKind::OnDemand => "on_demand",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Initial, Self::Incremental, Self::OnDemand]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl CycleStatus {
    fn as_str(self) -> &'static str {
        match self {
            CycleStatus::Running => "running",
            CycleStatus::Succeeded => "succeeded",
            CycleStatus::Failed => "failed",
            CycleStatus::Interrupted => "interrupted",
            CycleStatus::Staged => "staged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Interrupted,
            Self::Staged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl Store {
    /// Records the start of a cycle with the plugin versions it pinned; returns its id.
    pub fn start_cycle(
        &self,
        kind: CycleKind,
        plugin_versions: &BTreeMap<String, String>,
    ) -> Result<i64, StoreError> {
        let versions = to_json("plugin versions", plugin_versions)?;
        self.write("start a cycle", |tx| {
            tx.query_row(
                "INSERT INTO cycles (kind, status, started_at, plugin_versions)
                 VALUES (?1, 'running', ?2, ?3) RETURNING id",
                params![kind.as_str(), now_unix(), versions],
                |r| r.get(0),
            )
            .ctx("start a cycle")
        })
    }

    /// Records how a running cycle ended. `status` must not be `Running`.
    pub fn finish_cycle(
        &self,
        id: i64,
        status: CycleStatus,
        counts: &CycleCounts,
    ) -> Result<(), StoreError> {
        if status == CycleStatus::Running {
            return Err(StoreError::Invalid {
                what: "a cycle cannot finish as running",
            });
        }
        let counts = to_json("cycle counts", counts)?;
        self.write("finish a cycle", |tx| {
            let n = tx
                .execute(
                    "UPDATE cycles SET status = ?2, finished_at = ?3, counts = ?4
                     WHERE id = ?1 AND status = 'running'",
                    params![id, status.as_str(), now_unix(), counts],
                )
                .ctx("finish a cycle")?;
            if n == 0 {
                return Err(StoreError::CycleNotRunning { id });
            }
            Ok(())
        })
    }

    /// The newest `limit` cycles, newest first.
    pub fn cycles(&self, limit: usize) -> Result<Vec<CycleRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, kind, status, started_at, finished_at, counts, plugin_versions
                 FROM cycles ORDER BY id DESC LIMIT ?1",
            )
            .ctx("read cycles")?;
        let mut rows = stmt
            .query([i64::try_from(limit).unwrap_or(i64::MAX)])
            .ctx("read cycles")?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().ctx("read cycles")? {
            out.push(decode(&row)?);
        }
        Ok(out)
    }

    pub fn last_cycle(&self) -> Result<Option<CycleRecord>, StoreError> {
        Ok(self.cycles(1)?.pop())
    }

    /// The licenses held now, by the enabled provisioned people.
    pub fn license_tally(&self) -> Result<LicenseTally, StoreError> {
        let conn = self.conn();
        let count = |sql: &str| -> Result<BTreeMap<String, u64>, StoreError> {
            let mut stmt = conn.prepare_cached(sql).ctx("count licenses")?;
            let rows = stmt
                .query_map(params![], |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)))
                .ctx("count licenses")?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (name, n) = row.ctx("count licenses")?;
                out.insert(name, u64::try_from(n).unwrap_or(0));
            }
            Ok(out)
        };
        Ok(LicenseTally {
        plans: count(conn.dialect(
            "SELECT json_extract(license, '$.plan') AS plan, COUNT(*) FROM records
             WHERE disabled = 0 AND plan IS NOT NULL GROUP BY plan",
            "SELECT CAST(license AS JSONB) ->> 'plan' AS plan, COUNT(*) FROM records
             WHERE disabled = 0 AND CAST(license AS JSONB) ->> 'plan' IS NOT NULL GROUP BY 1",
        ))?,
        add_ons: count(conn.dialect(
            "SELECT a.value, COUNT(*) FROM records, json_each(records.license, '$.add_ons') AS a
             WHERE records.disabled = 0 AND records.license IS NOT NULL GROUP BY a.value",
            "SELECT a.value, COUNT(*) FROM records,
               jsonb_array_elements_text(CAST(records.license AS JSONB) -> 'add_ons') AS a (value)
             WHERE records.disabled = 0 AND records.license IS NOT NULL GROUP BY a.value",
        ))?,
    })
    }
}

/// On open: a cycle still `running` belongs to a process that is gone.
pub(crate) fn interrupt_running(conn: &Conn) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE cycles SET status = 'interrupted', finished_at = ?1 WHERE status = 'running'",
        [now_unix()],
    )
    .ctx("mark crashed cycles interrupted")
}

fn decode(row: &Row<'_>) -> Result<CycleRecord, StoreError> {
    let id: i64 = row.get(0).ctx("read cycles")?;
    let kind: String = row.get(1).ctx("read cycles")?;
    let status: String = row.get(2).ctx("read cycles")?;
    let counts: Option<String> = row.get(5).ctx("read cycles")?;
    let versions: String = row.get(6).ctx("read cycles")?;
    let corrupt = |what: String| StoreError::Corrupt { what };
    Ok(CycleRecord {
        id,
        kind: CycleKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("cycles.kind {kind:?} of cycle {id}")))?,
        status: CycleStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("cycles.status {status:?} of cycle {id}")))?,
        started_at: row.get(3).ctx("read cycles")?,
        finished_at: row.get(4).ctx("read cycles")?,
        counts: counts
            .map(|c| from_json(&c, || format!("cycles.counts of cycle {id}")))
            .transpose()?,
        plugin_versions: from_json(&versions, || {
            format!("cycles.plugin_versions of cycle {id}")
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> BTreeMap<String, String> {
        BTreeMap::from([("normalize".into(), "sha256:01".into())])
    }

    #[test]
    fn cycle_round_trip() {
        let store = crate::testing::store();
        assert_eq!(store.last_cycle().expect("none"), None);
        let id = store
            .start_cycle(CycleKind::OnDemand, &versions())
            .expect("start");
        let running = store.last_cycle().expect("read").expect("one");
        assert_eq!(
            (running.id, running.kind, running.status),
            (id, CycleKind::OnDemand, CycleStatus::Running)
        );
        assert_eq!((running.finished_at, running.counts), (None, None));
        assert_eq!(running.plugin_versions, versions());

        let counts = CycleCounts {
            created: 1,
            updated: 2,
            disabled: 3,
            deleted: 4,
            skipped: 5,
            failed: 6,
            staged: 7,
            unchanged: 8,
            writes: 9,
            planned: Some(12),
            memo_hits: 13,
            memo_misses: 14,
            licenses: Some(LicenseTally {
                plans: BTreeMap::from([("licensed".into(), 15)]),
                add_ons: BTreeMap::from([("phone".into(), 16)]),
            }),
            seats: [(
                "licensed".to_string(),
                engine::seats::SeatUse {
                    used: 10,
                    budget: 11,
                },
            )]
            .into(),
            shadow: vec![engine::preview::ShadowCounts {
                plugin: "license-by-group".into(),
                version: "abc".into(),
                license_changes: 3,
                passed: true,
                ..Default::default()
            }],
        };
        store
            .finish_cycle(id, CycleStatus::Staged, &counts)
            .expect("finish");
        let done = store.last_cycle().expect("read").expect("one");
        assert_eq!(done.status, CycleStatus::Staged);
        assert_eq!(done.counts, Some(counts.clone()));
        assert!(done.finished_at.is_some_and(|f| f >= done.started_at));
    }

    #[test]
    fn the_license_tally_counts_what_enabled_people_hold() {
        use engine::model::License;
        let store = crate::testing::store();
        let held = [
            (
                "a",
                Some(License::new("licensed", ["webinar", "phone"])),
                false,
            ),
            ("b", Some(License::new("licensed", ["phone"])), false),
            (
                "c",
                Some(License::new("basic", Vec::<String>::new())),
                false,
            ),
            ("d", Some(License::new("licensed", ["phone"])), true),
            ("e", None, false),
        ];
        for (id, license, disabled) in held {
            let mut record = crate::records::tests::record(id, &format!("t-{id}"));
            record.license = license;
            record.disabled = disabled;
            store.upsert_record(&record).expect("record");
        }
        let want = LicenseTally {
            plans: BTreeMap::from([("basic".into(), 1), ("licensed".into(), 2)]),
            add_ons: BTreeMap::from([("phone".into(), 2), ("webinar".into(), 1)]),
        };
        assert_eq!(store.license_tally().expect("tally"), want);
    }

    #[test]
    fn finish_only_a_running_cycle_and_not_as_running() {
        let store = crate::testing::store();
        let id = store
            .start_cycle(CycleKind::Initial, &versions())
            .expect("start");
        let counts = CycleCounts::default();
        assert!(matches!(
            store.finish_cycle(id, CycleStatus::Running, &counts),
            Err(StoreError::Invalid { .. })
        ));
        store
            .finish_cycle(id, CycleStatus::Succeeded, &counts)
            .expect("finish");
        assert!(matches!(
            store.finish_cycle(id, CycleStatus::Failed, &counts),
            Err(StoreError::CycleNotRunning { .. })
        ));
        assert!(matches!(
            store.finish_cycle(77, CycleStatus::Failed, &counts),
            Err(StoreError::CycleNotRunning { id: 77 })
        ));
    }

    #[test]
    fn cycles_newest_first_with_limit() {
        let store = crate::testing::store();
        let ids: Vec<i64> = [
            CycleKind::Initial,
            CycleKind::Incremental,
            CycleKind::Incremental,
        ]
        .into_iter()
        .map(|k| store.start_cycle(k, &versions()).expect("start"))
        .collect();
        let got: Vec<i64> = store
            .cycles(2)
            .expect("read")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, [ids[2], ids[1]]);
        assert_eq!(store.cycles(10).expect("read").len(), 3);
        assert!(store.cycles(0).expect("read").is_empty());
    }

    #[test]
    fn a_cycle_left_running_by_a_crash_is_interrupted_on_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.db");
        let store = Store::open(&path).expect("open");
        let done = store
            .start_cycle(CycleKind::Initial, &versions())
            .expect("start");
        store
            .finish_cycle(done, CycleStatus::Succeeded, &CycleCounts::default())
            .expect("finish");
        let crashed = store
            .start_cycle(CycleKind::Incremental, &versions())
            .expect("start");
        drop(store);

        let store = Store::open(&path).expect("reopen");
        let cycles = store.cycles(10).expect("read");
        assert_eq!(cycles[0].id, crashed);
        assert_eq!(cycles[0].status, CycleStatus::Interrupted);
        assert!(cycles[0].finished_at.is_some());
        assert_eq!(cycles[0].counts, None);
        assert_eq!(cycles[1].status, CycleStatus::Succeeded);
    }

    #[test]
    fn counts_from_an_older_shape_default_missing_fields() {
        let store = crate::testing::store();
        let id = store
            .start_cycle(CycleKind::Initial, &versions())
            .expect("start");
        store
            .conn()
            .execute(
                "UPDATE cycles SET status = 'failed', counts = '{\"created\": 4}' WHERE id = ?1",
                [id],
            )
            .expect("write");
        let c = store.last_cycle().expect("read").expect("one");
        assert_eq!(
            c.counts,
            Some(CycleCounts {
                created: 4,
                ..CycleCounts::default()
            })
        );
    }

    #[test]
    fn unknown_status_text_is_corrupt_not_a_panic() {
        let store = crate::testing::store();
        store
            .start_cycle(CycleKind::Initial, &versions())
            .expect("start");
        // The CHECK constraint guards writes; bypass it as a hand edit would.
        let conn = store.conn();
        conn.execute_batch(conn.dialect(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE cycles SET status = 'paused';
             PRAGMA ignore_check_constraints = OFF;",
            "ALTER TABLE cycles DROP CONSTRAINT cycles_status_check;
             UPDATE cycles SET status = 'paused';",
        ))
        .expect("edit");
        drop(conn);
        assert!(matches!(
            store.last_cycle(),
            Err(StoreError::Corrupt { what }) if what.contains("paused")
        ));
    }
}
