//! Attribute paths (RFC 7644 §3.5.2 `path`, §3.4.2.2 `attrPath` / `valuePath`):
//! `userName`, `name.givenName`, `urn:…:User:department`, `emails[type eq "work"].value`,
//! `members[value eq "abc"]`. Names and URNs compare case-insensitively; the parsed path keeps
//! them as written.

use std::fmt;

use crate::error::{ScimError, ScimType};
use crate::filter::{Filter, Parser, lex};

/// Longest path accepted, in bytes (a path can carry a value filter).
pub const MAX_PATH_LEN: usize = crate::filter::MAX_FILTER_LEN;

/// A parsed attribute path.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    urn: Option<String>,
    attr: String,
    filter: Option<Box<Filter>>,
    sub: Option<String>,
}

impl AttrPath {
    /// Parses a path; failures are `400 invalidPath`.
    pub fn parse(input: &str) -> Result<AttrPath, ScimError> {
        if input.len() > MAX_PATH_LEN {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("path is {} bytes, the limit is {MAX_PATH_LEN}", input.len()),
            ));
        }
        let tokens = lex(input, ScimType::InvalidPath)?;
        Parser::new(tokens, ScimType::InvalidPath).path_to_end()
    }

    pub(crate) fn from_parts(
        urn: Option<String>,
        attr: String,
        filter: Option<Filter>,
        sub: Option<String>,
    ) -> Self {
        AttrPath {
            urn,
            attr,
            filter: filter.map(Box::new),
            sub,
        }
    }

    /// A plain `attr` or `attr.sub` path, no URN, no filter.
    pub fn simple(attr: &str, sub: Option<&str>) -> Self {
        AttrPath {
            urn: None,
            attr: attr.to_string(),
            filter: None,
            sub: sub.map(str::to_string),
        }
    }

    /// The schema URN prefix, as written.
    pub fn urn(&self) -> Option<&str> {
        self.urn.as_deref()
    }

    /// The attribute name, as written.
    pub fn attribute(&self) -> &str {
        &self.attr
    }

    /// The sub-attribute name (`givenName` in `name.givenName`, `value` in `emails[…].value`).
    pub fn sub_attribute(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// The value filter between brackets.
    pub fn value_filter(&self) -> Option<&Filter> {
        self.filter.as_deref()
    }

    /// The same path without the sub-attribute.
    pub fn without_sub(&self) -> AttrPath {
        AttrPath {
            sub: None,
            ..self.clone()
        }
    }

    /// The same path with another URN (used to canonicalise URN spelling).
    pub fn with_urn(self, urn: Option<String>) -> AttrPath {
        AttrPath { urn, ..self }
    }

    /// Whether two paths name the same attribute (ignoring case and filters).
    pub fn same_attribute(&self, other: &AttrPath) -> bool {
        let eq = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        eq(self.urn(), other.urn())
            && self.attr.eq_ignore_ascii_case(&other.attr)
            && eq(self.sub_attribute(), other.sub_attribute())
    }
}

impl fmt::Display for AttrPath {
    /// The canonical form: `urn:attr[filter].sub` with the filter in canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AttrPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        // (input, urn, attr, sub, filter, canonical)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
        );
        let cases: &[Case] = &[
            ("userName", None, "userName", None, None, "userName"),
            (
                "name.givenName",
                None,
                "name",
                Some("givenName"),
                None,
                "name.givenName",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "department",
                None,
                None,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            (
                "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso",
                Some("urn:us:zoom:scim:schemas:extension:1.0:ZoomUser"),
                "loginType",
                Some("sso"),
                None,
                "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser:loginType.sso",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhone",
                Some("urn:ietf:params:scim:schemas:extension:zoom:1.0:User"),
                "zoomPhone",
                None,
                None,
                "urn:ietf:params:scim:schemas:extension:zoom:1.0:User:zoomPhone",
            ),
            (
                "emails[type eq \"work\"].value",
                None,
                "emails",
                Some("value"),
                Some("type eq \"work\""),
                "emails[type eq \"work\"].value",
            ),
            (
                "members[value eq \"abc\"]",
                None,
                "members",
                None,
                Some("value eq \"abc\""),
                "members[value eq \"abc\"]",
            ),
            (
                "emails[TYPE EQ \"work\" and primary eq TRUE]",
                None,
                "emails",
                None,
                Some("TYPE eq \"work\" and primary eq true"),
                "emails[TYPE eq \"work\" and primary eq true]",
            ),
            (" $ref ", None, "$ref", None, None, "$ref"),
        ];
        for &(input, urn, attr, sub, filter, canonical) in cases {
            let p = AttrPath::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.urn(), urn, "{input}");
            assert_eq!(p.attribute(), attr, "{input}");
            assert_eq!(p.sub_attribute(), sub, "{input}");
            assert_eq!(
                p.value_filter().map(|f| f.to_string()).as_deref(),
                filter,
                "{input}"
            );
            assert_eq!(p.to_string(), canonical, "{input}");
            assert_eq!(
                AttrPath::parse(&p.to_string()).as_ref(),
                Ok(&p),
                "{input} reparses"
            );
        }
    }

    #[test]
    fn rejects() {
        let long = "a".repeat(MAX_PATH_LEN + 1);
        let deep = format!("emails[{}type pr{}]", "(".repeat(40), ")".repeat(40));
        let cases = [
            "",
            "1abc",
            "name.given.name",
            "name.givenName[type eq \"x\"]",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"]x",
            "emails[addresses[type eq \"x\"]]",
            "foo:bar",
            "urn:",
            "userName eq \"x\"",
            "emails[]",
            "a b",
            long.as_str(),
            deep.as_str(),
        ];
        for input in cases {
            let e = AttrPath::parse(input).expect_err(input);
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{input}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn same_attribute_ignores_case() {
        let a = AttrPath::parse(
            "URN:IETF:params:scim:schemas:extension:enterprise:2.0:user:Department",
        )
        .expect("a");
        let b = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .expect("b");
        assert!(a.same_attribute(&b));
    }
}
