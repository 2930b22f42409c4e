//! Gateway mode's state: the users and groups Entra ID pushed (the source view) and the outbox
//! of changes still to forward to the target.
//!
//! A change Entra sends is accepted in one transaction ([`Store::gateway_write`]): the new
//! resources and one outbox row per affected person commit together or not at all, so an
//! accepted change is never lost between the answer to Entra and the forward to the target.
//! The outbox is worked on per person, oldest row first ([`Store::outbox_heads`]): a person's
//! changes reach the target in the order Entra sent them, and one person's failures hold up no
//! one else.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;

use crate::Store;
use crate::error::{Ctx, StoreError, from_json, to_json};

/// The two resource types the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayKind {
    User,
    Group,
}

impl GatewayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::User => "User",
            GatewayKind::Group => "Group",
        }
    }
}

/// One stored resource. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayResource {
    pub kind: GatewayKind,
    pub id: String,
    /// The resource as accepted, without `id` and `meta` (the server's own).
    pub body: Value,
    /// Bumped on every write; the ETag is built from it.
    pub version: i64,
    pub created: i64,
    pub last_modified: i64,
}

/// A resource to insert or replace.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayUpsert {
    pub resource: GatewayResource,
    /// `userName` or `displayName`: unique per kind, ignoring case.
    pub name: String,
    pub external_id: Option<String>,
    /// For groups, the member ids (users or groups), replacing the stored ones.
    pub members: Option<Vec<String>>,
}

/// Everything one accepted request changes, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayWrite {
    pub upserts: Vec<GatewayUpsert>,
    pub deletes: Vec<(GatewayKind, String)>,
    /// `(person id, the person as the pipeline sees them now or None if deleted)`, appended to
    /// the outbox in this order.
    pub outbox: Vec<(String, Option<Value>)>,
    /// The time of the change (unix milliseconds), for the outbox rows.
    pub at: i64,
}

/// A change the gateway gave up forwarding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DroppedChange {
    /// The outbox row's seq: what a replay names.
    pub seq: i64,
    pub person_id: String,
    /// The change deleted the person.
    pub deletes: bool,
    /// Unix milliseconds.
    pub enqueued_at: i64,
    pub dropped_at: i64,
    pub attempts: u32,
    /// The last error: the target's code and message.
    pub reason: String,
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The person's oldest waiting row: its attempts and backoff are the person's.
    pub seq: i64,
    /// The person's newest row, whose state `person` is: settling the entry settles every row
    /// of the person up to it.
    pub through: i64,
    pub person_id: String,
    pub person: Option<Value>,
    /// Why the stored person does not decode (a hand edit, a downgrade): such a row holds up
    /// its own person only, never the rows of others.
    pub corrupt: Option<String>,
    pub enqueued_at: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Of those, the ones the target rejected outright (4xx).
    pub rejections: u32,
}

const RESOURCE_COLUMNS: &str = "kind, id, body, version, created, last_modified";

