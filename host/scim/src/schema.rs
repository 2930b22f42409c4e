//! Attribute characteristics (RFC 7643 §2.2, §7) for the schemas muster speaks: User (core,
//! enterprise, Zoom's two extensions) and Group.
//!
//! Filters read `caseExact` and `type` from here, PATCH reads `mutability`, `required` and
//! `multiValued`, and the gateway serves `/Schemas` from [`Schema::to_json`]. Unknown attributes
//! (Entra's custom extensions) get [`Attribute::UNKNOWN`]'s defaults: a read-write,
//! case-insensitive string, as RFC 7643 §2.2 prescribes for unspecified characteristics.

mod group;
mod user;
mod zoom;

use serde_json::{Value, json};

use crate::resource::ResourceKind;

pub use group::GROUP;
pub use user::{ENTERPRISE_USER, USER};
pub use zoom::{ZOOM_LOGIN, ZOOM_USER};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition. Built with the `const` helpers below so the schemas are static data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    pub description: &'static str,
}

impl Attribute {
    /// What an attribute no schema describes is taken to be (RFC 7643 §2.2 defaults).
    pub const UNKNOWN: Attribute = Attribute::new("", AttrType::String);

    pub const fn new(name: &'static str, ty: AttrType) -> Self {
        Attribute {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description: "",
        }
    }
    pub const fn string(name: &'static str) -> Self {
        Self::new(name, AttrType::String)
    }
    pub const fn boolean(name: &'static str) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    pub const fn complex(name: &'static str, subs: &'static [Attribute]) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    pub const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    pub const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    pub const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    pub const fn doc(mut self, d: &'static str) -> Self {
        self.description = d;
        self
    }

    /// A sub-attribute by case-insensitive name.
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The attribute as RFC 7643 §7 renders it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": enum_name(self.ty),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": enum_name(self.mutability),
            "returned": enum_name(self.returned),
            "uniqueness": enum_name(self.uniqueness),
        });
        if !self.canonical_values.is_empty() {
            v["canonicalValues"] = json!(self.canonical_values);
        }
        if !self.reference_types.is_empty() {
            v["referenceTypes"] = json!(self.reference_types);
        }
        if !self.sub_attributes.is_empty() {
            v["subAttributes"] = self.sub_attributes.iter().map(Attribute::to_json).collect();
        }
        v
    }
}

/// `Debug` names lower-camel-cased: the RFC's spelling of every characteristic value.
fn enum_name(e: impl std::fmt::Debug) -> String {
    let s = format!("{e:?}");
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// One schema (core or extension).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` body.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("/Schemas/{}", self.id)},
        })
    }
}

/// The common attributes every resource carries (RFC 7643 §3.1).
pub static COMMON: &[Attribute] = &[
    Attribute::string("id")
        .case_exact()
        .read_only()
        .returned(Returned::Always)
        .unique(Uniqueness::Server),
    Attribute::string("externalId").case_exact(),
    Attribute::complex(
        "meta",
        &[
            Attribute::string("resourceType").case_exact().read_only(),
            Attribute::new("created", AttrType::DateTime).read_only(),
            Attribute::new("lastModified", AttrType::DateTime).read_only(),
            Attribute::new("location", AttrType::Reference)
                .case_exact()
                .read_only(),
            Attribute::string("version").case_exact().read_only(),
        ],
    )
    .read_only(),
];

static USER_EXTENSIONS: &[&Schema] = &[&ENTERPRISE_USER, &ZOOM_USER, &ZOOM_LOGIN];

/// Where a (possibly URN-qualified) attribute was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    /// The extension schema holding the attribute; `None` for the core schema or common attributes.
    pub extension: Option<&'static Schema>,
    pub attribute: &'static Attribute,
}

impl ResourceKind {
    pub fn core_schema(self) -> &'static Schema {
        match self {
            ResourceKind::User => &USER,
            ResourceKind::Group => &GROUP,
        }
    }

    /// The extension schemas, in the order the `schemas` list names them.
    pub fn extension_schemas(self) -> &'static [&'static Schema] {
        match self {
            ResourceKind::User => USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }

    /// Every schema of the kind, core first.
    pub fn schemas(self) -> impl Iterator<Item = &'static Schema> {
        std::iter::once(self.core_schema()).chain(self.extension_schemas().iter().copied())
    }

    /// Looks an attribute up. `urn` is the schema prefix as written (case-insensitive); with no
    /// prefix, core and common attributes are searched.
    pub fn resolve(self, urn: Option<&str>, name: &str) -> Option<Resolved> {
        match urn {
            Some(u) if !u.eq_ignore_ascii_case(self.core_schema().id) => {
                let ext = self
                    .extension_schemas()
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(u))?;
                let attribute = ext.attribute(name)?;
                Some(Resolved {
                    extension: Some(ext),
                    attribute,
                })
            }
            _ => {
                let attribute = self
                    .core_schema()
                    .attribute(name)
                    .or_else(|| COMMON.iter().find(|a| a.name.eq_ignore_ascii_case(name)))?;
                Some(Resolved {
                    extension: None,
                    attribute,
                })
            }
        }
    }

    /// Like [`resolve`](Self::resolve), but a bare name that only an extension defines resolves
    /// there: Entra's manager PATCH says `manager`, not the enterprise URN (Microsoft Learn,
    /// "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID").
    pub fn resolve_lenient(self, urn: Option<&str>, name: &str) -> Option<Resolved> {
        self.resolve(urn, name).or_else(|| {
            if urn.is_some() {
                return None;
            }
            let mut found = self.extension_schemas().iter().filter_map(|s| {
                s.attribute(name).map(|attribute| Resolved {
                    extension: Some(s),
                    attribute,
                })
            });
            let first = found.next()?;
            found.next().is_none().then_some(first)
        })
    }

    /// The canonical spelling of a known extension URN.
    pub fn canonical_urn(self, urn: &str) -> Option<&'static str> {
        self.schemas()
            .map(|s| s.id)
            .find(|id| id.eq_ignore_ascii_case(urn))
    }
}

