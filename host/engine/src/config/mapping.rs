//! Attribute mappings (Entra's "Attribute Mapping" page; Microsoft Learn, "Tutorial - Customize
//! user provisioning attribute-mappings for SaaS applications").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Errors;
use crate::model::{Key, Value};

/// One mapping to a target SCIM path: from a source attribute (`source`, Entra's *Direct*) or a
/// fixed value (`constant`, Entra's *Constant*). Expressions are what transform plugins are for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// The target attribute as a SCIM path: `userName`, `name.givenName`,
    /// `emails[type eq "work"].value`, `urn:...:enterprise:2.0:User:department`.
    pub target: Key,
    /// The source attribute, e.g. `userPrincipalName` (a *Direct* mapping).
    #[serde(default)]
    pub source: Option<String>,
    /// A fixed value (a *Constant* mapping): a string, boolean, integer or list of strings.
    #[serde(default)]
    pub constant: Option<Value>,
    /// Entra's "default value if null": used when the source attribute is null or empty, and
    /// only when the person is created, never in an update.
    #[serde(default)]
    pub default: Option<Value>,
    /// `always` (create and update) or `on_create` (Entra's "only during object creation").
    #[serde(default)]
    pub apply: ApplyMode,
    /// Makes this mapping a matching attribute; lower numbers are tried first and the first one
    /// with a value is used (Entra's "matching precedence").
    #[serde(default)]
    pub matching_precedence: Option<u32>,
}

/// When a mapping is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// On create and on every update.
    #[default]
    Always,
    /// On create only; later changes of the source never update the target.
    OnCreate,
}

/// What a validated mapping reads from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MappingKind<'a> {
    Direct(&'a str),
    Constant(&'a Value),
}

impl MappingConfig {
    /// The mapping's kind. Validation guarantees exactly one of `source` and `constant`; a
    /// mapping that has neither reads as a constant null, which is never provisioned.
    pub fn kind(&self) -> MappingKind<'_> {
        match (&self.source, &self.constant) {
            (Some(source), _) => MappingKind::Direct(source),
            (None, Some(value)) => MappingKind::Constant(value),
            (None, None) => MappingKind::Constant(&Value::Null),
        }
    }
}

pub(crate) fn validate_all(mappings: &[MappingConfig], errors: &mut Errors) {
    if mappings.is_empty() {
        errors.push("mappings", "at least one mapping is needed");
    }
    let mut targets: BTreeMap<String, usize> = BTreeMap::new();
    let mut precedences: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, m) in mappings.iter().enumerate() {
        let at = format!("mappings[{i}]");
        m.validate(&at, errors);
        if let Some(first) = targets.insert(m.target.to_ascii_lowercase(), i) {
            errors.push(
                format!("{at}.target"),
                format!("`{}` is already mapped by mappings[{first}]", m.target),
            );
        }
        if let Some(p) = m.matching_precedence
            && let Some(first) = precedences.insert(p, i)
        {
            errors.push(
                format!("{at}.matching_precedence"),
                format!("{p} is already used by mappings[{first}]"),
            );
        }
    }
    if !mappings.is_empty() && precedences.is_empty() {
        errors.push(
            "mappings",
            "no mapping has `matching_precedence`: every person needs a matching attribute \
             (for Zoom, `userName`)",
        );
    }
}

impl MappingConfig {
    fn validate(&self, at: &str, errors: &mut Errors) {
        if let Err(message) = super::check_scim_path(&self.target) {
            errors.push(format!("{at}.target"), message);
        } else if self.target.eq_ignore_ascii_case("id") {
            errors.push(
                format!("{at}.target"),
                "`id` is the target's own key and cannot be mapped",
            );
        }
        match (&self.source, &self.constant) {
            (Some(_), Some(_)) => errors.push(at, "give either `source` or `constant`, not both"),
            (None, None) => errors.push(at, "give `source` (a direct mapping) or `constant`"),
            (Some(source), None) if source.trim().is_empty() => {
                errors.push(format!("{at}.source"), "must not be empty")
            }
            _ => {}
        }
        if self.default.is_some() && self.source.is_none() {
            errors.push(
                format!("{at}.default"),
                "only a mapping with `source` can have a default",
            );
        }
        if self.matching_precedence.is_some() {
            if self.source.is_none() {
                errors.push(
                    format!("{at}.matching_precedence"),
                    "a matching attribute must come from `source`",
                );
            }
            if self.apply == ApplyMode::OnCreate {
                errors.push(
                    format!("{at}.apply"),
                    "a matching attribute must be applied `always`",
                );
            }
        }
    }
}
