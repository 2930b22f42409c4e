//! `muster-plugin`: write a muster plugin in Rust as a function and a configuration struct.
//!
//! Enable the feature of your plugin's world (`license-rule` or `transformer`), write the
//! function, and name both in the world's macro; the crate generates the bindings of
//! `muster:plugin@0.2.0` (`wit/0.2.0/plugin.wit`), reads the configuration (a JSON text that
//! does not parse into your struct fails the person with `invalid-config`), and exports the
//! function:
//!
//! ```ignore
//! use muster_plugin::license_rule::{License, LicenseDecision, Person, PluginError, Why, decide, group_path};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     group: String,
//!     plan: String,
//! }
//!
//! fn rule(person: Person, current: Option<License>, config: Config) -> Result<LicenseDecision, PluginError> {
//!     let Some(group) = muster_plugin::license_rule::group(&person, &config.group) else {
//!         return Ok(decide(current.as_ref(), "basic", Vec::new(), Why::new("not licensed")));
//!     };
//!     let why = Why::new(format!("member of {}", config.group)).rule("licensed").because(group_path(group));
//!     Ok(decide(current.as_ref(), config.plan, Vec::new(), why))
//! }
//!
//! muster_plugin::license_rule!(Config, rule);
//! ```
//!
//! Plugins still on `muster:plugin@0.1.0` use the features `license-rule-0-1` and
//! `transformer-0-1` and the macros `license_rule_0_1!` and `transformer_0_1!` ([`v0_1`]).
//!
//! With the default feature `one-shot-alloc`, the plugin allocates from
//! [`one_shot_alloc::OneShot`]: muster gives a Rust guest a fresh instance per person, so
//! nothing needs freeing, and the default allocator's bookkeeping was a third to a half of the
//! instructions the example plugins ran per call.

use serde::de::DeserializeOwned;

// The generated bindings name their runtime and module by this crate's name, so that the export
// macros work in the plugin's crate, which need not depend on wit-bindgen itself.
extern crate self as muster_plugin;

#[doc(hidden)]
pub use wit_bindgen;

pub mod v0_1;

#[cfg(feature = "one-shot-alloc")]
#[global_allocator]
static ALLOCATOR: one_shot_alloc::OneShot = one_shot_alloc::OneShot;

/// A configuration that does not parse into the plugin's struct; it becomes the world's
/// `plugin-error` with code `invalid-config` (the `?` operator converts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

/// Reads the plugin's configuration (the `config` table of its entry in muster's
/// configuration, as JSON) into `T`. Use `#[serde(deny_unknown_fields)]` on `T`, so that a
/// misspelt key is refused instead of silently defaulted.
pub fn config<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError(e.to_string()))
}

/// The code of a configuration the plugin cannot read.
pub const INVALID_CONFIG: &str = "invalid-config";

/// The license-rule world: `decide(person, current-license, config)`.
#[cfg(feature = "license-rule")]
pub mod license_rule {
    wit_bindgen::generate!({
        world: "license-rule",
        path: "../../wit/0.2.0",
        runtime_path: "muster_plugin::wit_bindgen::rt",
        default_bindings_module: "muster_plugin::license_rule",
        pub_export_macro: true,
        export_macro_name: "export_license_rule_bindings",
    });

    pub use muster::plugin::host::{Level, log};
    pub use muster::plugin::types::{
        Assignment, Attribute, Group, Manager, Reason, TargetAttribute, TargetPath, Value,
        WellKnown,
    };

    impl From<crate::ConfigError> for PluginError {
        fn from(e: crate::ConfigError) -> Self {
            PluginError {
                code: crate::INVALID_CONFIG.into(),
                message: e.0,
            }
        }
    }

    /// A decision's reason: the sentence for the log, which rule decided, and the facts it
    /// rests on.
    pub type Why = Reason;

    impl Reason {
        /// A reason with only its sentence.
        pub fn new(text: impl Into<String>) -> Reason {
            Reason {
                text: text.into(),
                rule: String::new(),
                because: Vec::new(),
            }
        }

        /// Names the rule that decided.
        pub fn rule(mut self, rule: impl Into<String>) -> Reason {
            self.rule = rule.into();
            self
        }

        /// Adds a fact the decision rests on.
        pub fn because(mut self, fact: impl Into<String>) -> Reason {
            self.because.push(fact.into());
            self
        }
    }

