//! Applying PATCH operations (RFC 7644 §3.5.2) to a resource, atomically.
//!
//! Choices where the RFC is silent or where real clients need more:
//! - A value filter that matches nothing on `add`/`replace` creates the value when the filter
//!   is a conjunction of `attr eq literal` (`emails[type eq "work"].value` with no work email
//!   creates `{"type": "work", "value": …}`), as Entra expects and as the engine's flat diffs
//!   need; any other filter matching nothing is `noTarget` (§3.5.2.3).
//! - `remove` with a filter that matches nothing, or of an absent attribute, succeeds: removes
//!   are idempotent, and Entra retries them.
//! - Removing a sub-attribute that leaves a value with nothing but its filter key
//!   (`{"type": "work"}`) removes the value; an emptied attribute or extension is removed.
//! - `remove` of a multi-valued attribute with a `value` list removes only the listed values
//!   (Entra's default dialect for group members).
//! - An explicit `null` value on `add`/`replace` unassigns (RFC 7643 §2.5).
//! - `add` to a multi-valued attribute skips values already present (every non-null field of
//!   the new value equal), so repeated member adds are harmless.

use serde_json::{Map, Value};

use super::{PatchOp, PatchOperation};
use crate::error::{ScimError, ScimType};
use crate::filter::Filter;
use crate::filter::eval::{datetime, matches_element, present};
use crate::path::AttrPath;
use crate::resource::{ResourceKind, find_key, get_ci};
use crate::schema::{AttrType, Attribute, Mutability};

/// Applies `ops` in order to `resource`, all or nothing: on error `resource` is unchanged.
/// The resource kind is read from its `schemas`.
pub fn apply(resource: &mut Value, ops: &[PatchOperation]) -> Result<(), ScimError> {
    let kind = ResourceKind::of(resource);
    apply_as(resource, ops, kind)
}

/// [`apply`] for a resource of a known kind.
pub fn apply_as(
    resource: &mut Value,
    ops: &[PatchOperation],
    kind: ResourceKind,
) -> Result<(), ScimError> {
    if ops.len() > super::MAX_OPERATIONS {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!(
                "{} operations, the limit is {}",
                ops.len(),
                super::MAX_OPERATIONS
            ),
        ));
    }
    let mut work = resource.clone();
    let root = work.as_object_mut().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidValue, "the resource is not an object")
    })?;
    for (i, op) in ops.iter().enumerate() {
        apply_one(root, op, kind).map_err(|e| {
            let path = op.path.as_deref().unwrap_or("(no path)");
            ScimError {
                detail: format!("operation {i} ({:?} {path}): {}", op.op, e.detail),
                ..e
            }
        })?;
        sync_extensions(root, kind);
    }
    *resource = work;
    Ok(())
}

fn err(t: ScimType, detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(t, detail)
}

fn apply_one(
    root: &mut Map<String, Value>,
    op: &PatchOperation,
    kind: ResourceKind,
) -> Result<(), ScimError> {
    match (&op.path, op.op) {
        (Some(p), _) => apply_path(root, kind, op.op, &AttrPath::parse(p)?, op.value.as_ref()),
        (None, PatchOp::Remove) => Err(err(ScimType::NoTarget, "remove needs a path")),
        (None, _) => {
            let Some(Value::Object(values)) = &op.value else {
                return Err(err(
                    ScimType::InvalidValue,
                    "an add or replace without a path needs an object value",
                ));
            };
            for (key, value) in values {
                apply_key(root, kind, op.op, key, value)?;
            }
            Ok(())
        }
    }
}

/// One key of a path-less value: an attribute, or a whole extension object.
fn apply_key(
    root: &mut Map<String, Value>,
    kind: ResourceKind,
    op: PatchOp,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    let is_urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if let (true, Value::Object(inner)) = (is_urn, value) {
        for (k, v) in inner {
            apply_path(
                root,
                kind,
                op,
                &AttrPath::parse(&format!("{key}:{k}"))?,
                Some(v),
            )?;
        }
        return Ok(());
    }
    let path = AttrPath::parse(key)?;
    // Clients echo read-only attributes (`id`, `meta`) unchanged; only a change is an error.
    let def = kind
        .resolve_lenient(path.urn(), path.attribute())
        .map(|r| r.attribute);
    if def.is_some_and(|d| d.mutability == Mutability::ReadOnly) && get_ci(root, key) == Some(value)
    {
        return Ok(());
    }
    apply_path(root, kind, op, &path, Some(value))
}

/// Where a path's attribute lives and what the schema says about it.
struct Target {
    /// The extension URN holding the attribute (canonical when known); `None` for the root.
    ext: Option<String>,
    /// The attribute name, canonical when known.
    attr: String,
    def: &'static Attribute,
}

