//! The memo of plugin answers (`engine::memo`): the last answer each plugin gave each person,
//! under the key it was given for.

use std::collections::BTreeMap;

use crate::db::{OptionalExtension, params};

use crate::Store;
use crate::error::{Ctx, StoreError};

/// The meta key of the pinned versions (JSON) the answers were last pruned for.
const PRUNED_FOR: &str = "plugin_answers_pruned_for";

/// One answer to keep.
#[derive(Debug, Clone, Copy)]
pub struct KeptAnswer<'a> {
    pub plugin: &'a str,
    pub person: &'a str,
    pub key: [u8; 16],
    pub version: &'a str,
    /// JSON `engine::memo::Answer`.
    pub answer: &'a str,
}

impl Store {
    /// Whether any answer of `plugin` under `version` is kept.
    pub fn has_answers(&self, plugin: &str, version: &str) -> Result<bool, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM plugin_answers WHERE plugin = ?1 AND version = ?2)",
            )
            .and_then(|mut stmt| stmt.query_row([plugin, version], |r| r.get(0)))
            .ctx("look for plugin answers")
    }

    /// The answer `plugin` last gave `person`, if it was given under `key` (JSON).
    pub fn answer(
        &self,
        plugin: &str,
        person: &str,
        key: &[u8; 16],
    ) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT answer FROM plugin_answers WHERE plugin = ?1 AND person = ?2 AND key = ?3",
            )
            .ctx("read an answer")?;
        let mut rows = stmt
            .query(params![plugin, person, &key[..]])
            .ctx("read an answer")?;
        match rows.next().ctx("read an answer")? {
            Some(row) => Ok(Some(row.get(0).ctx("read an answer")?)),
            None => Ok(None),
        }
    }

    /// Keeps answers (each replacing the plugin's earlier one for that person), and deletes
    /// the answers of versions other than `pinned` (plugin → version), in one transaction.
    /// Returns how many answers the memo holds after.
    pub fn keep_answers(
        &self,
        answers: &[KeptAnswer<'_>],
        pinned: &BTreeMap<String, String>,
    ) -> Result<u64, StoreError> {
        self.write("keep plugin answers", |tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO plugin_answers (plugin, person, key, version, answer)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (plugin, person) DO UPDATE SET
                       key = excluded.key, version = excluded.version, answer = excluded.answer",
                )
                .ctx("keep plugin answers")?;
            for a in answers {
                insert
                    .execute(params![a.plugin, a.person, &a.key[..], a.version, a.answer])
                    .ctx("keep plugin answers")?;
            }
            // Only pinned versions are ever kept, so there is something to prune only when the
            // pinned versions differ from those of the last prune.
            let pinned_text = serde_json::to_string(pinned).unwrap_or_default();
            let last: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [PRUNED_FOR], |r| {
                    r.get(0)
                })
                .optional()
                .ctx("prune plugin answers")?;
            if last.as_deref() != Some(pinned_text.as_str()) {
                let mut plugins = tx
                    .prepare_cached("SELECT DISTINCT plugin, version FROM plugin_answers")
                    .ctx("prune plugin answers")?;
                let kept: Vec<(String, String)> = plugins
                    .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))
                    .ctx("prune plugin answers")?
                    .collect::<Result<_, _>>()
                    .ctx("prune plugin answers")?;
                for (plugin, version) in kept {
                    if pinned.get(&plugin) != Some(&version) {
                        tx.execute(
                            "DELETE FROM plugin_answers WHERE plugin = ?1 AND version = ?2",
                            [&plugin, &version],
                        )
                        .ctx("prune plugin answers")?;
                    }
                }
                crate::meta::set_meta_in(tx, PRUNED_FOR, &pinned_text)?;
            }
            let n: i64 = tx
                .query_row("SELECT COUNT(*) FROM plugin_answers", params![], |r| {
                    r.get(0)
                })
                .ctx("count plugin answers")?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_plugin_and_person_and_only_of_pinned_versions() {
        let store = crate::testing::store();
        let pinned: BTreeMap<String, String> = [("rule".to_string(), "v1".to_string())].into();
        let answer = |person, key, answer| KeptAnswer {
            plugin: "rule",
            person,
            key,
            version: "v1",
            answer,
        };
        let n = store
            .keep_answers(
                &[answer("a", [1; 16], "A1"), answer("b", [2; 16], "B1")],
                &pinned,
            )
            .expect("keep");
        assert_eq!(n, 2);
        assert_eq!(
            store.answer("rule", "a", &[1; 16]).expect("read"),
            Some("A1".to_string())
        );
        // Another key for the same person misses.
        assert_eq!(store.answer("rule", "a", &[9; 16]).expect("read"), None);
        // A newer answer replaces the person's last one.
        store
            .keep_answers(&[answer("a", [3; 16], "A2")], &pinned)
            .expect("keep");
        assert_eq!(store.answer("rule", "a", &[1; 16]).expect("read"), None);
        assert_eq!(
            store.answer("rule", "a", &[3; 16]).expect("read"),
            Some("A2".to_string())
        );
        assert!(store.has_answers("rule", "v1").expect("has"));
        assert!(!store.has_answers("rule", "v0").expect("has"));
        // A new version pinned: the old version's answers go.
        let next: BTreeMap<String, String> = [("rule".to_string(), "v2".to_string())].into();
        assert_eq!(store.keep_answers(&[], &next).expect("prune"), 0);
    }
}
