// Helpers for muster plugins in JavaScript (`muster:plugin@0.2.0`): read the `config` JSON with
// errors that name what is wrong, look at a person (groups, app roles, attributes), and build
// answers without spelling out the variants. Keep this file beside your `app.js` and import it
// (`import * as mp from './muster-plugin.js'`; `muster plugin new` does both); componentize-js
// bundles it with the rest.
//
// A target attribute is named by a well-known case (`'given-name'`, or `mp.WellKnown.GIVEN_NAME`:
// the interface's `well-known` enum) or by its SCIM path string. The host sends every well-known
// attribute as its case, so a string naming one (`'name.givenName'`, compared ASCII
// case-insensitively as the host does) stands for that case; any other string is a path compared
// exactly. Three cases are spelt as their paths (`'title'`, `'locale'`, `'timezone'`) and mean
// the same either way; for a SCIM attribute spelt like another case (a bare `department`), pass
// the variant itself: `{tag: 'path', val: 'department'}`.
//
// A helper that fails throws a `{code, message}` plugin error, which fails this person with
// that error while the host goes on with the others.

/** Fails this person with `code` (kebab-case, e.g. `invalid-config`) and `message`. */
export function fail(code, message) {
  throw { code, message };
}

const TYPE_NAMES = { string: 'a string', boolean: 'true or false', number: 'a number', array: 'a list', object: 'an object' };

function kindOf(value) {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value;
}

/**
 * The configuration object, checked: `required` maps each key to its kind (`'string'`,
 * `'boolean'`, `'number'`, `'array'`, `'object'`), `optional` each key to `[kind, default]`.
 * Any other key is refused, so a misspelt key is an error rather than a silent default.
 */
export function config(text, required, optional = {}) {
  let cfg;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    fail('invalid-config', `not JSON: ${e.message}`);
  }
  if (kindOf(cfg) !== 'object') fail('invalid-config', 'expected a JSON object');
  const expected = [...Object.keys(required), ...Object.keys(optional).map((k) => `${k} (optional)`)].join(', ');
  for (const key of Object.keys(cfg).sort()) {
    if (!(key in required) && !(key in optional)) fail('invalid-config', `unknown key "${key}"; expected ${expected}`);
  }
  const out = {};
  for (const [key, kind] of Object.entries(required)) {
    if (!(key in cfg)) fail('invalid-config', `missing key "${key}"; expected ${expected}`);
    out[key] = checked(key, cfg[key], kind);
  }
  for (const [key, [kind, fallback]] of Object.entries(optional)) {
    out[key] = key in cfg ? checked(key, cfg[key], kind) : fallback;
  }
  return out;
}

function checked(key, value, kind) {
  if (kindOf(value) !== kind) fail('invalid-config', `"${key}" must be ${TYPE_NAMES[kind] ?? kind}`);
  return value;
}

const ASCII = /^[\x00-\x7f]*$/;

