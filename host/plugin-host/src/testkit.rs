//! The language-neutral test kit: a cases file (person + config → expected decision, outcome or
//! error kind) run against any build of a plugin with production limits, so the Rust, Python
//! and JavaScript builds of one rule are held to the same answers. `muster plugin test` prints
//! the results; the format is documented in `plugins/README.md`.
//!
//! ```json
//! {"config": {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"}]},
//!  "cases": [
//!    {"name": "plan from a group",
//!     "person": {"id": "u-1", "direct_groups": [{"id": "g-1", "display_name": "Zoom-Licensed"}]},
//!     "expect": {"decision": {"kind": "assign", "license": {"plan": "licensed", "add_ons": []}}}},
//!    {"name": "bad config", "config": {"rules": 3},
//!     "expect": {"error": {"kind": "guest-error", "code": "invalid-config"}}}]}
//! ```
//!
//! An expectation is a pattern: an object matches when every key it gives matches (so a case can
//! leave out a reason it does not care about); arrays, strings, numbers match exactly.

use engine::model::{Attributes, GroupRef, License, Manager};
use engine::plugin::{PluginError, PluginInput};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::plugin::{Plugin, World};

/// A whole cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// The world every case is for; checked against the plugin when given.
    #[serde(default)]
    pub world: Option<World>,
    /// The configuration used by cases that give none (a JSON value, sent as its text).
    #[serde(default = "empty_object")]
    pub config: Json,
    pub cases: Vec<Case>,
}

/// One person, one configuration, one expected answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub person: CasePerson,
    /// License rules only: what the target holds now.
    #[serde(default)]
    pub current_license: Option<License>,
    /// Overrides the file's `config`.
    #[serde(default)]
    pub config: Option<Json>,
    /// Overrides both, sent verbatim (to test configurations that are not even JSON).
    #[serde(default)]
    pub config_text: Option<String>,
    pub expect: Expect,
}

/// The WIT `person`, every field optional. `transitive_groups` defaults to `direct_groups`
/// (the pipeline's transitive groups include the direct ones); a transitive group the person
/// is in only through nesting names the direct group it came through in `via`. A 0.2.0 plugin
/// is sent the transitive list once, a group being direct where it has no `via`; `app_roles`
/// and `manager` reach 0.2.0 plugins only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePerson {
    #[serde(default = "default_id")]
    pub id: String,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub direct_groups: Vec<GroupRef>,
    #[serde(default)]
    pub transitive_groups: Option<Vec<GroupRef>>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    #[serde(default)]
    pub manager: Option<Manager>,
    #[serde(default)]
    pub target: Attributes,
}

/// Exactly one of: a license decision, a transform outcome, or an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Expect {
    /// A pattern of `{"kind": "assign", "license": {"plan", "add_ons"}, "reason"}` or
    /// `{"kind": "no-change", "reason"}`.
    Decision(Json),
    /// A pattern of `{"kind": "changes", "set": [[path, value], ...], "remove": [...]}` or
    /// `{"kind": "skip", "reason"}`.
    Outcome(Json),
    /// The call fails with this error kind.
    Error(ExpectedError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// `guest-error`, `trap`, `deadline`, `out-of-fuel`, `memory-limit`, `output-too-large`.
    pub kind: String,
    /// For `guest-error`: the plugin's own error code, e.g. `invalid-config`.
    #[serde(default)]
    pub code: Option<String>,
    /// For `guest-error`: text its message must contain, e.g. the key it names.
    #[serde(default)]
    pub message_contains: Option<String>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub name: String,
    /// `None` when the case passed; otherwise what differed.
    pub failure: Option<String>,
}

fn empty_object() -> Json {
    Json::Object(Default::default())
}

fn default_id() -> String {
    "person-1".into()
}

impl CasePerson {
    pub fn to_input(&self) -> PluginInput {
        PluginInput {
            id: self.id.clone(),
            attributes: self.attributes.clone(),
            direct_groups: self.direct_groups.clone(),
            transitive_groups: self
                .transitive_groups
                .clone()
                .unwrap_or_else(|| self.direct_groups.clone()),
            app_roles: self.app_roles.clone(),
            manager: self.manager.clone(),
            target: self.target.clone(),
        }
    }
}

