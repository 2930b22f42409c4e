//! Shadow runs: every staged version marked to run in shadow is called beside the active one on
//! every run that applies (a sync cycle, an outbox pass, an on-demand run), for the same people,
//! from the same records. Its plan is compared with the run's ([`engine::preview::compare`]) and
//! checked against the plugin's gates; nothing of it is applied.
//!
//! What it disagreed on is counted by kind in the cycle history (`counts.shadow`) and in
//! `muster_shadow_disagreements_total`, and each sampled person's log entry gets a
//! `shadow:<plugin>` step saying how. Its calls are metered apart
//! (`muster_shadow_plugin_*`). A shadow that exceeds a gate or fails someone the active version
//! does not is dropped, with a log line; one that stays within them for `[plugins.shadow]
//! promote_after_cycles` runs in a row (on-demand runs do not count) is activated.

use std::sync::Arc;

use engine::cycle::{CycleInput, Plan, plan_cycle};
use engine::plugin::{LicenseRule, Transform};
use engine::plugin_stage::{Pinned, PinnedPlugins};
use engine::preview::{ShadowCounts, Sides, compare};
use plugin_host::World;
use store::CycleKind;

use crate::activation;
use crate::job::Job;
use crate::meters::{Metered, SHADOW};

/// People per kind of disagreement whose log entries say how.
const SAMPLES: usize = 20;

/// Plans `input`'s people again with each shadowed version in place of its active one, and
/// compares with `plan` (the run's), annotating `plan`'s log.
pub fn compare_all(job: &Job, input: &CycleInput, plan: &mut Plan) -> Vec<ShadowCounts> {
    let mut all = Vec::new();
    for (name, staged) in job.staging.shadowed() {
        let Some(plugins) = with_shadow(input.plugins, &name, staged.plugin()) else {
            continue;
        };
        let shadow_input = CycleInput {
            cycle_id: input.cycle_id,
            people: input.people,
            records: input.records,
            unloaded: input.unloaded,
            pipeline: input.pipeline,
            plugins: &plugins,
            population: input.population,
            deletion_threshold: input.deletion_threshold,
            // A shadow's decisions are not replayed: it applied nothing.
            record: false,
            threads: input.threads,
            // A shadow version's answers are neither looked up nor kept: it is being compared.
            memo: None,
            remember: false,
        };
        let shadow_plan = tokio::task::block_in_place(|| plan_cycle(&shadow_input));
        let gates = crate::preview::gates_for(job, std::slice::from_ref(&name));
        let sides = Sides {
            before: plan,
            after: &shadow_plan,
            records: input.records,
            profile: &input.pipeline.profile,
            seats: &input.pipeline.seats,
        };
        let impact = compare(&sides, &gates, SAMPLES);
        impact.annotate(plan, &name, &staged.version);
        let counts = impact.shadow_counts(&name, &staged.version);
        crate::meters::shadow_disagreements(&counts);
        tracing::info!(plugin = %name, version = %staged.version, licenses = counts.license_changes, attributes = counts.attribute_changes, failed = counts.newly_failed, passed = counts.passed, "shadow compared");
        all.push(counts);
    }
    all
}

/// `plugins` with `name`'s plugin replaced by `shadow` (metered apart); `None` when no pinned
/// plugin has that name.
fn with_shadow(
    plugins: &PinnedPlugins,
    name: &str,
    shadow: &Arc<plugin_host::Plugin>,
) -> Option<PinnedPlugins> {
    let metered = Arc::new(Metered(Arc::new(shadow.pinned()), SHADOW));
    let mut replaced = plugins.clone();
    match shadow.world() {
        World::Transformer => {
            let pinned = replaced
                .transforms
                .iter_mut()
                .find(|p| p.plugin.id().name == name)?;
            let transform: Arc<dyn Transform> = metered;
            *pinned = Pinned {
                plugin: transform,
                ..pinned.clone()
            };
        }
        World::LicenseRule => {
            let pinned = replaced
                .license
                .as_mut()
                .filter(|p| p.plugin.id().name == name)?;
            let rule: Arc<dyn LicenseRule> = metered;
            *pinned = Pinned {
                plugin: rule,
                ..pinned.clone()
            };
        }
    }
    Some(replaced)
}

/// After a run of `kind` that compared `counts`: drops the shadows that failed, counts the
/// clean runs of the others, and promotes those that reached `[plugins.shadow]
/// promote_after_cycles`.
pub fn conclude(job: &Job, kind: CycleKind, counts: &[ShadowCounts]) {
    let promote_after = job.config.plugins.shadow.promote_after_cycles;
    for c in counts {
        if !c.passed {
            if job
                .staging
                .get(&c.plugin)
                .is_some_and(|s| s.version == c.version)
            {
                job.staging.drop_staged(&c.plugin);
                tracing::warn!(plugin = %c.plugin, version = %c.version, licenses = c.license_changes, attributes = c.attribute_changes, failed = c.newly_failed, "shadow version exceeded its gates or failed people: dropped");
            }
            continue;
        }
        let counted = kind != CycleKind::OnDemand;
        let mut clean = 0;
        job.staging.update(&c.plugin, &c.version, |staged| {
            if let Some(shadow) = staged.shadow.as_mut() {
                shadow.clean_runs += u32::from(counted);
                shadow.last = Some(c.clone());
                clean = shadow.clean_runs;
            }
        });
        let Some(after) = promote_after.filter(|n| clean >= *n) else {
            continue;
        };
        let Some(staged) = job
            .staging
            .get(&c.plugin)
            .filter(|s| s.version == c.version)
        else {
            continue;
        };
        match activation::promote(job, &c.plugin, &staged) {
            Ok(_) => {
                tracing::warn!(plugin = %c.plugin, version = %c.version, runs = after, "shadow version promoted: active now")
            }
            Err(e) => {
                tracing::error!(plugin = %c.plugin, version = %c.version, error = %e, "shadow version could not be promoted; it keeps running in shadow")
            }
        }
    }
}
