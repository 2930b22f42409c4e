//! From the generated WIT types of a guest's answer to `engine`'s types, with the output-size
//! check (a guest's answer is untrusted input). The way in is `lower.rs`.

use engine::model::{Attributes, License, Value};
use engine::plugin::{LicenseDecision, PluginError, PluginId, TransformOutcome};

use crate::bindings::v0_2::wit as wit2;
use crate::bindings::wit;
use crate::well_known;

fn value_from_wit(v: wit::Value) -> Value {
    match v {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Integer(i) => Value::Int(i),
        wit::Value::Text(s) => Value::Text(s.into()),
        wit::Value::TextList(l) => Value::TextList(l.into()),
    }
}

fn value_len(v: &wit::Value) -> usize {
    match v {
        wit::Value::Text(s) => s.len(),
        wit::Value::TextList(l) => l.iter().map(String::len).sum(),
        _ => 8,
    }
}

fn guest_error(plugin: &PluginId, e: wit::PluginError) -> PluginError {
    PluginError::Guest {
        plugin: plugin.clone(),
        code: e.code,
        message: e.message,
    }
}

fn check_size(plugin: &PluginId, size: usize, limit: usize) -> Result<(), PluginError> {
    if size > limit {
        return Err(PluginError::OutputTooLarge {
            plugin: plugin.clone(),
            limit_bytes: limit as u64,
        });
    }
    Ok(())
}

pub(crate) fn decision_from_wit(
    plugin: &PluginId,
    result: Result<wit::LicenseDecision, wit::PluginError>,
    limit: usize,
) -> Result<LicenseDecision, PluginError> {
    match result.map_err(|e| guest_error(plugin, e))? {
        wit::LicenseDecision::NoChange(reason) => {
            check_size(plugin, reason.len(), limit)?;
            Ok(LicenseDecision::no_change(reason))
        }
        wit::LicenseDecision::Assign(a) => {
            let size = a.reason.len()
                + a.license.plan.len()
                + a.license.add_ons.iter().map(String::len).sum::<usize>();
            check_size(plugin, size, limit)?;
            Ok(LicenseDecision::assign(
                License::new(a.license.plan, a.license.add_ons),
                a.reason,
            ))
        }
    }
}

pub(crate) fn outcome_from_wit(
    plugin: &PluginId,
    result: Result<wit::Outcome, wit::PluginError>,
    limit: usize,
) -> Result<TransformOutcome, PluginError> {
    match result.map_err(|e| guest_error(plugin, e))? {
        wit::Outcome::Skip(reason) => {
            check_size(plugin, reason.len(), limit)?;
            Ok(TransformOutcome::Skip { reason })
        }
        wit::Outcome::Changes(c) => {
            let size = c
                .set
                .iter()
                .map(|a| a.name.len() + value_len(&a.value))
                .sum::<usize>()
                + c.remove.iter().map(String::len).sum::<usize>();
            check_size(plugin, size, limit)?;
            Ok(TransformOutcome::Changes {
                set: c
                    .set
                    .into_iter()
                    .map(|a| (a.name, value_from_wit(a.value)))
                    .collect(),
                remove: c.remove,
            })
        }
    }
}

fn value_from_wit2(v: wit2::Value) -> Value {
    match v {
        wit2::Value::Null => Value::Null,
        wit2::Value::Boolean(b) => Value::Bool(b),
        wit2::Value::Integer(i) => Value::Int(i),
        wit2::Value::Text(s) => Value::Text(s.into()),
        wit2::Value::TextList(l) => Value::TextList(l.into()),
    }
}

fn value2_len(v: &wit2::Value) -> usize {
    match v {
        wit2::Value::Text(s) => s.len(),
        wit2::Value::TextList(l) => l.iter().map(String::len).sum(),
        _ => 8,
    }
}

fn reason_len(r: &wit2::Reason) -> usize {
    r.text.len() + r.rule.len() + r.because.iter().map(String::len).sum::<usize>()
}

/// A 0.2.0 decision; its `reason` record becomes the engine's sentence, rule and facts.
pub(crate) fn decision_from_wit2(
    plugin: &PluginId,
    result: Result<wit2::LicenseDecision, wit2::PluginError>,
    limit: usize,
) -> Result<LicenseDecision, PluginError> {
    let result = result.map_err(|e| {
        guest_error(
            plugin,
            wit::PluginError {
                code: e.code,
                message: e.message,
            },
        )
    })?;
    match result {
        wit2::LicenseDecision::NoChange(reason) => {
            check_size(plugin, reason_len(&reason), limit)?;
            Ok(LicenseDecision::NoChange {
                reason: reason.text,
                rule: reason.rule,
                because: reason.because,
            })
        }
        wit2::LicenseDecision::Assign(a) => {
            let size = reason_len(&a.reason)
                + a.license.plan.len()
                + a.license.add_ons.iter().map(String::len).sum::<usize>();
            check_size(plugin, size, limit)?;
            Ok(LicenseDecision::Assign {
                license: License::new(a.license.plan, a.license.add_ons),
                reason: a.reason.text,
                rule: a.reason.rule,
                because: a.reason.because,
            })
        }
    }
}

/// The SCIM path of a 0.2.0 `target-path`. A well-known attribute the person's target already
/// holds under another spelling (`name.GivenName`) keeps that spelling, so that setting it
/// replaces the value instead of adding a second one.
fn path_from_wit2(path: wit2::TargetPath, target: &Attributes) -> String {
    match path {
        wit2::TargetPath::Path(p) => p,
        wit2::TargetPath::WellKnown(case) => {
            let canonical = well_known::path_of(case);
            target
                .keys()
                .find(|k| k.len() == canonical.len() && k.eq_ignore_ascii_case(canonical))
                .map_or_else(|| canonical.to_string(), |k| k.to_string())
        }
    }
}

fn path2_len(path: &wit2::TargetPath) -> usize {
    match path {
        wit2::TargetPath::Path(p) => p.len(),
        wit2::TargetPath::WellKnown(_) => 1,
    }
}

/// A 0.2.0 outcome, its paths resolved against the `target` the plugin was given.
pub(crate) fn outcome_from_wit2(
    plugin: &PluginId,
    result: Result<wit2::Outcome, wit2::PluginError>,
    limit: usize,
    target: &Attributes,
) -> Result<TransformOutcome, PluginError> {
    let result = result.map_err(|e| {
        guest_error(
            plugin,
            wit::PluginError {
                code: e.code,
                message: e.message,
            },
        )
    })?;
    match result {
        wit2::Outcome::Skip(reason) => {
            check_size(plugin, reason.len(), limit)?;
            Ok(TransformOutcome::Skip { reason })
        }
        wit2::Outcome::Changes(c) => {
            let size = c
                .set
                .iter()
                .map(|a| path2_len(&a.path) + value2_len(&a.value))
                .sum::<usize>()
                + c.remove.iter().map(path2_len).sum::<usize>();
            check_size(plugin, size, limit)?;
            Ok(TransformOutcome::Changes {
                set: c
                    .set
                    .into_iter()
                    .map(|a| (path_from_wit2(a.path, target), value_from_wit2(a.value)))
                    .collect(),
                remove: c
                    .remove
                    .into_iter()
                    .map(|p| path_from_wit2(p, target))
                    .collect(),
            })
        }
    }
}