/// Where filters and PATCH read attribute characteristics from. [`ResourceKind`] implements it
/// with the schemas of this module; a gateway serving other schemas can bring its own.
pub trait AttributeLookup {
    /// The definition of `urn:attr.sub` (no URN: core or common attribute), or
    /// [`Attribute::UNKNOWN`].
    fn attribute(&self, urn: Option<&str>, attr: &str, sub: Option<&str>) -> &Attribute;
}

impl AttributeLookup for ResourceKind {
    fn attribute(&self, urn: Option<&str>, attr: &str, sub: Option<&str>) -> &Attribute {
        characteristics(*self, urn, attr, sub)
    }
}

/// Whether string comparisons on `urn:attr.sub` are case-exact for a resource of `kind`.
pub fn case_exact(kind: ResourceKind, urn: Option<&str>, attr: &str, sub: Option<&str>) -> bool {
    characteristics(kind, urn, attr, sub).case_exact
}

/// The definition of `urn:attr.sub`, or [`Attribute::UNKNOWN`].
pub fn characteristics(
    kind: ResourceKind,
    urn: Option<&str>,
    attr: &str,
    sub: Option<&str>,
) -> &'static Attribute {
    let Some(found) = kind.resolve_lenient(urn, attr) else {
        return &Attribute::UNKNOWN;
    };
    match sub {
        None => found.attribute,
        Some(s) => found.attribute.sub(s).unwrap_or(&Attribute::UNKNOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{ENTERPRISE_USER_SCHEMA, ZOOM_LOGIN_SCHEMA};

    #[test]
    fn characteristics_table() {
        use ResourceKind::*;
        // (kind, urn, attr, sub, caseExact, mutability, multiValued, type)
        type Case<'a> = (
            ResourceKind,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
            bool,
            Mutability,
            bool,
            AttrType,
        );
        let cases: &[Case] = &[
            (
                User,
                None,
                "id",
                None,
                true,
                Mutability::ReadOnly,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "externalId",
                None,
                true,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "USERNAME",
                None,
                false,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "emails",
                Some("value"),
                false,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "emails",
                None,
                false,
                Mutability::ReadWrite,
                true,
                AttrType::Complex,
            ),
            (
                User,
                None,
                "groups",
                None,
                false,
                Mutability::ReadOnly,
                true,
                AttrType::Complex,
            ),
            (
                User,
                None,
                "active",
                None,
                false,
                Mutability::ReadWrite,
                false,
                AttrType::Boolean,
            ),
            (
                User,
                None,
                "meta",
                Some("lastModified"),
                false,
                Mutability::ReadOnly,
                false,
                AttrType::DateTime,
            ),
            (
                User,
                Some(ENTERPRISE_USER_SCHEMA),
                "department",
                None,
                false,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "manager",
                Some("displayName"),
                false,
                Mutability::ReadOnly,
                false,
                AttrType::String,
            ),
            (
                User,
                Some(ZOOM_LOGIN_SCHEMA),
                "loginType",
                Some("sso"),
                false,
                Mutability::ReadWrite,
                false,
                AttrType::Boolean,
            ),
            (
                Group,
                None,
                "members",
                Some("value"),
                false,
                Mutability::Immutable,
                false,
                AttrType::String,
            ),
            (
                Group,
                None,
                "displayName",
                None,
                false,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
            (
                User,
                None,
                "x-custom",
                None,
                false,
                Mutability::ReadWrite,
                false,
                AttrType::String,
            ),
        ];
        for &(kind, urn, attr, sub, ce, m, mv, ty) in cases {
            let a = characteristics(kind, urn, attr, sub);
            assert_eq!(
                (a.case_exact, a.mutability, a.multi_valued, a.ty),
                (ce, m, mv, ty),
                "{attr} {sub:?}"
            );
        }
    }

    #[test]
    fn schemas_render() {
        let user = USER.to_json();
        assert_eq!(user["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["uniqueness"], "server");
        assert!(ResourceKind::User.schemas().count() == 4);
    }
}
