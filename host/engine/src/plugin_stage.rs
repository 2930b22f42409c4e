//! The plugin stage, after the mappings: transform plugins in order, then the license rule and
//! the target profile.
//!
//! Plugins are called through the [`Transform`] and [`LicenseRule`] traits with the versions
//! pinned when the cycle started, so a hot swap mid-cycle never mixes versions within a cycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{GroupInputs, PluginConfig, PluginInputs};
use crate::log::{Decimal, Details, Recent, Status, Step, StepType, Text};
use crate::memo::{self, Answer, Memo, MemoCounts, Remembered};
use crate::model::{Attributes, GroupRef, Key, License, Person, PluginVersions, Value};
use crate::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};
use crate::profile::{TargetProfile, UnknownPlan};
use crate::replay::{self, Blob, ShownRef};

/// A plugin with its configuration (a JSON document), as pinned for one cycle.
pub struct Pinned<T: ?Sized> {
    pub plugin: Arc<T>,
    pub config: String,
    /// What the plugin is shown of each person.
    pub inputs: PluginInputs,
}

impl<T: ?Sized> Pinned<T> {
    /// `plugin` with the configuration document and inputs of its configuration entry.
    pub fn new(plugin: Arc<T>, entry: &PluginConfig) -> Pinned<T> {
        Pinned {
            plugin,
            config: entry.config_json(),
            inputs: entry.inputs.clone(),
        }
    }
}

impl<T: ?Sized> Clone for Pinned<T> {
    fn clone(&self) -> Self {
        Pinned {
            plugin: Arc::clone(&self.plugin),
            config: self.config.clone(),
            inputs: self.inputs.clone(),
        }
    }
}

/// The plugins of one cycle.
#[derive(Clone, Default)]
pub struct PinnedPlugins {
    pub transforms: Vec<Pinned<dyn Transform>>,
    pub license: Option<Pinned<dyn LicenseRule>>,
}

impl PinnedPlugins {
    /// Plugin name → version, recorded with what they produced.
    pub fn versions(&self) -> BTreeMap<String, String> {
        let transforms = self.transforms.iter().map(|p| p.plugin.id());
        let license = self.license.iter().map(|p| p.plugin.id());
        transforms
            .chain(license)
            .map(|id| (id.name, id.version))
            .collect()
    }
}

/// Why processing stopped for a person.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Halt {
    /// A transform asked not to provision the person this cycle.
    #[error("skipped by {plugin}: {reason}")]
    Skipped { plugin: PluginId, reason: String },
    #[error(transparent)]
    Failed(#[from] PluginError),
    #[error(transparent)]
    UnknownPlan(#[from] UnknownPlan),
}

impl Halt {
    /// The code for the log's status info.
    pub fn code(&self) -> String {
        match self {
            Halt::Skipped { .. } => "PluginSkipped".into(),
            Halt::Failed(e) => format!("PluginFailed:{}", e.kind()),
            Halt::UnknownPlan(_) => "UnknownPlan".into(),
        }
    }
}

/// The result of processing: final target attributes and the license they express.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub target: Attributes,
    pub license: Option<License>,
}

/// Runs the transforms then the license rule over the mapped attributes, recording a step each.
///
/// A cycle plans every person through one [`Processor`] instead, which prepares the plugins'
/// ids once and reuses its buffers.
pub fn process(
    person: &Person,
    mapped: Attributes,
    plugins: &PinnedPlugins,
    profile: &TargetProfile,
    current: Option<&License>,
    steps: &mut Vec<Step>,
) -> Result<Processed, Halt> {
    Processor::new(plugins).run(person, mapped, profile, current, steps)
}

/// The plugins of one cycle, prepared once (ids, step names, versions), and the plugin input
/// reused from one person to the next so that its strings keep their allocations.
pub struct Processor<'a> {
    plugins: &'a PinnedPlugins,
    transforms: Vec<Prepared>,
    license: Option<Prepared>,
    versions: PluginVersions,
    input: PluginInput,
    /// What a plugin with restricted [`PluginInputs`] is shown of `input`.
    shown: PluginInput,
    /// While set, the license instead of the rule's decision ([`Processor::grant`]).
    granted: Option<Granted>,
    /// Set when the steps are to be replayable ([`Processor::record`]).
    recorder: Option<Recorder>,
    /// Set when answers are looked up and kept ([`Processor::memoize`]).
    memo: Option<MemoState<'a>>,
}

/// The memo of plugin answers as one processor uses it.
struct MemoState<'a> {
    memo: Option<&'a dyn Memo>,
    /// Whether answers got from calls are kept ([`Processor::take_remembered`]).
    remember: bool,
    /// The encoding buffer of the shown input, reused.
    buffer: Vec<u8>,
    remembered: Vec<Remembered>,
    /// Per plugin, transforms first then the license rule.
    counts: Vec<MemoCounts>,
}

/// One plugin call, as the memo knows it.
struct Asked<'c> {
    /// The plugin's index among the cycle's (transforms, then the license rule).
    plugin: usize,
    config: &'c str,
    person: &'c str,
    shown: &'c PluginInput,
    current: Option<&'c License>,
}

