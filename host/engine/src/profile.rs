//! Target profiles: a license decision (plan + add-ons) turned into target attributes.
//!
//! Zoom is moving its licenses from the core `userType` to fields of the extension
//! `urn:ietf:params:scim:schemas:extension:zoom:1.0:User` (Zoom's SCIM2 API reference and
//! changelog, <https://developers.zoom.us/docs/api/scim2/>), and the value formats of those fields
//! are not confirmed. So a profile is data ([`ProfileConfig`]), a TOML file an admin can change
//! without a rebuild: the built-in `zoom` and `generic` profiles are `profiles/zoom.toml` and
//! `profiles/generic.toml`, compiled in, and a job can name its own file
//! (`[target] profile_file`); its `[profile]` table adds to either.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::{ConfigErrors, ProfileConfig, ProfileName, UnmappedAddOns};
use crate::model::{Attributes, Key, License, Value};

/// The Zoom license extension.
pub const ZOOM_EXT: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";

/// The built-in profiles' files, as shipped in `profiles/`.
pub const ZOOM_FILE: &str = include_str!("../../../profiles/zoom.toml");
pub const GENERIC_FILE: &str = include_str!("../../../profiles/generic.toml");

/// A resolved profile: a built-in or a profile file, with the configuration's additions, and
/// its value checks compiled.
#[derive(Debug, Clone)]
pub struct TargetProfile {
    /// `zoom`, `generic`, or the profile file's name: what errors call it.
    pub label: String,
    pub data: ProfileConfig,
    checks: Vec<Check>,
}

#[derive(Debug, Clone)]
struct Check {
    path: Key,
    pattern: Regex,
    message: String,
}

/// A plan the profile cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plan `{plan}` has no attributes in the `{profile}` target profile; add it under [profile.plans]"
)]
pub struct UnknownPlan {
    pub plan: String,
    pub profile: String,
}

/// A target value that fails one of the profile's checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} = `{value}` {message} (the `{profile}` target profile's check)")]
pub struct FailedCheck {
    pub path: String,
    pub value: String,
    pub message: String,
    pub profile: String,
}

/// The attributes for a license, and what could not be expressed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LicenseAttributes {
    pub attributes: Attributes,
    /// Add-ons with no attributes in the profile (when it warns about them).
    pub unmapped_add_ons: Vec<String>,
}

impl TargetProfile {
    /// A built-in profile with the configuration's additions. The additions' patterns were
    /// validated with the configuration; one that does not compile is left out.
    pub fn new(name: ProfileName, overrides: Option<&ProfileConfig>) -> TargetProfile {
        let label = match name {
            ProfileName::Zoom => "zoom",
            ProfileName::Generic => "generic",
        };
        Self::from_data(label, builtin(name), overrides)
    }

    /// `base` (a profile file's data) with the configuration's additions.
    pub fn from_data(
        label: &str,
        base: ProfileConfig,
        overrides: Option<&ProfileConfig>,
    ) -> TargetProfile {
        let data = match overrides {
            Some(o) => base.merged_with(o),
            None => base,
        };
        let checks = data
            .checks
            .iter()
            .filter_map(|c| {
                Some(Check {
                    path: c.path.clone(),
                    pattern: Regex::new(&c.pattern).ok()?,
                    message: c.message.clone(),
                })
            })
            .collect();
        TargetProfile {
            label: label.to_string(),
            data,
            checks,
        }
    }

    /// The first of the profile's checks that a value of `target` fails.
    pub fn check(&self, target: &Attributes) -> Result<(), FailedCheck> {
        for check in &self.checks {
            let Some(value) = target.get(check.path.as_str()) else {
                continue;
            };
            let text = match value {
                Value::Text(t) => t.to_string(),
                other => other.to_json().to_string(),
            };
            if value.is_empty() || check.pattern.is_match(&text) {
                continue;
            }
            return Err(FailedCheck {
                path: check.path.to_string(),
                value: text,
                message: check.message.clone(),
                profile: self.label.clone(),
            });
        }
        Ok(())
    }

    /// Every target path a license is expressed in: the plans' and add-ons' attributes and the
    /// plan attribute.
    pub fn license_paths(&self) -> std::collections::BTreeSet<Key> {
        let plans = self.data.plans.values().flat_map(|a| a.keys());
        let add_ons =
            (self.data.add_ons.values()).flat_map(|a| a.held.keys().chain(a.not_held.keys()));
        let mut paths: std::collections::BTreeSet<Key> = plans.chain(add_ons).cloned().collect();
        paths.extend(self.data.plan_attribute.clone());
        paths
    }

