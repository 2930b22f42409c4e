//! The matching stage: which target resource a person is, and by which matching attribute.
//!
//! A person already provisioned is matched by source id through the state store's records.
//! Otherwise the matching attributes are tried by precedence and the first with a value is used
//! (Entra's rule); the apply step looks the target up by it before any create, so a crashed
//! cycle or a pre-existing account never yields a duplicate. A record whose source person is gone
//! and whose matching value a new person now has is adopted (re-linked) rather than deleted and
//! re-created, which is what Entra's lookup by matching attribute amounts to.

use std::borrow::Cow;
// Seeded foldhash: the per-cycle indexes hash a source id or matching value per person.
use foldhash::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::MappingConfig;
use crate::model::{Attributes, Key, ProvisionedRecord, SharedStr, Value};

/// The matching attribute and value used for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchKey {
    /// The target SCIM path, e.g. `userName`.
    pub path: Key,
    /// Shared with the target attribute it was read from.
    pub value: SharedStr,
}

/// How a person was matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Matched<'a> {
    /// The record of this person's source id.
    BySourceId(&'a ProvisionedRecord),
    /// An orphaned record (its source person is gone) with the same matching value.
    Adopted(&'a ProvisionedRecord),
    /// Nobody yet: a create, after a lookup by the key.
    New,
}

/// Why a person cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// Entra's `ImportSkipped`: none of the matching attributes has a value.
    #[error("ImportSkipped: no value for any matching attribute ({0})")]
    ImportSkipped(String),
    /// Entra's `DuplicateSourceEntries`: another source person holds this matching value.
    #[error(
        "DuplicateSourceEntries: {key_path} `{value}` is already provisioned for source person {other}"
    )]
    DuplicateSourceEntries {
        key_path: String,
        value: String,
        other: String,
    },
}

impl MatchError {
    /// The Entra error code.
    pub fn code(&self) -> &'static str {
        match self {
            MatchError::ImportSkipped(_) => "ImportSkipped",
            MatchError::DuplicateSourceEntries { .. } => "DuplicateSourceEntries",
        }
    }
}

/// The first matching attribute (by precedence) with a value in `target`. `matching` must be
/// sorted by precedence ([`crate::config::Config::matching_mappings`]).
pub fn matching_key(
    target: &Attributes,
    matching: &[MappingConfig],
) -> Result<MatchKey, MatchError> {
    for mapping in matching {
        let value = match target.get(&mapping.target) {
            Some(Value::Text(s)) if !s.is_empty() => SharedStr::from(s.clone()),
            Some(Value::Int(i)) => i.to_string().into(),
            _ => continue,
        };
        return Ok(MatchKey {
            path: mapping.target.clone(),
            value,
        });
    }
    let names: Vec<&str> = matching.iter().map(|m| m.target.as_str()).collect();
    Err(MatchError::ImportSkipped(names.join(", ")))
}

/// A record a cycle did not load (a delta cycle loads only the records of the people it
/// plans): enough to know whose its matching value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    pub source_id: String,
    pub matching_value: String,
}

/// The records of a cycle, indexed for matching.
#[derive(Debug)]
pub struct RecordIndex<'a> {
    by_source: HashMap<&'a str, &'a ProvisionedRecord>,
    /// Matching values compare case-insensitively: SCIM `userName` is caseExact false.
    by_value: HashMap<Cow<'a, str>, &'a ProvisionedRecord>,
    /// The matching values of the records not loaded → their source ids.
    taken: HashMap<Cow<'a, str>, &'a str>,
    /// Source ids present in this cycle's source snapshot.
    present: HashSet<&'a str>,
}

impl<'a> RecordIndex<'a> {
    pub fn new(
        records: &'a [ProvisionedRecord],
        unloaded: &'a [RecordKey],
        present: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        RecordIndex {
            by_source: records.iter().map(|r| (r.source_id.as_str(), r)).collect(),
            by_value: records
                .iter()
                .map(|r| (lowercase(&r.matching_value), r))
                .collect(),
            taken: unloaded
                .iter()
                .map(|k| (lowercase(&k.matching_value), k.source_id.as_str()))
                .collect(),
            present: present.into_iter().collect(),
        }
    }

    /// The record of a source id, if any.
    pub fn by_source(&self, source_id: &str) -> Option<&'a ProvisionedRecord> {
        self.by_source.get(source_id).copied()
    }

    /// Whether a source id is in this cycle's source snapshot.
    pub fn is_present(&self, source_id: &str) -> bool {
        self.present.contains(source_id)
    }

    /// Matches a person with no record by source id against the others' matching values.
    pub fn match_new(&self, key: &MatchKey) -> Result<Matched<'a>, MatchError> {
        let value = lowercase(&key.value);
        match self.by_value.get(value.as_ref()) {
            // A record not loaded is a present person's (a delta cycle loads every record
            // whose person is gone), so its value is taken.
            None => match self.taken.get(value.as_ref()) {
                None => Ok(Matched::New),
                Some(other) => Err(MatchError::DuplicateSourceEntries {
                    key_path: key.path.to_string(),
                    value: key.value.to_string(),
                    other: (*other).to_string(),
                }),
            },
            Some(record) if !self.present.contains(record.source_id.as_str()) => {
                Ok(Matched::Adopted(record))
            }
            Some(record) => Err(MatchError::DuplicateSourceEntries {
                key_path: key.path.to_string(),
                value: key.value.to_string(),
                other: record.source_id.clone(),
            }),
        }
    }

    /// Matches a person: by source id first, then by matching value.
    pub fn find(&self, source_id: &str, key: &MatchKey) -> Result<Matched<'a>, MatchError> {
        match self.by_source(source_id) {
            Some(record) => Ok(Matched::BySourceId(record)),
            None => self.match_new(key),
        }
    }
}

