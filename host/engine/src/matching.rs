//! The matching stage: which target resource a person is, and by which matching attribute.
//!
//! A person already provisioned is matched by source id through the state store's records.
//! Otherwise the matching attributes are tried by precedence and the first with a value is used
//! (Entra's rule); the apply step looks the target up by it before any create, so a crashed
//! cycle or a pre-existing account never yields a duplicate. A record whose source person is gone
//! and whose matching value a new person now has is adopted (re-linked) rather than deleted and
//! re-created, which is what Entra's lookup by matching attribute amounts to.

use std::borrow::Cow;
use std::sync::Arc;
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
#[derive(Debug, Clone, PartialEq)]
pub enum Matched<'a> {
    /// The record of this person's source id.
    BySourceId(RecordRef<'a>),
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

/// A record the planner holds: one the cycle loaded before planning, or one of the batch of
/// people being planned ([`RecordIndex::load_batch`]), dropped with the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordRef<'a> {
    Loaded(&'a ProvisionedRecord),
    Batch(Arc<ProvisionedRecord>),
}

impl std::ops::Deref for RecordRef<'_> {
    type Target = ProvisionedRecord;

    fn deref(&self) -> &ProvisionedRecord {
        match self {
            RecordRef::Loaded(record) => record,
            RecordRef::Batch(record) => record,
        }
    }
}

/// The records of a cycle, indexed for matching.
#[derive(Debug)]
pub struct RecordIndex<'a> {
    by_source: HashMap<&'a str, &'a ProvisionedRecord>,
    /// The records of the batch being planned, which the cycle did not load up front (their
    /// matching values are in `taken`).
    batch: HashMap<String, Arc<ProvisionedRecord>>,
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
        let present: HashSet<&'a str> = present.into_iter().collect();
        // Where records share a matching value, a present person's wins over an orphan's (the
        // value is theirs, not free to adopt), and the first source id in order among equals:
        // the match does not depend on the order records are read in.
        fn rank<'r>(present: &HashSet<&str>, r: &'r ProvisionedRecord) -> (bool, &'r str) {
            (
                !present.contains(r.source_id.as_str()),
                r.source_id.as_str(),
            )
        }
        let mut by_value: HashMap<Cow<'a, str>, &'a ProvisionedRecord> = HashMap::default();
        for record in records {
            by_value
                .entry(lowercase(&record.matching_value))
                .and_modify(|held| {
                    if rank(&present, record) < rank(&present, held) {
                        *held = record;
                    }
                })
                .or_insert(record);
        }
        let mut taken: HashMap<Cow<'a, str>, &'a str> = HashMap::default();
        for key in unloaded {
            taken
                .entry(lowercase(&key.matching_value))
                .and_modify(|held| *held = (*held).min(key.source_id.as_str()))
                .or_insert(key.source_id.as_str());
        }
        RecordIndex {
            by_source: records.iter().map(|r| (r.source_id.as_str(), r)).collect(),
            by_value,
            taken,
            present,
            batch: HashMap::default(),
        }
    }

    /// Replaces the batch's records with `records`: records of present people among those
    /// not loaded (`unloaded`), so that a cycle holds one batch of them at a time. A record
    /// of someone gone stays with the loaded ones: a new person may adopt it in any batch.
    pub fn load_batch(&mut self, records: Vec<ProvisionedRecord>) {
        self.batch.clear();
        self.batch.extend(
            records
                .into_iter()
                .map(|r| (r.source_id.clone(), Arc::new(r))),
        );
    }

    /// The record of a source id, if any.
    pub fn by_source(&self, source_id: &str) -> Option<RecordRef<'a>> {
        match self.by_source.get(source_id) {
            Some(record) => Some(RecordRef::Loaded(record)),
            None => self.batch.get(source_id).cloned().map(RecordRef::Batch),
        }
    }

    /// Whether a source id is in this cycle's source snapshot.
    pub fn is_present(&self, source_id: &str) -> bool {
        self.present.contains(source_id)
    }

    /// Matches a person with no record by source id against the others' matching values: a
    /// value a present person's record holds is taken (the first such source id is named);
    /// otherwise an orphan's record with it is adopted.
    pub fn match_new(&self, key: &MatchKey) -> Result<Matched<'a>, MatchError> {
        let value = lowercase(&key.value);
        let loaded = self.by_value.get(value.as_ref()).copied();
        // A record not loaded is a present person's (a cycle loads every record whose person
        // is gone up front), so its value is taken.
        let holder = [
            loaded
                .map(|r| r.source_id.as_str())
                .filter(|id| self.present.contains(id)),
            self.taken.get(value.as_ref()).copied(),
        ]
        .into_iter()
        .flatten()
        .min();
        match (holder, loaded) {
            (Some(other), _) => Err(MatchError::DuplicateSourceEntries {
                key_path: key.path.to_string(),
                value: key.value.to_string(),
                other: other.to_string(),
            }),
            (None, Some(orphan)) => Ok(Matched::Adopted(orphan)),
            (None, None) => Ok(Matched::New),
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
        // An orphan and a present person share e@x.com, in either order.
        let records = [
            record("gone-e", "e@x.com"),
            record("p1", "a@x.com"),
            record("gone", "b@x.com"),
            record("p5", "E@x.com"),
            record("p6", "f@x.com"),
            record("gone-f", "f@x.com"),
        ];
        let unloaded = [RecordKey {
            source_id: "p4".into(),
            matching_value: "D@x.com".into(),
        }];
        let mut index = RecordIndex::new(&records, &unloaded, ["p1", "p2", "p3", "p4", "p5", "p6"]);
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
            ("p3", "e@x.com", "DuplicateSourceEntries"),
            ("p3", "F@x.com", "DuplicateSourceEntries"),
            // Not loaded: matched by its value only.
            ("p4", "renamed@x.com", "new"),
        ];
        let check = |index: &RecordIndex, cases: &[(&str, &str, &str)]| {
            for &(source, value, expected) in cases {
                let got = match index.find(source, &key(value)) {
                    Ok(Matched::BySourceId(r)) => format!("by-source:{}", r.source_id),
                    Ok(Matched::Adopted(r)) => format!("adopted:{}", r.source_id),
                    Ok(Matched::New) => "new".into(),
                    Err(e) => e.code().into(),
                };
                assert_eq!(got, expected, "{source} {value}");
            }
        };
        check(&index, &cases);
        // Loaded with its batch, p4's record matches by source id, and goes with the next
        // batch.
        index.load_batch(vec![record("p4", "d@x.com")]);
        check(
            &index,
            &[
                ("p4", "renamed@x.com", "by-source:p4"),
                ("p3", "d@x.com", "DuplicateSourceEntries"),
            ],
        );
        index.load_batch(Vec::new());
        check(&index, &[("p4", "renamed@x.com", "new")]);
    }
}
