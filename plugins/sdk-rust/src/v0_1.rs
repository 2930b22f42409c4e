//! The `muster:plugin@0.1.0` worlds (`wit/plugin.wit`), for plugins not yet moved to 0.2.0: the
//! features `license-rule-0-1` and `transformer-0-1`, and the macros `license_rule_0_1!` and
//! `transformer_0_1!`. muster serves both versions; this module never changes.

/// The 0.1.0 license-rule world: `decide(person, current-license, config)`.
#[cfg(feature = "license-rule-0-1")]
pub mod license_rule {
    wit_bindgen::generate!({
        world: "license-rule",
        path: "../../wit",
        runtime_path: "muster_plugin::wit_bindgen::rt",
        default_bindings_module: "muster_plugin::v0_1::license_rule",
        pub_export_macro: true,
        export_macro_name: "export_license_rule_0_1_bindings",
    });

    pub use muster::plugin::host::{Level, log};
    pub use muster::plugin::types::{Assignment, Attribute, Group, Value};

    impl From<crate::ConfigError> for PluginError {
        fn from(e: crate::ConfigError) -> Self {
            PluginError {
                code: crate::INVALID_CONFIG.into(),
                message: e.0,
            }
        }
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

    /// `plan` with `add_ons`, because of `reason`.
    pub fn assign(
        plan: impl Into<String>,
        add_ons: Vec<String>,
        reason: impl Into<String>,
    ) -> LicenseDecision {
        LicenseDecision::Assign(Assignment {
            license: License {
                plan: plan.into(),
                add_ons,
            },
            reason: reason.into(),
        })
    }

    /// No change when `current` already is `plan` with `add_ons`, otherwise [`assign`]: the
    /// usual end of a license rule.
    pub fn decide(
        current: Option<&License>,
        plan: impl Into<String>,
        add_ons: Vec<String>,
        reason: impl Into<String>,
    ) -> LicenseDecision {
        let plan = plan.into();
        if holds(current, &plan, &add_ons) {
            LicenseDecision::NoChange(reason.into())
        } else {
            assign(plan, add_ons, reason)
        }
    }
}

/// Exports `decide` as the plugin's license rule: `fn decide(Person, Option<License>, Config)
/// -> Result<LicenseDecision, PluginError>`, with `Config` read from the configuration's JSON.
#[cfg(feature = "license-rule-0-1")]
#[macro_export]
macro_rules! license_rule_0_1 {
    ($config:ty, $decide:path) => {
        struct MusterLicenseRule01;

        impl $crate::v0_1::license_rule::Guest for MusterLicenseRule01 {
            fn decide(
                person: $crate::v0_1::license_rule::Person,
                current: ::core::option::Option<$crate::v0_1::license_rule::License>,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                $crate::v0_1::license_rule::LicenseDecision,
                $crate::v0_1::license_rule::PluginError,
            > {
                let config: $config = $crate::config(&config)?;
                $decide(person, current, config)
            }
        }

        $crate::v0_1::license_rule::export_license_rule_0_1_bindings!(MusterLicenseRule01 with_types_in $crate::v0_1::license_rule);
    };
}

/// The 0.1.0 transformer world: `transform(person, config)`.
#[cfg(feature = "transformer-0-1")]
pub mod transformer {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit",
        runtime_path: "muster_plugin::wit_bindgen::rt",
        default_bindings_module: "muster_plugin::v0_1::transformer",
        pub_export_macro: true,
        export_macro_name: "export_transformer_0_1_bindings",
    });

    pub use muster::plugin::host::{Level, log};
    pub use muster::plugin::types::{Attribute, Changes, Group, Value};

    impl From<crate::ConfigError> for PluginError {
        fn from(e: crate::ConfigError) -> Self {
            PluginError {
                code: crate::INVALID_CONFIG.into(),
                message: e.0,
            }
        }
    }

    /// The target attribute (SCIM path) `name` computed so far.
    pub fn target<'p>(person: &'p Person, name: &str) -> Option<&'p Value> {
        person
            .target
            .iter()
            .find(|a| a.name == name)
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

    /// A text attribute to set.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: Value::Text(value.into()),
        }
    }

    /// Set `set`, remove `remove` (SCIM paths).
    pub fn changes(set: Vec<Attribute>, remove: Vec<String>) -> Outcome {
        Outcome::Changes(Changes { set, remove })
    }
}

/// Exports `transform` as the plugin's transformer: `fn transform(Person, Config) ->
/// Result<Outcome, PluginError>`, with `Config` read from the configuration's JSON.
#[cfg(feature = "transformer-0-1")]
#[macro_export]
macro_rules! transformer_0_1 {
    ($config:ty, $transform:path) => {
        struct MusterTransformer01;

        impl $crate::v0_1::transformer::Guest for MusterTransformer01 {
            fn transform(
                person: $crate::v0_1::transformer::Person,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                $crate::v0_1::transformer::Outcome,
                $crate::v0_1::transformer::PluginError,
            > {
                let config: $config = $crate::config(&config)?;
                $transform(person, config)
            }
        }

        $crate::v0_1::transformer::export_transformer_0_1_bindings!(MusterTransformer01 with_types_in $crate::v0_1::transformer);
    };
}
