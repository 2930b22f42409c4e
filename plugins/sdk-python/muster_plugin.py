"""Helpers for muster plugins in Python (`muster:plugin@0.1.0`): read the `config` JSON with
errors that name what is wrong, look at a person, and build answers without spelling out the
generated types. Copy this file beside your `app.py` (`muster plugin new` does); componentize-py
bundles it with the rest.

A helper that fails raises `Err(PluginError)`, which fails this person with that error while
the host goes on with the others.
"""

import json

from componentize_py_types import Err
from wit_world.imports import types

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", list: "a list", dict: "an object"}


def fail(code, message):
    """Fails this person with `code` (kebab-case, e.g. `invalid-config`) and `message`."""
    raise Err(types.PluginError(code=code, message=message))


def config(text, required, optional=None):
    """The configuration object, checked: `required` maps each key to its Python type
    (`{"group": str}`), `optional` each key to `(type, default)`. Any other key is refused, so
    a misspelt key is an error rather than a silent default."""
    optional = optional or {}
    try:
        cfg = json.loads(text)
    except ValueError as e:
        fail("invalid-config", f"not JSON: {e}")
    if not isinstance(cfg, dict):
        fail("invalid-config", "expected a JSON object")
    unknown = sorted(set(cfg) - set(required) - set(optional))
    if unknown:
        fail("invalid-config", f"unknown key {unknown[0]!r}; expected {_keys(required, optional)}")
    out = {}
    for key, kind in required.items():
        if key not in cfg:
            fail("invalid-config", f"missing key {key!r}; expected {_keys(required, optional)}")
        out[key] = _checked(key, cfg[key], kind)
    for key, (kind, default) in optional.items():
        out[key] = _checked(key, cfg[key], kind) if key in cfg else default
    return out


def _keys(required, optional):
    names = list(required) + [f"{k} (optional)" for k in optional]
    return ", ".join(names)


def _checked(key, value, kind):
    # bool is an int in Python: an integer key must not accept true.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        fail("invalid-config", f"{key!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def ascii_lower(text):
    """Lower-cases ASCII letters only, as muster compares group names: `str.lower` would also
    fold other scripts' letters, which the host does not."""
    return text.translate(_ASCII_LOWER)


def in_group(person, name, transitive=True):
    """Whether `person` is in the group displayed as `name` (ASCII case-insensitive), directly
    or, with `transitive`, through nested groups."""
    wanted = ascii_lower(name)
    groups = person.transitive_groups if transitive else person.direct_groups
    return any(ascii_lower(g.display_name) == wanted for g in groups)


def attribute(person, name):
    """The source attribute `name` as a Python value (str, bool, int, list of str), or None."""
    return _lookup(person.attributes, name)


def target(person, name):
    """The target attribute (SCIM path) `name` computed so far, as a Python value, or None."""
    return _lookup(person.target, name)


def _lookup(attributes, name):
    for a in attributes:
        if a.name == name:
            return from_value(a.value)
    return None


def from_value(value):
    """A WIT `value` as the Python value it holds (None for `null`)."""
    if isinstance(value, types.Value_Null):
        return None
    return value.value


def to_value(python):
    """A Python value (None, bool, int, str, list of str) as a WIT `value`."""
    if python is None:
        return types.Value_Null()
    if isinstance(python, bool):
        return types.Value_Boolean(python)
    if isinstance(python, int):
        return types.Value_Integer(python)
    if isinstance(python, str):
        return types.Value_Text(python)
    if isinstance(python, (list, tuple)) and all(isinstance(s, str) for s in python):
        return types.Value_TextList(list(python))
    fail("invalid-value", f"cannot send {python!r}: use None, a bool, an int, a str or a list of str")


def changes(set=None, remove=()):
    """A transformer's answer: set these target attributes (a dict from SCIM path to Python
    value), remove those (SCIM paths)."""
    attributes = [types.Attribute(name=k, value=to_value(v)) for k, v in (set or {}).items()]
    return types.Outcome_Changes(types.Changes(set=attributes, remove=list(remove)))


def skip(reason):
    """A transformer's answer: leave this person out of this cycle, for `reason`."""
    return types.Outcome_Skip(reason)


def holds(current, plan, add_ons=()):
    """Whether `current` (the license the person holds, or None) is exactly `plan` with
    `add_ons` (in any order)."""
    return current is not None and current.plan == plan and sorted(current.add_ons) == sorted(add_ons)


def assign(plan, add_ons=(), reason=""):
    """A license rule's answer: `plan` with `add_ons`, because of `reason`."""
    license = types.License(plan=plan, add_ons=list(add_ons))
    return types.LicenseDecision_Assign(types.Assignment(license=license, reason=reason))


def no_change(reason):
    """A license rule's answer: leave the license as it is, because of `reason`."""
    return types.LicenseDecision_NoChange(reason)


def decide(current, plan, add_ons=(), reason=""):
    """`no_change(reason)` when `current` already is `plan` with `add_ons`, otherwise
    `assign(...)`: the usual end of a license rule."""
    if holds(current, plan, add_ons):
        return no_change(reason)
    return assign(plan, add_ons, reason)