impl MemoState<'_> {
    /// The answer to a call, and whether the memo gave it: the memo's when it holds one for
    /// this exact call, else the plugin's (`call`), kept for the next cycles. `unwrap` and
    /// `wrap` convert between the plugin's answer and the memo's [`Answer`].
    fn answer<T: Clone>(
        &mut self,
        prepared: &Prepared,
        asked: Asked<'_>,
        unwrap: fn(Answer) -> Option<T>,
        wrap: fn(T) -> Answer,
        call: impl FnOnce() -> Result<T, PluginError>,
    ) -> (Result<T, PluginError>, bool) {
        self.buffer.clear();
        ShownRef {
            person: asked.shown,
            current: asked.current,
        }
        .encode_into(&mut self.buffer);
        let key = memo::key(&prepared.version, asked.config, &self.buffer);
        let found = self
            .memo
            .and_then(|m| m.get(&prepared.id.name, asked.person, &key))
            .and_then(unwrap);
        if let Some(counts) = self.counts.get_mut(asked.plugin) {
            if found.is_some() {
                counts.hits += 1;
            } else {
                counts.misses += 1;
            }
        }
        if let Some(answer) = found {
            return (Ok(answer), true);
        }
        let answered = call();
        if let (true, Ok(answer)) = (self.remember, &answered) {
            self.remembered.push(Remembered {
                plugin: Arc::clone(&prepared.name),
                version: Arc::clone(&prepared.version),
                person: asked.person.to_string(),
                key,
                answer: wrap(answer.clone()),
            });
        }
        (answered, false)
    }
}

/// A call's answer through the memo when the processor has one, else straight from the plugin.
fn ask<T: Clone>(
    memo: Option<&mut MemoState<'_>>,
    prepared: &Prepared,
    asked: Asked<'_>,
    unwrap: fn(Answer) -> Option<T>,
    wrap: fn(T) -> Answer,
    call: impl FnOnce() -> Result<T, PluginError>,
) -> (Result<T, PluginError>, bool) {
    match memo {
        Some(memo) => memo.answer(prepared, asked, unwrap, wrap, call),
        None => (call(), false),
    }
}

/// The detail a step answered from the memo carries.
pub const CACHED: &str = "cached";
const CACHED_TEXT: &str = "the same version, configuration and input were answered before";

/// Keeps what each plugin call was shown, once per distinct input, and hashes what it answered
/// ([`crate::replay`]).
#[derive(Default)]
struct Recorder {
    /// The serialization buffer, reused from one call to the next.
    buffer: Vec<u8>,
    /// The cycle's blobs (inputs and configuration documents) by hash.
    blobs: foldhash::HashMap<Arc<str>, Arc<[u8]>>,
}

impl Recorder {
    /// Keeps `bytes` under its hash (once); returns the hash.
    fn keep(&mut self, bytes: &[u8]) -> Arc<str> {
        let hash = replay::content_hash(bytes);
        match self.blobs.get_key_value(hash.as_str()) {
            Some((kept, _)) => Arc::clone(kept),
            None => {
                let hash: Arc<str> = Arc::from(hash);
                self.blobs.insert(Arc::clone(&hash), Arc::from(bytes));
                hash
            }
        }
    }

    /// Keeps what a plugin is shown; returns its hash.
    fn input(&mut self, person: &PluginInput, current: Option<&License>) -> Text {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        ShownRef { person, current }.encode_into(&mut buffer);
        let hash = self.keep(&buffer);
        self.buffer = buffer;
        Text::from(hash)
    }

    /// The hash of an answer `encode` writes in canonical form.
    fn output(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Text {
        self.buffer.clear();
        encode(&mut self.buffer);
        Text::from(replay::content_hash(&self.buffer))
    }
}

/// The hashes of one recorded call, for its step.
struct Recorded {
    input: Text,
    output: Text,
}

/// A license decided outside the rule (what the seat budgets allow), with the steps that say
/// why, logged in place of the rule's call.
#[derive(Debug, Clone)]
pub struct Granted {
    /// `None`: no license attributes.
    pub license: Option<License>,
    pub steps: Vec<Step>,
}

/// A pinned plugin's id and the name of its log step (`transform:…`, `license:…`); the name
/// and version are shared by every person's step.
struct Prepared {
    id: PluginId,
    /// The plugin's name, shared by the answers the memo keeps.
    name: Arc<str>,
    step: Arc<str>,
    version: Arc<str>,
    /// What the plugin was shown, when not the whole person: whoever reads the log sees why a
    /// rule did not see a group.
    inputs: Option<Arc<str>>,
    /// The last outcome text (a transform's counts, a license), shared while it repeats.
    recent: Recent,
    /// The hash of the configuration document, when the steps are recorded.
    config: Option<Arc<str>>,
}

impl Prepared {
    fn new(id: PluginId, kind: &str, inputs: &PluginInputs) -> Prepared {
        let step = Arc::from(format!("{kind}:{}", id.name));
        let version = Arc::from(id.version.as_str());
        Prepared {
            name: Arc::from(id.name.as_str()),
            id,
            step,
            version,
            inputs: inputs.describe().map(Arc::from),
            recent: Recent::default(),
            config: None,
        }
    }

