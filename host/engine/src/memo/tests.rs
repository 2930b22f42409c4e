use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::config::Config;
use crate::cycle::{CycleInput, Pipeline, Plan, plan_cycle};
use crate::model::License;
use crate::plugin::{LicenseRule, PluginError, PluginId, PluginInput, Transform};
use crate::plugin_stage::{CACHED, Pinned, PinnedPlugins};
use crate::testing::{LicenseByGroup, NormalizeAttributes, records_after, synthetic_directory};

/// A memo in a map, as the state store keeps it: the last answer per plugin and person.
#[derive(Default)]
struct MapMemo(HashMap<(String, String), (MemoKey, Answer)>);

impl MapMemo {
    fn keep(&mut self, plan: &Plan) {
        for r in &plan.remembered {
            let slot = (r.plugin.to_string(), r.person.clone());
            self.0.insert(slot, (r.key, r.answer.clone()));
        }
    }
}

impl Memo for MapMemo {
    fn get(&self, plugin: &str, person: &str, key: &MemoKey) -> Option<Answer> {
        let (kept, answer) = self.0.get(&(plugin.to_string(), person.to_string()))?;
        (kept == key).then(|| answer.clone())
    }
}

/// Counts the calls that reach the plugin.
struct Counting<T> {
    inner: T,
    calls: AtomicUsize,
}

impl<T> Counting<T> {
    fn new(inner: T) -> Arc<Self> {
        Arc::new(Counting {
            inner,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl<T: Transform> Transform for Counting<T> {
    fn id(&self) -> PluginId {
        self.inner.id()
    }
    fn transform(&self, p: &PluginInput, c: &str) -> Result<TransformOutcome, PluginError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.transform(p, c)
    }
}

impl<T: LicenseRule> LicenseRule for Counting<T> {
    fn id(&self) -> PluginId {
        self.inner.id()
    }
    fn decide(
        &self,
        p: &PluginInput,
        current: Option<&License>,
        c: &str,
    ) -> Result<LicenseDecision, PluginError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.decide(p, current, c)
    }
}

/// The plan's log and actions as JSON, without the memo's note on the steps it answered.
fn without_cached(plan: &Plan) -> serde_json::Value {
    let mut value = serde_json::json!({"log": plan.log, "actions": plan.actions});
    for entry in value["log"].as_array_mut().into_iter().flatten() {
        for step in entry["provisioningSteps"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if let Some(details) = step.get_mut("details").and_then(|d| d.as_object_mut()) {
                details.remove(CACHED);
            }
        }
    }
    value
}

#[test]
fn answers_kept_from_one_plan_answer_the_next_without_calls() {
    let config = Config::from_toml_str(include_str!("../../testdata/zoom.toml")).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let transform = Counting::new(NormalizeAttributes::default());
    let rule = Counting::new(LicenseByGroup::default());
    let pinned = |license_config: Option<&str>| {
        let mut license = Pinned::new(
            Arc::clone(&rule) as Arc<dyn LicenseRule>,
            config.license.as_ref().expect("a license rule"),
        );
        if let Some(other) = license_config {
            license.config = other.to_string();
        }
        PinnedPlugins {
            transforms: vec![Pinned::new(
                Arc::clone(&transform) as Arc<dyn Transform>,
                &config.transforms[0],
            )],
            license: Some(license),
        }
    };
    let plugins = pinned(None);
    // Enough people for the plugins to run on two threads.
    let people = synthetic_directory(1_200);
    let input = |memo, records| CycleInput {
        remember: true,
        memo,
        threads: 2,
        ..CycleInput::everyone("c", &people, records, &pipeline, &plugins)
    };
    let first = plan_cycle(&input(None, &[]));
    let called = (transform.calls(), rule.calls());
    assert!(called.0 > 1_000 && called.1 > 1_000, "{called:?}");
    assert_eq!(first.remembered.len(), called.0 + called.1);
    let mut memo = MapMemo::default();
    memo.keep(&first);

    // The same people again: every answer from the memo, not one call, the same plan.
    let again = plan_cycle(&input(Some(&memo), &[]));
    assert_eq!((transform.calls(), rule.calls()), called);
    let hits: u64 = again.memo_counts.iter().map(|c| c.hits).sum();
    assert_eq!(hits as usize, called.0 + called.1);
    assert_eq!(without_cached(&again), without_cached(&first));
    let cached = again.log[0]
        .provisioning_steps
        .iter()
        .filter(|s| s.details.get(CACHED).is_some())
        .count();
    assert_eq!(cached, 2, "{:?}", again.log[0].provisioning_steps);

    // With the records the first plan leaves, the rule is shown a current license: its input
    // changed, so it is called; the transform's did not.
    let records = records_after(&first);
    let next = plan_cycle(&input(Some(&memo), &records));
    assert_eq!(transform.calls(), called.0);
    assert_eq!(rule.calls(), 2 * called.1);
    assert_eq!(next.summary.unchanged, first.summary.creates);

    // Another configuration of the rule misses by construction.
    let other = pinned(Some(r#"{"rules": [], "default_plan": "basic"}"#));
    let changed = plan_cycle(&CycleInput {
        memo: Some(&memo),
        threads: 2,
        ..CycleInput::everyone("c", &people, &[], &pipeline, &other)
    });
    assert_eq!(transform.calls(), called.0);
    assert_eq!(rule.calls(), 3 * called.1);
    assert_eq!(changed.memo_counts[1].hits, 0);
    assert!(changed.remembered.is_empty(), "remember was off");
}
