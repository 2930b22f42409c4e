// {{name}}: a muster license rule. Members of `group` (directly or through a nested group) get
// `plan`, everyone else `default_plan`.
//
// Config: {"group": "Zoom-Licensed", "plan": "licensed", "default_plan": "basic"}
//
// componentize-js generates the bindings from wit/plugin.wit (`muster:plugin@0.2.0`) when it
// builds: records arrive as objects with camelCase fields (`person.groups[0].displayName`,
// `person.appRoles`), variants are {tag, val}, and a thrown {code, message} is the plugin-error
// of the result. `muster-plugin.js` (beside this file) reads the configuration and builds the
// answers; a helper that fails, such as a configuration without `group`, fails this person with
// `invalid-config` and the host goes on. Imports name the versioned interface, e.g.
//   import { log } from 'muster:plugin/host@0.2.0';

import * as mp from './muster-plugin.js';

export function decide(person, current, config) {
  const cfg = mp.config(config, { group: 'string', plan: 'string', default_plan: 'string' });
  const group = mp.group(person, cfg.group);
  if (group === undefined) return mp.decide(current, cfg.default_plan, [], `not a member of ${cfg.group}`);
  // The decision rests on the group, with the direct group it came through when nested:
  // `Zoom-Licensed ← Sales`. (The rule name, the fifth argument, is for plugins with several.)
  return mp.decide(current, cfg.plan, [], `member of ${cfg.group}`, '', [mp.groupPath(group)]);
}
