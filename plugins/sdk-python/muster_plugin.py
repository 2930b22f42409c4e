"""Helpers for muster plugins in Python (`muster:plugin@0.2.0`): read the `config` JSON with
errors that name what is wrong, look at a person (groups, app roles, attributes), and build
answers without spelling out the generated types. Copy this file beside your `app.py`
(`muster plugin new` does); componentize-py bundles it with the rest.

A target attribute is named by a `WellKnown` member (`WellKnown.GIVEN_NAME`) or by its SCIM
path string. The host sends every well-known attribute as its case, so a string naming one
(`"name.givenName"`, compared ASCII case-insensitively as the host does) stands for that case;
any other string is a path compared exactly.

A helper that fails raises `Err(PluginError)`, which fails this person with that error while
the host goes on with the others.
"""

import json

from componentize_py_types import Err
from wit_world.imports import types

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", list: "a list", dict: "an object"}

WellKnown = types.WellKnown
"""The well-known target attributes (`WellKnown.DEPARTMENT`, ...), as the interface names them."""

# Each well-known case by its SCIM path, lower-cased (RFC 7643 §4.1, §4.3), as the host maps them.
_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
_WELL_KNOWN = {
    path.translate(_ASCII_LOWER): case
    for case, path in (
        (WellKnown.USER_NAME, "userName"),
        (WellKnown.DISPLAY_NAME, "displayName"),
        (WellKnown.NICK_NAME, "nickName"),
        (WellKnown.TITLE, "title"),
        (WellKnown.GIVEN_NAME, "name.givenName"),
        (WellKnown.FAMILY_NAME, "name.familyName"),
        (WellKnown.MIDDLE_NAME, "name.middleName"),
        (WellKnown.FORMATTED_NAME, "name.formatted"),
        (WellKnown.HONORIFIC_PREFIX, "name.honorificPrefix"),
        (WellKnown.HONORIFIC_SUFFIX, "name.honorificSuffix"),
        (WellKnown.WORK_EMAIL, 'emails[type eq "work"].value'),
        (WellKnown.WORK_PHONE, 'phoneNumbers[type eq "work"].value'),
        (WellKnown.MOBILE_PHONE, 'phoneNumbers[type eq "mobile"].value'),
        (WellKnown.FAX_PHONE, 'phoneNumbers[type eq "fax"].value'),
        (WellKnown.HOME_PHONE, 'phoneNumbers[type eq "home"].value'),
        (WellKnown.PAGER_PHONE, 'phoneNumbers[type eq "pager"].value'),
        (WellKnown.OTHER_PHONE, 'phoneNumbers[type eq "other"].value'),
        (WellKnown.USER_TYPE, "userType"),
        (WellKnown.PREFERRED_LANGUAGE, "preferredLanguage"),
        (WellKnown.LOCALE, "locale"),
        (WellKnown.TIMEZONE, "timezone"),
        (WellKnown.DEPARTMENT, _ENTERPRISE + "department"),
        (WellKnown.EMPLOYEE_NUMBER, _ENTERPRISE + "employeeNumber"),
        (WellKnown.COST_CENTER, _ENTERPRISE + "costCenter"),
        (WellKnown.ORGANIZATION, _ENTERPRISE + "organization"),
        (WellKnown.DIVISION, _ENTERPRISE + "division"),
    )
}


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
    or, with `transitive`, through nested groups too."""
    wanted = ascii_lower(name)
    return any((transitive or g.direct) and ascii_lower(g.display_name) == wanted for g in person.groups)


def group(person, name):
    """The person's group displayed as `name` (ASCII case-insensitive), direct or reached
    through nesting, or None. Its `direct` says which; its `via` names the direct group a
    nested one came through."""
    wanted = ascii_lower(name)
    for g in person.groups:
        if ascii_lower(g.display_name) == wanted:
            return g
    return None


def group_path(g):
    """`Zoom-Phone` for a direct group, `Zoom-Phone ← Sales-Managers` for one reached through
    the direct group Sales-Managers: the fact a license rests on."""
    return g.display_name if g.via is None else f"{g.display_name} ← {g.via}"


def has_app_role(person, name):
    """Whether the person holds the app role `name` (compared exactly, as Entra's role values)."""
    return name in person.app_roles


def attribute(person, name):
    """The source attribute `name` as a Python value (str, bool, int, list of str), or None."""
    for a in person.attributes:
        if a.name == name:
            return from_value(a.value)
    return None


def target(person, path):
    """The target attribute at `path` (a `WellKnown` member or a SCIM path string) computed so
    far, as a Python value, or None."""
    key = _key(path)
    for a in person.target:
        if a.path.value == key:
            return from_value(a.value)
    return None


def target_path(path):
    """`path` (a `WellKnown` member, or a SCIM path string) as a WIT `target-path`."""
    key = _key(path)
    if isinstance(key, str):
        return types.TargetPath_Path(key)
    return types.TargetPath_WellKnown(key)


def _key(path):
    # What a target attribute's `path.value` holds for `path`: its well-known case, or the
    # path string. A case never equals a string, so one comparison tells both apart.
    if isinstance(path, WellKnown):
        return path
    if isinstance(path, str):
        return _WELL_KNOWN.get(path.translate(_ASCII_LOWER), path)
    if isinstance(path, (types.TargetPath_WellKnown, types.TargetPath_Path)):
        return path.value
    fail("invalid-path", f"cannot name a target attribute by {path!r}: use a WellKnown member or a str")


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
    """A transformer's answer: set these target attributes (a dict from path to Python value),
    remove those (paths); a path is a `WellKnown` member or a SCIM path string."""
    attributes = [types.TargetAttribute(path=target_path(k), value=to_value(v)) for k, v in (set or {}).items()]
    return types.Outcome_Changes(types.Changes(set=attributes, remove=[target_path(p) for p in remove]))


def skip(reason):
    """A transformer's answer: leave this person out of this cycle, for `reason`."""
    return types.Outcome_Skip(reason)


def holds(current, plan, add_ons=()):
    """Whether `current` (the license the person holds, or None) is exactly `plan` with
    `add_ons` (in any order)."""
    return current is not None and current.plan == plan and sorted(current.add_ons) == sorted(add_ons)


def _reason(text, rule, because):
    # One fact given as a string is one fact, not a list of its characters.
    facts = [because] if isinstance(because, str) else list(because)
    return types.Reason(text=text, rule=rule, because=facts)


def assign(plan, add_ons=(), reason="", rule="", because=()):
    """A license rule's answer: `plan` with `add_ons`, because of `reason` (a sentence for the
    log). `rule` names which of the plugin's rules decided (empty when it has one);
    `because` lists the facts the decision rests on, most important first, e.g.
    `[group_path(g)]` or `["app role Admin"]`."""
    license = types.License(plan=plan, add_ons=list(add_ons))
    return types.LicenseDecision_Assign(types.Assignment(license=license, reason=_reason(reason, rule, because)))


def no_change(reason, rule="", because=()):
    """A license rule's answer: leave the license as it is, because of `reason`, with `rule`
    and `because` as for `assign`."""
    return types.LicenseDecision_NoChange(_reason(reason, rule, because))


def decide(current, plan, add_ons=(), reason="", rule="", because=()):
    """`no_change(...)` when `current` already is `plan` with `add_ons`, otherwise
    `assign(...)`: the usual end of a license rule."""
    if holds(current, plan, add_ons):
        return no_change(reason, rule, because)
    return assign(plan, add_ons, reason, rule, because)
