//! Gateway mode's state: the users and groups Entra ID pushed (the source view) and the outbox
//! of changes still to forward to the target.
//!
//! A change Entra sends is accepted in one transaction ([`Store::gateway_write`]): the new
//! resources and one outbox row per affected person commit together or not at all, so an
//! accepted change is never lost between the answer to Entra and the forward to the target.
//! The outbox is worked on per person, oldest row first ([`Store::outbox_heads`]): a person's
//! changes reach the target in the order Entra sent them, and one person's failures hold up no
//! one else.

use std::collections::HashMap;

use crate::db::{Conn, DbError, OptionalExtension, Row, params};
use engine::model::GroupRef;
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
    /// For groups, the member ids (users or groups) this write adds to the member index and
    /// removes from it: a change of k members writes k rows, however many the group has.
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
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

// The list and look-up queries, each answered from an index (the `query_plans` test checks
// that none scans a table). A join from the members starts from the member index explicitly
// (CROSS JOIN fixes SQLite's join order): started from the groups' creation-order index, which
// yields the order wanted, it would walk every group.
const COUNT_SQL: &str = "SELECT COUNT(*) FROM gateway_resources WHERE kind = ?1";
const PAGE_SQL: &str = "SELECT kind, id, body, version, created, last_modified \
     FROM gateway_resources WHERE kind = ?1 ORDER BY created, id LIMIT ?2 OFFSET ?3";
const AFTER_SQL: &str = "SELECT kind, id, body, version, created, last_modified \
     FROM gateway_resources WHERE kind = ?1 AND (created, id) > (?2, ?3) \
     ORDER BY created, id LIMIT ?4";
const BY_EXTERNAL_ID_SQL: &str = "SELECT kind, id, body, version, created, last_modified \
     FROM gateway_resources WHERE kind = ?1 AND external_id = ?2 ORDER BY created, id";
const GROUPS_OF_SQL: &str = "SELECT g.kind, g.id, g.body, g.version, g.created, \
     g.last_modified FROM gateway_members m CROSS JOIN gateway_resources g \
     ON g.kind = 'Group' AND g.id = m.group_id WHERE m.member_id = ?1 ORDER BY g.created, g.id";

/// The group references of `n` members (`IN` with `n` parameters).
fn group_refs_sql(n: usize) -> String {
    let marks = (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT m.member_id, g.id, g.name FROM gateway_members m CROSS JOIN gateway_resources g \
         ON g.kind = 'Group' AND g.id = m.group_id WHERE m.member_id IN ({marks}) \
         ORDER BY g.created, g.id"
    )
}

/// Most ids bound into one `IN (…)` list (SQLite allows 32,766 parameters).
const IN_BATCH: usize = 500;