impl Store {
    pub fn gateway_resource(
        &self,
        kind: GatewayKind,
        id: &str,
    ) -> Result<Option<GatewayResource>, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM gateway_resources WHERE kind = ?1 AND id = ?2"
        ))
        .ctx("read a gateway resource")?
        .query_row(params![kind.as_str(), id], decode_raw)
        .optional()
        .ctx("read a gateway resource")?
        .map(RawResource::decode)
        .transpose()
    }

    /// The resource whose `userName` / `displayName` is `name`, ignoring case.
    pub fn gateway_resource_by_name(
        &self,
        kind: GatewayKind,
        name: &str,
    ) -> Result<Option<GatewayResource>, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM gateway_resources WHERE kind = ?1 AND name = ?2"
        ))
        .ctx("find a gateway resource by name")?
        .query_row(params![kind.as_str(), name], decode_raw)
        .optional()
        .ctx("find a gateway resource by name")?
        .map(RawResource::decode)
        .transpose()
    }

    /// Every resource of a kind, oldest first.
    pub fn gateway_resources(&self, kind: GatewayKind) -> Result<Vec<GatewayResource>, StoreError> {
        self.gateway_query(
            &format!(
                "SELECT {RESOURCE_COLUMNS} FROM gateway_resources WHERE kind = ?1 \
                 ORDER BY created, id"
            ),
            kind.as_str(),
        )
    }

    /// The groups that list `member_id` among their members.
    pub fn gateway_groups_of(&self, member_id: &str) -> Result<Vec<GatewayResource>, StoreError> {
        self.gateway_query(
            &format!(
                "SELECT {RESOURCE_COLUMNS} FROM gateway_resources WHERE kind = 'Group' AND id IN \
                 (SELECT group_id FROM gateway_members WHERE member_id = ?1) ORDER BY created, id"
            ),
            member_id,
        )
    }

    fn gateway_query(&self, sql: &str, arg: &str) -> Result<Vec<GatewayResource>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).ctx("read gateway resources")?;
        let raw: Vec<RawResource> = stmt
            .query_map([arg], decode_raw)
            .ctx("read gateway resources")?
            .collect::<Result<_, _>>()
            .ctx("read gateway resources")?;
        raw.into_iter().map(RawResource::decode).collect()
    }

    /// Applies one accepted change: upserts, deletes (a deleted resource also leaves every
    /// group's member index) and outbox rows, all or nothing.
    pub fn gateway_write(&self, write: &GatewayWrite) -> Result<(), StoreError> {
        let bodies = write
            .upserts
            .iter()
            .map(|u| to_json("a gateway resource", &u.resource.body))
            .collect::<Result<Vec<_>, _>>()?;
        let people = write
            .outbox
            .iter()
            .map(|(_, p)| {
                p.as_ref()
                    .map(|p| to_json("an outbox person", p))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Acknowledged to Entra once this returns: on disk, not only in the page cache.
        self.write_durable("accept a gateway change", |tx| {
            for (upsert, body) in write.upserts.iter().zip(&bodies) {
                upsert_resource(tx, upsert, body)?;
            }
            for (kind, id) in &write.deletes {
                delete_resource(tx, *kind, id)?;
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO gateway_outbox (person_id, person, enqueued_at, next_attempt)
                     VALUES (?1, ?2, ?3, ?3)",
                )
                .ctx("append to the outbox")?;
            for ((person_id, _), person) in write.outbox.iter().zip(people) {
                stmt.execute(params![person_id, person, write.at])
                    .ctx("append to the outbox")?;
            }
            Ok(())
        })
    }

    /// The people whose oldest row is due at `now` (unix ms), oldest first, at most `limit`:
    /// each with that row's attempts and backoff, and the person as the newest row has them.
    /// Rows hold whole states, not deltas, so a backlog collapses to one change per person
    /// ([`OutboxEntry::through`]), however many changes Entra sent during an outage.
    pub fn outbox_heads(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.seq, g.last, h.person_id, l.person, h.enqueued_at, h.attempts,
                        h.rejections
                 FROM (SELECT person_id, MIN(seq) AS first, MAX(seq) AS last
                       FROM gateway_outbox GROUP BY person_id) g
                 JOIN gateway_outbox h ON h.seq = g.first
                 JOIN gateway_outbox l ON l.seq = g.last
                 WHERE h.next_attempt <= ?1
                 ORDER BY h.seq LIMIT ?2",
            )
            .ctx("read the outbox")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        type Row = (i64, i64, String, Option<String>, i64, u32, u32);
        let rows: Vec<Row> = stmt
            .query_map(params![now, limit], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .ctx("read the outbox")?
            .collect::<Result<_, _>>()
            .ctx("read the outbox")?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, through, person_id, person, enqueued_at, attempts, rejections)| {
                    let decoded = person
                        .map(|p| from_json(&p, || format!("outbox row {through}")))
                        .transpose();
                    let (person, corrupt) = match decoded {
                        Ok(person) => (person, None),
                        Err(e) => (None, Some(e.to_string())),
                    };
                    OutboxEntry {
                        seq,
                        through,
                        person_id,
                        person,
                        corrupt,
                        enqueued_at,
                        attempts,
                        rejections,
                    }
                },
            )
            .collect())
    }

    /// When the earliest row not yet due becomes due (unix ms), if any row is waiting.
    pub fn outbox_next_attempt(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        conn.query_row("SELECT MIN(next_attempt) FROM gateway_outbox", [], |r| {
            r.get(0)
        })
        .ctx("read the outbox")
    }

    /// Rows waiting to be forwarded.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM gateway_outbox", [], |r| r.get(0))
            .ctx("count the outbox")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Forgets the rows that were forwarded: for each `(person id, through)`, every row of the
    /// person up to `through`, in one transaction. Rows that arrived meanwhile stay.
    pub fn outbox_done(&self, settled: &[(&str, i64)]) -> Result<(), StoreError> {
        if settled.is_empty() {
            return Ok(());
        }
        self.write("settle outbox rows", |tx| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM gateway_outbox WHERE person_id = ?1 AND seq <= ?2")
                .ctx("settle outbox rows")?;
            for (person_id, through) in settled {
                stmt.execute(params![person_id, through])
                    .ctx("settle outbox rows")?;
            }
            Ok(())
        })
    }

    /// Gives up on an entry: its newest row (the state the target refused) moves to the dropped
    /// changes, with why, for an operator to read ([`Store::outbox_dropped`]) and replay; the
    /// older rows it stood for go. Rows that arrived meanwhile are forwarded next.
    pub fn outbox_drop(
        &self,
        entry: &OutboxEntry,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        self.write("drop an outbox row", |tx| {
            tx.execute(
                "INSERT INTO gateway_dropped
                    (seq, person_id, person, enqueued_at, dropped_at, attempts, reason)
                 SELECT seq, person_id, person, ?2, ?3, ?4, ?5
                 FROM gateway_outbox WHERE seq = ?1",
                params![
                    entry.through,
                    entry.enqueued_at,
                    at,
                    entry.attempts + 1,
                    reason
                ],
            )
            .ctx("drop an outbox row")?;
            tx.execute(
                "DELETE FROM gateway_outbox WHERE person_id = ?1 AND seq <= ?2",
                params![entry.person_id, entry.through],
            )
            .ctx("drop an outbox row")?;
            Ok(())
        })
    }

    /// Dropped changes, newest first, at most `limit`.
    pub fn outbox_dropped(&self, limit: usize) -> Result<Vec<DroppedChange>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, person_id, person IS NULL, enqueued_at, dropped_at, attempts, reason
                 FROM gateway_dropped ORDER BY seq DESC LIMIT ?1",
            )
            .ctx("read the dropped changes")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        stmt.query_map([limit], |r| {
            Ok(DroppedChange {
                seq: r.get(0)?,
                person_id: r.get(1)?,
                deletes: r.get(2)?,
                enqueued_at: r.get(3)?,
                dropped_at: r.get(4)?,
                attempts: r.get(5)?,
                reason: r.get(6)?,
            })
        })
        .ctx("read the dropped changes")?
        .collect::<Result<_, _>>()
        .ctx("read the dropped changes")
    }

    /// Replays a dropped change: appends `person` (the person as the source view has them now,
    /// None if deleted) to the outbox and forgets the dropped row, in one transaction. Returns
    /// false, changing nothing, when no dropped change has that seq.
    pub fn outbox_replay(
        &self,
        seq: i64,
        person: Option<&Value>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let person = person.map(|p| to_json("an outbox person", p)).transpose()?;
        self.write("replay a dropped change", |tx| {
            let person_id: Option<String> = tx
                .query_row(
                    "SELECT person_id FROM gateway_dropped WHERE seq = ?1",
                    [seq],
                    |r| r.get(0),
                )
                .optional()
                .ctx("replay a dropped change")?;
            let Some(person_id) = person_id else {
                return Ok(false);
            };
            tx.execute(
                "INSERT INTO gateway_outbox (person_id, person, enqueued_at, next_attempt)
                 VALUES (?1, ?2, ?3, ?3)",
                params![person_id, person, at],
            )
            .ctx("replay a dropped change")?;
            tx.execute("DELETE FROM gateway_dropped WHERE seq = ?1", [seq])
                .ctx("replay a dropped change")?;
            Ok(true)
        })
    }

    /// The person id of a dropped change.
    pub fn dropped_person(&self, seq: i64) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT person_id FROM gateway_dropped WHERE seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .optional()
        .ctx("read a dropped change")
    }

    /// Makes every waiting row due at `now` (unix ms): after an admin action that lets held
    /// rows through, they go at once rather than after their backoff.
    pub fn outbox_due_now(&self, now: i64) -> Result<(), StoreError> {
        self.write("make the outbox due", |tx| {
            tx.execute(
                "UPDATE gateway_outbox SET next_attempt = ?1 WHERE next_attempt > ?1",
                [now],
            )
            .ctx("make the outbox due")?;
            Ok(())
        })
    }

    /// Records a failed attempt and when to try again (unix ms).
    pub fn outbox_retry(
        &self,
        seq: i64,
        next_attempt: i64,
        rejected: bool,
        error: &str,
    ) -> Result<(), StoreError> {
        self.write("reschedule an outbox row", |tx| {
            tx.execute(
                "UPDATE gateway_outbox SET attempts = attempts + 1,
                    rejections = rejections + ?2, next_attempt = ?3, last_error = ?4
                 WHERE seq = ?1",
                params![seq, i64::from(rejected), next_attempt, error],
            )
            .ctx("reschedule an outbox row")?;
            Ok(())
        })
    }
}

