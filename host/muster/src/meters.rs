//! Prometheus metrics: the recorder behind the `metrics` facade, the metric names, and the few
//! recording helpers muster's own code calls.
//!
//! Plugin calls are metered here, at the call site, by wrapping each pinned plugin in
//! [`Metered`]: `plugin-host` already returns what a call cost (`*_with_stats`), so it needs no
//! metrics code of its own. Target requests are counted inside `scim-client` (every attempt,
//! retries included); the gateway records its own series.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::model::License;
use engine::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use plugin_host::{CallStats, Plugin};

pub const PLUGIN_CALLS: &str = "muster_plugin_calls_total";
pub const PLUGIN_DURATION: &str = "muster_plugin_call_duration_seconds";
pub const PLUGIN_FUEL: &str = "muster_plugin_fuel_consumed_total";
pub const SHADOW_CALLS: &str = "muster_shadow_plugin_calls_total";
pub const SHADOW_DURATION: &str = "muster_shadow_plugin_call_duration_seconds";
pub const SHADOW_FUEL: &str = "muster_shadow_plugin_fuel_consumed_total";
pub const SHADOW_DISAGREEMENTS: &str = "muster_shadow_disagreements_total";
pub const TARGET_REQUESTS: &str = "muster_target_requests_total";
pub const TARGET_THROTTLED: &str = "muster_target_throttled_total";
pub const TARGET_DURATION: &str = "muster_target_request_duration_seconds";
pub const TARGET_RATE: &str = "muster_target_rate";
pub const CYCLES: &str = "muster_cycles_total";
pub const CYCLE_DURATION: &str = "muster_cycle_duration_seconds";
pub const CYCLE_RUNNING: &str = "muster_cycle_running";
pub const GRAPH_REQUESTS: &str = "muster_graph_requests_total";
pub const GRAPH_THROTTLED: &str = "muster_graph_throttled_total";
pub const GRAPH_TOKENS: &str = "muster_graph_tokens_total";
pub const GRAPH_READS: &str = "muster_graph_reads_total";
pub const GRAPH_READ_DURATION: &str = "muster_graph_read_duration_seconds";
pub const STATE_LIVE_BYTES: &str = "muster_state_live_bytes";
pub const LICENSE_SEATS: &str = "muster_license_seats";

/// The seats of the last cycle's plan (`[license] seats`).
pub fn seats(seats: &std::collections::BTreeMap<String, engine::seats::SeatUse>) {
    for (license, seat) in seats {
        let gauge = |state: &'static str| metrics::gauge!(LICENSE_SEATS, "license" => license.clone(), "state" => state);
        gauge("used").set(f64::from(seat.used));
        gauge("budget").set(f64::from(seat.budget));
    }
}

/// Latency buckets from 50 µs (a warm Rust plugin call) to 10 minutes (a large initial cycle).
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the process-wide Prometheus recorder on first use and returns its handle (the same
/// one on every later call, so tests that start several servers in one process share it).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut slot = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    describe();
    *slot = Some(handle.clone());
    Ok(handle)
}

fn describe() {
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin calls by plugin, version and outcome (ok or the error kind)"
    );
    describe_histogram!(
        PLUGIN_DURATION,
        Unit::Seconds,
        "Wall time of one plugin call"
    );
    describe_counter!(
        PLUGIN_FUEL,
        "Fuel (about one unit a wasm instruction) plugins burned"
    );
    describe_counter!(
        SHADOW_CALLS,
        "Calls of staged versions run in shadow, by plugin, version and outcome"
    );
    describe_histogram!(
        SHADOW_DURATION,
        Unit::Seconds,
        "Wall time of one shadow plugin call"
    );
    describe_counter!(SHADOW_FUEL, "Fuel shadow plugin calls burned");
    describe_counter!(
        SHADOW_DISAGREEMENTS,
        "People on whom a shadow version disagreed with the active one, by plugin and kind"
    );
    describe_counter!(
        TARGET_REQUESTS,
        "Requests to the SCIM target by method and status (`none`: no response), retries included"
    );
    describe_counter!(TARGET_THROTTLED, "429 answers from the SCIM target");
    describe_histogram!(
        TARGET_DURATION,
        Unit::Seconds,
        "Time to a target's whole response"
    );
    describe_gauge!(
        TARGET_RATE,
        "Requests per second muster allows itself now, by rate class (lowered by 429s)"
    );
    describe_counter!(CYCLES, "Finished runs by kind and status");
    describe_histogram!(CYCLE_DURATION, Unit::Seconds, "Duration of a sync cycle");
    describe_gauge!(CYCLE_RUNNING, "1 while a cycle runs");
    describe_gauge!(
        LICENSE_SEATS,
        "Seats per plan or add-on with a budget: used after the last cycle's plan, and bought"
    );
    describe_gauge!(
        STATE_LIVE_BYTES,
        Unit::Bytes,
        "Bytes of live data in the state store after the last prune"
    );
    describe_counter!(
        GRAPH_REQUESTS,
        "Requests to Microsoft Graph (pages of delta rounds and assignments), retries included"
    );
    describe_counter!(
        GRAPH_THROTTLED,
        "Graph answers that were waited out (429, 503, 504) by status"
    );
    describe_counter!(GRAPH_TOKENS, "Access tokens fetched from Entra ID");
    describe_counter!(
        GRAPH_READS,
        "Reads of the Graph source by kind (`full` or `incremental`)"
    );
    describe_histogram!(
        GRAPH_READ_DURATION,
        Unit::Seconds,
        "Time to read the Graph source (mirror, delta rounds, assignments, directory)"
    );
    describe_counter!(
        crate::memo::MEMO_HITS,
        "Plugin calls answered from the memo (same version, configuration and input), by plugin"
    );
    describe_counter!(
        crate::memo::MEMO_MISSES,
        "Plugin calls the memo had no answer for, by plugin"
    );
    describe_gauge!(
        crate::memo::MEMO_ENTRIES,
        "Plugin answers the memo keeps (at most one per plugin and person)"
    );
}

