//! The Microsoft Graph source's mirror of the directory: users, groups with their members, and
//! the two delta links (`users/delta`, `groups/delta`) the mirror is current up to.
//!
//! Graph's delta queries return only what changed, while a cycle plans against the whole
//! directory; the mirror turns the one into the other. It is written in one transaction
//! ([`Store::commit_graph_mirror`]) only after the cycle that read the changes has applied its
//! plan, so the delta links never run ahead of what was provisioned: a crash in between replays
//! the same changes, which are idempotent against the mirror and the provisioned records.
//!
//! The tables are created on first use (`CREATE TABLE IF NOT EXISTS`) rather than by a
//! numbered migration, so this module can land while other branches add migrations; they hold
//! nothing but a cache of Graph, and [`Store::clear_graph_mirror`] (or deleting the rows) only
//! costs one full read of the directory.

use std::collections::BTreeMap;

use crate::db::{Conn, params};
use engine::model::Attributes;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Ctx, StoreError, from_json, to_json};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_users (id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_groups (id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_delta_links (name TEXT PRIMARY KEY, link TEXT NOT NULL);
";

/// SQLite makes the mirror's tables on first use; PostgreSQL's migration made them.
fn ensure_tables(conn: &Conn) -> Result<(), StoreError> {
    if conn.is_postgres() {
        return Ok(());
    }
    conn.execute_batch(SCHEMA).ctx("create the Graph mirror")
}

/// A user as the last delta round described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorUser {
    /// The selected properties, by Graph name (`id` and `accountEnabled` excluded).
    pub attributes: Attributes,
    pub enabled: bool,
    /// `@removed` with reason `changed`: in Entra's recycle bin, restorable for 30 days.
    pub soft_deleted: bool,
    /// The object id of the user's manager (`manager@delta`), where they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

/// What a group member is, from its `@odata.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    User,
    Group,
    /// Devices, service principals, contacts: kept so a later removal matches, never provisioned.
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MirrorGroup {
    pub display_name: String,
    /// Direct members by object id.
    pub members: BTreeMap<String, MemberKind>,
}

/// The whole mirror as loaded at the start of a cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphMirror {
    pub users: BTreeMap<String, MirrorUser>,
    pub groups: BTreeMap<String, MirrorGroup>,
    pub users_delta_link: Option<String>,
    pub groups_delta_link: Option<String>,
}

/// What one cycle learnt from Graph, to commit once the cycle has applied its plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorChanges {
    /// A full read (first cycle, or an expired delta token): the mirror is replaced by the
    /// `Some` entries below.
    pub full: bool,
    /// `Some` = the user's state now, `None` = gone (hard-deleted).
    pub users: BTreeMap<String, Option<MirrorUser>>,
    pub groups: BTreeMap<String, Option<MirrorGroup>>,
    pub users_delta_link: String,
    pub groups_delta_link: String,
}

const USERS_LINK: &str = "users";
const GROUPS_LINK: &str = "groups";

impl Store {
    /// The mirror; empty (and without delta links) before the first Graph cycle commits.
    pub fn graph_mirror(&self) -> Result<GraphMirror, StoreError> {
        let conn = self.conn();
        ensure_tables(&conn)?;
        let mut mirror = GraphMirror {
            users: read_table(&conn, "SELECT id, data FROM graph_users", "graph_users")?,
            groups: read_table(&conn, "SELECT id, data FROM graph_groups", "graph_groups")?,
            ..GraphMirror::default()
        };
        let links: BTreeMap<String, String> = {
            let mut stmt = conn
                .prepare_cached("SELECT name, link FROM graph_delta_links")
                .ctx("read the Graph delta links")?;
            stmt.query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .ctx("read the Graph delta links")?
        };
        mirror.users_delta_link = links.get(USERS_LINK).cloned();
        mirror.groups_delta_link = links.get(GROUPS_LINK).cloned();
        Ok(mirror)
    }