fn upsert_resource(
    tx: &Transaction<'_>,
    upsert: &GatewayUpsert,
    body: &str,
) -> Result<(), StoreError> {
    let r = &upsert.resource;
    tx.prepare_cached(
        "INSERT INTO gateway_resources
            (kind, id, name, external_id, body, version, created, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name,
            external_id = excluded.external_id, body = excluded.body,
            version = excluded.version, last_modified = excluded.last_modified",
    )
    .ctx("write a gateway resource")?
    .execute(params![
        r.kind.as_str(),
        r.id,
        upsert.name,
        upsert.external_id,
        body,
        r.version,
        r.created,
        r.last_modified
    ])
    .ctx("write a gateway resource")?;
    if let Some(members) = &upsert.members {
        tx.prepare_cached("DELETE FROM gateway_members WHERE group_id = ?1")
            .ctx("write group members")?
            .execute([&r.id])
            .ctx("write group members")?;
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO gateway_members (group_id, member_id) VALUES (?1, ?2)",
            )
            .ctx("write group members")?;
        for member in members {
            stmt.execute(params![r.id, member])
                .ctx("write group members")?;
        }
    }
    Ok(())
}

fn delete_resource(tx: &Transaction<'_>, kind: GatewayKind, id: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM gateway_resources WHERE kind = ?1 AND id = ?2",
        params![kind.as_str(), id],
    )
    .ctx("delete a gateway resource")?;
    let column = match kind {
        GatewayKind::Group => "group_id",
        GatewayKind::User => "member_id",
    };
    tx.execute(
        &format!("DELETE FROM gateway_members WHERE {column} = ?1"),
        [id],
    )
    .ctx("delete a gateway resource")?;
    Ok(())
}

