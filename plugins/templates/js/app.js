// {{name}}: a muster license rule. Members of `group` get `plan`, everyone else `default_plan`.
//
// Config: {"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}
//
// componentize-js generates the bindings from wit/plugin.wit when it builds: records arrive as
// objects with camelCase fields, variants are {tag, val}, and a thrown {code, message} is the
// plugin-error of the result. `muster-plugin.js` (beside this file) reads the configuration and
// builds the answers; a helper that fails, such as a configuration without `group`, fails this
// person with `invalid-config` and the host goes on. Imports name the versioned interface, e.g.
//   import { log } from 'muster:plugin/host@0.1.0';

import * as mp from './muster-plugin.js';

export function decide(person, current, config) {
  const cfg = mp.config(config, { group: 'string', plan: 'string', default_plan: 'string' });
  const member = mp.inGroup(person, cfg.group);
  const plan = member ? cfg.plan : cfg.default_plan;
  const reason = member ? `member of ${cfg.group}` : `not a member of ${cfg.group}`;
  return mp.decide(current, plan, [], reason);
}
