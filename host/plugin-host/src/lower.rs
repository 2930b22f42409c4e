//! Borrowed views of `engine`'s types that lower straight into a guest's memory as the WIT
//! `person` and `license`. The generated WIT types own their strings, so sending a person through
//! them would clone every name, value and group once more on the host before copying it into the
//! guest; these views copy each string once, from where it already is.
//!
//! Each view must lower exactly as its WIT type does: the export is typechecked against them once
//! per loaded plugin (`plugin.rs`), and the `echo` test guest checks that a person arrives whole
//! (`tests/examples.rs`).

use std::collections::HashSet;

use engine::model::{Attributes, GroupRef, License, Manager, Value};
use engine::plugin::PluginInput;
use wasmtime::component::{ComponentType, Lower};

use crate::bindings::v0_2::wit as wit2;
use crate::bindings::wit;
use crate::well_known;

/// `decide(person, current-license, config)`.
pub(crate) type DecideParams<'a> = (&'a PersonView<'a>, Option<&'a LicenseView<'a>>, &'a str);
pub(crate) type DecideResults = (Result<wit::LicenseDecision, wit::PluginError>,);
/// `transform(person, config)`.
pub(crate) type TransformParams<'a> = (&'a PersonView<'a>, &'a str);
pub(crate) type TransformResults = (Result<wit::Outcome, wit::PluginError>,);

/// 0.2.0's `decide` and `transform`: the same parameters, with 0.2.0's person.
pub(crate) type DecideParams2<'a> = (&'a PersonView2<'a>, Option<&'a LicenseView<'a>>, &'a str);
pub(crate) type DecideResults2 = (Result<wit2::LicenseDecision, wit2::PluginError>,);
pub(crate) type TransformParams2<'a> = (&'a PersonView2<'a>, &'a str);
pub(crate) type TransformResults2 = (Result<wit2::Outcome, wit2::PluginError>,);

/// The WIT `value` (the same in both versions).
#[derive(ComponentType, Lower)]
#[component(variant)]
pub(crate) enum ValueView<'a> {
    #[component(name = "null")]
    Null,
    #[component(name = "boolean")]
    Boolean(bool),
    #[component(name = "integer")]
    Integer(i64),
    #[component(name = "text")]
    Text(&'a str),
    #[component(name = "text-list")]
    TextList(&'a [String]),
}

/// The WIT `attribute`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct AttributeView<'a> {
    name: &'a str,
    value: ValueView<'a>,
}

/// The WIT `group`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct GroupView<'a> {
    id: &'a str,
    #[component(name = "display-name")]
    display_name: &'a str,
}

/// The WIT `person`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct PersonView<'a> {
    id: &'a str,
    attributes: Vec<AttributeView<'a>>,
    #[component(name = "direct-groups")]
    direct_groups: Vec<GroupView<'a>>,
    #[component(name = "transitive-groups")]
    transitive_groups: Vec<GroupView<'a>>,
    target: Vec<AttributeView<'a>>,
}

/// The WIT `license`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct LicenseView<'a> {
    plan: &'a str,
    #[component(name = "add-ons")]
    add_ons: &'a [String],
}

/// 0.2.0's `target-path`.
#[derive(ComponentType, Lower)]
#[component(variant)]
pub(crate) enum TargetPathView<'a> {
    #[component(name = "well-known")]
    WellKnown(wit2::WellKnown),
    #[component(name = "path")]
    Path(&'a str),
}

/// 0.2.0's `target-attribute`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct TargetAttributeView<'a> {
    path: TargetPathView<'a>,
    value: ValueView<'a>,
}

/// 0.2.0's `group`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct GroupView2<'a> {
    id: &'a str,
    #[component(name = "display-name")]
    display_name: &'a str,
    direct: bool,
    via: Option<&'a str>,
}

/// 0.2.0's `manager`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct ManagerView<'a> {
    id: &'a str,
    #[component(name = "user-principal-name")]
    user_principal_name: Option<&'a str>,
}

/// 0.2.0's `person`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct PersonView2<'a> {
    id: &'a str,
    attributes: Vec<AttributeView<'a>>,
    groups: Vec<GroupView2<'a>>,
    #[component(name = "app-roles")]
    app_roles: &'a [String],
    manager: Option<ManagerView<'a>>,
    target: Vec<TargetAttributeView<'a>>,
}

impl<'a> PersonView2<'a> {
    /// The transitive groups once, followed by any direct group the transitive list lacks (a
    /// plugin shown only direct groups gets an empty transitive list). A group is direct when
    /// the direct list has it; when that list is empty (a plugin shown only transitive groups),
    /// when it names no `via` (see `GroupRef::via`).
    pub(crate) fn new(p: &'a PluginInput) -> Self {
        // By id, so that a person in hundreds of groups costs one pass over each list rather
        // than a scan of one list per group of the other.
        let direct_ids: HashSet<&str> = p.direct_groups.iter().map(|g| g.id.as_str()).collect();
        let mut not_transitive = direct_ids.clone();
        let group = |g: &'a GroupRef| GroupView2 {
            id: &g.id,
            display_name: &g.display_name,
            direct: if direct_ids.is_empty() {
                g.via.is_none()
            } else {
                direct_ids.contains(g.id.as_str())
            },
            via: g.via.as_deref(),
        };
        let mut groups: Vec<GroupView2<'a>> = p
            .transitive_groups
            .iter()
            .map(|g| {
                not_transitive.remove(g.id.as_str());
                group(g)
            })
            .collect();
        if !not_transitive.is_empty() {
            groups.extend(
                p.direct_groups
                    .iter()
                    .filter(|g| not_transitive.contains(g.id.as_str()))
                    .map(group),
            );
        }
        PersonView2 {
            id: &p.id,
            attributes: attributes(&p.attributes),
            groups,
            app_roles: &p.app_roles,
            manager: p.manager.as_ref().map(|m: &'a Manager| ManagerView {
                id: &m.id,
                user_principal_name: m.user_principal_name.as_deref(),
            }),
            target: p
                .target
                .iter()
                .map(|(name, value)| TargetAttributeView {
                    path: match well_known::case_of(name) {
                        Some(case) => TargetPathView::WellKnown(case),
                        None => TargetPathView::Path(name),
                    },
                    value: value_view(value),
                })
                .collect(),
        }
    }
}

impl<'a> PersonView<'a> {
    pub(crate) fn new(p: &'a PluginInput) -> Self {
        PersonView {
            id: &p.id,
            attributes: attributes(&p.attributes),
            direct_groups: groups(&p.direct_groups),
            transitive_groups: groups(&p.transitive_groups),
            target: attributes(&p.target),
        }
    }
}

impl<'a> LicenseView<'a> {
    pub(crate) fn new(l: &'a License) -> Self {
        LicenseView {
            plan: &l.plan,
            add_ons: &l.add_ons,
        }
    }
}

fn groups(groups: &[GroupRef]) -> Vec<GroupView<'_>> {
    groups
        .iter()
        .map(|g| GroupView {
            id: &g.id,
            display_name: &g.display_name,
        })
        .collect()
}

fn attributes(attrs: &Attributes) -> Vec<AttributeView<'_>> {
    attrs
        .iter()
        .map(|(name, value)| AttributeView {
            name,
            value: value_view(value),
        })
        .collect()
}

fn value_view(value: &Value) -> ValueView<'_> {
    match value {
        Value::Null => ValueView::Null,
        Value::Bool(b) => ValueView::Boolean(*b),
        Value::Int(i) => ValueView::Integer(*i),
        Value::Text(s) => ValueView::Text(s),
        Value::TextList(l) => ValueView::TextList(l),
    }
}
