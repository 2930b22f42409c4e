// Helpers for muster plugins in JavaScript (`muster:plugin@0.1.0`): read the `config` JSON with
// errors that name what is wrong, look at a person, and build answers without spelling out the
// variants. Keep this file beside your `app.js` and import it
// (`import * as mp from './muster-plugin.js'`; `muster plugin new` does both); componentize-js
// bundles it with the rest.
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

/** Lower-cases ASCII letters only, as muster compares group names. */
export function asciiLower(text) {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Whether `person` is in the group displayed as `name` (ASCII case-insensitive), directly or,
 * with `transitive`, through nested groups.
 */
export function inGroup(person, name, transitive = true) {
  const wanted = asciiLower(name);
  const groups = transitive ? person.transitiveGroups : person.directGroups;
  return groups.some((g) => asciiLower(g.displayName) === wanted);
}

/** The source attribute `name` as a JavaScript value (string, boolean, BigInt, string[]), or undefined. */
export function attribute(person, name) {
  return lookup(person.attributes, name);
}

/** The target attribute (SCIM path) `name` computed so far, as a JavaScript value, or undefined. */
export function target(person, name) {
  return lookup(person.target, name);
}

function lookup(attributes, name) {
  const found = attributes.find((a) => a.name === name);
  return found === undefined ? undefined : fromValue(found.value);
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

/** A transformer's answer: set these target attributes (SCIM path → value), remove those paths. */
export function changes({ set = {}, remove = [] } = {}) {
  const attributes = Object.entries(set).map(([name, value]) => ({ name, value: toValue(value) }));
  return { tag: 'changes', val: { set: attributes, remove } };
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

/** A license rule's answer: `plan` with `addOns`, because of `reason`. */
export function assign(plan, addOns = [], reason = '') {
  return { tag: 'assign', val: { license: { plan, addOns: [...addOns] }, reason } };
}

/** A license rule's answer: leave the license as it is, because of `reason`. */
export function noChange(reason) {
  return { tag: 'no-change', val: reason };
}

/** `noChange(reason)` when `current` already is `plan` with `addOns`, otherwise `assign(...)`. */
export function decide(current, plan, addOns = [], reason = '') {
  return holds(current, plan, addOns) ? noChange(reason) : assign(plan, addOns, reason);
}