    /// The plugin's log step: its version, what it was shown (when declared), `extra`, and
    /// the hashes a replay needs when the call was `recorded`, in one allocation.
    fn step_detailed(
        &self,
        status: Status,
        description: impl Into<Text>,
        extra: Option<(&'static str, Text)>,
        recorded: Option<Recorded>,
    ) -> Step {
        let config = self.config.as_ref().filter(|_| recorded.is_some());
        // Exactly sized: `Details` keeps a boxed slice, and a spare slot would cost a realloc.
        let len = 1
            + usize::from(self.inputs.is_some())
            + usize::from(extra.is_some())
            + 2 * usize::from(recorded.is_some())
            + usize::from(config.is_some());
        let mut pairs = Vec::with_capacity(len);
        pairs.push((Text::from("version"), Text::from(Arc::clone(&self.version))));
        if let Some(inputs) = &self.inputs {
            pairs.push((Text::from("inputs"), Text::from(Arc::clone(inputs))));
        }
        if let Some((key, value)) = extra {
            pairs.push((Text::from(key), value));
        }
        if let Some(recorded) = recorded {
            pairs.push((Text::from(replay::INPUT_HASH), recorded.input));
            pairs.push((Text::from(replay::OUTPUT_HASH), recorded.output));
        }
        if let Some(config) = config {
            pairs.push((
                Text::from(replay::CONFIG_HASH),
                Text::from(Arc::clone(config)),
            ));
        }
        let mut step = Step::new(
            StepType::Processing,
            Arc::clone(&self.step),
            status,
            description,
        );
        step.details = Details::from(pairs);
        step
    }

    fn step(
        &self,
        status: Status,
        description: impl Into<Text>,
        recorded: Option<Recorded>,
    ) -> Step {
        self.step_detailed(status, description, None, recorded)
    }

    /// [`Prepared::step`] with one more fact.
    fn step_with(
        &self,
        status: Status,
        description: impl Into<Text>,
        key: &'static str,
        value: impl Into<Text>,
        recorded: Option<Recorded>,
    ) -> Step {
        self.step_detailed(status, description, Some((key, value.into())), recorded)
    }
}

impl<'a> Processor<'a> {
    /// Reads the plugins' ids: they are pinned for the cycle, so they cannot change within it.
    pub fn new(plugins: &'a PinnedPlugins) -> Processor<'a> {
        Processor {
            plugins,
            transforms: plugins
                .transforms
                .iter()
                .map(|p| Prepared::new(p.plugin.id(), "transform", &p.inputs))
                .collect(),
            license: plugins
                .license
                .as_ref()
                .map(|p| Prepared::new(p.plugin.id(), "license", &p.inputs)),
            versions: plugins.versions().into(),
            input: PluginInput::default(),
            shown: PluginInput::default(),
            granted: None,
            recorder: None,
            memo: None,
        }
    }

    /// Looks each call's answer up in `memo` first ([`crate::memo`]), and, with `remember`,
    /// keeps the answers of the calls made for [`Processor::take_remembered`].
    pub fn memoize(&mut self, memo: Option<&'a dyn Memo>, remember: bool) {
        self.memo = Some(MemoState {
            memo,
            remember,
            buffer: Vec::new(),
            remembered: Vec::new(),
            counts: vec![MemoCounts::default(); self.steps_per_person()],
        });
    }

    /// The answers of the calls made since the last take, to keep.
    pub fn take_remembered(&mut self) -> Vec<Remembered> {
        self.memo
            .as_mut()
            .map(|m| std::mem::take(&mut m.remembered))
            .unwrap_or_default()
    }

    /// Memo hits and misses per plugin (transforms first, then the license rule).
    pub fn memo_counts(&self) -> Vec<MemoCounts> {
        self.memo
            .as_ref()
            .map(|m| m.counts.clone())
            .unwrap_or_default()
    }

    /// Makes every plugin step replayable: each step gets the hashes of what the plugin was
    /// shown, of its configuration and of its answer ([`replay::INPUT_HASH`] and the others),
    /// and the processor keeps the inputs and configurations for [`Processor::take_blobs`].
    /// A plan that records nothing (a dry run) does without: the cost is a serialization and a
    /// hash per call.
    pub fn record(&mut self) {
        let mut recorder = Recorder::default();
        let pinned = self.plugins.transforms.iter().map(|p| &p.config);
        let configs = pinned.chain(self.plugins.license.iter().map(|p| &p.config));
        let prepared = self.transforms.iter_mut().chain(self.license.as_mut());
        for (prepared, config) in prepared.zip(configs) {
            prepared.config = Some(recorder.keep(config.as_bytes()));
        }
        self.recorder = Some(recorder);
    }

    /// The inputs and configurations the recorded steps refer to, each once; the processor
    /// keeps recording with an empty set.
    pub fn take_blobs(&mut self) -> Vec<Blob> {
        let Some(recorder) = &mut self.recorder else {
            return Vec::new();
        };
        let blobs: Vec<Blob> = recorder
            .blobs
            .iter()
            .map(|(hash, data)| Blob {
                hash: Arc::clone(hash),
                data: Arc::clone(data),
            })
            .collect();
        // The configurations stay: every later step refers to them.
        let configs: Vec<&Arc<str>> = self
            .transforms
            .iter()
            .chain(self.license.as_ref())
            .filter_map(|p| p.config.as_ref())
            .collect();
        recorder
            .blobs
            .retain(|hash, _| configs.iter().any(|c| ***c == **hash));
        blobs
    }

    /// Makes [`Processor::run`] use `granted` instead of calling the license rule, until
    /// called again with `None`. The transforms still run: their output is not kept between
    /// people.
    pub fn grant(&mut self, granted: Option<Granted>) {
        self.granted = granted;
    }

    /// The log steps the plugins add to a person, at most (one each).
    pub fn steps_per_person(&self) -> usize {
        self.transforms.len() + usize::from(self.license.is_some())
    }

    /// Plugin name → version ([`PinnedPlugins::versions`]).
    pub fn versions(&self) -> &PluginVersions {
        &self.versions
    }

    /// [`process`] for one person, with the cycle's prepared plugins.
    pub fn run(
        &mut self,
        person: &Person,
        mapped: Attributes,
        profile: &TargetProfile,
        current: Option<&License>,
        steps: &mut Vec<Step>,
    ) -> Result<Processed, Halt> {
        let (input, shown) = (&mut self.input, &mut self.shown);
        input.id.clone_from(&person.id);
        assign_attributes(&mut input.attributes, &person.attributes);
        input.direct_groups.clone_from(&person.direct_groups);
        input
            .transitive_groups
            .clone_from(&person.transitive_groups);
        input.app_roles.clone_from(&person.app_roles);
        input.manager.clone_from(&person.manager);
        input.target = mapped;
        let recorder = &mut self.recorder;
        let memo = &mut self.memo;
        let transforms = self.plugins.transforms.iter().zip(&mut self.transforms);
        for (i, (pinned, prepared)) in transforms.enumerate() {
            let shown = view(&pinned.inputs, input, shown);
            let recorded_input = recorder.as_mut().map(|r| r.input(shown, None));
            let asked = Asked {
                plugin: i,
                config: &pinned.config,
                person: &person.id,
                shown,
                current: None,
            };
            let (outcome, cached) = ask(
                memo.as_mut(),
                prepared,
                asked,
                |a| match a {
                    Answer::Transform(o) => Some(o),
                    Answer::License(_) => None,
                },
                Answer::Transform,
                || pinned.plugin.transform(shown, &pinned.config),
            );
            let recorded = recorder
                .as_mut()
                .zip(recorded_input)
                .map(|(r, input)| Recorded {
                    input,
                    output: r.output(|out| replay::encode_transform(&outcome, out)),
                });
            let applied = apply_transform(outcome, prepared, recorded, &mut input.target, steps);
            mark_cached(cached, steps);
            applied?;
        }
        let license_index = self.transforms.len();
        let license = match (&self.plugins.license, &mut self.license) {
            _ if self.granted.is_some() => {
                let granted = self.granted.as_ref();
                steps.extend(granted.iter().flat_map(|g| g.steps.iter().cloned()));
                granted.and_then(|g| g.license.clone())
            }
            (Some(rule), Some(prepared)) => {
                let shown = view(&rule.inputs, input, shown);
                let recorded_input = recorder.as_mut().map(|r| r.input(shown, current));
                let asked = Asked {
                    plugin: license_index,
                    config: &rule.config,
                    person: &person.id,
                    shown,
                    current,
                };
                let (decision, cached) = ask(
                    memo.as_mut(),
                    prepared,
                    asked,
                    |a| match a {
                        Answer::License(d) => Some(d),
                        Answer::Transform(_) => None,
                    },
                    Answer::License,
                    || rule.plugin.decide(shown, current, &rule.config),
                );
                let recorded = recorder
                    .as_mut()
                    .zip(recorded_input)
                    .map(|(r, input)| Recorded {
                        input,
                        output: r.output(|out| replay::encode_license(&decision, out)),
                    });
                let decided = license_step(decision, prepared, recorded, current, steps);
                mark_cached(cached, steps);
                decided?
            }
            _ => current.cloned(),
        };
        let mut target = std::mem::take(&mut input.target);
        if let Some(license) = &license {
            let unmapped = profile
                .express_into(license, &mut target)
                .inspect_err(|e| {
                    steps.push(Step::new(
                        StepType::Processing,
                        "profile",
                        Status::Failure,
                        e.to_string(),
                    ));
                })?;
            for add_on in unmapped {
                let why = format!(
                    "add-on `{add_on}` has no attributes in the target profile; not provisioned"
                );
                steps.push(Step::new(
                    StepType::Processing,
                    "profile",
                    Status::Warning,
                    why,
                ));
            }
        }
        Ok(Processed { target, license })
    }
}

/// `dst = src.clone()`, keeping `dst`'s keys and string buffers where they already match
/// (people mostly have the same attribute names).
fn assign_attributes(dst: &mut Attributes, src: &Attributes) {
    let same_keys = dst.len() == src.len() && dst.keys().zip(src.keys()).all(|(a, b)| a == b);
    if !same_keys {
        dst.clone_from(src);
        return;
    }
    for (d, s) in dst.values_mut().zip(src.values()) {
        match (d, s) {
            (Value::Text(d), Value::Text(s)) => d.clone_from(s),
            (Value::TextList(d), Value::TextList(s)) => d.clone_from(s),
            (d, s) => *d = s.clone(),
        }
    }
}

/// What a plugin with `inputs` is shown of `full`: `full` itself, or its projection into
/// `buffer`.
fn view<'b>(
    inputs: &PluginInputs,
    full: &'b PluginInput,
    buffer: &'b mut PluginInput,
) -> &'b PluginInput {
    if inputs.is_everything() {
        return full;
    }
    project(inputs, full, buffer);
    buffer
}

/// Writes into `shown` the part of `full` that `inputs` lets a plugin see: the named source
/// attributes and target paths (case-insensitive), and the chosen group lists. `shown`'s buffers
/// are reused from one person to the next.
pub fn project(inputs: &PluginInputs, full: &PluginInput, shown: &mut PluginInput) {
    shown.id.clone_from(&full.id);
    select(
        &mut shown.attributes,
        &full.attributes,
        inputs.attributes.as_deref(),
    );
    select(&mut shown.target, &full.target, inputs.target.as_deref());
    let (direct, transitive) = match inputs.groups {
        GroupInputs::All => (true, true),
        GroupInputs::Direct => (true, false),
        GroupInputs::Transitive => (false, true),
        GroupInputs::None => (false, false),
    };
    let prefixes = inputs.group_prefixes.as_deref();
    select_groups(
        &mut shown.direct_groups,
        &full.direct_groups,
        direct,
        prefixes,
    );
    select_groups(
        &mut shown.transitive_groups,
        &full.transitive_groups,
        transitive,
        prefixes,
    );
    if inputs.app_roles {
        shown.app_roles.clone_from(&full.app_roles);
    } else {
        shown.app_roles.clear();
    }
    shown.manager = if inputs.manager {
        full.manager.clone()
    } else {
        None
    };
}

/// `dst` = the groups of `src` whose names start with one of `prefixes` (all for `None`), or
/// none when the list is not `wanted`.
fn select_groups(
    dst: &mut Vec<GroupRef>,
    src: &[GroupRef],
    wanted: bool,
    prefixes: Option<&[String]>,
) {
    match (wanted, prefixes) {
        (false, _) => dst.clear(),
        (true, None) => {
            // As `Vec::clone_from`: the groups already there keep their string buffers.
            dst.truncate(src.len());
            let (reused, rest) = src.split_at(dst.len());
            dst.clone_from_slice(reused);
            dst.extend_from_slice(rest);
        }
        (true, Some(prefixes)) => {
            dst.clear();
            let shown = src.iter().filter(|g| {
                prefixes.iter().any(|p| {
                    g.display_name
                        .as_bytes()
                        .get(..p.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
                })
            });
            dst.extend(shown.cloned());
        }
    }
}

/// `dst` = the entries of `src` named in `names` (all of them for `None`).
fn select(dst: &mut Attributes, src: &Attributes, names: Option<&[String]>) {
    let Some(names) = names else {
        assign_attributes(dst, src);
        return;
    };
    dst.clear();
    for (name, value) in src {
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            dst.insert(name.clone(), value.clone());
        }
    }
}

/// Applies a transform's outcome to the person's target attributes.
fn apply_transform(
    outcome: Result<TransformOutcome, PluginError>,
    prepared: &mut Prepared,
    recorded: Option<Recorded>,
    target: &mut Attributes,
    steps: &mut Vec<Step>,
) -> Result<(), Halt> {
    match outcome {
        Ok(TransformOutcome::Changes { set, remove }) => {
            let (set_count, removed) = (Decimal::new(set.len()), Decimal::new(remove.len()));
            let description = prepared.recent.concat(&[
                set_count.as_str(),
                " set, ",
                removed.as_str(),
                " removed",
            ]);
            for path in &remove {
                target.remove(path.as_str());
            }
            for (path, value) in set {
                // A path the target has keeps its shared key; only a new one is allocated.
                match target.get_mut(path.as_str()) {
                    Some(slot) => *slot = value,
                    None => {
                        target.insert(Key::from(path), value);
                    }
                }
            }
            steps.push(prepared.step(Status::Success, description, recorded));
            Ok(())
        }
        Ok(TransformOutcome::Skip { reason }) => {
            steps.push(prepared.step(Status::Skipped, reason.clone(), recorded));
            Err(Halt::Skipped {
                plugin: prepared.id.clone(),
                reason,
            })
        }
        Err(e) => {
            let step =
                prepared.step_with(Status::Failure, e.to_string(), "error", e.kind(), recorded);
            steps.push(step);
            Err(Halt::Failed(e))
        }
    }
}

/// Notes on the step just pushed that its answer came from the memo.
fn mark_cached(cached: bool, steps: &mut [Step]) {
    if let (true, Some(step)) = (cached, steps.last_mut()) {
        step.details.insert(CACHED, CACHED_TEXT);
    }
}

/// The license rule's step for its decision; the license it leaves the person with.
fn license_step(
    decision: Result<LicenseDecision, PluginError>,
    prepared: &mut Prepared,
    recorded: Option<Recorded>,
    current: Option<&License>,
    steps: &mut Vec<Step>,
) -> Result<Option<License>, Halt> {
    match decision {
        Ok(LicenseDecision::Assign {
            license,
            reason,
            rule,
            because,
        }) => {
            let described = prepared.recent.text(|out| write_license(&license, out));
            let step = prepared.step_with(Status::Success, reason, "license", described, recorded);
            steps.push(explained(step, rule, &because));
            Ok(Some(license))
        }
        Ok(LicenseDecision::NoChange {
            reason,
            rule,
            because,
        }) => {
            let step =
                prepared.step_with(Status::Success, reason, "license", "unchanged", recorded);
            steps.push(explained(step, rule, &because));
            Ok(current.cloned())
        }
        Err(e) => {
            let step =
                prepared.step_with(Status::Failure, e.to_string(), "error", e.kind(), recorded);
            steps.push(step);
            Err(Halt::Failed(e))
        }
    }
}

/// The step with a decision's structured reason (interface 0.2.0): `rule` and `because`
/// (its facts joined by `; `), where the plugin gave them.
fn explained(mut step: Step, rule: String, because: &[String]) -> Step {
    if !rule.is_empty() {
        step.details.insert(RULE, rule);
    }
    if !because.is_empty() {
        step.details.insert(BECAUSE, because.join("; "));
    }
    step
}

/// The log step's detail naming the rule that decided a license.
pub const RULE: &str = "rule";
/// The log step's detail listing what a license decision rests on, `; `-separated.
pub const BECAUSE: &str = "because";

/// `plan+add-on+add-on`, for logs.
pub fn describe(license: &License) -> String {
    let len = license.plan.len() + license.add_ons.iter().map(|a| a.len() + 1).sum::<usize>();
    let mut out = String::with_capacity(len);
    write_license(license, &mut out);
    out
}

/// [`describe`] appended to `out`.
fn write_license(license: &License, out: &mut String) {
    out.push_str(&license.plan);
    for add_on in &license.add_ons {
        out.push('+');
        out.push_str(add_on);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::ProfileName;
    use crate::model::{GroupRef, Manager};

    fn group(name: &str) -> GroupRef {
        GroupRef {
            id: format!("id-{name}"),
            display_name: name.into(),
            via: None,
        }
    }

    fn person() -> Person {
        let attributes = Attributes::from([
            ("department".into(), Value::Text("Sales".into())),
            ("mobilePhone".into(), Value::Text("+1 555".into())),
        ]);
        let mut p = Person::new("p1", attributes);
        p.direct_groups = vec![group("Team")];
        p.transitive_groups = vec![group("Team"), group("Zoom-Licensed")];
        p
    }

    fn mapped() -> Attributes {
        Attributes::from([
            ("userName".into(), Value::Text("p1@x.example".into())),
            ("title".into(), Value::Text("Rep".into())),
        ])
    }

    /// Records what it was shown; sets `displayName` and removes `title`.
    #[derive(Default)]
    struct Spy(Mutex<Vec<PluginInput>>);

    impl Spy {
        fn seen(&self) -> Vec<PluginInput> {
            self.0.lock().map(|s| s.clone()).unwrap_or_default()
        }
    }

    impl Transform for Spy {
        fn id(&self) -> PluginId {
            PluginId {
                name: "spy".into(),
                version: "1".into(),
            }
        }
        fn transform(
            &self,
            person: &PluginInput,
            _: &str,
        ) -> Result<TransformOutcome, PluginError> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(person.clone());
            }
            Ok(TransformOutcome::Changes {
                set: vec![("displayName".into(), Value::Text("Pat".into()))],
                remove: vec!["title".into()],
            })
        }
    }

