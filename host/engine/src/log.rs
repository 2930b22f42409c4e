//! The provisioning log, shaped after Entra's `provisioningObjectSummary`
//! (<https://learn.microsoft.com/graph/api/resources/provisioningobjectsummary>) so that admins
//! who know Entra's logs can read muster's: one entry per person per cycle, with its steps, its
//! action and status, and the modified properties (old → new).
//!
//! Entries carry no timestamps: the planner is a pure function and its output is compared with
//! golden files; the runtime stamps entries when it stores them.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Key, SharedStr, Value};

/// One person's outcome in one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// `{cycleId}-{n}`, unique within a cycle.
    pub change_id: String,
    /// Shared by every entry of the cycle.
    pub cycle_id: SharedStr,
    pub source_identity: Identity,
    /// The target resource, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identity: Option<Identity>,
    pub provisioning_action: ProvisioningAction,
    pub provisioning_status_info: StatusInfo,
    pub provisioning_steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified_properties: Vec<ModifiedProperty>,
}

/// What the target answered to a person's planned action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportOutcome<'a> {
    /// Sent and answered; `adopted` when an existing target user matched and was linked
    /// instead of created.
    Done {
        target_id: &'a str,
        adopted: bool,
    },
    Failed {
        code: &'a str,
        message: &'a str,
    },
    /// Not sent: another run wrote the person after this plan was made (an on-demand run during
    /// a cycle), and its outcome stands.
    Superseded,
    /// Not sent: a disable or delete past the gateway's deprovision guard, held for an admin.
    Held,
}

impl LogEntry {
    /// Completes the export step the plan wrote with what the target answered.
    pub fn record_export(&mut self, outcome: ExportOutcome) {
        match outcome {
            ExportOutcome::Done { target_id, adopted } => {
                let identity = self.target_identity.get_or_insert_with(|| Identity {
                    id: String::new(),
                    display_name: None,
                });
                identity.id = target_id.to_string();
                if let Some(step) = self.export_step() {
                    step.details.insert("targetId", target_id.to_string());
                    if adopted {
                        step.details.insert(
                            "adopted",
                            "an existing target user matched and was linked instead of created",
                        );
                    }
                }
            }
            ExportOutcome::Superseded => self.skip_export(
                ProvisioningAction::Other,
                "EntrySynchronizationSkipped",
                "provisioned by another run (on demand) after this plan was made; not sent again",
            ),
            ExportOutcome::Held => self.skip_export(
                ProvisioningAction::StagedDelete,
                "DeletionThresholdExceeded",
                "held: more disables and deletes than [gateway] max_deprovisions within \
                 deprovision_window_secs; POST /admin/outbox/release-deprovisions sends them",
            ),
            ExportOutcome::Failed { code, message } => {
                let info = &mut self.provisioning_status_info;
                info.status = Status::Failure;
                info.error_code = Some(code.to_string());
                info.reason = Some(message.to_string());
                if let Some(step) = self.export_step() {
                    step.status = Status::Failure;
                    step.description = format!("{}: {message}", step.description).into();
                }
            }
        }
    }

    /// The planned action was not sent: the entry says why, as a skip.
    fn skip_export(&mut self, action: ProvisioningAction, code: &str, reason: &'static str) {
        let info = &mut self.provisioning_status_info;
        info.status = Status::Skipped;
        info.error_code = Some(code.to_string());
        info.reason = Some(reason.to_string());
        self.provisioning_action = action;
        if let Some(step) = self.export_step() {
            step.status = Status::Skipped;
            step.description = reason.into();
        }
    }

    fn export_step(&mut self) -> Option<&mut Step> {
        self.provisioning_steps
            .iter_mut()
            .rev()
            .find(|s| s.provisioning_step_type == StepType::Export)
    }
}

/// A source or target object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub id: String,
    /// The matching value or display name, for people reading the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Entra's `provisioningAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningAction {
    Create,
    Update,
    Delete,
    /// A disable or delete held back by the deletion threshold.
    StagedDelete,
    Disable,
    /// Nothing sent: skipped or failed before an action was chosen.
    Other,
}

/// Entra's provisioning status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Warning,
    Failure,
    Skipped,
}

/// The overall status, with the error code and reason when it is not a plain success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfo {
    pub status: Status,
    /// Entra's codes where one fits (`ImportSkipped`, `EntrySynchronizationSkipped`, ...), else
    /// muster's (`PluginFailed`, `PluginSkipped`, `UnknownPlan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Entra's `provisioningStepType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StepType {
    Import,
    Scoping,
    Matching,
    Processing,
    ReferenceResolution,
    Export,
}

