//! Whether a plugin is a function of what it is shown, which delta planning and the memo of
//! plugin answers rely on.
//!
//! A call in a fresh instance is, by construction: nothing survives the instance, its clocks
//! start at zero and move only when it sleeps ([`crate::clock`]), and its "random" bytes are
//! fixed (`state`). An instance reused for several people (Python, JavaScript:
//! [`crate::Limits::people_per_instance`]) can keep state in its memory from one person to the
//! next. So a reusing plugin is probed once per version and configuration: one person, another,
//! then the first again, in one instance. Different answers for the same person mean the guest
//! carries state, and its calls go to a fresh instance each from then on.

use engine::model::{Attributes, GroupRef, Manager, Value};
use engine::plugin::{LicenseRule, PluginInput, Transform};

use crate::plugin::{Plugin, World};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purity {
    /// Answers the same person the same wherever they fall in an instance's run of people (or
    /// is never reused).
    Pure,
    /// Answered the same person differently at the first and the third position of one
    /// instance; its calls now get a fresh instance each.
    CarriesState { first: String, later: String },
    /// The probe could not tell: a call failed in a way that discards the instance.
    Inconclusive { reason: String },
}

impl std::fmt::Display for Purity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Purity::Pure => f.write_str("pure: the same person gets the same answer"),
            Purity::CarriesState { first, later } => write!(
                f,
                "CARRIES STATE between people: the same person was answered {first} first and \
                 {later} two people later in one instance; it gets a fresh instance per person"
            ),
            Purity::Inconclusive { reason } => write!(f, "not checked: {reason}"),
        }
    }
}

impl Plugin {
    /// Probes a plugin that reuses instances ([`Purity`]), once per configuration; a plugin
    /// found to carry state is served a fresh instance per person by every handle on it.
    pub fn verify_purity(&self, config: &str) -> Purity {
        if let Some(known) = self.known_purity(config) {
            return known;
        }
        if self.people_per_instance() <= 1 {
            return Purity::Pure;
        }
        let probed = probe(&self.pinned(), config);
        if let Purity::CarriesState { .. } = &probed {
            tracing::warn!(plugin = %self.id(), %probed, "plugin carries state between people");
            self.serve_fresh_instances();
        }
        self.remember_purity(config, probed.clone());
        probed
    }
}

/// The probe's people: ordinary enough for a rule to answer, and different from each other.
fn person(id: &str, name: &str, group: &str) -> PluginInput {
    let text = |s: &str| Value::Text(s.into());
    let attributes: Attributes = [
        (
            "userPrincipalName".into(),
            text(&format!("{name}@probe.invalid")),
        ),
        ("mail".into(), text(&format!("{name}@probe.invalid"))),
        ("givenName".into(), text(name)),
        ("surname".into(), text("Probe")),
        ("displayName".into(), text(&format!("{name} Probe"))),
    ]
    .into_iter()
    .collect();
    let groups = vec![GroupRef {
        id: format!("{group}-id"),
        display_name: group.into(),
        via: None,
    }];
    PluginInput {
        id: id.into(),
        target: attributes.clone(),
        attributes,
        direct_groups: groups.clone(),
        transitive_groups: groups,
        app_roles: vec!["User".into()],
        manager: Some(Manager {
            id: format!("{id}-manager"),
            user_principal_name: Some(format!("{name}-manager@probe.invalid")),
        }),
    }
}

fn probe(plugin: &Plugin, config: &str) -> Purity {
    let first = person("muster-probe-1", "ada", "Zoom-Licensed");
    let other = person("muster-probe-2", "bob", "Zoom-Phone");
    let answer = |p: &PluginInput| -> Result<String, String> {
        let outcome = match plugin.world() {
            World::LicenseRule => {
                LicenseRule::decide(plugin, p, None, config).map(|d| format!("{d:?}"))
            }
            World::Transformer => Transform::transform(plugin, p, config).map(|o| format!("{o:?}")),
        };
        match outcome {
            Ok(text) => Ok(text),
            // A guest error is an answer like any other; anything else discarded the instance.
            Err(e @ engine::plugin::PluginError::Guest { .. }) => Ok(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let answers = [answer(&first), answer(&other), answer(&first)];
    match answers {
        [Ok(first), Ok(_), Ok(later)] if first == later => Purity::Pure,
        [Ok(first), Ok(_), Ok(later)] => Purity::CarriesState { first, later },
        [a, b, c] => Purity::Inconclusive {
            reason: [a, b, c]
                .into_iter()
                .find_map(Result::err)
                .unwrap_or_default(),
        },
    }
}