/// The series a plugin's calls are recorded in: the live ones, or a shadow's apart, so a
/// shadow's cost is seen on its own.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    calls: &'static str,
    duration: &'static str,
    fuel: &'static str,
}

pub const LIVE: Series = Series {
    calls: PLUGIN_CALLS,
    duration: PLUGIN_DURATION,
    fuel: PLUGIN_FUEL,
};

pub const SHADOW: Series = Series {
    calls: SHADOW_CALLS,
    duration: SHADOW_DURATION,
    fuel: SHADOW_FUEL,
};

/// Where a [`Metered`] plugin's calls are recorded.
pub trait CallRecorder: Send + Sync {
    /// One call of `id`: `failure` is its error kind, `None` when it answered.
    fn record(&self, id: &PluginId, failure: Option<&'static str>, stats: &CallStats);
}

impl CallRecorder for Series {
    fn record(&self, id: &PluginId, failure: Option<&'static str>, stats: &CallStats) {
        let outcome = failure.unwrap_or("ok");
        counter!(self.calls, "plugin" => id.name.clone(), "version" => id.version.clone(), "outcome" => outcome)
            .increment(1);
        histogram!(self.duration, "plugin" => id.name.clone())
            .record(stats.wall_time.as_secs_f64());
        counter!(self.fuel, "plugin" => id.name.clone()).increment(stats.fuel_used);
    }
}

/// A shadow's disagreements in one run, by kind.
pub fn shadow_disagreements(counts: &engine::preview::ShadowCounts) {
    let kinds = [
        ("license", counts.license_changes),
        ("attributes", counts.attribute_changes),
        ("skipped", counts.newly_skipped),
        ("failed", counts.newly_failed),
    ];
    for (kind, n) in kinds {
        counter!(SHADOW_DISAGREEMENTS, "plugin" => counts.plugin.clone(), "kind" => kind)
            .increment(n);
    }
}

/// Sets `muster_target_rate{class}` to each class's rate now (read at every scrape, so the
/// series needs no hook in the client).
pub fn target_rates(rates: &[scim_client::ClassRate]) {
    for class in rates {
        gauge!(TARGET_RATE, "class" => class.name.clone()).set(class.current);
    }
}

/// Records a finished cycle; `status` is the store's status name or `failed`.
pub fn cycle(kind: &str, status: &str, elapsed: Duration) {
    counter!(CYCLES, "kind" => kind.to_string(), "status" => status.to_string()).increment(1);
    histogram!(CYCLE_DURATION, "kind" => kind.to_string()).record(elapsed.as_secs_f64());
}

/// A pinned plugin that records every call's outcome and cost with `R`: the live series, a
/// shadow's, or a preview's own tally.
pub struct Metered<R = Series>(pub Arc<Plugin>, pub R);

impl<R: CallRecorder> Metered<R> {
    fn record<T>(&self, result: &Result<T, PluginError>, stats: &CallStats) {
        let failure = result.as_ref().err().map(PluginError::kind);
        self.1.record(self.0.id(), failure, stats);
    }
}

impl<R: CallRecorder> Transform for Metered<R> {
    fn id(&self) -> PluginId {
        self.0.id().clone()
    }

    fn transform(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> Result<TransformOutcome, PluginError> {
        let (result, stats) = self.0.transform_with_stats(person, config);
        self.record(&result, &stats);
        result
    }
}

impl<R: CallRecorder> LicenseRule for Metered<R> {
    fn id(&self) -> PluginId {
        self.0.id().clone()
    }

    fn decide(
        &self,
        person: &PluginInput,
        current: Option<&License>,
        config: &str,
    ) -> Result<LicenseDecision, PluginError> {
        let (result, stats) = self.0.decide_with_stats(person, current, config);
        self.record(&result, &stats);
        result
    }
}

#[cfg(test)]
mod tests {
    use engine::seats::SeatUse;

    #[test]
    fn seats_are_exported_as_used_and_budget() {
        let handle = super::install().expect("the recorder");
        let seats = [("licensed".to_string(), SeatUse { used: 3, budget: 5 })].into();
        super::seats(&seats);
        let text = handle.render();
        for line in [
            r#"muster_license_seats{license="licensed",state="used"} 3"#,
            r#"muster_license_seats{license="licensed",state="budget"} 5"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
