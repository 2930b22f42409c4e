//! The value-level edits PATCH makes once the attribute is located: on a whole attribute, on a
//! sub-attribute, and on the values a value filter matched.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::PatchOp;
use crate::error::{ScimError, ScimType};
use crate::resource::{find_key, get_ci};
use crate::schema::Attribute;

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

/// Whether `new` is already in `existing`: every non-null field of `new` is equal there. An
/// all-null `new` matches nothing (else `[{}]` would remove every member).
fn subset(new: &Value, existing: &Value) -> bool {
    match (new, existing) {
        (Value::Object(n), Value::Object(e)) => {
            let mut fields = n.iter().filter(|(_, v)| !v.is_null()).peekable();
            fields.peek().is_some() && fields.all(|(k, v)| get_ci(e, k) == Some(v))
        }
        (n, e) => n == e,
    }
}

fn key_of(container: &Map<String, Value>, attr: &str) -> String {
    find_key(container, attr).unwrap_or(attr).to_string()
}

/// An operation on a whole attribute (`userName`, `emails`, `members`, `name`).
pub(super) fn whole(
    container: &mut Map<String, Value>,
    op: PatchOp,
    attr: &str,
    def: &Attribute,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = key_of(container, attr);
    let Some(value) = value.filter(|_| op != PatchOp::Remove) else {
        remove_whole(container, &key, value);
        return Ok(());
    };
    let existing = container.get_mut(&key);
    let multi = def.multi_valued
        || matches!(existing, Some(Value::Array(_)))
        || (def.name.is_empty() && value.is_array());
    match existing {
        Some(Value::Object(o)) if !multi && value.is_object() => {
            // RFC 7644 §3.5.2.1/3: sub-attributes not given are left unchanged.
            if let Value::Object(new) = value {
                o.extend(new.clone());
            }
        }
        Some(Value::Array(items)) if op == PatchOp::Add => add_values(items, value),
        _ if multi && op == PatchOp::Add => {
            let mut items = Vec::new();
            add_values(&mut items, value);
            container.insert(key, Value::Array(items));
        }
        // Replace sets the values as given (RFC 7644 §3.5.2.3), one value becoming a list.
        _ if multi => {
            let items = one_or_many(value).into_iter().cloned().collect();
            container.insert(key, Value::Array(items));
        }
        _ => {
            container.insert(key, value.clone());
        }
    }
    Ok(())
}

/// `remove attr`, or with a `value` list on a multi-valued attribute, remove just those values.
fn remove_whole(container: &mut Map<String, Value>, key: &str, value: Option<&Value>) {
    match (container.get_mut(key), value) {
        (Some(Value::Array(items)), Some(v)) if v.is_array() || v.is_object() => {
            let index = ValueIndex::of(items);
            let mut dead = vec![false; items.len()];
            for d in one_or_many(v) {
                for i in index.candidates(d) {
                    if let (Some(flag), Some(e)) = (dead.get_mut(i), items.get(i))
                        && !*flag
                        && subset(d, e)
                    {
                        *flag = true;
                    }
                }
            }
            let mut flags = dead.into_iter();
            items.retain(|_| !flags.next().unwrap_or(false));
            if items.is_empty() {
                container.remove(key);
            }
        }
        _ => {
            container.remove(key);
        }
    }
}

fn add_values(items: &mut Vec<Value>, value: &Value) {
    let mut index = ValueIndex::of(items);
    for v in one_or_many(value) {
        let present = index
            .candidates(v)
            .any(|i| items.get(i).is_some_and(|e| subset(v, e)));
        if !present {
            index.insert(items.len(), v);
            items.push(v.clone());
        }
    }
}

/// The values of a multi-valued attribute by their `value` sub-attribute (or by themselves,
/// for simple values), so that finding the ones a new value can be a [`subset`] of does not
/// scan them all: adding or removing n values among m is O(n + m), not O(n·m).
///
/// A new value whose `value` is a scalar can only be a subset of values with the same `value`;
/// any other new value (no `value`, or a structured one) is compared with every value, as are
/// the values that cannot be keyed (no scalar `value`, or `value` under two spellings).
struct ValueIndex {
    by_key: HashMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
    len: usize,
}

impl ValueIndex {
    fn of(items: &[Value]) -> ValueIndex {
        let mut index = ValueIndex {
            by_key: HashMap::new(),
            unkeyed: Vec::new(),
            len: 0,
        };
        for (i, item) in items.iter().enumerate() {
            index.insert(i, item);
        }
        index
    }

