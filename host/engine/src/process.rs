//! The processing stage after the mappings: transform plugins in order, then the license rule
//! and the target profile.
//!
//! Plugins are called through the [`Transform`] and [`LicenseRule`] traits with the versions
//! pinned when the cycle started, so a hot swap mid-cycle never mixes versions within a cycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::log::{Status, Step, StepType};
use crate::model::{Attributes, License, Person};
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
pub fn process(
    person: &Person,
    mapped: Attributes,
    plugins: &PinnedPlugins,
    profile: &TargetProfile,
    current: Option<&License>,
    steps: &mut Vec<Step>,
) -> Result<Processed, Halt> {
    let mut input = PluginInput {
        id: person.id.clone(),
        attributes: person.attributes.clone(),
        direct_groups: person.direct_groups.clone(),
        transitive_groups: person.transitive_groups.clone(),
        target: mapped,
    };
    for pinned in &plugins.transforms {
        run_transform(pinned, &mut input, steps)?;
    }
    let license = match &plugins.license {
        Some(rule) => run_license(rule, &input, current, steps)?,
        None => current.cloned(),
    };
    let mut target = input.target;
    if let Some(license) = &license {
        let expressed = profile.attributes(license).inspect_err(|e| {
            steps.push(Step::new(
                StepType::Processing,
                "profile",
                Status::Failure,
                e.to_string(),
            ));
        })?;
        for add_on in &expressed.unmapped_add_ons {
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
        target.extend(expressed.attributes);
    }
    Ok(Processed { target, license })
}

fn run_transform(
    pinned: &Pinned<dyn Transform>,
    input: &mut PluginInput,
    steps: &mut Vec<Step>,
) -> Result<(), Halt> {
    let id = pinned.plugin.id();
    let step = |status, description: String| {
        Step::new(
            StepType::Processing,
            &format!("transform:{}", id.name),
            status,
            description,
        )
        .with("version", &id.version)
    };
    match pinned.plugin.transform(input, &pinned.config) {
        Ok(TransformOutcome::Changes { set, remove }) => {
            let description = format!("{} set, {} removed", set.len(), remove.len());
            for path in &remove {
                input.target.remove(path);
            }
            for (path, value) in set {
                input.target.insert(path, value);
            }
            steps.push(step(Status::Success, description));
            Ok(())
        }
        Ok(TransformOutcome::Skip { reason }) => {
            steps.push(step(Status::Skipped, reason.clone()));
            Err(Halt::Skipped { plugin: id, reason })
        }
        Err(e) => {
            steps.push(step(Status::Failure, e.to_string()).with("error", e.kind()));
            Err(Halt::Failed(e))
        }
    }
}

fn run_license(
    rule: &Pinned<dyn LicenseRule>,
    input: &PluginInput,
    current: Option<&License>,
    steps: &mut Vec<Step>,
) -> Result<Option<License>, Halt> {
    let id = rule.plugin.id();
    let name = format!("license:{}", id.name);
    let step = |status, description: String| {
        Step::new(StepType::Processing, &name, status, description).with("version", &id.version)
    };
    match rule.plugin.decide(input, current, &rule.config) {
        Ok(LicenseDecision::Assign { license, reason }) => {
            steps.push(step(Status::Success, reason).with("license", describe(&license)));
            Ok(Some(license))
        }
        Ok(LicenseDecision::NoChange { reason }) => {
            steps.push(step(Status::Success, reason).with("license", "unchanged"));
            Ok(current.cloned())
        }
        Err(e) => {
            steps.push(step(Status::Failure, e.to_string()).with("error", e.kind()));
            Err(Halt::Failed(e))
        }
    }
}

/// `plan+add-on+add-on`, for logs.
pub fn describe(license: &License) -> String {
    std::iter::once(license.plan.as_str())
        .chain(license.add_ons.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("+")
}
