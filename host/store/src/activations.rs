//! Who or what made each plugin version active, and when: the plugin's history as the
//! console shows it.

use crate::db::{OptionalExtension, params};
use serde::Serialize;

use crate::error::{Ctx, StoreError};
use crate::{Store, now_unix};

/// Activations kept per plugin, newest first.
const KEPT: i64 = 100;

/// One activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    pub version: String,
    /// `upload`, `folder`, `configuration`, `staged`, `rollback`, `shadow`, `start`.
    pub how: String,
    /// An admin token's id, or what acted (`the plugin folder`, ...).
    pub by: String,
    /// Unix seconds.
    pub at: i64,
}

impl Store {
    /// Records that `version` of `plugin` became active. At `start`, nothing is recorded when
    /// it is the version last recorded: a restart changes nothing.
    pub fn record_activation(
        &self,
        plugin: &str,
        version: &str,
        how: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        let op = "record a plugin activation";
        self.write(op, |tx| {
            if how == "start" {
                let last: Option<String> = tx
                    .query_row(
                        "SELECT version FROM plugin_activations WHERE plugin = ?1
                         ORDER BY id DESC LIMIT 1",
                        [plugin],
                        |r| r.get(0),
                    )
                    .optional()
                    .ctx(op)?;
                if last.as_deref() == Some(version) {
                    return Ok(());
                }
            }
            tx.execute(
                "INSERT INTO plugin_activations (plugin, version, how, \"by\", at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![plugin, version, how, by, now_unix()],
            )
            .ctx(op)?;
            tx.execute(
                "DELETE FROM plugin_activations WHERE plugin = ?1 AND id NOT IN
                 (SELECT id FROM plugin_activations WHERE plugin = ?1 ORDER BY id DESC LIMIT ?2)",
                params![plugin, KEPT],
            )
            .ctx(op)?;
            Ok(())
        })
    }

    /// The newest `limit` activations of `plugin`, newest first.
    pub fn activations(&self, plugin: &str, limit: usize) -> Result<Vec<Activation>, StoreError> {
        let op = "read plugin activations";
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT version, how, \"by\", at FROM plugin_activations WHERE plugin = ?1
                 ORDER BY id DESC LIMIT ?2",
            )
            .ctx(op)?;
        let rows = stmt
            .query_map(
                params![plugin, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(Activation {
                        version: r.get(0)?,
                        how: r.get(1)?,
                        by: r.get(2)?,
                        at: r.get(3)?,
                    })
                },
            )
            .ctx(op)?;
        rows.collect::<Result<Vec<_>, _>>().ctx(op)
    }
}

impl Store {
    /// The newest activation of `plugin`: its row id (which only grows) and version. Replicas
    /// sharing the database follow it.
    pub fn latest_activation(&self, plugin: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, version FROM plugin_activations WHERE plugin = ?1
                 ORDER BY id DESC LIMIT 1",
                params![plugin],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("read the latest activation")
    }

    /// Keeps the component of `version` of `plugin` for the other replicas, and forgets the
    /// components no activation of the plugin names any more.
    pub fn save_plugin_component(
        &self,
        plugin: &str,
        version: &str,
        component: &[u8],
    ) -> Result<(), StoreError> {
        let op = "keep a plugin component";
        self.write(op, |tx| {
            tx.execute(
                "INSERT INTO plugin_components (plugin, version, component) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![plugin, version, component],
            )
            .ctx(op)?;
            tx.execute(
                "DELETE FROM plugin_components WHERE plugin = ?1 AND version <> ?2
                   AND version NOT IN (SELECT version FROM plugin_activations WHERE plugin = ?1)",
                params![plugin, version],
            )
            .ctx(op)?;
            Ok(())
        })
    }

    /// The component of `version` of `plugin`, if a replica kept it.
    pub fn plugin_component(
        &self,
        plugin: &str,
        version: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT component FROM plugin_components WHERE plugin = ?1 AND version = ?2",
                params![plugin, version],
                |r| r.get(0),
            )
            .optional()
            .ctx("read a plugin component")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn components_are_kept_while_an_activation_names_them() {
        let store = crate::testing::store();
        assert_eq!(store.latest_activation("rule").expect("read"), None);
        store
            .record_activation("rule", "v1", "upload", "a")
            .expect("v1");
        store
            .save_plugin_component("rule", "v1", b"one")
            .expect("keep v1");
        store
            .record_activation("rule", "v2", "upload", "a")
            .expect("v2");
        store
            .save_plugin_component("rule", "v2", b"two")
            .expect("keep v2");
        let (id, version) = store.latest_activation("rule").expect("read").expect("one");
        assert_eq!(version, "v2");
        assert_eq!(
            store
                .plugin_component("rule", "v1")
                .expect("read")
                .as_deref(),
            Some(&b"one"[..])
        );
        // A component no activation names goes with the next one kept.
        store
            .save_plugin_component("rule", "stray", b"x")
            .expect("stray");
        store
            .save_plugin_component("rule", "v2", b"two")
            .expect("again");
        assert_eq!(store.plugin_component("rule", "stray").expect("read"), None);
        store
            .record_activation("rule", "v1", "rollback", "a")
            .expect("back");
        let (newer, version) = store.latest_activation("rule").expect("read").expect("one");
        assert!(newer > id);
        assert_eq!(version, "v1");
    }

    use super::*;

    fn versions(store: &Store, plugin: &str) -> Vec<(String, String)> {
        store
            .activations(plugin, 1000)
            .expect("read")
            .into_iter()
            .map(|a| (a.version, a.how))
            .collect()
    }

    #[test]
    fn activations_newest_first_and_a_restart_adds_nothing() {
        let store = crate::testing::store();
        store
            .record_activation("rule", "v1", "start", "muster")
            .expect("1");
        store
            .record_activation("rule", "v1", "start", "muster")
            .expect("again");
        store
            .record_activation("rule", "v2", "upload", "sha256:ab")
            .expect("2");
        store
            .record_activation("rule", "v1", "rollback", "sha256:ab")
            .expect("3");
        store
            .record_activation("other", "x", "start", "muster")
            .expect("other");
        assert_eq!(
            versions(&store, "rule"),
            [
                ("v1".to_string(), "rollback".to_string()),
                ("v2".into(), "upload".into()),
                ("v1".into(), "start".into()),
            ]
        );
        let last = &store.activations("rule", 1).expect("one")[0];
        assert_eq!(last.by, "sha256:ab");
    }

    #[test]
    fn only_the_newest_hundred_are_kept() {
        let store = crate::testing::store();
        for i in 0..120 {
            store
                .record_activation("rule", &format!("v{i}"), "upload", "admin")
                .expect("record");
        }
        let kept = versions(&store, "rule");
        assert_eq!(kept.len(), 100);
        assert_eq!(kept[0].0, "v119");
        assert_eq!(kept[99].0, "v20");
    }
}
