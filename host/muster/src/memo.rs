//! The memo of plugin answers ([`engine::memo`]) as muster keeps it: in the state store, one
//! answer per plugin and person, looked up by the threads that run a cycle's plugins, and
//! counted on `/metrics`.

use std::collections::HashSet;

use engine::memo::{Answer, Memo, MemoKey};
use engine::plan::Plan;
use engine::plugin_stage::PinnedPlugins;
use store::{KeptAnswer, Store};

pub const MEMO_HITS: &str = "muster_plugin_memo_hits_total";
pub const MEMO_MISSES: &str = "muster_plugin_memo_misses_total";
pub const MEMO_ENTRIES: &str = "muster_plugin_memo_entries";

/// The answers the store keeps for the pinned plugin versions, each read when a call asks
/// (one look-up by plugin and person, on the table's primary key).
pub struct StoredMemo<'a> {
    store: &'a Store,
    /// The pinned plugins the store holds answers of.
    kept: HashSet<String>,
}

impl<'a> StoredMemo<'a> {
    pub fn load(store: &'a Store, plugins: &PinnedPlugins) -> Result<Self, store::StoreError> {
        let mut kept = HashSet::new();
        for (name, version) in plugins.versions() {
            if store.has_answers(&name, &version)? {
                kept.insert(name);
            }
        }
        Ok(StoredMemo { store, kept })
    }

    /// No answer kept for any pinned version: looking up would only miss.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

impl Memo for StoredMemo<'_> {
    fn get(&self, plugin: &str, person: &str, key: &MemoKey) -> Option<Answer> {
        if !self.kept.contains(plugin) {
            return None;
        }
        // A store error or an answer that no longer parses is a miss: the plugin is called.
        let text = match self.store.answer(plugin, person, key) {
            Ok(text) => text?,
            Err(e) => {
                tracing::debug!(plugin, person, error = %e, "memo read failed; calling the plugin");
                return None;
            }
        };
        serde_json::from_str(&text).ok()
    }
}

/// Keeps the answers of `plan`'s calls, drops those of versions no longer pinned, and records
/// the memo's counts on `/metrics`.
pub fn keep(store: &Store, plan: &Plan, plugins: &PinnedPlugins) -> anyhow::Result<()> {
    let texts: Vec<String> = plan
        .remembered
        .iter()
        .map(|r| serde_json::to_string(&r.answer))
        .collect::<Result<_, _>>()?;
    let answers: Vec<KeptAnswer> = plan
        .remembered
        .iter()
        .zip(&texts)
        .map(|(r, text)| KeptAnswer {
            plugin: &r.plugin,
            person: &r.person,
            key: r.key,
            version: &r.version,
            answer: text,
        })
        .collect();
    let entries = store.keep_answers(&answers, &plugins.versions())?;
    metrics::gauge!(MEMO_ENTRIES).set(entries as f64);
    Ok(())
}

/// Counts `plan`'s memo hits and misses per plugin on `/metrics`.
pub fn count(plan: &Plan, plugins: &PinnedPlugins) {
    let names = plugins
        .transforms
        .iter()
        .map(|p| p.plugin.id().name)
        .chain(plugins.license.iter().map(|p| p.plugin.id().name));
    for (name, counts) in names.zip(&plan.memo_counts) {
        metrics::counter!(MEMO_HITS, "plugin" => name.clone()).increment(counts.hits);
        metrics::counter!(MEMO_MISSES, "plugin" => name).increment(counts.misses);
    }
}
