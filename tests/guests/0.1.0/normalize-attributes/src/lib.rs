//! `normalize-attributes`: tidies what the mappings produced before it reaches the target.
//!
//! - `name.givenName` / `name.familyName`: trimmed; title-cased only when written all in one
//!   case (`ANNE-MARIE` → `Anne-Marie`, but `McDonald` stays as it is).
//! - `displayName`: derived from the names when missing.
//! - `phoneNumbers[type eq "..."].value`: rewritten as E.164 with `default_country_code`;
//!   a number that cannot be made valid is dropped (Zoom rejects it) and logged.
//! - `department` (enterprise extension): taken from the first group named
//!   `<department_group_prefix><Department>` when the mappings left it empty.
//! - A person without a usable email (work email, else userName) is skipped: Zoom keys users by
//!   email.
//!
//! Only attributes whose value changes are returned: the provisioning log then lists what the
//! transform did, and a value already tidy costs nothing to send back.
//!
//! Config (JSON, every field optional):
//! `{"default_country_code": "1", "department_group_prefix": "Dept-", "require_email": true}`

use muster_plugin::v0_1::transformer::{Attribute, Changes, Level, Outcome, Person, PluginError, Value, log};

const GIVEN: &str = "name.givenName";
const FAMILY: &str = "name.familyName";
const DISPLAY: &str = "displayName";
const WORK_EMAIL: &str = "emails[type eq \"work\"].value";
const USER_NAME: &str = "userName";
const DEPARTMENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    default_country_code: String,
    department_group_prefix: String,
    require_email: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_country_code: "1".into(),
            department_group_prefix: "Dept-".into(),
            require_email: true,
        }
    }
}

fn transform(person: Person, config: Config) -> Result<Outcome, PluginError> {
    let text = |path: &str| {
        person.target.iter().find(|a| a.name == path).and_then(|a| match &a.value {
            Value::Text(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        })
    };

    let email = text(WORK_EMAIL).or_else(|| text(USER_NAME));
    if config.require_email && !email.as_deref().is_some_and(is_usable_email) {
        return Ok(Outcome::Skip("no usable email (work email or userName)".into()));
    }

    let mut set = Vec::new();
    let mut remove = Vec::new();
    // The first attribute of a path is its value, as `text` reads it.
    let unchanged = |path: &str, value: &str| {
        person.target.iter().find(|a| a.name == path).is_some_and(|a| matches!(&a.value, Value::Text(s) if s == value))
    };
    let mut set_text = |path: &str, value: &str| {
        if !unchanged(path, value) {
            set.push(text_attr(path, value));
        }
    };
    let given = text(GIVEN).map(|g| tidy_name(&g));
    let family = text(FAMILY).map(|f| tidy_name(&f));
    for (path, value) in [(GIVEN, &given), (FAMILY, &family)] {
        if let Some(v) = value {
            set_text(path, v);
        }
    }
    if text(DISPLAY).is_none() {
        let derived: Vec<&str> = [&given, &family].into_iter().flatten().map(String::as_str).collect();
        if !derived.is_empty() {
            set_text(DISPLAY, &derived.join(" "));
        }
    }
    for attr in person.target.iter().filter(|a| a.name.starts_with("phoneNumbers[")) {
        let Value::Text(raw) = &attr.value else { continue };
        match to_e164(raw, &config.default_country_code) {
            Some(e164) => set_text(&attr.name, &e164),
            None => {
                log(Level::Warn, &format!("{}: dropping unusable phone number {raw:?}", person.id));
                remove.push(attr.name.clone());
            }
        }
    }
    if text(DEPARTMENT).is_none() && !config.department_group_prefix.is_empty() {
        let prefix = config.department_group_prefix.to_ascii_lowercase();
        let department = person.direct_groups.iter().find_map(|g| {
            let lower = g.display_name.to_ascii_lowercase();
            lower.starts_with(&prefix).then(|| g.display_name[prefix.len()..].trim().to_string())
        });
        if let Some(d) = department.filter(|d| !d.is_empty()) {
            set_text(DEPARTMENT, &d);
        }
    }
    Ok(Outcome::Changes(Changes { set, remove }))
}

fn text_attr(name: &str, value: &str) -> Attribute {
    Attribute { name: name.to_string(), value: Value::Text(value.to_string()) }
}

fn is_usable_email(s: &str) -> bool {
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        _ => false,
    }
}

/// Title-cases a name written all in one case; leaves mixed-case names (McDonald, van der Berg)
/// alone because their capitalisation is deliberate.
fn tidy_name(name: &str) -> String {
    let collapsed = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let has_upper = collapsed.chars().any(char::is_uppercase);
    let has_lower = collapsed.chars().any(char::is_lowercase);
    if has_upper && has_lower {
        return collapsed;
    }
    let mut out = String::with_capacity(collapsed.len());
    let mut start_of_word = true;
    for c in collapsed.chars() {
        if start_of_word {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start_of_word = matches!(c, ' ' | '-' | '\'');
    }
    out
}

/// E.164: `+` and 8 to 15 digits. National numbers get the default country code; a leading
/// trunk `0` is dropped and `00` is read as the international prefix.
fn to_e164(raw: &str, country_code: &str) -> Option<String> {
    let trimmed = raw.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let stray = trimmed.chars().any(|c| !(c.is_ascii_digit() || " -.()+/".contains(c)));
    if stray || digits.is_empty() {
        return None;
    }
    let full = if trimmed.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{country_code}{rest}")
    } else if country_code == "1" && digits.len() == 11 && digits.starts_with('1') {
        digits
    } else {
        format!("{country_code}{digits}")
    };
    (8..=15).contains(&full.len()).then(|| format!("+{full}"))
}

// muster-plugin reads `Config` from the configuration's JSON (a text that does not parse fails
// the person with `invalid-config`) and allocates with one-shot-alloc: muster gives a Rust guest
// a fresh instance per person, so nothing needs freeing.
muster_plugin::transformer_0_1!(Config, transform);