/** Lower-cases ASCII letters only, as muster compares group names. */
export function asciiLower(text) {
  // Pure ASCII (the usual case) takes the native path, without a callback per match.
  return ASCII.test(text) ? text.toLowerCase() : text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

// Whether the display name `name` is `wanted` (already ASCII lower-cased). Folding keeps the
// length, so most names are told apart without being folded.
function named(name, wanted) {
  return name.length === wanted.length && asciiLower(name) === wanted;
}

/**
 * Whether `person` is in the group displayed as `name` (ASCII case-insensitive), directly or,
 * with `transitive`, through nested groups too.
 */
export function inGroup(person, name, transitive = true) {
  const wanted = asciiLower(name);
  return person.groups.some((g) => (transitive || g.direct) && named(g.displayName, wanted));
}

/**
 * The person's group displayed as `name` (ASCII case-insensitive), direct or reached through
 * nesting, or undefined. Its `direct` says which; its `via` names the direct group a nested one
 * came through.
 */
export function group(person, name) {
  const wanted = asciiLower(name);
  return person.groups.find((g) => named(g.displayName, wanted));
}

/**
 * `Zoom-Phone` for a direct group, `Zoom-Phone ← Sales-Managers` for one reached through the
 * direct group Sales-Managers: the fact a license rests on.
 */
export function groupPath(g) {
  return g.via == null ? g.displayName : `${g.displayName} ← ${g.via}`;
}

/** Whether the person holds the app role `name` (compared exactly, as Entra's role values). */
export function hasAppRole(person, name) {
  return person.appRoles.includes(name);
}

/** The source attribute `name` as a JavaScript value (string, boolean, BigInt, string[]), or undefined. */
export function attribute(person, name) {
  const found = person.attributes.find((a) => a.name === name);
  return found === undefined ? undefined : fromValue(found.value);
}

/**
 * The target attribute at `path` (a well-known case or a SCIM path string) computed so far, as
 * a JavaScript value, or undefined.
 */
export function target(person, path) {
  const { tag, val } = targetPath(path);
  const found = person.target.find((a) => a.path.val === val && a.path.tag === tag);
  return found === undefined ? undefined : fromValue(found.value);
}

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:';

// Each well-known case and its SCIM path (RFC 7643 §4.1, §4.3), as the host maps them.
const PATHS = [
  ['user-name', 'userName'],
  ['display-name', 'displayName'],
  ['nick-name', 'nickName'],
  ['title', 'title'],
  ['given-name', 'name.givenName'],
  ['family-name', 'name.familyName'],
  ['middle-name', 'name.middleName'],
  ['formatted-name', 'name.formatted'],
  ['honorific-prefix', 'name.honorificPrefix'],
  ['honorific-suffix', 'name.honorificSuffix'],
  ['work-email', 'emails[type eq "work"].value'],
  ['work-phone', 'phoneNumbers[type eq "work"].value'],
  ['mobile-phone', 'phoneNumbers[type eq "mobile"].value'],
  ['fax-phone', 'phoneNumbers[type eq "fax"].value'],
  ['home-phone', 'phoneNumbers[type eq "home"].value'],
  ['pager-phone', 'phoneNumbers[type eq "pager"].value'],
  ['other-phone', 'phoneNumbers[type eq "other"].value'],
  ['user-type', 'userType'],
  ['preferred-language', 'preferredLanguage'],
  ['locale', 'locale'],
  ['timezone', 'timezone'],
  ['department', `${ENTERPRISE}department`],
  ['employee-number', `${ENTERPRISE}employeeNumber`],
  ['cost-center', `${ENTERPRISE}costCenter`],
  ['organization', `${ENTERPRISE}organization`],
  ['division', `${ENTERPRISE}division`],
];

/** The well-known target attributes (`WellKnown.GIVEN_NAME` is `'given-name'`), as the interface names them. */
export const WellKnown = Object.freeze(Object.fromEntries(PATHS.map(([c]) => [c.toUpperCase().replace(/-/g, '_'), c])));

// Each case's `target-path` variant, built once, by the case and by its SCIM path lower-cased;
// and the paths' lengths, so that most other paths are told apart without being lower-cased.
const BY_CASE = new Map();
const BY_PATH = new Map();
const PATH_LENGTHS = new Set();
for (const [c, path] of PATHS) {
  const variant = Object.freeze({ tag: 'well-known', val: c });
  BY_CASE.set(c, variant);
  BY_PATH.set(path.toLowerCase(), variant);
  PATH_LENGTHS.add(path.length);
}

/**
 * `path` (a well-known case, a SCIM path string, or a `target-path` variant already) as a WIT
 * `target-path`: `{tag: 'well-known', val: 'given-name'}` or `{tag: 'path', val: '...'}`.
 */
export function targetPath(path) {
  if (typeof path === 'string') {
    const known = BY_CASE.get(path) ?? (PATH_LENGTHS.has(path.length) ? BY_PATH.get(asciiLower(path)) : undefined);
    return known ?? { tag: 'path', val: path };
  }
  if (path != null && (path.tag === 'well-known' || path.tag === 'path') && typeof path.val === 'string') return path;
  fail('invalid-path', `cannot name a target attribute by ${JSON.stringify(path)}: use a well-known case or a SCIM path string`);
}

/** A WIT `value` as the JavaScript value it holds (`null` for `null`; integers are BigInt). */
export function fromValue(value) {
  return value.tag === 'null' ? null : value.val;
}

/** A JavaScript value (null, boolean, integer Number or BigInt, string, string[]) as a WIT `value`. */
export function toValue(value) {
  if (value === null || value === undefined) return { tag: 'null' };
  if (typeof value === 'boolean') return { tag: 'boolean', val: value };
  if (typeof value === 'bigint') return { tag: 'integer', val: value };
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { tag: 'integer', val: BigInt(value) };
  if (typeof value === 'string') return { tag: 'text', val: value };
  if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return { tag: 'text-list', val: value };
  fail('invalid-value', `cannot send ${JSON.stringify(value)}: use null, a boolean, an integer, a string or a list of strings`);
}

/**
 * A transformer's answer: set these target attributes, remove those. `set` maps each path to a
 * JavaScript value (`{'given-name': 'Anne', 'urn:ietf:params:scim:schemas:extension:zoom:2.0:User:loginType': 'sso'}`)
 * or is a list of `[path, value]` pairs; `remove` lists paths. A path is a well-known case, a
 * SCIM path string or a `target-path` variant.
 */
export function changes({ set = {}, remove = [] } = {}) {
  const pairs = Array.isArray(set) ? set : Object.entries(set);
  const attributes = pairs.map(([path, value]) => ({ path: targetPath(path), value: toValue(value) }));
  return { tag: 'changes', val: { set: attributes, remove: remove.map((path) => targetPath(path)) } };
}

/** A transformer's answer: leave this person out of this cycle, for `reason`. */
export function skip(reason) {
  return { tag: 'skip', val: reason };
}

/** Whether `current` (the license held, or null/undefined) is exactly `plan` with `addOns`, in any order. */
export function holds(current, plan, addOns = []) {
  if (current == null || current.plan !== plan || current.addOns.length !== addOns.length) return false;
  const held = [...current.addOns].sort();
  return [...addOns].sort().every((a, i) => a === held[i]);
}

// A WIT `reason`. One fact given as a string is one fact, not a list of its characters.
function reasonOf(text, rule, because) {
  return { text, rule, because: typeof because === 'string' ? [because] : [...because] };
}

/**
 * A license rule's answer: `plan` with `addOns`, because of `reason` (a sentence for the log).
 * `rule` names which of the plugin's rules decided (empty when it has one); `because` lists the
 * facts the decision rests on, most important first, e.g. `[mp.groupPath(g)]` or
 * `['app role Admin']`.
 */
export function assign(plan, addOns = [], reason = '', rule = '', because = []) {
  return { tag: 'assign', val: { license: { plan, addOns: [...addOns] }, reason: reasonOf(reason, rule, because) } };
}

/** A license rule's answer: leave the license as it is, because of `reason`, with `rule` and `because` as for `assign`. */
export function noChange(reason = '', rule = '', because = []) {
  return { tag: 'no-change', val: reasonOf(reason, rule, because) };
}

/**
 * `noChange(...)` when `current` already is `plan` with `addOns`, otherwise `assign(...)`: the
 * usual end of a license rule.
 */
export function decide(current, plan, addOns = [], reason = '', rule = '', because = []) {
  return holds(current, plan, addOns) ? noChange(reason, rule, because) : assign(plan, addOns, reason, rule, because);
}
