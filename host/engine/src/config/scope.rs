//! Who is provisioned: Entra's scope setting, assignments and scoping filters.

use serde::{Deserialize, Serialize};

use super::Errors;

/// Scope settings. Clauses within a filter are ANDed; filters are ORed; with no filter, every
/// assigned (or, in `all` mode, every enabled) person is in scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// `assigned` (Entra's recommended "sync only assigned users and groups") or `all`.
    #[serde(default)]
    pub mode: ScopeMode,
    /// Groups whose direct members count as assigned, by object id or display name. Adds to
    /// the assignments the source itself reports.
    #[serde(default)]
    pub assigned_groups: Vec<String>,
    /// People who count as assigned, by object id or `userPrincipalName`.
    #[serde(default)]
    pub assigned_users: Vec<String>,
    /// Let members of nested groups of an assigned group count as assigned. Entra does not
    /// (only direct members are provisioned), so it is off by default.
    #[serde(default)]
    pub nested_groups: bool,
    /// Scoping filters, ORed.
    #[serde(default)]
    pub filters: Vec<ScopingFilterConfig>,
}

/// Entra's scope setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMode {
    /// Only people assigned to the app, directly or through an assigned group.
    #[default]
    Assigned,
    /// Everyone in the source (still subject to the scoping filters).
    All,
}

/// One scoping filter: its clauses are ANDed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopingFilterConfig {
    /// A name for the logs; defaults to the filter's position.
    #[serde(default)]
    pub name: Option<String>,
    /// The clauses, all of which must hold.
    pub clauses: Vec<ClauseConfig>,
}

/// One scoping clause: `attribute operator value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseConfig {
    /// The source attribute, e.g. `department`. Multi-valued attributes are not supported, as
    /// in Entra: a clause on one is false.
    pub attribute: String,
    /// The operator, spelled as in Entra's portal (`EQUALS`, `REGEX MATCH`, ...) or in
    /// snake case (`equals`, `regex_match`, ...).
    pub operator: Operator,
    /// The value to compare with; required by the comparing operators, refused by the others.
    #[serde(default)]
    pub value: Option<String>,
}

/// Entra's scoping operators (Microsoft Learn, "Scoping users or groups to be provisioned with
/// scoping filters"). A null or empty attribute makes every clause false except `IS NULL` and
/// `!&`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The attribute is present in the source object (with any non-null value).
    #[serde(rename = "&", alias = "is_present")]
    IsPresent,
    /// The attribute is absent from the source object, or null.
    #[serde(rename = "!&", alias = "is_not_present")]
    IsNotPresent,
    /// Case-sensitive exact match.
    #[serde(rename = "EQUALS", alias = "equals")]
    Equals,
    /// Case-sensitive mismatch.
    #[serde(rename = "NOT EQUALS", alias = "not_equals")]
    NotEquals,
    /// The attribute ends with the value (case-sensitive).
    #[serde(rename = "ENDS_WITH", alias = "ends_with")]
    EndsWith,
    /// Integer comparison; both sides must be integers.
    #[serde(rename = "Greater_Than", alias = "greater_than")]
    GreaterThan,
    /// Integer comparison; both sides must be integers.
    #[serde(rename = "Greater_Than_OR_EQUALS", alias = "greater_than_or_equals")]
    GreaterThanOrEquals,
    /// Case-sensitive substring.
    #[serde(rename = "Includes", alias = "includes")]
    Includes,
    /// A boolean attribute (or the text `true`, any case) that is true.
    #[serde(rename = "IS TRUE", alias = "is_true")]
    IsTrue,
    /// A boolean attribute (or the text `false`, any case) that is false.
    #[serde(rename = "IS FALSE", alias = "is_false")]
    IsFalse,
    /// Null or empty.
    #[serde(rename = "IS NULL", alias = "is_null")]
    IsNull,
    /// Neither null nor empty.
    #[serde(rename = "IS NOT NULL", alias = "is_not_null")]
    IsNotNull,
    /// Matches a regular expression (Rust `regex` syntax, close to .NET's for common patterns;
    /// unanchored, as .NET's `Regex.IsMatch`).
    #[serde(rename = "REGEX MATCH", alias = "regex_match")]
    RegexMatch,
    /// Does not match; false when null or empty.
    #[serde(rename = "NOT REGEX MATCH", alias = "not_regex_match")]
    NotRegexMatch,
}

impl Operator {
    /// Whether the operator compares with a `value`.
    pub fn takes_value(self) -> bool {
        use Operator::*;
        matches!(
            self,
            Equals
                | NotEquals
                | EndsWith
                | GreaterThan
                | GreaterThanOrEquals
                | Includes
                | RegexMatch
                | NotRegexMatch
        )
    }

    /// The portal spelling, for logs.
    pub fn as_str(self) -> &'static str {
        use Operator::*;
        match self {
            IsPresent => "&",
            IsNotPresent => "!&",
            Equals => "EQUALS",
            NotEquals => "NOT EQUALS",
            EndsWith => "ENDS_WITH",
            GreaterThan => "Greater_Than",
            GreaterThanOrEquals => "Greater_Than_OR_EQUALS",
            Includes => "Includes",
            IsTrue => "IS TRUE",
            IsFalse => "IS FALSE",
            IsNull => "IS NULL",
            IsNotNull => "IS NOT NULL",
            RegexMatch => "REGEX MATCH",
            NotRegexMatch => "NOT REGEX MATCH",
        }
    }
}

impl ScopeConfig {
    pub(crate) fn validate(&self, at: &str, errors: &mut Errors) {
        for (i, filter) in self.filters.iter().enumerate() {
            let at = format!("{at}.filters[{i}]");
            if filter.clauses.is_empty() {
                errors.push(
                    format!("{at}.clauses"),
                    "a scoping filter needs at least one clause",
                );
            }
            for (j, clause) in filter.clauses.iter().enumerate() {
                clause.validate(&format!("{at}.clauses[{j}]"), errors);
            }
        }
    }
}

impl ClauseConfig {
    fn validate(&self, at: &str, errors: &mut Errors) {
        if self.attribute.trim().is_empty() {
            errors.push(format!("{at}.attribute"), "must not be empty");
        }
        let op = self.operator.as_str();
        match (&self.value, self.operator.takes_value()) {
            (None, true) => errors.push(format!("{at}.value"), format!("`{op}` needs a value")),
            (Some(_), false) => {
                errors.push(format!("{at}.value"), format!("`{op}` takes no value"))
            }
            (Some(value), true) => match self.operator {
                Operator::GreaterThan | Operator::GreaterThanOrEquals
                    if value.trim().parse::<i64>().is_err() =>
                {
                    errors.push(
                        format!("{at}.value"),
                        format!("`{op}` compares integers; `{value}` is not one"),
                    )
                }
                Operator::RegexMatch | Operator::NotRegexMatch => {
                    if let Err(e) = regex::Regex::new(value) {
                        errors.push(
                            format!("{at}.value"),
                            format!("invalid regular expression: {e}"),
                        );
                    }
                }
                _ => {}
            },
            (None, false) => {}
        }
    }
}