    /// The person's group named `name` (ASCII case-insensitively, as Entra compares group
    /// names), direct or through nesting.
    pub fn group<'p>(person: &'p Person, name: &str) -> Option<&'p Group> {
        person
            .groups
            .iter()
            .find(|g| g.display_name.eq_ignore_ascii_case(name))
    }

    /// `Zoom-Phone` for a direct group, `Zoom-Phone ← Sales-Managers` for one reached through
    /// the direct group Sales-Managers: the fact a license rests on.
    pub fn group_path(group: &Group) -> String {
        match &group.via {
            Some(via) => format!("{} ← {via}", group.display_name),
            None => group.display_name.clone(),
        }
    }

    /// Whether the person holds the app role `name` (case-sensitive, as Entra's role values).
    pub fn has_app_role(person: &Person, name: &str) -> bool {
        person.app_roles.iter().any(|r| r == name)
    }

    /// Whether `current` (the license held) is exactly `plan` with `add_ons`, in any order.
    pub fn holds(current: Option<&License>, plan: &str, add_ons: &[String]) -> bool {
        current.is_some_and(|c| {
            let mut held = c.add_ons.clone();
            held.sort();
            let mut wanted = add_ons.to_vec();
            wanted.sort();
            c.plan == plan && held == wanted
        })
    }

    /// `plan` with `add_ons`, because of `why`.
    pub fn assign(plan: impl Into<String>, add_ons: Vec<String>, why: Reason) -> LicenseDecision {
        LicenseDecision::Assign(Assignment {
            license: License {
                plan: plan.into(),
                add_ons,
            },
            reason: why,
        })
    }

    /// No change when `current` already is `plan` with `add_ons`, otherwise [`assign`]: the
    /// usual end of a license rule.
    pub fn decide(
        current: Option<&License>,
        plan: impl Into<String>,
        add_ons: Vec<String>,
        why: Reason,
    ) -> LicenseDecision {
        let plan = plan.into();
        if holds(current, &plan, &add_ons) {
            LicenseDecision::NoChange(why)
        } else {
            assign(plan, add_ons, why)
        }
    }
}

/// Exports `decide` as the plugin's license rule: `fn decide(Person, Option<License>, Config)
/// -> Result<LicenseDecision, PluginError>`, with `Config` read from the configuration's JSON.
#[cfg(feature = "license-rule")]
#[macro_export]
macro_rules! license_rule {
    ($config:ty, $decide:path) => {
        struct MusterLicenseRule;

        impl $crate::license_rule::Guest for MusterLicenseRule {
            fn decide(
                person: $crate::license_rule::Person,
                current: ::core::option::Option<$crate::license_rule::License>,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                $crate::license_rule::LicenseDecision,
                $crate::license_rule::PluginError,
            > {
                let config: $config = $crate::config(&config)?;
                $decide(person, current, config)
            }
        }

        $crate::license_rule::export_license_rule_bindings!(MusterLicenseRule with_types_in $crate::license_rule);
    };
}

/// The transformer world: `transform(person, config)`.
#[cfg(feature = "transformer")]
pub mod transformer {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit/0.2.0",
        runtime_path: "muster_plugin::wit_bindgen::rt",
        default_bindings_module: "muster_plugin::transformer",
        pub_export_macro: true,
        export_macro_name: "export_transformer_bindings",
    });

    pub use muster::plugin::host::{Level, log};
    pub use muster::plugin::types::{
        Attribute, Changes, Group, Manager, TargetAttribute, TargetPath, Value, WellKnown,
    };

    impl From<crate::ConfigError> for PluginError {
        fn from(e: crate::ConfigError) -> Self {
            PluginError {
                code: crate::INVALID_CONFIG.into(),
                message: e.0,
            }
        }
    }

    impl From<WellKnown> for TargetPath {
        fn from(w: WellKnown) -> Self {
            TargetPath::WellKnown(w)
        }
    }

    impl From<&str> for TargetPath {
        fn from(path: &str) -> Self {
            TargetPath::Path(path.to_string())
        }
    }

    impl PartialEq for TargetPath {
        fn eq(&self, other: &TargetPath) -> bool {
            match (self, other) {
                (TargetPath::WellKnown(a), TargetPath::WellKnown(b)) => a == b,
                (TargetPath::Path(a), TargetPath::Path(b)) => a == b,
                _ => false,
            }
        }
    }

    impl PartialEq<WellKnown> for TargetPath {
        fn eq(&self, other: &WellKnown) -> bool {
            matches!(self, TargetPath::WellKnown(w) if w == other)
        }
    }

    /// The target attribute at `path` computed so far.
    pub fn target<'p>(person: &'p Person, path: impl Into<TargetPath>) -> Option<&'p Value> {
        let path = path.into();
        person
            .target
            .iter()
            .find(|a| a.path == path)
            .map(|a| &a.value)
    }

    /// The source attribute `name`.
    pub fn attribute<'p>(person: &'p Person, name: &str) -> Option<&'p Value> {
        person
            .attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// A text value to set at `path`.
    pub fn text(path: impl Into<TargetPath>, value: impl Into<String>) -> TargetAttribute {
        TargetAttribute {
            path: path.into(),
            value: Value::Text(value.into()),
        }
    }

    /// Set `set`, remove `remove`.
    pub fn changes(set: Vec<TargetAttribute>, remove: Vec<TargetPath>) -> Outcome {
        Outcome::Changes(Changes { set, remove })
    }
}

/// Exports `transform` as the plugin's transformer: `fn transform(Person, Config) ->
/// Result<Outcome, PluginError>`, with `Config` read from the configuration's JSON.
#[cfg(feature = "transformer")]
#[macro_export]
macro_rules! transformer {
    ($config:ty, $transform:path) => {
        struct MusterTransformer;

        impl $crate::transformer::Guest for MusterTransformer {
            fn transform(
                person: $crate::transformer::Person,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                $crate::transformer::Outcome,
                $crate::transformer::PluginError,
            > {
                let config: $config = $crate::config(&config)?;
                $transform(person, config)
            }
        }

        $crate::transformer::export_transformer_bindings!(MusterTransformer with_types_in $crate::transformer);
    };
}