fn resolve(kind: ResourceKind, path: &AttrPath) -> Target {
    let found = kind.resolve_lenient(path.urn(), path.attribute());
    let ext = match (found, path.urn()) {
        (Some(r), _) => r.extension.map(|s| s.id.to_string()),
        (None, Some(u)) if !u.eq_ignore_ascii_case(kind.schema()) => Some(u.to_string()),
        (None, _) => None,
    };
    match found {
        Some(r) => Target {
            ext,
            attr: r.attribute.name.to_string(),
            def: r.attribute,
        },
        None => Target {
            ext,
            attr: path.attribute().to_string(),
            def: &Attribute::UNKNOWN,
        },
    }
}

fn apply_path(
    root: &mut Map<String, Value>,
    kind: ResourceKind,
    op: PatchOp,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if let Some(urn) = whole_extension(kind, path) {
        return apply_extension(root, kind, op, urn, value);
    }
    let (op, value) = match (op, value) {
        (PatchOp::Remove, v) => (PatchOp::Remove, v),
        (_, None) => return Err(err(ScimType::InvalidValue, "add and replace need a value")),
        (_, Some(Value::Null)) => (PatchOp::Remove, None),
        (op, Some(v)) => (op, Some(v)),
    };
    if path.urn().is_none() && path.attribute().eq_ignore_ascii_case("schemas") {
        return Err(err(
            ScimType::Mutability,
            "schemas is maintained by the server",
        ));
    }
    let t = resolve(kind, path);
    check_mutability(op, &t, path)?;
    if let Some(v) = value.filter(|_| op != PatchOp::Remove) {
        check_value(v, &t, path)?;
    }
    let container = match &t.ext {
        None => Some(root),
        Some(urn) => extension_object(root, urn, op != PatchOp::Remove)?,
    };
    let Some(container) = container else {
        return Ok(()); // removing from an absent extension
    };
    match (path.value_filter(), path.sub_attribute()) {
        (None, None) => super::target::whole(container, op, &t.attr, t.def, value),
        (None, Some(sub)) => {
            super::target::sub(container, op, &t.attr, &sub_name(t.def, sub), value)
        }
        (Some(f), sub) => {
            let sub = sub.map(|s| sub_name(t.def, s));
            let matcher = |e: &Value| matches_element(f, e, &kind, t.ext.as_deref(), &t.attr);
            filtered(container, op, &t, f, sub.as_deref(), value, &matcher)
        }
    }
}

fn sub_name(def: &Attribute, sub: &str) -> String {
    def.sub(sub)
        .map(|a| a.name.to_string())
        .unwrap_or_else(|| sub.to_string())
}

/// The canonical URN if `path` names a whole extension object (`urn:…:enterprise:2.0:User`).
fn whole_extension(kind: ResourceKind, path: &AttrPath) -> Option<&'static str> {
    let urn = path.urn()?;
    if path.sub_attribute().is_some() || path.value_filter().is_some() {
        return None;
    }
    let urn = kind.canonical_urn(&format!("{urn}:{}", path.attribute()))?;
    (urn != kind.schema()).then_some(urn)
}

fn apply_extension(
    root: &mut Map<String, Value>,
    kind: ResourceKind,
    op: PatchOp,
    urn: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match (op, value) {
        (PatchOp::Remove, _) | (_, Some(Value::Null)) => {
            if let Some(k) = find_key(root, urn).map(str::to_string) {
                root.remove(&k);
            }
            Ok(())
        }
        (_, Some(Value::Object(inner))) => {
            for (k, v) in inner {
                apply_path(
                    root,
                    kind,
                    op,
                    &AttrPath::parse(&format!("{urn}:{k}"))?,
                    Some(v),
                )?;
            }
            Ok(())
        }
        _ => Err(err(
            ScimType::InvalidValue,
            format!("{urn} takes an object"),
        )),
    }
}

/// The extension object under `urn`, created when `create`.
fn extension_object<'m>(
    root: &'m mut Map<String, Value>,
    urn: &str,
    create: bool,
) -> Result<Option<&'m mut Map<String, Value>>, ScimError> {
    let key = match find_key(root, urn) {
        Some(k) => k.to_string(),
        None if create => {
            root.insert(urn.to_string(), Value::Object(Map::new()));
            urn.to_string()
        }
        None => return Ok(None),
    };
    match root.get_mut(&key) {
        Some(Value::Object(m)) => Ok(Some(m)),
        _ => Err(err(
            ScimType::InvalidValue,
            format!("{urn} is not an object"),
        )),
    }
}

fn check_mutability(op: PatchOp, t: &Target, path: &AttrPath) -> Result<(), ScimError> {
    let sub = path.sub_attribute().and_then(|s| t.def.sub(s));
    let defs = [Some(t.def), sub];
    let mut defs = defs.iter().flatten();
    if defs.clone().any(|d| d.mutability == Mutability::ReadOnly) {
        return Err(err(ScimType::Mutability, format!("{path} is read-only")));
    }
    if op != PatchOp::Add && sub.is_some_and(|d| d.mutability == Mutability::Immutable) {
        return Err(err(ScimType::Mutability, format!("{path} is immutable")));
    }
    let whole = path.sub_attribute().is_none() && path.value_filter().is_none();
    if op == PatchOp::Remove && whole && defs.any(|d| d.required) {
        return Err(err(ScimType::Mutability, format!("{path} is required")));
    }
    Ok(())
}

