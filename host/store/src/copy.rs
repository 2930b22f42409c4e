//! Copying a whole state from one store to another (`muster migrate-state`): SQLite to
//! PostgreSQL when a deployment grows replicas, or back.
//!
//! Every table, rows with their ids, in one transaction of the destination: it has everything
//! (logs, records, pending intents, outbox rows, dropped changes) or nothing. The destination
//! must be empty and at the same schema version, which opening both stores ensures.

use serde::Serialize;

use crate::db::{Conn, OwnedValue, params, params_from_iter};
use crate::error::{Ctx, StoreError};
use crate::{Store, migrate};

/// The tables, parents before children, with the columns both backends have.
const TABLES: &[(&str, &str)] = &[
    (
        "cycles",
        "id, kind, status, started_at, finished_at, counts, plugin_versions",
    ),
    (
        "records",
        "source_id, target_id, matching_value, last_applied, license, plugin_versions, \
         disabled, updated_at",
    ),
    (
        "intents",
        "id, cycle_id, source_id, action, matching_value, payload, state, error, created_at, \
         finished_at",
    ),
    (
        "logs",
        "id, cycle_id, at, person_id, identity, action, status, detail",
    ),
    ("replay_blobs", "hash, data"),
    ("log_blobs", "log_id, hash"),
    ("watermarks", "source_key, value, updated_at"),
    ("meta", "key, value"),
    ("quarantine", "id, reason, since, next_attempt"),
    (
        "staged_deletes",
        "source_id, cycle_id, target_id, action, reason, staged_at",
    ),
    (
        "gateway_resources",
        "kind, id, name, external_id, body, version, created, last_modified",
    ),
    ("gateway_members", "group_id, member_id"),
    (
        "gateway_outbox",
        "seq, person_id, person, enqueued_at, attempts, rejections, next_attempt, last_error",
    ),
    (
        "gateway_dropped",
        "seq, person_id, person, enqueued_at, dropped_at, attempts, reason",
    ),
    ("settled_people", "source_id, input_hash"),
    ("plugin_answers", "plugin, person, key, version, answer"),
    ("plugin_activations", "id, plugin, version, how, \"by\", at"),
    ("plugin_components", "plugin, version, component"),
    ("graph_users", "id, data"),
    ("graph_groups", "id, data"),
    ("graph_delta_links", "name, link"),
];

/// Tables whose ids a PostgreSQL sequence hands out: set past the copied ids afterwards.
const IDENTITIES: &[(&str, &str)] = &[
    ("cycles", "id"),
    ("intents", "id"),
    ("logs", "id"),
    ("gateway_outbox", "seq"),
    ("plugin_activations", "id"),
];

/// Rows copied, per table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Copies everything in `self` into `to`, which must be empty. All or nothing.
    pub fn copy_into(&self, to: &Store) -> Result<Copied, StoreError> {
        let from = self.conn();
        if migrate::schema_version(&from)? != migrate::latest() {
            return Err(StoreError::Invalid {
                what: "the source state is not at this muster's schema version (open it once \
                       with muster serve or sync to migrate it)",
            });
        }
        let mut copied = Copied::default();
        to.write("copy the state", |dest| {
            for (table, _) in TABLES {
                if exists(dest, table)? && count(dest, table)? > 0 {
                    return Err(StoreError::NotEmpty {
                        table: (*table).to_owned(),
                    });
                }
            }
            for (table, columns) in TABLES {
                if !exists(&from, table)? {
                    copied.tables.push(((*table).to_owned(), 0));
                    continue;
                }
                let n = copy_table(&from, dest, table, columns)?;
                let landed = count(dest, table)?;
                if landed != n {
                    return Err(StoreError::Corrupt {
                        what: format!("{table}: copied {n} rows but the destination has {landed}"),
                    });
                }
                copied.tables.push(((*table).to_owned(), n));
            }
            if dest.is_postgres() {
                for (table, column) in IDENTITIES {
                    dest.execute_batch(&format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                       COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1,
                                       false)"
                    ))
                    .ctx("move the id sequences past the copied rows")?;
                }
            }
            Ok(())
        })?;
        Ok(copied)
    }
}

fn exists(conn: &Conn, table: &str) -> Result<bool, StoreError> {
    let sql = conn.dialect(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        "SELECT COUNT(*) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name = ?1",
    );
    let n: i64 = conn
        .query_row(sql, params![table], |r| r.get(0))
        .ctx("look for a table")?;
    Ok(n > 0)
}

fn count(conn: &Conn, table: &str) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| {
            r.get(0)
        })
        .ctx("count rows")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Copies one table, streaming its rows; returns the rows copied.
