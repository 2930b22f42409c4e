//! Target profiles: a license decision (plan + add-ons) turned into target attributes.
//!
//! Zoom is moving its licenses from the core `userType` to fields of the extension
//! `urn:ietf:params:scim:schemas:extension:zoom:1.0:User` (Zoom's SCIM2 API reference and
//! changelog, <https://developers.zoom.us/docs/api/scim2/>), and the value formats of those fields
//! are not confirmed. So a profile is data ([`ProfileConfig`]) that an admin can extend in the
//! configuration, not code; the built-ins are starting points.
//!
//! - `zoom`: plans `basic`, `licensed`, `on-prem` → `userType` (`Basic`, `Licensed`, `On-Prem`);
//!   the Zoom One / United bundles → `userType` `Licensed` plus their extension field set to
//!   `"true"` (format UNCONFIRMED); add-on `phone` → `zoomPhoneCallingPlan` `"3000"` (Zoom Phone
//!   Pro) and feature add-ons → their extension booleans (`true`; removed when dropped). Unknown add-ons
//!   are warned about (Zoom documents no SCIM field for webinar or large meeting). Rate classes
//!   `light` (30/s: get, create, replace, patch, delete) and `medium` (20/s: list).
//! - `generic`: the plan's name → `userType`; add-ons are not provisioned (a generic SCIM server
//!   has no standard place for them; `entitlements`/`roles` mean different things per server).

use std::collections::BTreeMap;

use crate::config::{
    AddOnAttributes, ProfileConfig, ProfileName, RateClassConfig, RequestKind, UnmappedAddOns,
};
use crate::model::{Attributes, Key, License, Value};

/// The Zoom license extension.
pub const ZOOM_EXT: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";

/// A resolved profile: a built-in with the configuration's additions.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetProfile {
    pub name: ProfileName,
    pub data: ProfileConfig,
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

/// The attributes for a license, and what could not be expressed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LicenseAttributes {
    pub attributes: Attributes,
    /// Add-ons with no attributes in the profile (when it warns about them).
    pub unmapped_add_ons: Vec<String>,
}

impl TargetProfile {
    pub fn new(name: ProfileName, overrides: Option<&ProfileConfig>) -> TargetProfile {
        let base = builtin(name);
        let data = match overrides {
            Some(o) => base.merged_with(o),
            None => base,
        };
        TargetProfile { name, data }
    }

    /// The target attributes that express `license`.
    pub fn attributes(&self, license: &License) -> Result<LicenseAttributes, UnknownPlan> {
        let mut out = LicenseAttributes::default();
        match (
            self.data.plans.get(&license.plan),
            &self.data.plan_attribute,
        ) {
            (Some(attributes), _) => out
                .attributes
                .extend(attributes.iter().map(|(k, v)| (k.clone(), v.clone()))),
            (None, Some(path)) => {
                out.attributes
                    .insert(path.clone(), Value::Text(license.plan.as_str().into()));
            }
            (None, None) => {
                return Err(UnknownPlan {
                    plan: license.plan.clone(),
                    profile: self.label(),
                });
            }
        }
        for (name, add_on) in &self.data.add_ons {
            let held = license.add_ons.binary_search(name).is_ok();
            let attributes = if held { &add_on.held } else { &add_on.not_held };
            out.attributes
                .extend(attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if self.data.unmapped_add_ons.unwrap_or_default() == UnmappedAddOns::Warn {
            out.unmapped_add_ons = license
                .add_ons
                .iter()
                .filter(|a| !self.data.add_ons.contains_key(*a))
                .cloned()
                .collect();
        }
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
                    profile: self.label(),
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

    fn label(&self) -> String {
        match self.name {
            ProfileName::Zoom => "zoom".into(),
            ProfileName::Generic => "generic".into(),
        }
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

/// The built-in profile data.
pub fn builtin(name: ProfileName) -> ProfileConfig {
    match name {
        ProfileName::Generic => ProfileConfig {
            plan_attribute: Some("userType".into()),
            unmapped_add_ons: Some(UnmappedAddOns::Ignore),
            ..ProfileConfig::default()
        },
        ProfileName::Zoom => zoom(),
    }
}

fn zoom() -> ProfileConfig {
    let ext = |field: &str| Key::from(format!("{ZOOM_EXT}:{field}"));
    let user_type = |t: &str| (Key::from("userType"), Value::Text(t.into()));
    let mut plans: BTreeMap<String, Attributes> = BTreeMap::new();
    for (plan, user_type_value) in [
        ("basic", "Basic"),
        ("licensed", "Licensed"),
        ("on-prem", "On-Prem"),
    ] {
        plans.insert(plan.into(), Attributes::from([user_type(user_type_value)]));
    }
    let bundles = [
        ("zoom-one-business-plus", "zoomOneBizPlus"),
        ("zoom-one-enterprise-premier", "zoomOneEntPremier"),
        ("zoom-united", "zoomUnited"),
    ];
    for (plan, field) in bundles {
        plans.insert(
            plan.into(),
            Attributes::from([
                user_type("Licensed"),
                (ext(field), Value::Text("true".into())),
            ]),
        );
    }
    let mut add_ons = BTreeMap::new();
    add_ons.insert(
        "phone".to_string(),
        AddOnAttributes {
            held: Attributes::from([(ext("zoomPhoneCallingPlan"), Value::Text("3000".into()))]),
            not_held: Attributes::new(),
        },
    );
    let features = [
        ("ai-companion", "zoomAICompanionSubscription"),
        ("iq", "zoomIQ"),
        ("whiteboard", "zoomWhiteboard"),
        ("whiteboard-plus", "zoomWhiteboardPlus"),
        ("translated-captions", "zoomTranslatedCaptions"),
        ("huddles", "zoomHuddles"),
        ("scheduler", "zoomScheduler"),
        ("clips-plus", "zoomClipsPlus"),
        ("docs", "zoomDocs"),
    ];
    for (name, field) in features {
        add_ons.insert(
            name.to_string(),
            AddOnAttributes {
                held: Attributes::from([(ext(field), Value::Bool(true))]),
                // Not `false`: that would write every feature field on every user, including
                // products the account never bought. A dropped add-on's field is removed.
                not_held: Attributes::new(),
            },
        );
    }
    ProfileConfig {
        plans,
        plan_attribute: None,
        add_ons,
        unmapped_add_ons: Some(UnmappedAddOns::Warn),
        // Never returned in any response (Zoom devforum #111286).
        write_only: [ext("zoomPhoneNumber"), ext("zoomPhoneCallingPlan")]
            .into_iter()
            .collect(),
        rate_classes: zoom_rate_classes(),
    }
}

/// Zoom's rate-limit labels for the SCIM endpoints: listing users is Medium; get, update,
/// deactivate and delete are Light (<https://developers.zoom.us/docs/api/scim2/>); create is
/// taken as Light too, as Zoom labels it nowhere. The rates are the Pro plan's
/// (<https://developers.zoom.us/docs/api/rate-limits/>): Business and up (which SCIM needs)
/// allow 80/s and 60/s, but every app of the account shares them, so the lower figures leave
/// room for the others; an admin raises them under `[profile.rate_classes]`.
fn zoom_rate_classes() -> BTreeMap<String, RateClassConfig> {
    use RequestKind::*;
    BTreeMap::from([
        (
            "light".to_string(),
            RateClassConfig {
                per_second: 30.0,
                requests: vec![Get, Create, Replace, Patch, Delete],
            },
        ),
        (
            "medium".to_string(),
            RateClassConfig {
                per_second: 20.0,
                requests: vec![List],
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

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