/// Type-checks an `add`/`replace` value against the schema (`invalidValue`).
fn check_value(value: &Value, t: &Target, path: &AttrPath) -> Result<(), ScimError> {
    let (def, ok) = match (path.value_filter(), path.sub_attribute()) {
        (_, Some(s)) => match t.def.sub(s) {
            Some(d) => (d, fits(value, d)),
            None => (&Attribute::UNKNOWN, true),
        },
        (Some(_), None) => (t.def, value.is_object() && fits(value, t.def)),
        (None, None) if t.def.multi_valued => match value {
            Value::Array(items) => (t.def, items.iter().all(|v| fits(v, t.def))),
            v => (t.def, fits(v, t.def)),
        },
        (None, None) => (t.def, fits(value, t.def)),
    };
    if ok {
        Ok(())
    } else {
        let want = format!("{:?}", def.ty).to_ascii_lowercase();
        Err(err(
            ScimType::InvalidValue,
            format!("{path} takes a {want}, not {value}"),
        ))
    }
}

/// Whether one (non-array) value fits a definition; unknown attributes take anything.
fn fits(value: &Value, def: &Attribute) -> bool {
    if def.name.is_empty() || value.is_null() {
        return true;
    }
    match def.ty {
        AttrType::Boolean => value.is_boolean(),
        AttrType::String | AttrType::Reference | AttrType::Binary => value.is_string(),
        AttrType::Integer => value.is_i64() || value.is_u64(),
        AttrType::Decimal => value.is_number(),
        AttrType::DateTime => value.as_str().and_then(datetime).is_some(),
        AttrType::Complex => value
            .as_object()
            .is_some_and(|o| o.iter().all(|(k, v)| def.sub(k).is_none_or(|d| fits(v, d)))),
    }
}

/// An operation on `attr[filter]` or `attr[filter].sub`.
fn filtered(
    container: &mut Map<String, Value>,
    op: PatchOp,
    t: &Target,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
    matcher: &dyn Fn(&Value) -> bool,
) -> Result<(), ScimError> {
    let key = find_key(container, &t.attr).unwrap_or(&t.attr).to_string();
    let slot = container.entry(key.clone()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else {
        return Err(err(
            ScimType::NoTarget,
            format!("{} is not multi-valued", t.attr),
        ));
    };
    let template = filter.equality_template();
    let matched: Vec<usize> = (0..items.len())
        .filter(|&i| items.get(i).is_some_and(matcher))
        .collect();
    let result = if matched.is_empty() {
        match op {
            PatchOp::Remove => Ok(()),
            _ => create_element(items, t, template.as_deref(), sub, value),
        }
    } else {
        super::target::update_matched(items, &matched, op, template.as_deref(), sub, value)
    };
    if container.get(&key).is_some_and(|v| !present(v)) {
        container.remove(&key);
    }
    result
}

/// A value filter matching nothing on add/replace: build the value the filter describes.
fn create_element(
    items: &mut Vec<Value>,
    t: &Target,
    template: Option<&[(&str, &Value)]>,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(template) = template else {
        return Err(err(ScimType::NoTarget, "the value filter matches nothing"));
    };
    let mut element: Map<String, Value> = template
        .iter()
        .map(|(k, v)| (sub_name(t.def, k), (*v).clone()))
        .collect();
    match (sub, value) {
        (Some(s), Some(v)) => {
            element.insert(s.to_string(), v.clone());
        }
        (None, Some(Value::Object(o))) => element.extend(o.clone()),
        _ => {
            return Err(err(
                ScimType::InvalidValue,
                "a value filter without a sub-attribute takes an object",
            ));
        }
    }
    items.push(Value::Object(element));
    Ok(())
}

/// Drops emptied extension objects and keeps `schemas` listing exactly the extensions present.
fn sync_extensions(root: &mut Map<String, Value>, kind: ResourceKind) {
    let is_ext = |k: &str| k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    root.retain(|k, v| !(is_ext(k) && v.as_object().is_some_and(Map::is_empty)));
    let present: Vec<String> = root.keys().filter(|k| is_ext(k)).cloned().collect();
    let Some(Value::Array(schemas)) = root.get_mut("schemas") else {
        return;
    };
    schemas.retain(|s| {
        s.as_str().is_none_or(|s| {
            s.eq_ignore_ascii_case(kind.schema())
                || present.iter().any(|p| p.eq_ignore_ascii_case(s))
                || !kind.extensions().iter().any(|e| e.eq_ignore_ascii_case(s))
        })
    });
    for p in present {
        if !schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&p)))
        {
            schemas.push(Value::String(p));
        }
    }
}