/// `value.to_lowercase()`, borrowed when that changes nothing (the usual all-lowercase ASCII
/// matching value).
pub fn lowercase(value: &str) -> Cow<'_, str> {
    if value
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApplyMode;

    fn matching(target: &str) -> MappingConfig {
        MappingConfig {
            target: target.into(),
            source: Some("x".into()),
            constant: None,
            default: None,
            apply: ApplyMode::Always,
            matching_precedence: Some(1),
        }
    }

    fn record(source: &str, value: &str) -> ProvisionedRecord {
        ProvisionedRecord {
            source_id: source.into(),
            target_id: format!("t-{source}"),
            matching_value: value.into(),
            last_applied: Attributes::new(),
            license: None,
            plugin_versions: Default::default(),
            disabled: false,
        }
    }

    #[test]
    fn precedence() {
        let keys = [matching("userName"), matching("externalId")];
        let attrs = |pairs: &[(&str, Value)]| -> Attributes {
            pairs
                .iter()
                .map(|(k, v)| (Key::from(*k), v.clone()))
                .collect()
        };
        // (attributes, expected key or error code)
        type Case = (
            Attributes,
            Result<(&'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                attrs(&[("userName", Value::Text("a@x".into()))]),
                Ok(("userName", "a@x")),
            ),
            (
                attrs(&[
                    ("userName", Value::Text("".into())),
                    ("externalId", Value::Int(7)),
                ]),
                Ok(("externalId", "7")),
            ),
            (
                attrs(&[
                    ("userName", Value::Text("a@x".into())),
                    ("externalId", Value::Text("e".into())),
                ]),
                Ok(("userName", "a@x")),
            ),
            (
                attrs(&[("displayName", Value::Text("A".into()))]),
                Err("ImportSkipped"),
            ),
            (
                attrs(&[("userName", Value::Bool(true))]),
                Err("ImportSkipped"),
            ),
        ];
        for (i, (attributes, expected)) in cases.into_iter().enumerate() {
            let got = matching_key(&attributes, &keys);
            match expected {
                Ok((path, value)) => assert_eq!(
                    got,
                    Ok(MatchKey {
                        path: path.into(),
                        value: value.into()
                    }),
                    "case {i}"
                ),
                Err(code) => assert_eq!(got.map_err(|e| e.code()), Err(code), "case {i}"),
            }
        }
    }

    #[test]
    fn lowercase_borrows_only_when_nothing_changes() {
        for (value, lower, borrowed) in [
            ("a@x.com", "a@x.com", true),
            ("A@x.com", "a@x.com", false),
            ("ÄB@x.com", "äb@x.com", false),
            ("ǅ@x.com", "ǆ@x.com", false),
            ("ä@x.com", "ä@x.com", false),
        ] {
            let got = lowercase(value);
            assert_eq!(got, value.to_lowercase(), "{value}");
            assert_eq!(got, lower, "{value}");
            assert_eq!(matches!(got, Cow::Borrowed(_)), borrowed, "{value}");
        }
    }

    #[test]
    fn records() {
        let records = [record("p1", "a@x.com"), record("gone", "b@x.com")];
        let unloaded = [RecordKey {
            source_id: "p4".into(),
            matching_value: "D@x.com".into(),
        }];
        let index = RecordIndex::new(&records, &unloaded, ["p1", "p2", "p3", "p4"]);
        let key = |v: &str| MatchKey {
            path: "userName".into(),
            value: v.into(),
        };
        // (source id, key value, expected)
        let cases = [
            ("p1", "renamed@x.com", "by-source:p1"),
            ("p2", "B@X.com", "adopted:gone"),
            ("p3", "new@x.com", "new"),
            ("p3", "A@x.com", "DuplicateSourceEntries"),
            ("p3", "a@X.COM", "DuplicateSourceEntries"),
            ("p3", "d@x.com", "DuplicateSourceEntries"),
        ];
        for (source, value, expected) in cases {
            let got = match index.find(source, &key(value)) {
                Ok(Matched::BySourceId(r)) => format!("by-source:{}", r.source_id),
                Ok(Matched::Adopted(r)) => format!("adopted:{}", r.source_id),
                Ok(Matched::New) => "new".into(),
                Err(e) => e.code().into(),
            };
            assert_eq!(got, expected, "{source} {value}");
        }
    }
}