    /// The target attributes that express `license`.
    pub fn attributes(&self, license: &License) -> Result<LicenseAttributes, UnknownPlan> {
        let mut out = LicenseAttributes::default();
        out.unmapped_add_ons = self.express_into(license, &mut out.attributes)?;
        Ok(out)
    }

    /// What [`TargetProfile::attributes`] returns, written into `target` (each path overriding
    /// what `target` held, as `extend` would) without building the attributes apart; returns
    /// the unmapped add-ons.
    pub fn express_into(
        &self,
        license: &License,
        target: &mut Attributes,
    ) -> Result<Vec<String>, UnknownPlan> {
        match (
            self.data.plans.get(&license.plan),
            &self.data.plan_attribute,
        ) {
            (Some(attributes), _) => set_all(target, attributes),
            (None, Some(path)) => set(target, path, &Value::Text(license.plan.as_str().into())),
            (None, None) => {
                return Err(UnknownPlan {
                    plan: license.plan.clone(),
                    profile: self.label.clone(),
                });
            }
        }
        for (name, add_on) in &self.data.add_ons {
            let held = license.add_ons.binary_search(name).is_ok();
            set_all(target, if held { &add_on.held } else { &add_on.not_held });
        }
        if self.data.unmapped_add_ons.unwrap_or_default() != UnmappedAddOns::Warn {
            return Ok(Vec::new());
        }
        Ok(license
            .add_ons
            .iter()
            .filter(|a| !self.data.add_ons.contains_key(*a))
            .cloned()
            .collect())
    }
}

fn set_all(target: &mut Attributes, attributes: &Attributes) {
    for (path, value) in attributes {
        set(target, path, value);
    }
}

/// Inserts a copy (the profile's paths are rarely in `target` already: one search, not two).
fn set(target: &mut Attributes, path: &Key, value: &Value) {
    target.insert(path.clone(), value.clone());
}

