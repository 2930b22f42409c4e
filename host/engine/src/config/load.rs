//! Reading the TOML text section by section, so that a shape error in one section (an unknown
//! key, a wrong type) does not hide the errors in the others.

use serde::de::DeserializeOwned;

use super::{Config, Errors};

/// Parses `text` into a [`Config`], recording every shape error; `None` when any was found.
pub(super) fn load(text: &str, errors: &mut Errors) -> Option<Config> {
    let mut table = match text.parse::<toml::Table>() {
        Ok(table) => table,
        Err(e) => {
            errors.push(syntax_location(text, e.span()), e.message().to_string());
            return None;
        }
    };
    let before = errors.0.len();
    let source = required(&mut table, "source", errors);
    let target = required(&mut table, "target", errors);
    let scope = optional(&mut table, "scope", errors);
    let mappings = list(&mut table, "mappings", errors);
    let transforms = list(&mut table, "transforms", errors);
    let license = optional(&mut table, "license", errors);
    let plugins = optional(&mut table, "plugins", errors);
    let profile = optional(&mut table, "profile", errors);
    let deprovisioning = optional(&mut table, "deprovisioning", errors);
    let deletion_threshold = optional(&mut table, "deletion_threshold", errors);
    let quarantine = optional(&mut table, "quarantine", errors);
    let sync_interval_secs = optional(&mut table, "sync_interval_secs", errors);
    let full_plan_interval_secs = optional(&mut table, "full_plan_interval_secs", errors);
    let batch_people = optional(&mut table, "batch_people", errors);
    let state_path = optional(&mut table, "state_path", errors);
    let state_url: Option<String> = optional(&mut table, "state_url", errors);
    let postgres = optional(&mut table, "postgres", errors);
    if state_path.is_some() && state_url.is_some() {
        errors.push(
            "state_url",
            "set state_path (a SQLite file) or state_url (PostgreSQL), not both",
        );
    }
    let gateway = optional(&mut table, "gateway", errors);
    let server = optional(&mut table, "server", errors);
    let admin = optional(&mut table, "admin", errors);
    let retention = optional(&mut table, "retention", errors);
    let compile = optional(&mut table, "compile", errors);
    let alerts = optional(&mut table, "alerts", errors);
    for key in table.keys() {
        errors.push(key.clone(), "unknown key");
    }
    if errors.0.len() > before {
        return None;
    }
    Some(Config {
        source: source?,
        target: target?,
        scope: scope.unwrap_or_default(),
        mappings: mappings.unwrap_or_default(),
        transforms: transforms.unwrap_or_default(),
        license,
        plugins: plugins.unwrap_or_default(),
        profile,
        deprovisioning: deprovisioning.unwrap_or_default(),
        deletion_threshold: deletion_threshold.unwrap_or_default(),
        quarantine: quarantine.unwrap_or_default(),
        sync_interval_secs: sync_interval_secs.unwrap_or(40 * 60),
        full_plan_interval_secs: full_plan_interval_secs
            .unwrap_or_else(super::default_full_plan_interval),
        batch_people: batch_people.unwrap_or_else(super::default_batch_people),
        state_path: state_path.unwrap_or_else(|| "muster.db".into()),
        state_url,
        postgres: postgres.unwrap_or_default(),
        gateway,
        server: server.unwrap_or_default(),
        admin: admin.unwrap_or_default(),
        retention: retention.unwrap_or_default(),
        compile: compile.unwrap_or_default(),
        alerts,
    })
}

fn required<T: DeserializeOwned>(
    table: &mut toml::Table,
    key: &str,
    errors: &mut Errors,
) -> Option<T> {
    if !table.contains_key(key) {
        errors.push(key, "missing");
        return None;
    }
    optional(table, key, errors)
}

fn optional<T: DeserializeOwned>(
    table: &mut toml::Table,
    key: &str,
    errors: &mut Errors,
) -> Option<T> {
    let value = table.remove(key)?;
    value_as(value, key, errors)
}

/// An array of tables, element by element, so each bad element is reported.
fn list<T: DeserializeOwned>(
    table: &mut toml::Table,
    key: &str,
    errors: &mut Errors,
) -> Option<Vec<T>> {
    match table.remove(key)? {
        toml::Value::Array(items) => {
            let parsed: Vec<Option<T>> = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| value_as(v, &format!("{key}[{i}]"), errors))
                .collect();
            parsed.into_iter().collect()
        }
        _ => {
            errors.push(
                key,
                "expected an array of tables (`[[".to_string() + key + "]]`)",
            );
            None
        }
    }
}

fn value_as<T: DeserializeOwned>(value: toml::Value, at: &str, errors: &mut Errors) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let location = if path == "." {
                at.to_string()
            } else {
                format!("{at}.{path}")
            };
            let message = e.inner().to_string();
            // toml appends "\nin `key`", which the location already says.
            let first_line = message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            errors.push(location, hint(first_line));
            None
        }
    }
}

/// Points people who try to put a secret in the file at the `_env` fields.
fn hint(message: String) -> String {
    let secret = ["`token`", "`client_secret`", "`password`", "`secret`"];
    if message.starts_with("unknown field") && secret.iter().any(|s| message.contains(s)) {
        format!(
            "{message}; secrets are read from the environment: name the variable in a `*_env` field"
        )
    } else {
        message
    }
}

fn syntax_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return "(document)".into();
    };
    let upto = text.get(..span.start).unwrap_or(text);
    let line = upto.matches('\n').count() + 1;
    let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}
