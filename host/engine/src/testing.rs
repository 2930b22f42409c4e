//! Native stand-ins of the example plugins (`plugins/license-by-group`,
//! `plugins/normalize-attributes`), for tests and benchmarks that must not need wasmtime. They
//! follow the same configuration and behaviour as the guests, so the guests' test cases can be
//! checked against them.

use std::sync::{Arc, Mutex};

use serde::Deserialize;

mod synthetic;

pub use synthetic::{native_plugins, records_after, synthetic_directory};

use crate::model::{License, Value};
use crate::plugin::{
    LicenseDecision, LicenseRule, PluginError, PluginId, PluginInput, Transform, TransformOutcome,
};

/// The enterprise extension's department.
pub const DEPARTMENT: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
const WORK_EMAIL: &str = "emails[type eq \"work\"].value";
const PHONES: [&str; 2] = [
    "phoneNumbers[type eq \"work\"].value",
    "phoneNumbers[type eq \"mobile\"].value",
];

/// Parses a plugin's JSON configuration once and keeps it while it does not change: the trait
/// hands the configuration to every call, and parsing it per person would dominate benchmarks.
struct ConfigCache<T>(Mutex<Option<(String, Arc<T>)>>);

impl<T: for<'de> Deserialize<'de>> ConfigCache<T> {
    fn new() -> Self {
        ConfigCache(Mutex::new(None))
    }

    /// The parsed configuration; `plugin` names the plugin in the error, when there is one.
    fn get(&self, json: &str, plugin: impl FnOnce() -> PluginId) -> Result<Arc<T>, PluginError> {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((text, parsed)) = guard.as_ref()
            && text == json
        {
            return Ok(Arc::clone(parsed));
        }
        let parsed: Arc<T> =
            Arc::new(serde_json::from_str(json).map_err(|e| PluginError::Guest {
                plugin: plugin(),
                code: "invalid-config".into(),
                message: e.to_string(),
            })?);
        *guard = Some((json.to_string(), Arc::clone(&parsed)));
        Ok(parsed)
    }
}

/// `license-by-group`: group display names → a plan (first matching rule wins) and add-ons (all
/// matching rules add up), else the default plan.
pub struct LicenseByGroup {
    cache: ConfigCache<LicenseConfig>,
}

#[derive(Debug, Deserialize)]
struct LicenseConfig {
    rules: Vec<LicenseRuleEntry>,
    #[serde(default)]
    default_plan: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LicenseRuleEntry {
    group: String,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    add_on: Option<String>,
}

impl Default for LicenseByGroup {
    fn default() -> Self {
        LicenseByGroup {
            cache: ConfigCache::new(),
        }
    }
}

impl LicenseRule for LicenseByGroup {
    fn id(&self) -> PluginId {
        PluginId {
            name: "license-by-group".into(),
            version: "native-1".into(),
        }
    }

    fn decide(
        &self,
        person: &PluginInput,
        _current: Option<&License>,
        config: &str,
    ) -> Result<LicenseDecision, PluginError> {
        let config = self.cache.get(config, || self.id())?;
        let member = |group: &str| {
            person
                .transitive_groups
                .iter()
                .any(|g| g.display_name == group)
        };
        // The reasons, `; `-separated, in one string.
        let mut reasons = String::new();
        let mut reason = |parts: &[&str]| {
            if !reasons.is_empty() {
                reasons.push_str("; ");
            }
            parts.iter().for_each(|p| reasons.push_str(p));
        };
        let mut plan = None;
        let mut add_ons = Vec::new();
        for rule in config.rules.iter().filter(|r| member(&r.group)) {
            if let (Some(p), None) = (&rule.plan, &plan) {
                plan = Some(p.clone());
                reason(&["member of ", &rule.group, " → ", p]);
            }
            if let Some(a) = &rule.add_on {
                add_ons.push(a.clone());
                reason(&["member of ", &rule.group, " → +", a]);
            }
        }
        let (plan, reasons) = match (plan, &config.default_plan) {
            (Some(p), _) => (p, reasons),
            (None, Some(default)) => {
                let mut first = format!("no plan rule matched → default {default}");
                if !reasons.is_empty() {
                    first.push_str("; ");
                    first.push_str(&reasons);
                }
                (default.clone(), first)
            }
            (None, None) => {
                return Ok(LicenseDecision::NoChange {
                    reason: "no rule matched".into(),
                    rule: String::new(),
                    because: Vec::new(),
                });
            }
        };
        Ok(LicenseDecision::Assign {
            license: License::new(plan, add_ons),
            reason: reasons,
            rule: String::new(),
            because: Vec::new(),
        })
    }
}

/// `normalize-attributes`: trims and title-cases names, writes phone numbers in E.164 with a
/// default country code, derives `displayName` when missing, takes the department from a group
/// named with a prefix (`Dept-Sales`) when the source has none, and skips people without a
/// usable email.
pub struct NormalizeAttributes {
    cache: ConfigCache<NormalizeConfig>,
}

#[derive(Debug, Deserialize)]
struct NormalizeConfig {
    #[serde(default = "default_country")]
    default_country_code: String,
    #[serde(default)]
    department_group_prefix: Option<String>,
}

fn default_country() -> String {
    "1".into()
}

impl Default for NormalizeAttributes {
    fn default() -> Self {
        NormalizeAttributes {
            cache: ConfigCache::new(),
        }
    }
}

impl Transform for NormalizeAttributes {
    fn id(&self) -> PluginId {
        PluginId {
            name: "normalize-attributes".into(),
            version: "native-1".into(),
        }
    }

