//! The processing stage after the mappings: transform plugins in order, then the license rule
//! and the target profile.
//!
//! Plugins are called through the [`Transform`] and [`LicenseRule`] traits with the versions
//! pinned when the cycle started, so a hot swap mid-cycle never mixes versions within a cycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::log::{Decimal, Recent, Status, Step, StepType, Text};
use crate::model::{Attributes, Key, License, Person, PluginVersions, Value};
use crate::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};
use crate::profile::{TargetProfile, UnknownPlan};

/// A plugin with its configuration (a JSON document), as pinned for one cycle.
pub struct Pinned<T: ?Sized> {
    pub plugin: Arc<T>,
    pub config: String,
}

impl<T: ?Sized> Clone for Pinned<T> {
    fn clone(&self) -> Self {
        Pinned {
            plugin: Arc::clone(&self.plugin),
            config: self.config.clone(),
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
}

/// A pinned plugin's id and the name of its log step (`transform:…`, `license:…`); the name
/// and version are shared by every person's step.
struct Prepared {
    id: PluginId,
    step: Arc<str>,
    version: Arc<str>,
    /// The last outcome text (a transform's counts, a license), shared while it repeats.
    recent: Recent,
}

impl Prepared {
    fn new(id: PluginId, kind: &str) -> Prepared {
        let step = Arc::from(format!("{kind}:{}", id.name));
        let version = Arc::from(id.version.as_str());
        Prepared {
            id,
            step,
            version,
            recent: Recent::default(),
        }
    }

    fn step(&self, status: Status, description: impl Into<Text>) -> Step {
        Step::new(
            StepType::Processing,
            Arc::clone(&self.step),
            status,
            description,
        )
        .with("version", Arc::clone(&self.version))
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
                .map(|p| Prepared::new(p.plugin.id(), "transform"))
                .collect(),
            license: plugins
                .license
                .as_ref()
                .map(|p| Prepared::new(p.plugin.id(), "license")),
            versions: plugins.versions().into(),
            input: PluginInput {
                id: String::new(),
                attributes: Attributes::new(),
                direct_groups: Vec::new(),
                transitive_groups: Vec::new(),
                target: Attributes::new(),
            },
        }
    }

    /// Plugin name → version ([`PinnedPlugins::versions`]).
    pub fn versions(&self) -> &PluginVersions {
        &self.versions
    }

    /// [`process`] for one person.
    pub fn run(
        &mut self,
        person: &Person,
        mapped: Attributes,
        profile: &TargetProfile,
        current: Option<&License>,
        steps: &mut Vec<Step>,
    ) -> Result<Processed, Halt> {
        let input = &mut self.input;
        input.id.clone_from(&person.id);
        assign_attributes(&mut input.attributes, &person.attributes);
        input.direct_groups.clone_from(&person.direct_groups);
        input
            .transitive_groups
            .clone_from(&person.transitive_groups);
        input.target = mapped;
        for (pinned, prepared) in self.plugins.transforms.iter().zip(&mut self.transforms) {
            run_transform(pinned, prepared, input, steps)?;
        }
        let license = match (&self.plugins.license, &mut self.license) {
            (Some(rule), Some(prepared)) => run_license(rule, prepared, input, current, steps)?,
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

fn run_transform(
    pinned: &Pinned<dyn Transform>,
    prepared: &mut Prepared,
    input: &mut PluginInput,
    steps: &mut Vec<Step>,
) -> Result<(), Halt> {
    match pinned.plugin.transform(input, &pinned.config) {
        Ok(TransformOutcome::Changes { set, remove }) => {
            let (set_count, removed) = (Decimal::new(set.len()), Decimal::new(remove.len()));
            let description = prepared.recent.concat(&[
                set_count.as_str(),
                " set, ",
                removed.as_str(),
                " removed",
            ]);
            for path in &remove {
                input.target.remove(path.as_str());
            }
            for (path, value) in set {
                // A path the target has keeps its shared key; only a new one is allocated.
                match input.target.get_mut(path.as_str()) {
                    Some(slot) => *slot = value,
                    None => {
                        input.target.insert(Key::from(path), value);
                    }
                }
            }
            steps.push(prepared.step(Status::Success, description));
            Ok(())
        }
        Ok(TransformOutcome::Skip { reason }) => {
            steps.push(prepared.step(Status::Skipped, reason.clone()));
            Err(Halt::Skipped {
                plugin: prepared.id.clone(),
                reason,
            })
        }
        Err(e) => {
            steps.push(
                prepared
                    .step(Status::Failure, e.to_string())
                    .with("error", e.kind()),
            );
            Err(Halt::Failed(e))
        }
    }
}

fn run_license(
    rule: &Pinned<dyn LicenseRule>,
    prepared: &mut Prepared,
    input: &PluginInput,
    current: Option<&License>,
    steps: &mut Vec<Step>,
) -> Result<Option<License>, Halt> {
    match rule.plugin.decide(input, current, &rule.config) {
        Ok(LicenseDecision::Assign { license, reason }) => {
            let described = prepared.recent.text(|out| write_license(&license, out));
            steps.push(
                prepared
                    .step(Status::Success, reason)
                    .with("license", described),
            );
            Ok(Some(license))
        }
        Ok(LicenseDecision::NoChange { reason }) => {
            steps.push(
                prepared
                    .step(Status::Success, reason)
                    .with("license", "unchanged"),
            );
            Ok(current.cloned())
        }
        Err(e) => {
            steps.push(
                prepared
                    .step(Status::Failure, e.to_string())
                    .with("error", e.kind()),
            );
            Err(Halt::Failed(e))
        }
    }
}

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