    fn insert(&mut self, i: usize, item: &Value) {
        match existing_key(item) {
            Some(key) => self.by_key.entry(key).or_default().push(i),
            None => self.unkeyed.push(i),
        }
        self.len = self.len.max(i + 1);
    }

    /// The indices of the values `new` may be a subset of, each once.
    fn candidates(&self, new: &Value) -> Box<dyn Iterator<Item = usize> + '_> {
        match new_key(new) {
            Some(key) => {
                let keyed = self.by_key.get(&key).into_iter().flatten().copied();
                Box::new(keyed.chain(self.unkeyed.iter().copied()))
            }
            None => Box::new(0..self.len),
        }
    }
}

/// The key of a scalar, as JSON text (`"a"` and `1` differ, as they do for [`subset`]).
fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The key of a stored value: a scalar itself, or an object's scalar `value` when it is
/// spelled one way only (with two spellings, which one [`subset`] reads depends on the new
/// value's spelling).
fn existing_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => {
            let mut spellings = o.keys().filter(|k| k.eq_ignore_ascii_case("value"));
            let key = spellings.next()?;
            if spellings.next().is_some() {
                return None;
            }
            o.get(key).and_then(scalar_key)
        }
        other => scalar_key(other),
    }
}

/// The key a new value's matches must have: a scalar itself, or an object's non-null scalar
/// `value` (a null field is not compared by [`subset`]).
fn new_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => get_ci(o, "value").and_then(scalar_key),
        other => scalar_key(other),
    }
}

/// An operation on `attr.sub` (on every value when `attr` is multi-valued).
pub(super) fn sub(
    container: &mut Map<String, Value>,
    op: PatchOp,
    attr: &str,
    sub: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = key_of(container, attr);
    match container.get_mut(&key) {
        Some(Value::Array(items)) => {
            for o in items.iter_mut().filter_map(Value::as_object_mut) {
                set_or_remove(o, op, sub, value);
            }
            if op == PatchOp::Remove {
                items.retain(|e| e.as_object().is_none_or(|o| !o.is_empty()));
            }
        }
        Some(Value::Object(o)) => set_or_remove(o, op, sub, value),
        None | Some(Value::Null) => {
            if let (Some(v), true) = (value, op != PatchOp::Remove) {
                let mut o = Map::new();
                o.insert(sub.to_string(), v.clone());
                container.insert(key.clone(), Value::Object(o));
            }
        }
        Some(_) if op == PatchOp::Remove => {}
        Some(_) => {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("{attr} has no sub-attributes"),
            ));
        }
    }
    if container.get(&key).is_some_and(|v| {
        v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty)
    }) {
        container.remove(&key);
    }
    Ok(())
}

fn set_or_remove(o: &mut Map<String, Value>, op: PatchOp, sub: &str, value: Option<&Value>) {
    let key = key_of(o, sub);
    match (op, value) {
        (PatchOp::Remove, _) | (_, None) => {
            o.remove(&key);
        }
        (_, Some(v)) => {
            o.insert(key, v.clone());
        }
    }
}

/// An operation on the values (indices `matched`, ascending) a value filter selected.
pub(super) fn update_matched(
    items: &mut Vec<Value>,
    matched: &[usize],
    op: PatchOp,
    template: Option<&[(&str, &Value)]>,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let mut dead = Vec::new();
    for &i in matched {
        let Some(Value::Object(e)) = items.get_mut(i) else {
            continue;
        };
        match (op, sub, value) {
            (PatchOp::Remove, None, _) => dead.push(i),
            (PatchOp::Remove, Some(s), _) => {
                set_or_remove(e, op, s, None);
                if only_key_left(e, template) {
                    dead.push(i);
                }
            }
            (_, Some(s), v) => set_or_remove(e, op, s, v),
            (PatchOp::Add, None, Some(Value::Object(new))) => e.extend(new.clone()),
            (PatchOp::Replace, None, Some(Value::Object(new))) => *e = new.clone(),
            _ => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    "a value filter without a sub-attribute takes an object",
                ));
            }
        }
    }
    for i in dead.into_iter().rev() {
        if i < items.len() {
            items.remove(i);
        }
    }
    Ok(())
}

/// Whether a value holds nothing but the attributes its filter keys on (`{"type": "work"}`).
fn only_key_left(e: &Map<String, Value>, template: Option<&[(&str, &Value)]>) -> bool {
    let keys = template.unwrap_or_default();
    e.iter()
        .filter(|(_, v)| !v.is_null())
        .all(|(k, _)| keys.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)))
}
