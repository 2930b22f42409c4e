//! What makes a plugin step of the provisioning log reproducible: the exact input the plugin
//! was shown and its configuration document, kept as content-addressed blobs, and a hash of
//! what it answered.
//!
//! Every form here is canonical: the same input always serializes to the same bytes
//! ([`Attributes`](crate::model::Attributes) iterate in name order, groups keep the source's
//! order), so equal inputs get equal hashes and a blob is stored once however many steps share
//! it. A replay decodes the blobs, calls the plugin again and hashes its answer the same way:
//! the recorded version must give the recorded output hash, bit for bit.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::License;
use crate::plugin::{LicenseDecision, PluginError, PluginInput, TransformOutcome};

/// The step detail holding the hash of the input blob.
pub const INPUT_HASH: &str = "inputHash";
/// The step detail holding the hash of the configuration blob.
pub const CONFIG_HASH: &str = "configHash";
/// The step detail holding the hash of the plugin's canonical output ([`Output::encode`]).
pub const OUTPUT_HASH: &str = "outputHash";

/// Hex digits of a content hash: the first 128 bits of its sha256. Blobs are addressed by it,
/// so it must not collide among the millions a state file can hold (a 50 % chance of one
/// collision takes about 2^64 blobs).
pub const HASH_HEX_LEN: usize = 32;

/// The content hash of `bytes` ([`HASH_HEX_LEN`] hex digits of its sha256).
pub fn content_hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(HASH_HEX_LEN);
    for b in &digest[..HASH_HEX_LEN / 2] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// A blob of the replay store: an input or a configuration document, by content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub hash: Arc<str>,
    pub data: Arc<[u8]>,
}

impl Blob {
    pub fn new(data: impl Into<Arc<[u8]>>) -> Blob {
        let data = data.into();
        Blob {
            hash: Arc::from(content_hash(&data)),
            data,
        }
    }
}

/// What a plugin was shown, as recorded: the person as the plugin saw it (after its declared
/// inputs narrowed it) and, for a license rule, the license the target held.
#[derive(Debug, Serialize)]
pub struct ShownRef<'a> {
    pub person: &'a PluginInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<&'a License>,
}

impl ShownRef<'_> {
    /// The canonical bytes (JSON), appended to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        // Serializing plain data into memory cannot fail: no I/O, and every map key is a string.
        let _ = serde_json::to_writer(out, self);
    }
}

/// A recorded input, decoded for a replay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shown {
    pub person: PluginInput,
    #[serde(default)]
    pub current: Option<License>,
}

/// An input blob that does not decode: written by another muster, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("the recorded input does not decode: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl Shown {
    pub fn decode(bytes: &[u8]) -> Result<Shown, DecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn as_ref(&self) -> ShownRef<'_> {
        ShownRef {
            person: &self.person,
            current: self.current.as_ref(),
        }
    }
}

/// What a plugin answered, in the canonical form whose hash the log keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Transform(Result<TransformOutcome, PluginError>),
    License(Result<LicenseDecision, PluginError>),
}

/// The canonical form of an answer. An error keeps its kind and what the plugin or the limit
/// said, not the plugin's name and version: those name the component, not its answer, and a
/// replay with another version compares answers.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum Canonical<'a, T> {
    Ok(&'a T),
    Error(ErrorForm<'a>),
}

#[derive(Serialize)]
struct ErrorForm<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    message: std::borrow::Cow<'a, str>,
}

/// A license decision's structured reason, where the plugin gave one.
fn push_why(facts: &mut Vec<(String, String)>, rule: &str, because: &[String]) {
    if !rule.is_empty() {
        facts.push(("rule".into(), rule.to_string()));
    }
    if !because.is_empty() {
        facts.push(("because".into(), because.join("; ")));
    }
}

fn error_form(e: &PluginError) -> ErrorForm<'_> {
    use std::borrow::Cow;
    let (code, message) = match e {
        PluginError::Guest { code, message, .. } => (Some(code.as_str()), Cow::from(message)),
        PluginError::Trap { message, .. } => (None, Cow::from(message)),
        PluginError::InvalidComponent { message, .. } => (None, Cow::from(message)),
        PluginError::Deadline { limit_ms, .. } => {
            (None, Cow::from(format!("time limit of {limit_ms} ms")))
        }
        PluginError::OutOfFuel { limit, .. } => (None, Cow::from(format!("fuel limit {limit}"))),
        PluginError::MemoryLimit { limit_bytes, .. } => (
            None,
            Cow::from(format!("memory limit of {limit_bytes} bytes")),
        ),
        PluginError::OutputTooLarge { limit_bytes, .. } => (
            None,
            Cow::from(format!("output limit of {limit_bytes} bytes")),
        ),
    };
    ErrorForm {
        kind: e.kind(),
        code,
        message,
    }
}

fn encode_result<T: Serialize>(result: &Result<T, PluginError>, out: &mut Vec<u8>) {
    let canonical = match result {
        Ok(value) => Canonical::Ok(value),
        Err(e) => Canonical::Error(error_form(e)),
    };
    // As in `ShownRef::encode_into`: writing plain data into memory cannot fail.
    let _ = serde_json::to_writer(out, &canonical);
}

/// A transform's answer in canonical form, appended to `out`.
pub fn encode_transform(result: &Result<TransformOutcome, PluginError>, out: &mut Vec<u8>) {
    encode_result(result, out);
}

/// A license rule's answer in canonical form, appended to `out`.
pub fn encode_license(result: &Result<LicenseDecision, PluginError>, out: &mut Vec<u8>) {
    encode_result(result, out);
}

