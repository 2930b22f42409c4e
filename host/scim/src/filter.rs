//! SCIM filters (RFC 7644 §3.4.2.2): parsing and evaluation against a JSON resource.
//!
//! Written by hand rather than taken from crates.io: the SCIM filter crates there parse the grammar
//! but either do not evaluate, or evaluate without `caseExact`, value filters on multi-valued
//! attributes, URN-qualified extension attributes or dateTime ordering — and this parser faces the
//! network, so its limits (length, depth) must be ours.
//!
//! `and` binds tighter than `or`; `and`/`or` chains are kept n-ary so that a long chain does not
//! become a deep tree. Semantics chosen where the RFC is loose:
//! - a comparison on a multi-valued attribute matches if *any* value matches; `ne` is `not eq`
//!   (so it matches an absent attribute);
//! - a multi-valued complex attribute compared without a sub-attribute compares its `value`s;
//! - `eq null` matches an absent attribute, `ne null` a present one; ordering against `null` or
//!   a boolean, and `co`/`sw`/`ew` against a non-string, are `invalidFilter` at parse time;
//! - strings order by code point (after lower-casing unless `caseExact`); dateTime attributes
//!   order chronologically.

pub(crate) mod eval;
mod lexer;
pub(crate) mod parser;

use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimType};
use crate::path::AttrPath;
use crate::resource::ResourceKind;
use crate::schema::AttributeLookup;

pub(crate) use lexer::{Token, lex};
pub(crate) use parser::Parser;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and value filters accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        use CompareOp::*;
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Eq,
            "ne" => Ne,
            "co" => Co,
            "sw" => Sw,
            "ew" => Ew,
            "gt" => Gt,
            "ge" => Ge,
            "lt" => Lt,
            "le" => Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        use CompareOp::*;
        match self {
            Eq => "eq",
            Ne => "ne",
            Co => "co",
            Sw => "sw",
            Ew => "ew",
            Gt => "gt",
            Ge => "ge",
            Lt => "lt",
            Le => "le",
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`; `value` is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `path pr`.
    Present(AttrPath),
    /// `attr[valFilter]` standing alone: some value of `attr` matches.
    ValuePath(AttrPath),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Parses a filter; failures are `400 invalidFilter`.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(ScimError::bad_request(
                ScimType::InvalidFilter,
                format!(
                    "filter is {} bytes, the limit is {MAX_FILTER_LEN}",
                    input.len()
                ),
            ));
        }
        let tokens = lex(input, ScimType::InvalidFilter)?;
        Parser::new(tokens, ScimType::InvalidFilter).filter_to_end()
    }

    /// Whether `resource` matches, with the characteristics of the resource's kind (guessed from
    /// its `schemas`).
    pub fn matches(&self, resource: &Value) -> bool {
        self.matches_with(resource, &ResourceKind::of(resource))
    }

    /// Whether `resource` matches, reading `caseExact` and types from `schema`.
    pub fn matches_with(&self, resource: &Value, schema: &dyn AttributeLookup) -> bool {
        eval::matches(self, resource, &eval::Scope::root(schema))
    }

    /// The conjunction of `attr eq literal` terms, if the filter is one: what a PATCH can turn into
    /// a new element when nothing matches (`emails[type eq "work"]` → `{"type": "work"}`).
    pub fn equality_template(&self) -> Option<Vec<(&str, &Value)>> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn().is_none()
                && path.sub_attribute().is_none()
                && path.value_filter().is_none() =>
            {
                (!value.is_null()).then(|| vec![(path.attribute(), value)])
            }
            Filter::And(terms) => {
                let mut out = Vec::new();
                for t in terms {
                    out.extend(t.equality_template()?);
                }
                Some(out)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Filter {
    /// The canonical form: lower-case operators, JSON literals, parentheses only where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath(path) => write!(f, "{path}"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::And(terms) => join(f, terms, " and ", |t| {
                matches!(t, Filter::And(_) | Filter::Or(_))
            }),
            Filter::Or(terms) => join(f, terms, " or ", |t| matches!(t, Filter::Or(_))),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    terms: &[Filter],
    sep: &str,
    paren: fn(&Filter) -> bool,
) -> fmt::Result {
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if paren(t) {
            write!(f, "({t})")?
        } else {
            write!(f, "{t}")?
        }
    }
    Ok(())
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

#[cfg(test)]
mod tests;