/// Text of the log that is often the same for every person (step names, fixed descriptions,
/// detail keys, plugin versions): borrowed when it is a constant, shared when it is the same
/// for a whole cycle (a plugin's step name and version), owned otherwise. Compares and
/// serializes as a string.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl Text {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Owned(s) => s,
        }
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text(Repr::Static(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Repr::Owned(s))
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text(Repr::Shared(s))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// A step's extra facts, by key. Most steps have none or one, so they are a short list kept in
/// key order rather than a `BTreeMap`, whose first insert allocates a node for eleven pairs;
/// and a boxed slice of their exact size rather than a `Vec`, so a step (of which a plan keeps
/// several per person) is eight bytes smaller and a single fact does not reserve room for two.
/// Serializes as a map (`{"version": "…"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details(Box<[(Text, Text)]>);

impl Details {
    /// Sets `key` to `value`; returns the value it replaces. Adding a key reallocates (a step
    /// gets at most two).
    pub fn insert(&mut self, key: impl Into<Text>, value: impl Into<Text>) -> Option<Text> {
        let key = key.into();
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value.into())),
            Err(i) => {
                let mut pairs = std::mem::take(&mut self.0).into_vec();
                pairs.reserve_exact(1);
                pairs.insert(i, (key, value.into()));
                self.0 = pairs.into_boxed_slice();
                None
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Text> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &Text)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// The pairs in one allocation (a step with two facts); of equal keys the last one wins, as
/// with inserting them in order.
impl<const N: usize> From<[(Text, Text); N]> for Details {
    fn from(pairs: [(Text, Text); N]) -> Details {
        Details::from(Vec::from(pairs))
    }
}

/// As the array form, for a number of pairs known only at run time.
impl From<Vec<(Text, Text)>> for Details {
    fn from(mut pairs: Vec<(Text, Text)>) -> Details {
        crate::model::sort_last_wins(&mut pairs);
        Details(pairs.into_boxed_slice())
    }
}

impl Serialize for Details {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        let map = BTreeMap::<Text, Text>::deserialize(d)?;
        Ok(Details(map.into_iter().collect()))
    }
}

/// One step of the pipeline for one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: Text,
    pub provisioning_step_type: StepType,
    pub status: Status,
    pub description: Text,
    /// Extra facts: a plugin's version, its outcome kind.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

impl Step {
    pub fn new(
        step_type: StepType,
        name: impl Into<Text>,
        status: Status,
        description: impl Into<Text>,
    ) -> Step {
        Step {
            name: name.into(),
            provisioning_step_type: step_type,
            status,
            description: description.into(),
            details: Details::default(),
        }
    }

    pub fn with(mut self, key: impl Into<Text>, value: impl Into<Text>) -> Step {
        self.details.insert(key, value);
        self
    }
}

/// A property an action changes, with its old and new values (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifiedProperty {
    /// The SCIM path.
    pub display_name: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<Value>,
}

/// The last text of one kind of per-person description (a scoping reason, an attribute
/// count), shared with the next person whose text is the same: most people of a cycle have the
/// same ones, so each costs a comparison instead of an allocation.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    last: Option<Arc<str>>,
    scratch: String,
}

impl Recent {
    /// The text `write` appends to an empty string, shared with the last one when equal.
    pub(crate) fn text(&mut self, write: impl FnOnce(&mut String)) -> Text {
        self.scratch.clear();
        write(&mut self.scratch);
        if let Some(last) = &self.last
            && **last == *self.scratch
        {
            return Text::from(Arc::clone(last));
        }
        let text: Arc<str> = Arc::from(self.scratch.as_str());
        self.last = Some(Arc::clone(&text));
        Text::from(text)
    }

    /// [`Recent::text`] of `parts` joined.
    pub(crate) fn concat(&mut self, parts: &[&str]) -> Text {
        self.text(|out| parts.iter().for_each(|p| out.push_str(p)))
    }
}

/// `parts` joined into one allocation: per-person log texts are built this way rather than
/// through `format!`, whose machinery costs several times the copying.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// A number in decimal on the stack, for [`concat`].
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut n: usize) -> Decimal {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are written.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_concat_match_format() {
        for n in [0, 7, 10, 99, 100, 12_345, usize::MAX] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
        assert_eq!(concat(&["a", "", "bc", Decimal::new(42).as_str()]), "abc42");
    }

    #[test]
    fn recent_texts_and_details() {
        let mut recent = Recent::default();
        let (a, b) = (recent.concat(&["1", "2"]), recent.concat(&["12"]));
        let c = recent.concat(&["3"]);
        assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("12", "12", "3"));
        assert!(matches!((&a.0, &b.0), (Repr::Shared(x), Repr::Shared(y)) if Arc::ptr_eq(x, y)));
        let step = Step::new(StepType::Processing, "p", Status::Success, "d")
            .with("version", "v1")
            .with("error", "trap")
            .with("version", "v2");
        let json = serde_json::to_value(&step).expect("json");
        assert_eq!(
            json["details"],
            serde_json::json!({"error": "trap", "version": "v2"})
        );
        let back: Step = serde_json::from_value(json).expect("parse");
        assert_eq!(back, step);
        let at_once = Details::from([
            ("version".into(), "v1".into()),
            ("error".into(), "trap".into()),
            ("version".into(), "v2".into()),
        ]);
        assert_eq!(at_once, step.details);
    }
}
