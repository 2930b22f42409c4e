//! Borrowed views of `engine`'s types that lower straight into a guest's memory as the WIT
//! `person` and `license`. The generated WIT types own their strings, so sending a person through
//! them would clone every name, value and group once more on the host before copying it into the
//! guest; these views copy each string once, from where it already is.
//!
//! Each view must lower exactly as its WIT type does: the export is typechecked against them once
//! per loaded plugin (`plugin.rs`), and the `echo` test guest checks that a person arrives whole
//! (`tests/examples.rs`).

use engine::model::{Attributes, GroupRef, License, Value};
use engine::plugin::PluginInput;
use wasmtime::component::{ComponentType, Lower};

use crate::bindings::wit;

/// `decide(person, current-license, config)`.
pub(crate) type DecideParams<'a> = (&'a PersonView<'a>, Option<&'a LicenseView<'a>>, &'a str);
pub(crate) type DecideResults = (Result<wit::LicenseDecision, wit::PluginError>,);
/// `transform(person, config)`.
pub(crate) type TransformParams<'a> = (&'a PersonView<'a>, &'a str);
pub(crate) type TransformResults = (Result<wit::Outcome, wit::PluginError>,);

/// The WIT `value`.
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
            value: match value {
                Value::Null => ValueView::Null,
                Value::Bool(b) => ValueView::Boolean(*b),
                Value::Int(i) => ValueView::Integer(*i),
                Value::Text(s) => ValueView::Text(s),
                Value::TextList(l) => ValueView::TextList(l),
            },
        })
        .collect()
}