impl CasesFile {
    pub fn parse(text: &str) -> Result<CasesFile, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("at {}: {}", e.path(), e.inner()))
    }
}

/// Runs every case in order through one pinned handle, as a cycle would call the plugin (an
/// instance may serve several cases, exactly as it would serve several people).
pub fn run(plugin: &Plugin, file: &CasesFile) -> Result<Vec<CaseResult>, String> {
    if let Some(world) = file.world
        && world != plugin.world()
    {
        return Err(format!(
            "the cases are for a {world} plugin; this is a {} plugin",
            plugin.world()
        ));
    }
    let pinned = plugin.pinned();
    Ok(file
        .cases
        .iter()
        .map(|case| CaseResult {
            name: case.name.clone(),
            failure: run_case(&pinned, file, case).err(),
        })
        .collect())
}

fn run_case(plugin: &Plugin, file: &CasesFile, case: &Case) -> Result<(), String> {
    let config = match (&case.config_text, &case.config) {
        (Some(text), _) => text.clone(),
        (None, Some(config)) => config.to_string(),
        (None, None) => file.config.to_string(),
    };
    let person = case.person.to_input();
    let (answer, expected_key): (Result<Json, PluginError>, &str) = match plugin.world() {
        World::LicenseRule => (
            plugin
                .decide_with_stats(&person, case.current_license.as_ref(), &config)
                .0
                .map(|d| serde_json::to_value(d).unwrap_or(Json::Null)),
            "decision",
        ),
        World::Transformer => (
            plugin
                .transform_with_stats(&person, &config)
                .0
                .map(|o| serde_json::to_value(o).unwrap_or(Json::Null)),
            "outcome",
        ),
    };
    match (&case.expect, answer) {
        (Expect::Decision(pattern), Ok(actual)) | (Expect::Outcome(pattern), Ok(actual)) => {
            let wanted = match &case.expect {
                Expect::Decision(_) => "decision",
                _ => "outcome",
            };
            if wanted != expected_key {
                return Err(format!(
                    "expects a {wanted}, but a {} plugin returns a {expected_key}",
                    plugin.world()
                ));
            }
            match mismatch(pattern, &actual, "") {
                None => Ok(()),
                Some(at) => Err(format!("{at}; expected {pattern}, got {actual}")),
            }
        }
        (Expect::Error(e), Ok(actual)) => Err(format!("expected error {}, got {actual}", e.kind)),
        (Expect::Error(expected), Err(error)) => {
            if error.kind() != expected.kind {
                return Err(format!("expected error {}, got {error}", expected.kind));
            }
            if let (Some(code), PluginError::Guest { code: actual, .. }) = (&expected.code, &error)
                && code != actual
            {
                return Err(format!("expected error code {code}, got {error}"));
            }
            match (&expected.message_contains, &error) {
                (Some(text), PluginError::Guest { message, .. }) if !message.contains(text) => Err(
                    format!("expected an error message containing {text:?}, got {error}"),
                ),
                _ => Ok(()),
            }
        }
        (_, Err(error)) => Err(format!("expected a {expected_key}, got error: {error}")),
    }
}

/// Where `actual` departs from `pattern`, if anywhere: objects match on the keys the pattern
/// gives, everything else exactly.
fn mismatch(pattern: &Json, actual: &Json, at: &str) -> Option<String> {
    match (pattern, actual) {
        (Json::Object(want), Json::Object(have)) => want.iter().find_map(|(k, v)| {
            let here = format!("{at}/{k}");
            match have.get(k) {
                Some(a) => mismatch(v, a, &here),
                None => Some(format!("{here} missing")),
            }
        }),
        (Json::Array(want), Json::Array(have)) => {
            if want.len() != have.len() {
                return Some(format!(
                    "{at}: {} items expected, {} returned",
                    want.len(),
                    have.len()
                ));
            }
            want.iter()
                .zip(have)
                .enumerate()
                .find_map(|(i, (w, h))| mismatch(w, h, &format!("{at}/{i}")))
        }
        _ if pattern == actual => None,
        _ => Some(format!(
            "{} differs",
            if at.is_empty() { "the answer" } else { at }
        )),
    }
}