    fn pinned(spy: &Arc<Spy>, inputs: PluginInputs) -> PinnedPlugins {
        PinnedPlugins {
            transforms: vec![Pinned {
                plugin: Arc::clone(spy) as Arc<dyn Transform>,
                config: "{}".into(),
                inputs,
            }],
            license: None,
        }
    }

    fn run_with_steps(plugins: &PinnedPlugins) -> (Processed, Vec<Step>) {
        let profile = TargetProfile::new(ProfileName::Generic, None);
        let mut steps = Vec::new();
        let mut processor = Processor::new(plugins);
        let processed = processor
            .run(&person(), mapped(), &profile, None, &mut steps)
            .expect("processes");
        (processed, steps)
    }

    #[test]
    fn a_plugin_sees_everything_by_default() {
        let spy = Arc::new(Spy::default());
        let (_, steps) = run_with_steps(&pinned(&spy, PluginInputs::default()));
        assert!(steps[0].details.get("inputs").is_none());
        let seen = spy.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].attributes, person().attributes);
        assert_eq!(seen[0].direct_groups, person().direct_groups);
        assert_eq!(seen[0].transitive_groups, person().transitive_groups);
        assert_eq!(seen[0].target, mapped());
    }

    #[test]
    fn declared_inputs_limit_what_a_plugin_sees_but_not_what_it_changes() {
        let spy = Arc::new(Spy::default());
        let inputs = PluginInputs {
            attributes: Some(vec!["DEPARTMENT".into(), "absent".into()]),
            groups: GroupInputs::Transitive,
            group_prefixes: None,
            target: Some(vec!["username".into()]),
            ..PluginInputs::default()
        };
        let (processed, steps) = run_with_steps(&pinned(&spy, inputs));
        assert_eq!(
            steps[0].details.get("inputs").map(|t| t.to_string()),
            Some("attributes DEPARTMENT, absent; transitive groups; target username".into()),
            "the log says what the plugin was shown"
        );
        let seen = spy.seen();
        assert_eq!(seen[0].id, "p1");
        assert_eq!(
            seen[0].attributes,
            Attributes::from([("department".into(), Value::Text("Sales".into()))])
        );
        assert!(seen[0].direct_groups.is_empty());
        assert_eq!(seen[0].transitive_groups, person().transitive_groups);
        assert_eq!(
            seen[0].target.keys().collect::<Vec<_>>(),
            ["userName"],
            "target paths match case-insensitively"
        );
        // The changes apply to the whole target: `title` was not shown but is removed, and the
        // unseen entries are kept.
        assert_eq!(
            processed.target,
            Attributes::from([
                ("displayName".into(), Value::Text("Pat".into())),
                ("userName".into(), Value::Text("p1@x.example".into())),
            ])
        );
    }

    #[test]
    fn group_prefixes_keep_only_the_groups_a_rule_reads() {
        let full = PluginInput {
            id: "p1".into(),
            transitive_groups: vec![group("Team"), group("zoom-Phone"), group("Zoom-Licensed")],
            direct_groups: vec![group("Team"), group("zoom-Phone")],
            ..PluginInput::default()
        };
        let inputs = PluginInputs {
            groups: GroupInputs::Transitive,
            group_prefixes: Some(vec!["ZOOM-".into(), "Zoom-Licensed-but-longer".into()]),
            ..PluginInputs::default()
        };
        let mut shown = PluginInput::default();
        project(&inputs, &full, &mut shown);
        assert!(shown.direct_groups.is_empty());
        assert_eq!(
            shown.transitive_groups,
            [group("zoom-Phone"), group("Zoom-Licensed")],
            "case-insensitive prefixes, in the source's order"
        );
        // A multi-byte character where a prefix would end is no match, not a panic.
        let full = PluginInput {
            transitive_groups: vec![group("Zoo\u{e9}-x")],
            ..full
        };
        project(&inputs, &full, &mut shown);
        assert!(shown.transitive_groups.is_empty());
    }

    /// Assigns `basic` to everyone.
    struct Basic;

    impl LicenseRule for Basic {
        fn id(&self) -> PluginId {
            PluginId {
                name: "basic".into(),
                version: "1".into(),
            }
        }
        fn decide(
            &self,
            _: &PluginInput,
            _: Option<&License>,
            _: &str,
        ) -> Result<LicenseDecision, PluginError> {
            Ok(LicenseDecision::Assign {
                license: License {
                    plan: "basic".into(),
                    add_ons: vec![],
                },
                reason: "everyone".into(),
                rule: String::new(),
                because: Vec::new(),
            })
        }
    }

    #[test]
    fn a_license_step_says_what_the_rule_was_shown_beside_the_license() {
        let plugins = PinnedPlugins {
            transforms: vec![],
            license: Some(Pinned {
                plugin: Arc::new(Basic) as Arc<dyn LicenseRule>,
                config: "{}".into(),
                inputs: PluginInputs {
                    groups: GroupInputs::None,
                    ..PluginInputs::default()
                },
            }),
        };
        let (_, steps) = run_with_steps(&plugins);
        let detail = |key: &str| steps[0].details.get(key).map(|t| t.to_string());
        assert_eq!(detail("inputs").as_deref(), Some("no groups"));
        assert_eq!(detail("license").as_deref(), Some("basic"));
        assert_eq!(detail("version").as_deref(), Some("1"));
    }

    /// Assigns `basic` naming its rule and what it rests on, as a 0.2.0 plugin can.
    struct Explained;

    impl LicenseRule for Explained {
        fn id(&self) -> PluginId {
            PluginId {
                name: "explained".into(),
                version: "2".into(),
            }
        }
        fn decide(
            &self,
            _: &PluginInput,
            _: Option<&License>,
            _: &str,
        ) -> Result<LicenseDecision, PluginError> {
            Ok(LicenseDecision::Assign {
                license: License::new("basic", Vec::<String>::new()),
                reason: "everyone".into(),
                rule: "everyone-basic".into(),
                because: vec!["Zoom-Users ← Sales".into(), "app role User".into()],
            })
        }
    }

    #[test]
    fn a_license_step_carries_the_rule_and_what_it_rests_on() {
        let rule = |plugin: Arc<dyn LicenseRule>| PinnedPlugins {
            transforms: vec![],
            license: Some(Pinned {
                plugin,
                config: "{}".into(),
                inputs: PluginInputs::default(),
            }),
        };
        let (_, steps) = run_with_steps(&rule(Arc::new(Explained)));
        let detail = |steps: &[Step], key: &str| steps[0].details.get(key).map(|t| t.to_string());
        assert_eq!(steps[0].description.as_str(), "everyone");
        assert_eq!(detail(&steps, RULE).as_deref(), Some("everyone-basic"));
        assert_eq!(
            detail(&steps, BECAUSE).as_deref(),
            Some("Zoom-Users ← Sales; app role User")
        );
        // A decision without them (interface 0.1.0) adds neither.
        let (_, steps) = run_with_steps(&rule(Arc::new(Basic)));
        assert_eq!(detail(&steps, RULE), None);
        assert_eq!(detail(&steps, BECAUSE), None);
    }

    #[test]
    fn app_roles_and_the_manager_are_shown_unless_the_inputs_leave_them_out() {
        let full = PluginInput {
            id: "p1".into(),
            app_roles: vec!["Admin".into()],
            manager: Some(Manager {
                id: "m1".into(),
                user_principal_name: None,
            }),
            ..PluginInput::default()
        };
        let mut shown = PluginInput::default();
        let everything_but = |app_roles, manager| PluginInputs {
            attributes: Some(vec![]),
            app_roles,
            manager,
            ..PluginInputs::default()
        };
        project(&everything_but(true, true), &full, &mut shown);
        assert_eq!(
            (&shown.app_roles, &shown.manager),
            (&full.app_roles, &full.manager)
        );
        project(&everything_but(false, false), &full, &mut shown);
        assert!(shown.app_roles.is_empty() && shown.manager.is_none());
        assert_eq!(
            everything_but(false, false).describe().as_deref(),
            Some("attributes none; direct and transitive groups; no app roles; no manager")
        );
    }

    #[test]
    fn recorded_steps_carry_the_hashes_of_input_config_and_output() {
        let spy = Arc::new(Spy::default());
        let mut plugins = pinned(&spy, PluginInputs::default());
        plugins.license = Some(Pinned {
            plugin: Arc::new(Basic) as Arc<dyn LicenseRule>,
            config: r#"{"plan": "basic"}"#.into(),
            inputs: PluginInputs::default(),
        });
        let profile = TargetProfile::new(ProfileName::Generic, None);
        let mut processor = Processor::new(&plugins);
        processor.record();
        let current = License::new("pro", ["phone"]);
        let mut runs = Vec::new();
        for p in [person(), person(), Person::new("p2", Attributes::new())] {
            let mut steps = Vec::new();
            processor
                .run(&p, mapped(), &profile, Some(&current), &mut steps)
                .expect("processes");
            runs.push(steps);
        }
        let hash = |steps: &[Step], i: usize, key: &str| {
            steps[i]
                .details
                .get(key)
                .map(ToString::to_string)
                .expect(key)
        };
        for i in 0..2 {
            for key in [replay::INPUT_HASH, replay::CONFIG_HASH, replay::OUTPUT_HASH] {
                assert_eq!(
                    hash(&runs[0], i, key),
                    hash(&runs[1], i, key),
                    "equal inputs, {key}"
                );
            }
        }
        assert_ne!(
            hash(&runs[0], 0, replay::INPUT_HASH),
            hash(&runs[2], 0, replay::INPUT_HASH),
            "another person"
        );
        assert_eq!(
            hash(&runs[0], 1, replay::CONFIG_HASH),
            replay::content_hash(br#"{"plan": "basic"}"#)
        );
        let blobs = processor.take_blobs();
        let blob = |hash: &str| {
            blobs
                .iter()
                .find(|b| &*b.hash == hash)
                .unwrap_or_else(|| panic!("no blob {hash}"))
        };
        // The transform's input is exactly what it was shown; the rule's adds the license.
        let shown = replay::Shown::decode(&blob(&hash(&runs[0], 0, replay::INPUT_HASH)).data)
            .expect("decodes");
        assert_eq!(shown.person, spy.seen()[0]);
        assert_eq!(shown.current, None);
        let shown = replay::Shown::decode(&blob(&hash(&runs[0], 1, replay::INPUT_HASH)).data)
            .expect("decodes");
        assert_eq!(shown.current, Some(current.clone()));
        assert_eq!(
            shown.person.target.get("displayName"),
            Some(&Value::Text("Pat".into()))
        );
        let rule_output = replay::Output::License(Basic.decide(&shown.person, None, "{}"));
        assert_eq!(hash(&runs[0], 1, replay::OUTPUT_HASH), rule_output.hash());
        // Each input once: two people, two plugins; and both configurations.
        assert_eq!(blobs.len(), 4 + 2, "{blobs:?}");
        assert_eq!(processor.take_blobs().len(), 2, "the configurations stay");
        // Unrecorded, a step has none of them.
        let (_, steps) = run_with_steps(&plugins);
        assert!(steps[0].details.get(replay::INPUT_HASH).is_none());
    }

    #[test]
    fn each_group_choice_sends_its_lists() {
        let full = PluginInput {
            id: "p1".into(),
            attributes: person().attributes,
            direct_groups: person().direct_groups,
            transitive_groups: person().transitive_groups,
            target: mapped(),
            ..PluginInput::default()
        };
        let cases = [
            (GroupInputs::All, 1, 2),
            (GroupInputs::Direct, 1, 0),
            (GroupInputs::Transitive, 0, 2),
            (GroupInputs::None, 0, 0),
        ];
        // One buffer for every case, as a cycle reuses it from person to person.
        let mut shown = PluginInput::default();
        for (groups, direct, transitive) in cases {
            let inputs = PluginInputs {
                groups,
                ..PluginInputs::default()
            };
            project(&inputs, &full, &mut shown);
            assert_eq!(
                (shown.direct_groups.len(), shown.transitive_groups.len()),
                (direct, transitive),
                "{groups:?}"
            );
            assert_eq!(shown.attributes, full.attributes, "{groups:?}");
            assert_eq!(shown.target, full.target, "{groups:?}");
        }
    }
}