/// A count as SQLite's integer, saturating.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

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

    /// The resources whose `externalId` is `external_id` (exactly: it is case-exact), oldest
    /// first.
    pub fn gateway_resources_by_external_id(
        &self,
        kind: GatewayKind,
        external_id: &str,
    ) -> Result<Vec<GatewayResource>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(BY_EXTERNAL_ID_SQL)
            .ctx("find gateway resources by externalId")?;
        let raw: Vec<RawResource> = stmt
            .query_map(params![kind.as_str(), external_id], decode_raw)
            .ctx("find gateway resources by externalId")?
            .collect::<Result<_, _>>()
            .ctx("find gateway resources by externalId")?;
        raw.into_iter().map(RawResource::decode).collect()
    }

    /// How many resources of a kind there are.
    pub fn gateway_count(&self, kind: GatewayKind) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn
            .prepare_cached(COUNT_SQL)
            .ctx("count gateway resources")?
            .query_row([kind.as_str()], |r| r.get(0))
            .ctx("count gateway resources")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One page of the resources of a kind, oldest first (`created`, then `id`): `limit` of
    /// them after skipping `offset`.
    pub fn gateway_page(
        &self,
        kind: GatewayKind,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<GatewayResource>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(PAGE_SQL)
            .ctx("read a page of gateway resources")?;
        let (limit, offset) = (sql_int(limit), sql_int(offset));
        let raw: Vec<RawResource> = stmt
            .query_map(params![kind.as_str(), limit, offset], decode_raw)
            .ctx("read a page of gateway resources")?
            .collect::<Result<_, _>>()
            .ctx("read a page of gateway resources")?;
        raw.into_iter().map(RawResource::decode).collect()
    }

    /// Up to `limit` resources of a kind that come after `after` (`(created, id)` of the last
    /// one of the previous batch; None: from the first) in the order of
    /// [`Store::gateway_page`]: for walking every resource in batches without holding them all.
    pub fn gateway_batch_after(
        &self,
        kind: GatewayKind,
        after: Option<(i64, &str)>,
        limit: u64,
    ) -> Result<Vec<GatewayResource>, StoreError> {
        let conn = self.conn();
        let op = "read a batch of gateway resources";
        let raw: Vec<RawResource> = match after {
            None => conn
                .prepare_cached(PAGE_SQL)
                .ctx(op)?
                .query_map(params![kind.as_str(), sql_int(limit), 0], decode_raw)
                .ctx(op)?
                .collect::<Result<_, _>>(),
            Some((created, id)) => conn
                .prepare_cached(AFTER_SQL)
                .ctx(op)?
                .query_map(
                    params![kind.as_str(), created, id, sql_int(limit)],
                    decode_raw,
                )
                .ctx(op)?
                .collect::<Result<_, _>>(),
        }
        .ctx(op)?;
        raw.into_iter().map(RawResource::decode).collect()
    }

    /// The groups each of `member_ids` is directly in, oldest group first, as references (id
    /// and `displayName`, from the columns: no group body is read, however many members it
    /// lists). One query per [`IN_BATCH`] members, not one per member. Members in no group
    /// are absent from the map.
    pub fn gateway_group_refs_of(
        &self,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Vec<GroupRef>>, StoreError> {
        let mut out: HashMap<String, Vec<GroupRef>> = HashMap::new();
        let conn = self.conn();
        for chunk in member_ids.chunks(IN_BATCH) {
            let mut stmt = conn
                .prepare_cached(&group_refs_sql(chunk.len()))
                .ctx("read group memberships")?;
            let rows = stmt
                .query_map(crate::db::params_from_iter(chunk.iter()), |r| {
                    Ok((r.get::<String>(0)?, r.get(1)?, r.get(2)?))
                })
                .ctx("read group memberships")?;
            for row in rows {
                let (member, id, display_name) = row.ctx("read group memberships")?;
                out.entry(member).or_default().push(GroupRef {
                    id,
                    display_name,
                    via: None,
                });
            }
        }
        Ok(out)
    }

    /// The groups that list `member_id` among their members, oldest first.
    pub fn gateway_groups_of(&self, member_id: &str) -> Result<Vec<GatewayResource>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(GROUPS_OF_SQL)
            .ctx("read gateway resources")?;
        let raw: Vec<RawResource> = stmt
            .query_map([member_id], decode_raw)
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
        read_heads(&self.conn(), now, limit, "", now)
    }

    /// [`Store::outbox_heads`] for a replica that forwards them: the people whose oldest row
    /// is due and not claimed by another replica, each claimed for `holder` for `claim_ms`
    /// (by the database's clock) in the same transaction. No other replica takes them until
    /// they are settled ([`Store::outbox_done`], [`Store::outbox_retry`],
    /// [`Store::outbox_drop`]) or the claim has expired because `holder` died. The claim is
    /// a column rather than a row lock (`FOR UPDATE SKIP LOCKED`) because it must outlive the
    /// transaction: forwarding is HTTP to the target, and no transaction stays open for it.
    pub fn outbox_claim(
        &self,
        now: i64,
        limit: usize,
        holder: &str,
        claim_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let op = "claim outbox rows";
        self.write(op, |tx| {
            let clock = crate::leases::now_ms(tx)?;
            let heads = read_heads(tx, now, limit, holder, clock)?;
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE gateway_outbox SET claimed_by = ?2, claimed_until = ?3 WHERE seq = ?1",
                )
                .ctx(op)?;
            for head in &heads {
                stmt.execute(params![head.seq, holder, clock.saturating_add(claim_ms)])
                    .ctx(op)?;
            }
            Ok(heads)
        })
    }

    /// When the earliest row not yet due becomes due (unix ms), if any row is waiting: over
    /// the people's oldest rows only (a newer row waits behind its person's oldest, whatever
    /// its own time), and a claimed row not before its claim expires.
    pub fn outbox_next_attempt(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT MIN(CASE WHEN h.claimed_until > h.next_attempt THEN h.claimed_until
                             ELSE h.next_attempt END)
             FROM gateway_outbox h
             WHERE h.seq IN (SELECT MIN(seq) FROM gateway_outbox GROUP BY person_id)",
            params![],
            |r| r.get(0),
        )
        .ctx("read the outbox")
    }

    /// When the oldest row waiting was accepted (unix ms), if any row is waiting.
    pub fn outbox_oldest(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT MIN(enqueued_at) FROM gateway_outbox",
            params![],
            |r| r.get(0),
        )
        .ctx("read the outbox")
    }

    /// Rows waiting to be forwarded.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM gateway_outbox", params![], |r| {
                r.get(0)
            })
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
                    rejections = rejections + ?2, next_attempt = ?3, last_error = ?4,
                    claimed_by = NULL, claimed_until = NULL
                 WHERE seq = ?1",
                params![seq, i64::from(rejected), next_attempt, error],
            )
            .ctx("reschedule an outbox row")?;
            Ok(())
        })
    }
}