/// The built-in profile data, from the files in `profiles/`.
pub fn builtin(name: ProfileName) -> ProfileConfig {
    static ZOOM: LazyLock<Result<ProfileConfig, ConfigErrors>> =
        LazyLock::new(|| ProfileConfig::from_file_text("profiles/zoom.toml", ZOOM_FILE));
    static GENERIC: LazyLock<Result<ProfileConfig, ConfigErrors>> =
        LazyLock::new(|| ProfileConfig::from_file_text("profiles/generic.toml", GENERIC_FILE));
    let parsed = match name {
        ProfileName::Zoom => &*ZOOM,
        ProfileName::Generic => &*GENERIC,
    };
    // The files are compiled in and a test parses both, so this is never an error at run time;
    // if it were, an empty profile fails every plan by name rather than stopping the process.
    parsed.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::AddOnAttributes;

    #[test]
    fn the_built_in_profile_files_parse() {
        for (file, text) in [("zoom", ZOOM_FILE), ("generic", GENERIC_FILE)] {
            let parsed = ProfileConfig::from_file_text(file, text);
            assert!(parsed.is_ok(), "{file}: {parsed:?}");
        }
        let zoom = builtin(ProfileName::Zoom);
        assert_eq!(zoom.default_plan.as_deref(), Some("basic"));
        assert_eq!(zoom.plans.len(), 6);
        assert_eq!(zoom.add_ons.len(), 10);
        assert_eq!(zoom.checks.len(), 4);
        assert_eq!(zoom.write_only.len(), 2);
        let generic = builtin(ProfileName::Generic);
        assert_eq!(generic.plan_attribute.as_deref(), Some("userType"));
    }

    #[test]
    fn profile_file_errors_name_the_file_and_the_line() {
        let text = "default_plan = \"basic\"\n\n[plans.licensed]\n\"emails[type eq\" = \"x\"\n\n[[checks]]\npath = \"title\"\npattern = \"(\"\nmessage = \"m\"\n";
        let errors = ProfileConfig::from_file_text("my.toml", text).expect_err("two problems");
        let locations: Vec<&str> = errors.0.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "my.toml, line 4 (plans.licensed.\"emails[type eq\")",
                "my.toml, line 8 (checks[0].pattern)",
            ]
        );
        let errors = ProfileConfig::from_file_text("my.toml", "plans = 3\nunknown = 1\n")
            .expect_err("a shape error");
        assert!(
            errors.0[0].location.starts_with("my.toml, line "),
            "{errors}"
        );
    }

    #[test]
    fn checks_refuse_values_in_the_wrong_form() {
        let zoom = TargetProfile::new(ProfileName::Zoom, None);
        let ext = |f: &str| Key::from(format!("{ZOOM_EXT}:{f}"));
        let t = |s: &str| Value::Text(s.into());
        let good = Attributes::from([
            (ext("zoomPhoneExtNumber"), t("0")),
            (ext("zoomPhoneNumber"), t("+14155550100")),
            (ext("zoomPhoneSite"), t("San Jose")),
            (ext("zoomPhoneCallingPlan"), t("3000")),
        ]);
        assert_eq!(zoom.check(&good), Ok(()));
        let mut bad = good.clone();
        bad.insert(ext("zoomPhoneNumber"), t("415-555-0100"));
        let failed = zoom.check(&bad).expect_err("not E.164");
        assert_eq!(failed.path, format!("{ZOOM_EXT}:zoomPhoneNumber"));
        assert_eq!(failed.value, "415-555-0100");
        assert_eq!(zoom.check(&Attributes::new()), Ok(()));
    }

    #[test]
    fn licenses_to_attributes() {
        let zoom = TargetProfile::new(ProfileName::Zoom, None);
        let generic = TargetProfile::new(ProfileName::Generic, None);
        let webinar = ProfileConfig {
            add_ons: BTreeMap::from([(
                "webinar".to_string(),
                AddOnAttributes {
                    held: Attributes::from([(
                        Key::from(format!("{ZOOM_EXT}:zoomWebinar")),
                        Value::Text("w500".into()),
                    )]),
                    not_held: Attributes::new(),
                },
            )]),
            ..Default::default()
        };
        let extended = TargetProfile::new(ProfileName::Zoom, Some(&webinar));
        let t = |s: &str| Value::Text(s.into());
        let wb = format!("{ZOOM_EXT}:zoomWhiteboard");
        let phone = format!("{ZOOM_EXT}:zoomPhoneCallingPlan");
        // (profile, license, expected attributes (without feature booleans unless listed), unmapped)
        type Case<'a> = (
            &'a TargetProfile,
            License,
            Vec<(String, Value)>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                &zoom,
                License::new("basic", [] as [&str; 0]),
                vec![("userType".into(), t("Basic"))],
                vec![],
            ),
            (
                &zoom,
                License::new("licensed", ["phone", "whiteboard"]),
                vec![
                    ("userType".into(), t("Licensed")),
                    (phone.clone(), t("3000")),
                    (wb.clone(), Value::Bool(true)),
                ],
                vec![],
            ),
            (
                &zoom,
                License::new("licensed", ["webinar"]),
                vec![("userType".into(), t("Licensed"))],
                vec!["webinar"],
            ),
            (
                &extended,
                License::new("licensed", ["webinar"]),
                vec![
                    ("userType".into(), t("Licensed")),
                    (format!("{ZOOM_EXT}:zoomWebinar"), t("w500")),
                ],
                vec![],
            ),
            (
                &generic,
                License::new("pro", ["phone"]),
                vec![("userType".into(), t("pro"))],
                vec![],
            ),
        ];
        for (i, (profile, license, expected, unmapped)) in cases.into_iter().enumerate() {
            let got = profile.attributes(&license).expect("known plan");
            for (path, value) in expected {
                assert_eq!(
                    got.attributes.get(path.as_str()),
                    Some(&value),
                    "case {i}: {path}"
                );
            }
            assert!(
                !got.attributes.contains_key(phone.as_str())
                    || license.add_ons.contains(&"phone".into()),
                "case {i}"
            );
            assert_eq!(got.unmapped_add_ons, unmapped, "case {i}");
            // Written into existing attributes: the same as extending them.
            let mut into = Attributes::from([
                ("userType".into(), t("Basic")),
                (Key::from(&wb), Value::Bool(false)),
                ("displayName".into(), t("A")),
            ]);
            let mut extended = into.clone();
            extended.extend(got.attributes);
            let unmapped_into = profile
                .express_into(&license, &mut into)
                .expect("known plan");
            assert_eq!(into, extended, "case {i}");
            assert_eq!(unmapped_into, unmapped, "case {i}");
        }
        let err = zoom
            .attributes(&License::new("gold", [] as [&str; 0]))
            .expect_err("unknown plan");
        assert_eq!(err.plan, "gold");
        let mut into = Attributes::new();
        let err = zoom
            .express_into(&License::new("gold", [] as [&str; 0]), &mut into)
            .expect_err("unknown plan");
        assert_eq!((err.plan.as_str(), into.len()), ("gold", 0));
    }
}
