//! The scoping stage: is a person in scope, and if not, why (in Entra's words).
//!
//! Entra checks, in its on-demand view, "Active in source system", "Assigned to application"
//! and the scoping filters; the reason it logs for a skipped person reads
//! `NotEffectivelyEntitled, Active = True, Assigned = False`. [`ScopeEvaluation::reason`] keeps
//! that shape so admins recognise it.

// Seeded foldhash: every person looks up its id and each of its groups.
use foldhash::HashSet;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::config::{ClauseConfig, Operator, ScopeConfig, ScopeMode};
use crate::model::{Person, SharedStr, Value};

/// A compiled [`ScopeConfig`]: regexes built and names indexed once per cycle.
#[derive(Debug, Clone)]
pub struct Scope {
    mode: ScopeMode,
    assigned_groups: HashSet<String>,
    assigned_users: HashSet<String>,
    nested_groups: bool,
    filters: Vec<Filter>,
}

#[derive(Debug, Clone)]
struct Filter {
    name: SharedStr,
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
struct Clause {
    attribute: String,
    operator: Operator,
    value: String,
    integer: Option<i64>,
    regex: Option<Regex>,
}

/// The scoping facts about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeEvaluation {
    /// Enabled and not soft-deleted in the source.
    pub active: bool,
    pub soft_deleted: bool,
    /// Assigned to the app (always true in `all` mode).
    pub assigned: bool,
    pub filters: FilterResult,
}

/// The outcome of the scoping filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum FilterResult {
    /// No filters are configured.
    None,
    /// This filter's clauses all held (its name, shared with the configuration's).
    Passed { filter: SharedStr },
    /// No filter held; for each, the first clause that failed.
    Failed { reasons: Vec<String> },
}

/// Why a provisioned person should be deprovisioned; the policy picks the action per cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfScopeCause {
    /// Disabled or soft-deleted in the source.
    SourceDisabled,
    /// Not assigned, or no scoping filter holds.
    OutOfScope,
}

impl ScopeEvaluation {
    pub fn in_scope(&self) -> bool {
        self.cause().is_none()
    }

    /// Why the person is out of scope, if they are. Being inactive wins over scope, as for
    /// Entra: a disabled person is disabled whatever the filters say.
    pub fn cause(&self) -> Option<OutOfScopeCause> {
        if !self.active {
            Some(OutOfScopeCause::SourceDisabled)
        } else if !self.assigned || matches!(self.filters, FilterResult::Failed { .. }) {
            Some(OutOfScopeCause::OutOfScope)
        } else {
            None
        }
    }

    /// Entra's phrasing, e.g. `NotEffectivelyEntitled, Active = True, Assigned = False`.
    pub fn reason(&self) -> String {
        let mut reason = String::with_capacity(96);
        self.write_reason(&mut reason);
        reason
    }

    /// [`ScopeEvaluation::reason`] appended to `reason` (the planner reuses one buffer).
    pub fn write_reason(&self, reason: &mut String) {
        let title = |b: bool| if b { "True" } else { "False" };
        let head = if self.in_scope() {
            "EffectivelyEntitled"
        } else {
            "NotEffectivelyEntitled"
        };
        for part in [
            head,
            ", Active = ",
            title(self.active),
            ", Assigned = ",
            title(self.assigned),
        ] {
            reason.push_str(part);
        }
        if self.soft_deleted {
            reason.push_str(", SoftDeleted = True");
        }
        match &self.filters {
            FilterResult::None => {}
            FilterResult::Passed { filter } => {
                reason.push_str(", ScopingFilter = True (");
                reason.push_str(filter);
                reason.push(')');
            }
            FilterResult::Failed { reasons } => {
                reason.push_str(", ScopingFilter = False (");
                for (i, r) in reasons.iter().enumerate() {
                    if i > 0 {
                        reason.push_str("; ");
                    }
                    reason.push_str(r);
                }
                reason.push(')');
            }
        }
    }
}

