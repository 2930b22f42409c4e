//! The mapping stage: source attributes → flat target attributes keyed by SCIM path.
//!
//! Null and empty source values are not provisioned, as in Entra. Create-only mappings and
//! defaults-if-null are part of what a create sends but are never diffed afterwards: their
//! paths are returned in [`Mapped::create_only`] and the planner leaves them alone.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use crate::config::{ApplyMode, MappingConfig, MappingKind};
use crate::model::{Attributes, Key, Person, Value};

/// The SCIM path of the account state. Entra maps `Not([IsSoftDeleted])` to it by default;
/// muster does the same implicitly for people in scope unless a mapping targets it.
pub const ACTIVE: &str = "active";

/// [`ACTIVE`] as a shared key, for the implicit mapping every person gets.
static ACTIVE_KEY: LazyLock<Key> = LazyLock::new(|| Key::from(ACTIVE));

/// Target attributes a person usually gets beyond the mappings' (`active`, plugins' additions,
/// license attributes).
const EXTRA: usize = 6;

/// The target attributes of one person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// Everything a create sends.
    pub attributes: Attributes,
    /// Paths an update must neither change nor remove.
    pub create_only: BTreeSet<Key>,
}

/// Maps one person's source attributes through the configured mappings.
pub fn map(person: &Person, mappings: &[MappingConfig]) -> Mapped {
    let mut out = Mapped {
        // Room for the implicit `active` and what plugins and the license profile usually add,
        // so the vector is allocated once.
        attributes: Attributes::with_capacity(mappings.len() + EXTRA),
        create_only: BTreeSet::new(),
    };
    let mut maps_active = false;
    for mapping in mappings {
        maps_active |= mapping.target.eq_ignore_ascii_case(ACTIVE);
        let (value, defaulted) = match mapping.kind() {
            MappingKind::Constant(value) => (Some(value), false),
            MappingKind::Direct(source) => match person.attributes.get(source) {
                Some(v) if !v.is_empty() => (Some(v), false),
                _ => (mapping.default.as_ref(), true),
            },
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        if defaulted || mapping.apply == ApplyMode::OnCreate {
            out.create_only.insert(mapping.target.clone());
        }
        out.attributes.insert(mapping.target.clone(), value.clone());
    }
    if !maps_active {
        out.attributes.insert(ACTIVE_KEY.clone(), Value::Bool(true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(source: &str, target: &str) -> MappingConfig {
        MappingConfig {
            target: target.into(),
            source: Some(source.into()),
            constant: None,
            default: None,
            apply: ApplyMode::Always,
            matching_precedence: None,
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn mapping_kinds() {
        let with_default = MappingConfig {
            default: Some(text("en-US")),
            ..direct("preferredLanguage", "locale")
        };
        let on_create = MappingConfig {
            apply: ApplyMode::OnCreate,
            ..direct("employeeId", "externalId")
        };
        let constant = MappingConfig {
            source: None,
            constant: Some(Value::Bool(true)),
            ..direct("", "emails[type eq \"work\"].primary")
        };
        let active = MappingConfig {
            source: None,
            constant: Some(Value::Bool(false)),
            ..direct("", "active")
        };
        // (mappings, source attributes, expected attributes, expected create-only)
        type Case = (
            Vec<MappingConfig>,
            Vec<(&'static str, Value)>,
            Vec<(&'static str, Value)>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                vec![direct("userPrincipalName", "userName")],
                vec![("userPrincipalName", text("a@x.com"))],
                vec![("active", Value::Bool(true)), ("userName", text("a@x.com"))],
                vec![],
            ),
            // null and empty are not provisioned
            (
                vec![direct("mobile", "phone")],
                vec![("mobile", text(""))],
                vec![("active", Value::Bool(true))],
                vec![],
            ),
            (
                vec![direct("mobile", "phone")],
                vec![("mobile", Value::Null)],
                vec![("active", Value::Bool(true))],
                vec![],
            ),
            // default if null: used, and create-only
            (
                vec![with_default.clone()],
                vec![],
                vec![("active", Value::Bool(true)), ("locale", text("en-US"))],
                vec!["locale"],
            ),
            // default not used when the source has a value: a normal mapping
            (
                vec![with_default],
                vec![("preferredLanguage", text("fr-FR"))],
                vec![("active", Value::Bool(true)), ("locale", text("fr-FR"))],
                vec![],
            ),
            (
                vec![on_create],
                vec![("employeeId", text("42"))],
                vec![("active", Value::Bool(true)), ("externalId", text("42"))],
                vec!["externalId"],
            ),
            (
                vec![constant],
                vec![],
                vec![
                    ("active", Value::Bool(true)),
                    ("emails[type eq \"work\"].primary", Value::Bool(true)),
                ],
                vec![],
            ),
            // a mapping to `active` replaces the implicit one
            (
                vec![active],
                vec![],
                vec![("active", Value::Bool(false))],
                vec![],
            ),
        ];
        for (i, (mappings, source, attributes, create_only)) in cases.into_iter().enumerate() {
            let person = Person::new(
                "p",
                source.into_iter().map(|(k, v)| (Key::from(k), v)).collect(),
            );
            let mapped = map(&person, &mappings);
            let expected: Attributes = attributes
                .into_iter()
                .map(|(k, v)| (Key::from(k), v))
                .collect();
            assert_eq!(mapped.attributes, expected, "case {i}");
            let create_only: BTreeSet<Key> = create_only.into_iter().map(Key::from).collect();
            assert_eq!(mapped.create_only, create_only, "case {i}");
        }
    }
}
