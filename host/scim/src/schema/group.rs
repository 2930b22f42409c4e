//! The core Group schema (RFC 7643 §4.2, §8.7.1).

use super::{AttrType, Attribute, Schema};
use crate::resource::GROUP_SCHEMA;

static MEMBER_SUBS: [Attribute; 4] = [
    Attribute::string("value").immutable(),
    Attribute::new("$ref", AttrType::Reference)
        .refs(&["User", "Group"])
        .immutable(),
    Attribute::string("type")
        .canonical(&["User", "Group"])
        .immutable(),
    Attribute::string("display").read_only(),
];

static GROUP_ATTRS: [Attribute; 2] = [
    // RFC 7643 marks it optional in the schema but §4.2 calls it REQUIRED; Entra matches on it.
    Attribute::string("displayName").required(),
    Attribute::complex("members", &MEMBER_SUBS).multi(),
];

pub static GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &GROUP_ATTRS,
};
