// {{name}}: a muster transformer. Sets the SCIM enterprise `department` from the first direct
// group whose name starts with `prefix` (`Dept-Finance` → `Finance`), and removes it from
// someone in no such group.
//
// Config: {"prefix": "Dept-"}
//
// componentize-js generates the bindings from wit/plugin.wit when it builds: records arrive as
// objects with camelCase fields, variants are {tag, val}, and a thrown {code, message} is the
// plugin-error of the result.

const DEPARTMENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department';

export function transform(person, config) {
  const { prefix } = parseConfig(config);
  const group = person.directGroups.find(
    (g) => g.displayName.startsWith(prefix) && g.displayName.length > prefix.length,
  );
  const department = group ? group.displayName.slice(prefix.length) : null;
  const current = person.target.find((a) => a.name === DEPARTMENT);
  const set = [];
  const remove = [];
  if (department !== null) {
    if (!(current && current.value.tag === 'text' && current.value.val === department)) {
      set.push({ name: DEPARTMENT, value: { tag: 'text', val: department } });
    }
  } else if (current) {
    remove.push(DEPARTMENT);
  }
  return { tag: 'changes', val: { set, remove } };
}

function parseConfig(text) {
  let cfg;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw { code: 'invalid-config', message: `not JSON: ${e.message}` };
  }
  const ok = cfg !== null && typeof cfg === 'object' && !Array.isArray(cfg)
    && Object.keys(cfg).join() === 'prefix' && typeof cfg.prefix === 'string';
  if (!ok) {
    throw { code: 'invalid-config', message: 'expected {"prefix": string} and nothing else' };
  }
  return cfg;
}