    fn transform(
        &self,
        person: &PluginInput,
        config: &str,
    ) -> Result<TransformOutcome, PluginError> {
        let config = self.cache.get(config, || self.id())?;
        let target = &person.target;
        let text = |path: &str| target.get(path).and_then(Value::as_str).map(str::trim);
        let email = text(WORK_EMAIL)
            .or_else(|| text("userName"))
            .filter(|e| usable_email(e));
        let Some(email) = email else {
            return Ok(TransformOutcome::Skip {
                reason: "no usable email (work email or userName)".into(),
            });
        };
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut names = Vec::new();
        for path in ["name.givenName", "name.familyName"] {
            if let Some(name) = text(path).filter(|n| !n.is_empty()) {
                let cased = title_case(name);
                if target.get(path).and_then(Value::as_str) != Some(&cased) {
                    set.push((path.to_string(), Value::Text(cased.as_str().into())));
                }
                names.push(cased);
            }
        }
        if text("displayName").is_none_or(str::is_empty) {
            let display = if names.is_empty() {
                email.to_string()
            } else {
                names.join(" ")
            };
            set.push(("displayName".into(), Value::Text(display.into())));
        }
        for path in PHONES {
            if let Some(raw) = text(path) {
                match e164(raw, &config.default_country_code) {
                    Ok(Some(phone)) if phone != raw => {
                        set.push((path.into(), Value::Text(phone.into())))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => remove.push(path.to_string()),
                    Err(message) => {
                        return Err(PluginError::Guest {
                            plugin: self.id(),
                            code: "invalid-phone".into(),
                            message,
                        });
                    }
                }
            }
        }
        if let Some(prefix) = &config.department_group_prefix
            && text(DEPARTMENT).is_none_or(str::is_empty)
            && let Some(dept) = person
                .transitive_groups
                .iter()
                .find_map(|g| g.display_name.strip_prefix(prefix.as_str()))
        {
            set.push((DEPARTMENT.into(), Value::Text(dept.into())));
        }
        Ok(TransformOutcome::Changes { set, remove })
    }
}

fn usable_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `jean-luc o'neil` → `Jean-Luc O'neil`: words split on spaces and hyphens.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut start = true;
        for c in word.chars() {
            match (start, c.is_ascii()) {
                (true, true) => out.push(c.to_ascii_uppercase()),
                (false, true) => out.push(c.to_ascii_lowercase()),
                (true, false) => out.extend(c.to_uppercase()),
                (false, false) => out.extend(c.to_lowercase()),
            }
            start = c == '-';
        }
    }
    out
}

/// E.164: `+` and up to 15 digits. A national number gets the default country code; fewer than
/// 7 digits is no number (`None`); letters are an error.
fn e164(raw: &str, country: &str) -> Result<Option<String>, String> {
    if raw.chars().any(|c| c.is_alphabetic()) {
        return Err(format!("`{raw}` is not a phone number"));
    }
    let international = raw.trim_start().starts_with('+');
    let mut digits = raw.bytes().filter(u8::is_ascii_digit).peekable();
    let mut out = String::with_capacity(16);
    out.push('+');
    if international {
        // As written.
    } else if raw.bytes().filter(u8::is_ascii_digit).take(2).eq(*b"00") {
        // International with the 00 prefix: drop it.
        digits.nth(1);
    } else {
        // National: the default country code, without the trunk prefix's zeros.
        out.push_str(country);
        while digits.next_if_eq(&b'0').is_some() {}
    }
    out.extend(digits.map(char::from));
    let number = out.len() - 1;
    Ok((7..=15).contains(&number).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(title_case("  jean-luc   o'NEIL "), "Jean-Luc O'neil");
        assert_eq!(title_case("ÉLODIE -x"), "Élodie -X");
        assert_eq!(title_case(""), "");
        let cases = [
            ("(555) 010-2030", Ok(Some("+15550102030"))),
            ("+44 20 7946 0958", Ok(Some("+442079460958"))),
            ("0049 30 1234567", Ok(Some("+49301234567"))),
            ("123", Ok(None)),
            ("00", Ok(None)),
            ("0", Ok(None)),
            ("+0049 30 1234567", Ok(Some("+0049301234567"))),
            ("000 555 0102 030", Ok(Some("+05550102030"))),
            ("0 0555 0102 030", Ok(Some("+5550102030"))),
            (" +44 20 7946 0958", Ok(Some("+442079460958"))),
            ("1234567890123456", Ok(None)),
            ("call me", Err(())),
        ];
        for (raw, expected) in cases {
            let got = e164(raw, "1");
            assert_eq!(
                got.as_ref().map(|o| o.as_deref()).map_err(|_| ()),
                expected,
                "{raw}"
            );
        }
        assert!(usable_email("a@x.com"));
        assert!(!usable_email("a@x"));
        assert!(!usable_email("a b@x.com"));
    }
}
