// {{name}}: a muster transformer. Sets the SCIM enterprise `department` from the first direct
// group whose name starts with `prefix` (`Dept-Finance` → `Finance`), and removes it from
// someone in no such group.
//
// Config: {"prefix": "Dept-"}
//
// componentize-js generates the bindings from wit/plugin.wit (`muster:plugin@0.2.0`) when it
// builds: records arrive as objects with camelCase fields (`person.groups[0].displayName`),
// variants are {tag, val}, and a thrown {code, message} is the plugin-error of the result.
// `muster-plugin.js` (beside this file) reads the configuration and builds the answers; a helper
// that fails, such as a configuration without `prefix`, fails this person with `invalid-config`
// and the host goes on.

import * as mp from './muster-plugin.js';

// A well-known attribute is named by its case (`'department'`, the interface's `well-known`
// enum); any other target attribute by its SCIM path.
const DEPARTMENT = mp.WellKnown.DEPARTMENT;

export function transform(person, config) {
  const { prefix } = mp.config(config, { prefix: 'string' });
  const group = person.groups.find(
    (g) => g.direct && g.displayName.startsWith(prefix) && g.displayName.length > prefix.length,
  );
  const current = mp.target(person, DEPARTMENT);
  if (group) {
    const department = group.displayName.slice(prefix.length);
    return mp.changes({ set: current === department ? {} : { [DEPARTMENT]: department } });
  }
  return mp.changes({ remove: current === undefined || current === null ? [] : [DEPARTMENT] });
}