impl Scope {
    /// Compiles the scope settings. Fails only on an invalid regex, which validation has
    /// already reported for configurations that came through [`crate::config::Config`].
    pub fn build(config: &ScopeConfig) -> Result<Scope, regex::Error> {
        let filters = config
            .filters
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let clauses = f
                    .clauses
                    .iter()
                    .map(Clause::build)
                    .collect::<Result<_, _>>()?;
                Ok(Filter {
                    name: f
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("filter {i}"))
                        .into(),
                    clauses,
                })
            })
            .collect::<Result<_, regex::Error>>()?;
        Ok(Scope {
            mode: config.mode,
            assigned_groups: config.assigned_groups.iter().cloned().collect(),
            assigned_users: config.assigned_users.iter().cloned().collect(),
            nested_groups: config.nested_groups,
            filters,
        })
    }

    /// Evaluates every check for one person (all of them, so the log can show each).
    pub fn evaluate(&self, person: &Person) -> ScopeEvaluation {
        ScopeEvaluation {
            active: person.enabled && !person.soft_deleted,
            soft_deleted: person.soft_deleted,
            assigned: self.mode == ScopeMode::All || self.is_assigned(person),
            filters: self.evaluate_filters(person),
        }
    }

    fn is_assigned(&self, person: &Person) -> bool {
        if person.is_assigned() {
            return true;
        }
        if self.assigned_users.contains(&person.id)
            || person
                .attributes
                .get("userPrincipalName")
                .and_then(Value::as_str)
                .is_some_and(|upn| self.assigned_users.contains(upn))
        {
            return true;
        }
        let groups = if self.nested_groups {
            &person.transitive_groups
        } else {
            &person.direct_groups
        };
        groups.iter().any(|g| {
            self.assigned_groups.contains(&g.id) || self.assigned_groups.contains(&g.display_name)
        })
    }

    fn evaluate_filters(&self, person: &Person) -> FilterResult {
        if self.filters.is_empty() {
            return FilterResult::None;
        }
        let mut reasons = Vec::new();
        for filter in &self.filters {
            match filter
                .clauses
                .iter()
                .find(|c| !c.holds(person.attributes.get(c.attribute.as_str())))
            {
                None => {
                    return FilterResult::Passed {
                        filter: filter.name.clone(),
                    };
                }
                Some(clause) => {
                    reasons.push(format!("{}: {} is false", filter.name, clause.describe()))
                }
            }
        }
        FilterResult::Failed { reasons }
    }
}

impl Clause {
    fn build(config: &ClauseConfig) -> Result<Clause, regex::Error> {
        let value = config.value.clone().unwrap_or_default();
        let regex = match config.operator {
            Operator::RegexMatch | Operator::NotRegexMatch => Some(Regex::new(&value)?),
            _ => None,
        };
        Ok(Clause {
            attribute: config.attribute.clone(),
            operator: config.operator,
            integer: value.trim().parse().ok(),
            value,
            regex,
        })
    }

    fn describe(&self) -> String {
        if self.operator.takes_value() {
            format!(
                "{} {} \"{}\"",
                self.attribute,
                self.operator.as_str(),
                self.value
            )
        } else {
            format!("{} {}", self.attribute, self.operator.as_str())
        }
    }

    /// Whether the clause holds for an attribute value (`None` when the person lacks it).
    fn holds(&self, attribute: Option<&Value>) -> bool {
        let value = attribute.unwrap_or(&Value::Null);
        match self.operator {
            Operator::IsPresent => !matches!(value, Value::Null),
            Operator::IsNotPresent => matches!(value, Value::Null),
            Operator::IsNull => value.is_empty(),
            Operator::IsNotNull => !value.is_empty(),
            _ if value.is_empty() => false,
            Operator::IsTrue => as_bool(value) == Some(true),
            Operator::IsFalse => as_bool(value) == Some(false),
            Operator::GreaterThan => as_int(value).zip(self.integer).is_some_and(|(a, b)| a > b),
            Operator::GreaterThanOrEquals => {
                as_int(value).zip(self.integer).is_some_and(|(a, b)| a >= b)
            }
            _ => self.holds_on_text(value),
        }
    }

    fn holds_on_text(&self, value: &Value) -> bool {
        // Multi-valued attributes are not supported in scoping (as in Entra): false.
        let text = match value {
            Value::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Value::Int(i) => std::borrow::Cow::Owned(i.to_string()),
            Value::Bool(b) => std::borrow::Cow::Borrowed(if *b { "True" } else { "False" }),
            Value::Null | Value::TextList(_) => return false,
        };
        match self.operator {
            Operator::Equals => text == self.value,
            Operator::NotEquals => text != self.value,
            Operator::EndsWith => text.ends_with(&self.value),
            Operator::Includes => text.contains(&self.value),
            Operator::RegexMatch => self.regex.as_ref().is_some_and(|r| r.is_match(&text)),
            Operator::NotRegexMatch => self.regex.as_ref().is_some_and(|r| !r.is_match(&text)),
            _ => false,
        }
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Text(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::Text(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