/// A row before its JSON is decoded (decoding errors are the store's, not SQLite's).
struct RawResource {
    kind: String,
    id: String,
    body: String,
    version: i64,
    created: i64,
    last_modified: i64,
}

fn decode_raw(row: &Row<'_>) -> rusqlite::Result<RawResource> {
    Ok(RawResource {
        kind: row.get(0)?,
        id: row.get(1)?,
        body: row.get(2)?,
        version: row.get(3)?,
        created: row.get(4)?,
        last_modified: row.get(5)?,
    })
}

impl RawResource {
    fn decode(self) -> Result<GatewayResource, StoreError> {
        let kind = match self.kind.as_str() {
            "User" => GatewayKind::User,
            "Group" => GatewayKind::Group,
            other => {
                return Err(StoreError::Corrupt {
                    what: format!("gateway resource {} has kind {other:?}", self.id),
                });
            }
        };
        let id = self.id;
        let body = from_json(&self.body, || format!("gateway resource {id}"))?;
        Ok(GatewayResource {
            kind,
            id,
            body,
            version: self.version,
            created: self.created,
            last_modified: self.last_modified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upsert(kind: GatewayKind, id: &str, name: &str, members: Option<&[&str]>) -> GatewayUpsert {
        GatewayUpsert {
            resource: GatewayResource {
                kind,
                id: id.into(),
                body: json!({"name": name}),
                version: 1,
                created: 1,
                last_modified: 1,
            },
            name: name.into(),
            external_id: None,
            members: members.map(|m| m.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn resources_members_and_outbox_commit_together() {
        let store = Store::open_in_memory().expect("open");
        let write = GatewayWrite {
            upserts: vec![
                upsert(GatewayKind::User, "u1", "Ann@x", None),
                upsert(GatewayKind::User, "u2", "bob@x", None),
                upsert(GatewayKind::Group, "g1", "Licensed", Some(&["u1", "u2"])),
            ],
            deletes: vec![],
            outbox: vec![
                ("u1".into(), Some(json!({"id": "u1"}))),
                ("u2".into(), Some(json!({"id": "u2"}))),
                ("u1".into(), None),
            ],
            at: 10,
        };
        store.gateway_write(&write).expect("write");
        let found = store
            .gateway_resource_by_name(GatewayKind::User, "ann@X")
            .expect("read")
            .expect("found ignoring case");
        assert_eq!(found.id, "u1");
        let groups = store.gateway_groups_of("u2").expect("groups");
        assert_eq!(groups.len(), 1);
        assert_eq!(store.outbox_len().expect("len"), 3);

        // One entry per person, ordered by the oldest row, with the newest row's state: u1's
        // two rows collapse to its last (deleted).
        let heads = store.outbox_heads(10, 10).expect("heads");
        let seqs: Vec<(String, bool, i64, i64)> = heads
            .iter()
            .map(|e| (e.person_id.clone(), e.person.is_some(), e.seq, e.through))
            .collect();
        assert_eq!(
            seqs,
            vec![("u1".into(), false, 1, 3), ("u2".into(), true, 2, 2)]
        );
        store
            .outbox_retry(heads[0].seq, 1000, true, "refused")
            .expect("retry");
        let due = store.outbox_heads(10, 10).expect("heads");
        assert_eq!(due.len(), 1, "u1's head waits until 1000: {due:?}");
        assert_eq!(store.outbox_next_attempt().expect("next"), Some(10));
        // A change that arrives while u1 is being forwarded stays for the next pass.
        store
            .gateway_write(&GatewayWrite {
                outbox: vec![("u1".into(), Some(json!({"id": "u1", "v": 4})))],
                at: 11,
                ..GatewayWrite::default()
            })
            .expect("a later change");
        store
            .outbox_done(&[("u1", heads[0].through)])
            .expect("done");
        let heads = store.outbox_heads(2000, 10).expect("heads");
        assert_eq!(heads.len(), 2);
        assert!(
            heads
                .iter()
                .any(|e| e.person_id == "u1" && e.seq == 4 && e.person.is_some())
        );

        store
            .gateway_write(&GatewayWrite {
                deletes: vec![(GatewayKind::User, "u2".into())],
                ..GatewayWrite::default()
            })
            .expect("delete");
        assert!(store.gateway_groups_of("u2").expect("groups").is_empty());
        assert!(
            store
                .gateway_resource(GatewayKind::User, "u2")
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn a_row_that_does_not_decode_is_reported_and_the_others_still_come() {
        let store = Store::open_in_memory().expect("open");
        store
            .gateway_write(&GatewayWrite {
                outbox: vec![
                    ("u1".into(), Some(json!({"id": "u1"}))),
                    ("u2".into(), Some(json!({"id": "u2"}))),
                ],
                at: 1,
                ..GatewayWrite::default()
            })
            .expect("write");
        store
            .conn()
            .execute(
                "UPDATE gateway_outbox SET person = '{not json' WHERE person_id = 'u1'",
                [],
            )
            .expect("corrupt a row");
        let heads = store
            .outbox_heads(10, 10)
            .expect("the pass still reads the outbox");
        assert_eq!(heads.len(), 2);
        assert!(heads[0].corrupt.is_some() && heads[0].person.is_none());
        assert_eq!(heads[1].corrupt, None);
        assert_eq!(heads[1].person, Some(json!({"id": "u2"})));

        // Dropped, it is kept with the state it had, and can be replayed as a new row.
        store
            .outbox_drop(&heads[0], "InvalidOutboxRow: does not decode", 5)
            .expect("drop");
        let dropped = store.outbox_dropped(10).expect("dropped");
        assert_eq!(dropped.len(), 1);
        assert_eq!(
            (dropped[0].person_id.as_str(), dropped[0].attempts),
            ("u1", 1)
        );
        assert_eq!(store.outbox_len().expect("len"), 1);
        let fresh = json!({"id": "u1", "fixed": true});
        assert!(
            store
                .outbox_replay(dropped[0].seq, Some(&fresh), 6)
                .expect("replay")
        );
        assert!(
            !store
                .outbox_replay(dropped[0].seq, Some(&fresh), 6)
                .expect("once")
        );
        assert!(store.outbox_dropped(10).expect("dropped").is_empty());
        let heads = store.outbox_heads(10, 10).expect("heads");
        assert!(
            heads
                .iter()
                .any(|e| e.person_id == "u1" && e.person == Some(fresh.clone()))
        );
    }

    #[test]
    fn names_are_unique_per_kind_and_a_failed_write_leaves_nothing() {
        let store = Store::open_in_memory().expect("open");
        let first = GatewayWrite {
            upserts: vec![upsert(GatewayKind::User, "u1", "same", None)],
            ..GatewayWrite::default()
        };
        store.gateway_write(&first).expect("first");
        let clash = GatewayWrite {
            upserts: vec![
                upsert(GatewayKind::Group, "g1", "same", Some(&[])),
                upsert(GatewayKind::User, "u2", "SAME", None),
            ],
            outbox: vec![("u2".into(), None)],
            ..GatewayWrite::default()
        };
        assert!(store.gateway_write(&clash).is_err());
        assert!(
            store
                .gateway_resource(GatewayKind::Group, "g1")
                .expect("read")
                .is_none(),
            "rolled back"
        );
        assert_eq!(store.outbox_len().expect("len"), 0);
    }
}
