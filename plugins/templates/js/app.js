// {{name}}: a muster license rule. Members of `group` get `plan`, everyone else `default_plan`.
//
// Config: {"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}
//
// componentize-js generates the bindings from wit/plugin.wit when it builds: records arrive as
// objects with camelCase fields, variants are {tag, val}, and a thrown {code, message} is the
// plugin-error of the result. Imports name the versioned interface, e.g.
//   import { log } from 'muster:plugin/host@0.1.0';

const FIELDS = ['group', 'plan', 'default_plan'];

export function decide(person, current, config) {
  const cfg = parseConfig(config);
  const wanted = asciiLower(cfg.group);
  const member = person.transitiveGroups.some((g) => asciiLower(g.displayName) === wanted);
  const plan = member ? cfg.plan : cfg.default_plan;
  const reason = member ? `member of ${cfg.group}` : `not a member of ${cfg.group}`;
  if (current != null && current.plan === plan && current.addOns.length === 0) {
    return { tag: 'no-change', val: reason };
  }
  return { tag: 'assign', val: { license: { plan, addOns: [] }, reason } };
}

function asciiLower(s) {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function parseConfig(text) {
  let cfg;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw { code: 'invalid-config', message: `not JSON: ${e.message}` };
  }
  const keys = cfg !== null && typeof cfg === 'object' && !Array.isArray(cfg) ? Object.keys(cfg).sort() : [];
  if (keys.join() !== [...FIELDS].sort().join() || !FIELDS.every((f) => typeof cfg[f] === 'string')) {
    throw { code: 'invalid-config', message: `expected an object with the strings ${FIELDS.join(', ')} and nothing else` };
  }
  return cfg;
}