    /// Applies a cycle's changes and its new delta links in one transaction: either the
    /// mirror moves forward with its links, or neither does.
    pub fn commit_graph_mirror(&self, changes: &MirrorChanges) -> Result<(), StoreError> {
        self.write("commit the Graph mirror", |tx| {
            ensure_tables(tx)?;
            if changes.full {
                tx.execute_batch("DELETE FROM graph_users; DELETE FROM graph_groups;")
                    .ctx("replace the Graph mirror")?;
            }
            write_rows(tx, "graph_users", &changes.users, "a mirrored user")?;
            write_rows(tx, "graph_groups", &changes.groups, "a mirrored group")?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO graph_delta_links (name, link) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET link = excluded.link",
                )
                .ctx("write a Graph delta link")?;
            for (name, link) in [
                (USERS_LINK, &changes.users_delta_link),
                (GROUPS_LINK, &changes.groups_delta_link),
            ] {
                stmt.execute(params![name, link])
                    .ctx("write a Graph delta link")?;
            }
            Ok(())
        })
    }

    /// Forgets the mirror and its delta links: the next Graph cycle reads everything.
    pub fn clear_graph_mirror(&self) -> Result<(), StoreError> {
        self.write("clear the Graph mirror", |tx| {
            ensure_tables(tx)?;
            tx.execute_batch(
                "DELETE FROM graph_users; DELETE FROM graph_groups; DELETE FROM graph_delta_links;",
            )
            .ctx("clear the Graph mirror")
        })
    }
}

fn read_table<T: serde::de::DeserializeOwned>(
    conn: &Conn,
    sql: &'static str,
    table: &'static str,
) -> Result<BTreeMap<String, T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).ctx("read the Graph mirror")?;
    let mut rows = stmt.query(params![]).ctx("read the Graph mirror")?;
    let mut out = BTreeMap::new();
    while let Some(row) = rows.next().ctx("read the Graph mirror")? {
        let id: String = row.get(0).ctx("read the Graph mirror")?;
        let data: String = row.get(1).ctx("read the Graph mirror")?;
        let value = from_json(&data, || format!("{table} row {id:?}"))?;
        out.insert(id, value);
    }
    Ok(out)
}

fn write_rows<T: Serialize>(
    tx: &Conn,
    table: &'static str,
    rows: &BTreeMap<String, Option<T>>,
    what: &'static str,
) -> Result<(), StoreError> {
    let mut upsert = tx
        .prepare_cached(&format!(
            "INSERT INTO {table} (id, data) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data"
        ))
        .ctx("write the Graph mirror")?;
    let mut delete = tx
        .prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))
        .ctx("write the Graph mirror")?;
    for (id, row) in rows {
        match row {
            Some(value) => upsert
                .execute(params![id, to_json(what, value)?])
                .ctx("write the Graph mirror")?,
            None => delete.execute([id]).ctx("write the Graph mirror")?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::model::Value;

    fn user(name: &str) -> MirrorUser {
        MirrorUser {
            attributes: Attributes::from([("displayName".into(), Value::Text(name.into()))]),
            enabled: true,
            soft_deleted: false,
            manager: None,
        }
    }

    #[test]
    fn incremental_changes_upsert_and_delete_and_full_replaces() {
        let store = crate::testing::store();
        assert_eq!(store.graph_mirror().expect("empty"), GraphMirror::default());
        let group = MirrorGroup {
            display_name: "G".into(),
            members: BTreeMap::from([("a".to_string(), MemberKind::User)]),
        };
        store
            .commit_graph_mirror(&MirrorChanges {
                full: true,
                users: BTreeMap::from([
                    ("a".into(), Some(user("A"))),
                    ("b".into(), Some(user("B"))),
                ]),
                groups: BTreeMap::from([("g".into(), Some(group.clone()))]),
                users_delta_link: "u1".into(),
                groups_delta_link: "g1".into(),
            })
            .expect("full");
        store
            .commit_graph_mirror(&MirrorChanges {
                full: false,
                users: BTreeMap::from([("a".into(), None), ("c".into(), Some(user("C")))]),
                groups: BTreeMap::new(),
                users_delta_link: "u2".into(),
                groups_delta_link: "g2".into(),
            })
            .expect("incremental");
        let m = store.graph_mirror().expect("read");
        assert_eq!(m.users.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(m.groups["g"], group);
        assert_eq!(m.users_delta_link.as_deref(), Some("u2"));
        assert_eq!(m.groups_delta_link.as_deref(), Some("g2"));

        store
            .commit_graph_mirror(&MirrorChanges {
                full: true,
                users: BTreeMap::from([("d".into(), Some(user("D")))]),
                users_delta_link: "u3".into(),
                groups_delta_link: "g3".into(),
                ..MirrorChanges::default()
            })
            .expect("full again");
        let m = store.graph_mirror().expect("read");
        assert_eq!(m.users.keys().collect::<Vec<_>>(), ["d"]);
        assert!(m.groups.is_empty());
        store.clear_graph_mirror().expect("clear");
        assert_eq!(store.graph_mirror().expect("empty"), GraphMirror::default());
    }
}