fn copy_table(from: &Conn, to: &Conn, table: &str, columns: &str) -> Result<u64, StoreError> {
    let width = columns.split(',').count();
    let marks = (1..=width)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!("INSERT INTO {table} ({columns}) VALUES ({marks})");
    // Staged deletes are listed in the order they were staged, which a copy keeps.
    let order = if table == "staged_deletes" {
        " ORDER BY staged_at"
    } else {
        ""
    };
    let mut read = from
        .prepare(&format!("SELECT {columns} FROM {table}{order}"))
        .ctx("read rows to copy")?;
    let mut rows = read.query(params![]).ctx("read rows to copy")?;
    let mut write = to.prepare_cached(&insert).ctx("write copied rows")?;
    let mut n = 0u64;
    let mut values: Vec<OwnedValue> = Vec::with_capacity(width);
    while let Some(row) = rows.next().ctx("read rows to copy")? {
        values.clear();
        for i in 0..width {
            values.push(row.get(i).ctx("read rows to copy")?);
        }
        write
            .execute(params_from_iter(values.iter()))
            .ctx("write copied rows")?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use engine::model::{Attributes, ProvisionedRecord};
    use serde_json::json;

    use crate::{
        CycleKind, GatewayKind, GatewayResource, GatewayUpsert, GatewayWrite, LogQuery, LogRow,
        Store,
    };

    /// A source with a row in the tables that matter most: a finished cycle with a record and
    /// logs, a pending intent, an outbox row, a gateway user.
    fn populated() -> Store {
        let store = Store::open_in_memory().expect("open");
        let cycle = store
            .start_cycle(CycleKind::Initial, &Default::default())
            .expect("cycle");
        let record = ProvisionedRecord {
            source_id: "p1".into(),
            target_id: "t1".into(),
            matching_value: "p1@example.com".into(),
            last_applied: Attributes::new(),
            license: None,
            plugin_versions: Default::default(),
            disabled: false,
        };
        let done = store
            .begin_intent(cycle, "p1", "create", "p1@example.com", &json!({}))
            .expect("intent");
        store.commit_success(done, &record).expect("commit");
        store
            .begin_intent(cycle, "p2", "create", "p2@example.com", &json!({"x": 1}))
            .expect("pending intent");
        store
            .append_logs(
                cycle,
                &[LogRow {
                    person_id: "p1".into(),
                    identity: "P1@example.com".into(),
                    action: "create".into(),
                    status: "success".into(),
                    detail: json!({"changeId": format!("{cycle}-1")}).to_string(),
                    blobs: Vec::new(),
                }],
            )
            .expect("logs");
        store
            .gateway_write(&GatewayWrite {
                upserts: vec![GatewayUpsert {
                    resource: GatewayResource {
                        kind: GatewayKind::User,
                        id: "u1".into(),
                        body: json!({"userName": "ada@example.com"}),
                        version: 1,
                        created: 1,
                        last_modified: 1,
                    },
                    name: "ada@example.com".into(),
                    external_id: None,
                    members_added: Vec::new(),
                    members_removed: Vec::new(),
                }],
                outbox: vec![("u1".into(), Some(json!({"id": "u1"})))],
                at: 1_000,
                ..GatewayWrite::default()
            })
            .expect("gateway write");
        store.set_meta("config_hash", "abc").expect("meta");
        store
    }

    #[test]
    fn a_copy_has_every_row_and_new_ids_follow_the_copied_ones() {
        let from = populated();
        let to = crate::testing::store();
        let copied = from.copy_into(&to).expect("copy");
        assert!(copied.rows() >= 8, "{copied:?}");
        assert_eq!(
            to.records().expect("records"),
            from.records().expect("records")
        );
        assert_eq!(
            to.pending_intents().expect("pending"),
            from.pending_intents().expect("pending")
        );
        let all = LogQuery::default();
        assert_eq!(to.logs(&all).expect("logs"), from.logs(&all).expect("logs"));
        assert_eq!(to.outbox_len().expect("outbox"), 1);
        assert_eq!(
            to.outbox_heads(i64::MAX, 10).expect("heads"),
            from.outbox_heads(i64::MAX, 10).expect("heads")
        );
        assert_eq!(
            to.meta("config_hash").expect("meta").as_deref(),
            Some("abc")
        );
        // Ids handed out after the copy do not collide with copied ones.
        let last = from.last_cycle().expect("cycle").expect("one").id;
        let next = to
            .start_cycle(CycleKind::Incremental, &Default::default())
            .expect("a new cycle");
        assert!(next > last, "{next} after {last}");
    }

    #[test]
    fn a_copy_into_a_store_with_state_changes_nothing() {
        let from = populated();
        let to = crate::testing::store();
        to.set_meta("config_hash", "other").expect("meta");
        let error = from.copy_into(&to).expect_err("not empty");
        assert!(error.to_string().contains("table meta has rows"), "{error}");
        assert_eq!(
            to.meta("config_hash").expect("meta").as_deref(),
            Some("other")
        );
        assert!(to.records().expect("records").is_empty());
    }
}
