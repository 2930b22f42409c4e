//! The core User schema (RFC 7643 §4.1, §8.7.1) and the enterprise extension (§4.3).

use super::{AttrType, Attribute, Schema, Uniqueness};
use crate::resource::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

const fn multi_sub(types: &'static [&'static str], value: Attribute) -> [Attribute; 4] {
    [
        value,
        Attribute::string("display"),
        Attribute::string("type").canonical(types),
        Attribute::boolean("primary"),
    ]
}

static EMAIL_SUBS: [Attribute; 4] =
    multi_sub(&["work", "home", "other"], Attribute::string("value"));
static PHONE_SUBS: [Attribute; 4] = multi_sub(
    &["work", "home", "mobile", "fax", "pager", "other"],
    Attribute::string("value"),
);
static IMS_SUBS: [Attribute; 4] = multi_sub(
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    Attribute::string("value"),
);
static PHOTO_SUBS: [Attribute; 4] = multi_sub(
    &["photo", "thumbnail"],
    Attribute::new("value", AttrType::Reference).refs(&["external"]),
);
static PLAIN_SUBS: [Attribute; 4] = multi_sub(&[], Attribute::string("value"));
static CERT_SUBS: [Attribute; 4] = multi_sub(&[], Attribute::new("value", AttrType::Binary));

static NAME_SUBS: [Attribute; 6] = [
    Attribute::string("formatted"),
    Attribute::string("familyName"),
    Attribute::string("givenName"),
    Attribute::string("middleName"),
    Attribute::string("honorificPrefix"),
    Attribute::string("honorificSuffix"),
];

static ADDRESS_SUBS: [Attribute; 8] = [
    Attribute::string("formatted"),
    Attribute::string("streetAddress"),
    Attribute::string("locality"),
    Attribute::string("region"),
    Attribute::string("postalCode"),
    Attribute::string("country"),
    Attribute::string("type").canonical(&["work", "home", "other"]),
    Attribute::boolean("primary"),
];

static GROUPS_SUBS: [Attribute; 4] = [
    Attribute::string("value").read_only(),
    Attribute::new("$ref", AttrType::Reference)
        .refs(&["User", "Group"])
        .read_only(),
    Attribute::string("display").read_only(),
    Attribute::string("type")
        .canonical(&["direct", "indirect"])
        .read_only(),
];

static USER_ATTRS: [Attribute; 21] = [
    Attribute::string("userName")
        .required()
        .unique(Uniqueness::Server),
    Attribute::complex("name", &NAME_SUBS),
    Attribute::string("displayName"),
    Attribute::string("nickName"),
    Attribute::new("profileUrl", AttrType::Reference).refs(&["external"]),
    Attribute::string("title"),
    Attribute::string("userType"),
    Attribute::string("preferredLanguage"),
    Attribute::string("locale"),
    Attribute::string("timezone"),
    Attribute::boolean("active"),
    Attribute::string("password").write_only(),
    Attribute::complex("emails", &EMAIL_SUBS).multi(),
    Attribute::complex("phoneNumbers", &PHONE_SUBS).multi(),
    Attribute::complex("ims", &IMS_SUBS).multi(),
    Attribute::complex("photos", &PHOTO_SUBS).multi(),
    Attribute::complex("addresses", &ADDRESS_SUBS).multi(),
    Attribute::complex("groups", &GROUPS_SUBS)
        .multi()
        .read_only(),
    Attribute::complex("entitlements", &PLAIN_SUBS).multi(),
    Attribute::complex("roles", &PLAIN_SUBS).multi(),
    Attribute::complex("x509Certificates", &CERT_SUBS).multi(),
];

pub static USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &USER_ATTRS,
};

static MANAGER_SUBS: [Attribute; 3] = [
    Attribute::string("value"),
    Attribute::new("$ref", AttrType::Reference).refs(&["User"]),
    Attribute::string("displayName").read_only(),
];

static ENTERPRISE_ATTRS: [Attribute; 6] = [
    Attribute::string("employeeNumber"),
    Attribute::string("costCenter"),
    Attribute::string("organization"),
    Attribute::string("division"),
    Attribute::string("department"),
    Attribute::complex("manager", &MANAGER_SUBS),
];

pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_ATTRS,
};