impl Output {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Output::Transform(r) => encode_transform(r, &mut out),
            Output::License(r) => encode_license(r, &mut out),
        }
        out
    }

    /// [`content_hash`] of [`Output::encode`]: what the step's `outputHash` says.
    pub fn hash(&self) -> String {
        content_hash(&self.encode())
    }

    /// The canonical form as JSON, for reports.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.encode()).unwrap_or_default()
    }

    /// The answer as facts a person compares (`license` → `pro+phone`, `set title` → `"Rep"`),
    /// in order: two answers differ where their facts do.
    pub fn facts(&self) -> Vec<(String, String)> {
        let mut facts = Vec::new();
        let error = match self {
            Output::Transform(Ok(TransformOutcome::Changes { set, remove })) => {
                facts.push(("outcome".into(), "changes".into()));
                for (path, value) in set {
                    facts.push((format!("set {path}"), value.to_json().to_string()));
                }
                for path in remove {
                    facts.push((format!("remove {path}"), "removed".into()));
                }
                None
            }
            Output::Transform(Ok(TransformOutcome::Skip { reason })) => {
                facts.push(("outcome".into(), "skip".into()));
                facts.push(("reason".into(), reason.clone()));
                None
            }
            Output::License(Ok(LicenseDecision::Assign {
                license,
                reason,
                rule,
                because,
            })) => {
                facts.push(("decision".into(), "assign".into()));
                facts.push(("license".into(), crate::plugin_stage::describe(license)));
                facts.push(("reason".into(), reason.clone()));
                push_why(&mut facts, rule, because);
                None
            }
            Output::License(Ok(LicenseDecision::NoChange {
                reason,
                rule,
                because,
            })) => {
                facts.push(("decision".into(), "no-change".into()));
                facts.push(("reason".into(), reason.clone()));
                push_why(&mut facts, rule, because);
                None
            }
            Output::Transform(Err(e)) | Output::License(Err(e)) => Some(e),
        };
        if let Some(e) = error {
            let form = error_form(e);
            facts.push(("error".into(), form.kind.to_string()));
            if let Some(code) = form.code {
                facts.push(("error code".into(), code.to_string()));
            }
            facts.push(("error message".into(), form.message.into_owned()));
        }
        facts
    }

    /// Where `other` answers differently: `(fact, this answer's, other's)`, `None` where one
    /// of them has no such fact.
    pub fn differences(&self, other: &Output) -> Vec<Difference> {
        let (mine, theirs) = (self.facts(), other.facts());
        let find = |facts: &[(String, String)], key: &str| {
            facts.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        let mut keys: Vec<&String> = mine.iter().map(|(k, _)| k).collect();
        keys.extend(
            theirs
                .iter()
                .map(|(k, _)| k)
                .filter(|k| find(&mine, k).is_none()),
        );
        keys.into_iter()
            .filter_map(|key| {
                let (before, after) = (find(&mine, key), find(&theirs, key));
                (before != after).then(|| Difference {
                    fact: key.clone(),
                    before,
                    after,
                })
            })
            .collect()
    }
}

/// One fact on which two answers differ ([`Output::differences`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub fact: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(
            f,
            "{}: {} → {}",
            self.fact,
            side(&self.before),
            side(&self.after)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::plugin::PluginId;

    #[test]
    fn hashes_are_short_hex_and_stable() {
        let h = content_hash(b"abc");
        assert_eq!(h.len(), HASH_HEX_LEN);
        // sha256("abc") begins ba7816bf8f01cfea414140de5dae2223.
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223");
    }

    #[test]
    fn an_input_round_trips_to_the_same_bytes() {
        let mut person = PluginInput {
            id: "p1".into(),
            ..PluginInput::default()
        };
        person
            .attributes
            .insert("department".into(), Value::Text("Sales".into()));
        person.target.insert(
            "emails".into(),
            Value::TextList(["a".into(), "b".into()].into()),
        );
        person.target.insert("active".into(), Value::Bool(true));
        person.target.insert("n".into(), Value::Int(-3));
        person.target.insert("none".into(), Value::Null);
        let current = License::new("pro", ["phone"]);
        let mut bytes = Vec::new();
        ShownRef {
            person: &person,
            current: Some(&current),
        }
        .encode_into(&mut bytes);
        let back = Shown::decode(&bytes).expect("decodes");
        assert_eq!(back.person, person);
        assert_eq!(back.current.as_ref(), Some(&current));
        let mut again = Vec::new();
        back.as_ref().encode_into(&mut again);
        assert_eq!(again, bytes);
    }

    #[test]
    fn differences_name_the_facts_that_changed() {
        let assign = |plan: &str, add_ons: &[&str]| {
            Output::License(Ok(LicenseDecision::Assign {
                license: License::new(plan, add_ons.iter().copied()),
                reason: "groups".into(),
                rule: String::new(),
                because: Vec::new(),
            }))
        };
        let before = assign("pro", &["phone"]);
        let after = assign("pro", &[]);
        let diff: Vec<String> = before
            .differences(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(diff, ["license: pro+phone → pro"]);
        assert!(before.differences(&before).is_empty());
        let failed = Output::License(Err(PluginError::Guest {
            plugin: PluginId {
                name: "r".into(),
                version: "2".into(),
            },
            code: "invalid-config".into(),
            message: "no rules".into(),
        }));
        let diff: Vec<String> = before
            .differences(&failed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            diff.contains(&"error: (none) → guest-error".to_string()),
            "{diff:?}"
        );
        assert!(
            diff.contains(&"license: pro+phone → (none)".to_string()),
            "{diff:?}"
        );
        // The canonical form leaves the plugin's name and version out of an error.
        let text = String::from_utf8(failed.encode()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"error":{"kind":"guest-error","code":"invalid-config","message":"no rules"}}"#
        );
    }
}
