//! From the generated WIT types of a guest's answer to `engine`'s types, with the output-size
//! check (a guest's answer is untrusted input). The way in is `lower.rs`.

use engine::model::{License, Value};
use engine::plugin::{LicenseDecision, PluginError, PluginId, TransformOutcome};

use crate::bindings::wit;

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
            Ok(LicenseDecision::NoChange { reason })
        }
        wit::LicenseDecision::Assign(a) => {
            let size = a.reason.len()
                + a.license.plan.len()
                + a.license.add_ons.iter().map(String::len).sum::<usize>();
            check_size(plugin, size, limit)?;
            Ok(LicenseDecision::Assign {
                license: License::new(a.license.plan, a.license.add_ons),
                reason: a.reason,
            })
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