fn upsert_resource(tx: &Conn, upsert: &GatewayUpsert, body: &str) -> Result<(), StoreError> {
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
    if !upsert.members_removed.is_empty() {
        let mut stmt = tx
            .prepare_cached("DELETE FROM gateway_members WHERE group_id = ?1 AND member_id = ?2")
            .ctx("write group members")?;
        for member in &upsert.members_removed {
            stmt.execute(params![r.id, member])
                .ctx("write group members")?;
        }
    }
    if !upsert.members_added.is_empty() {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO gateway_members (group_id, member_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )
            .ctx("write group members")?;
        for member in &upsert.members_added {
            stmt.execute(params![r.id, member])
                .ctx("write group members")?;
        }
    }
    Ok(())
}

fn delete_resource(tx: &Conn, kind: GatewayKind, id: &str) -> Result<(), StoreError> {
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

fn decode_raw(row: &Row<'_>) -> Result<RawResource, DbError> {
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

/// The people whose oldest row is due at `now`, and not claimed at `clock` (the database's
/// time) by anyone but `holder`, oldest first, at most `limit`.
fn read_heads(
    conn: &Conn,
    now: i64,
    limit: usize,
    holder: &str,
    clock: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT h.seq, g.last, h.person_id, l.person, h.enqueued_at, h.attempts,
                        h.rejections
                 FROM (SELECT person_id, MIN(seq) AS first, MAX(seq) AS last
                       FROM gateway_outbox GROUP BY person_id) g
                 JOIN gateway_outbox h ON h.seq = g.first
                 JOIN gateway_outbox l ON l.seq = g.last
                 WHERE h.next_attempt <= ?1
                   AND (h.claimed_until IS NULL OR h.claimed_until <= ?4 OR h.claimed_by = ?3)
                 ORDER BY h.seq LIMIT ?2",
        )
        .ctx("read the outbox")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    type Row = (i64, i64, String, Option<String>, i64, u32, u32);
    let rows: Vec<Row> = stmt
        .query_map(params![now, limit, holder, clock], |r| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upsert(kind: GatewayKind, id: &str, name: &str, members: Option<&[&str]>) -> GatewayUpsert {
        let ids = |m: &[&str]| m.iter().map(|s| s.to_string()).collect();
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
            members_added: members.map(ids).unwrap_or_default(),
            members_removed: Vec::new(),
        }
    }

    /// Two replicas never work on the same person at once: a claimed person is skipped by the
    /// other until the row is settled or the claim expires, and a newer row of a claimed person
    /// waits behind it.
    #[test]
    fn claimed_people_are_skipped_by_other_replicas_until_settled_or_expired() {
        let store = crate::testing::store();
        let change = |id: &str, n: i64| GatewayWrite {
            outbox: vec![(id.into(), Some(json!({"id": id, "n": n})))],
            at: 10,
            ..GatewayWrite::default()
        };
        for (id, n) in [("u1", 1), ("u2", 1), ("u3", 1)] {
            store.gateway_write(&change(id, n)).expect("write");
        }
        let a = store.outbox_claim(10, 2, "a", 60_000).expect("a claims");
        let ids = |heads: &[OutboxEntry]| -> Vec<String> {
            heads.iter().map(|h| h.person_id.clone()).collect()
        };
        assert_eq!(ids(&a), ["u1", "u2"]);
        // A newer change of u1 arrives while a forwards the older one.
        store.gateway_write(&change("u1", 2)).expect("write");
        let b = store.outbox_claim(10, 10, "b", 60_000).expect("b claims");
        assert_eq!(ids(&b), ["u3"], "b must not take a's people");
        // a's own claims are a's to take again (a restart of the same holder).
        assert_eq!(
            ids(&store.outbox_claim(10, 10, "a", 60_000).expect("a")),
            ["u1", "u2"]
        );
        // a settles u1 through its first row and reschedules u2: u1's newer row is free for
        // anyone, u2 waits for its backoff, then anyone may take it.
        store.outbox_done(&[("u1", a[0].through)]).expect("done");
        store
            .outbox_retry(a[1].seq, 20, false, "timeout")
            .expect("retry");
        let b = store
            .outbox_claim(10, 10, "b", 60_000)
            .expect("b claims again");
        assert_eq!(ids(&b), ["u3", "u1"], "its own u3, and u1's newer row");
        assert_eq!(
            b[1].person.as_ref().and_then(|p| p.get("n")),
            Some(&json!(2))
        );
        assert_eq!(
            ids(&store.outbox_claim(20, 10, "b", 60_000).expect("b")),
            ["u2", "u3", "u1"]
        );
        // An expired claim (its replica died) is taken over.
        store
            .outbox_claim(20, 10, "c", -1)
            .expect("c claims for no time");
        let late = store.outbox_claim(20, 10, "d", 60_000).expect("d");
        assert!(ids(&late).is_empty(), "b's claims hold: {late:?}");
    }

    #[test]
    fn a_claim_that_expired_is_taken_over_and_the_wait_counts_the_claim() {
        let store = crate::testing::store();
        store
            .gateway_write(&GatewayWrite {
                outbox: vec![("u1".into(), Some(json!({"id": "u1"})))],
                at: 10,
                ..GatewayWrite::default()
            })
            .expect("write");
        let dead = store.outbox_claim(10, 10, "dead", -1).expect("claimed");
        assert_eq!(dead.len(), 1);
        let next = store.outbox_next_attempt().expect("next").expect("a row");
        assert!(next >= 10, "{next}");
        let taken = store
            .outbox_claim(10, 10, "alive", 60_000)
            .expect("take over");
        assert_eq!(taken.len(), 1, "an expired claim is free");
        // Claimed for a minute: the wait is until the claim expires, not the row's due time.
        let next = store.outbox_next_attempt().expect("next").expect("a row");
        assert!(next > 10 + 30_000, "{next}");
    }

    #[test]
    fn resources_members_and_outbox_commit_together() {
        let store = crate::testing::store();
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

    /// Every list and look-up query is answered from an index: no plan step scans a table,
    /// and no list sorts what an index already orders.
    #[test]
    fn query_plans_use_indexes() {
        let store = Store::open_in_memory().expect("open");
        let conn = store.conn();
        let queries = [
            (COUNT_SQL, 1, "COVERING INDEX"),
            (PAGE_SQL, 3, "gateway_resources_created (kind=?)"),
            (
                AFTER_SQL,
                4,
                "gateway_resources_created (kind=? AND (created,id)>(?,?))",
            ),
            (
                BY_EXTERNAL_ID_SQL,
                2,
                "gateway_resources_external_id (kind=? AND external_id=?)",
            ),
            (GROUPS_OF_SQL, 1, "gateway_members_member (member_id=?)"),
            (
                &group_refs_sql(3),
                3,
                "gateway_members_member (member_id=?)",
            ),
        ];
        for (sql, n, wanted) in queries {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain");
            let args = vec![crate::db::OwnedValue::Int(1); n];
            let plan: Vec<String> = stmt
                .query_map(crate::db::params_from_iter(args), |r| r.get(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            let text = plan.join("\n");
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN")),
                "{sql}:\n{text}"
            );
            assert!(text.contains(wanted), "{sql}:\n{text}");
            // Sorting the few groups of a member is fine; sorting a kind's resources is not.
            if !sql.contains("gateway_members") {
                assert!(!text.contains("TEMP B-TREE"), "{sql}:\n{text}");
            }
        }
    }

    /// Pages, batches and the externalId look-up keep the list order (`created`, then `id`);
    /// group references come for many members at once.
    #[test]
    fn pages_batches_and_lookups_keep_the_list_order() {
        let store = crate::testing::store();
        let mut upserts = Vec::new();
        for i in 0..7 {
            let mut u = upsert(
                GatewayKind::User,
                &format!("u{}", 9 - i),
                &format!("n{i}"),
                None,
            );
            // Two created in the same millisecond: the id breaks the tie.
            u.resource.created = i / 2;
            u.external_id = Some(if i % 2 == 0 { "even" } else { "odd" }.into());
            upserts.push(u);
        }
        let mut g2 = upsert(GatewayKind::Group, "g2", "Second", Some(&["u9", "u8"]));
        g2.resource.created = 5;
        let g1 = upsert(GatewayKind::Group, "g1", "First", Some(&["u9", "g2"]));
        upserts.extend([g2, g1]);
        store
            .gateway_write(&GatewayWrite {
                upserts,
                ..GatewayWrite::default()
            })
            .expect("write");
        let ids =
            |r: Vec<GatewayResource>| -> Vec<String> { r.into_iter().map(|r| r.id).collect() };
        let order = ["u8", "u9", "u6", "u7", "u4", "u5", "u3"];
        assert_eq!(store.gateway_count(GatewayKind::User).expect("count"), 7);
        assert_eq!(store.gateway_count(GatewayKind::Group).expect("count"), 2);
        assert_eq!(
            ids(store.gateway_page(GatewayKind::User, 0, 100).expect("page")),
            order
        );
        assert_eq!(
            ids(store.gateway_page(GatewayKind::User, 2, 3).expect("page")),
            order[2..5]
        );
        assert!(
            store
                .gateway_page(GatewayKind::User, 7, 3)
                .expect("page")
                .is_empty()
        );
        let mut walked = Vec::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let key = after.as_ref().map(|(c, id)| (*c, id.as_str()));
            let batch = store
                .gateway_batch_after(GatewayKind::User, key, 2)
                .expect("batch");
            let Some(last) = batch.last() else { break };
            after = Some((last.created, last.id.clone()));
            walked.extend(ids(batch));
        }
        assert_eq!(walked, order);
        assert_eq!(
            ids(store
                .gateway_resources_by_external_id(GatewayKind::User, "odd")
                .expect("by externalId")),
            ["u8", "u6", "u4"]
        );
        assert!(
            store
                .gateway_resources_by_external_id(GatewayKind::User, "ODD")
                .expect("by externalId")
                .is_empty(),
            "externalId is case-exact"
        );
        let refs = store
            .gateway_group_refs_of(&["u9", "u8", "u3", "g2"])
            .expect("refs");
        let names = |id: &str| -> Vec<String> {
            refs.get(id)
                .map(|g| g.iter().map(|g| g.display_name.clone()).collect())
                .unwrap_or_default()
        };
        // g1 (created 1) comes before g2 (created 5).
        assert_eq!(names("u9"), ["First", "Second"]);
        assert_eq!(names("u8"), ["Second"]);
        assert_eq!(names("g2"), ["First"]);
        assert!(!refs.contains_key("u3"));
        assert_eq!(
            store
                .gateway_groups_of("u9")
                .expect("groups")
                .iter()
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>(),
            ["g1", "g2"]
        );
    }

    /// A member change writes the member rows it changes, not one per member of the group.
    #[test]
    fn a_member_change_writes_only_the_rows_it_changes() {
        // SQLite's count of changed rows; the statements are the same on PostgreSQL.
        let store = Store::open_in_memory().expect("open");
        let many: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let group = upsert(GatewayKind::Group, "g", "Big", Some(&refs));
        store
            .gateway_write(&GatewayWrite {
                upserts: vec![group.clone()],
                ..GatewayWrite::default()
            })
            .expect("create");
        let changes = |store: &Store| -> i64 {
            store
                .conn()
                .query_row("SELECT total_changes()", params![], |r| r.get(0))
                .expect("changes")
        };
        let before = changes(&store);
        let mut change = group;
        change.members_added = vec!["u1000".into()];
        change.members_removed = vec!["u0".into()];
        store
            .gateway_write(&GatewayWrite {
                upserts: vec![change],
                outbox: vec![("u1000".into(), None), ("u0".into(), None)],
                ..GatewayWrite::default()
            })
            .expect("change");
        // The group's row, one member row in, one out, two outbox rows.
        assert_eq!(changes(&store) - before, 5);
        assert!(store.gateway_groups_of("u0").expect("groups").is_empty());
        assert_eq!(store.gateway_groups_of("u1000").expect("groups").len(), 1);
        assert_eq!(store.gateway_groups_of("u999").expect("groups").len(), 1);
    }

    #[test]
    fn a_row_that_does_not_decode_is_reported_and_the_others_still_come() {
        let store = crate::testing::store();
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
                params![],
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
        let store = crate::testing::store();
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
