// Exercises plugins/sdk-js/muster-plugin.js (copied beside this file by the polyglot test) on
// `muster:plugin@0.2.0`: every kind of value, optional keys, group checks (direct, through
// nesting, the group's path), app roles, target attributes named by a well-known case and by a
// SCIM path string, skip and fail. Its cases are `../helpers-cases.json`, shared with the Python
// twin.
import * as mp from './muster-plugin.js';

export function transform(person, config) {
  const cfg = mp.config(config, { mode: 'string' }, { count: ['number', 3] });
  if (cfg.mode === 'skip') return mp.skip('asked to skip');
  if (cfg.mode === 'fail') mp.fail('asked-to-fail', 'the configuration asked for a failure');
  if (cfg.mode === 'groups') {
    // Direct and nested groups, the path to a nested one, app roles.
    const found = mp.group(person, 'zoom-users');
    return mp.changes({
      set: {
        'x.group': found === undefined ? null : mp.groupPath(found),
        'x.member': mp.inGroup(person, 'zoom-users'),
        'x.direct': mp.inGroup(person, 'zoom-users', false),
        'x.admin': mp.hasAppRole(person, 'Admin'),
      },
    });
  }
  // The cases' group is direct (it names no `via`): found in any case, with or without nesting,
  // and its path is its name alone. The cases give no app roles.
  const group = mp.group(person, 'ZOOM-USERS');
  const active =
    mp.inGroup(person, 'zoom-users') &&
    mp.inGroup(person, 'Zoom-Users', false) &&
    group !== undefined &&
    group.direct &&
    mp.groupPath(group) === 'Zoom-Users' &&
    !mp.hasAppRole(person, 'Zoom-Users');
  return mp.changes({
    set: {
      [mp.WellKnown.TITLE]: mp.attribute(person, 'department'),
      active,
      'x.count': cfg.count,
      'x.tags': ['a', 'b'],
      'x.none': null,
    },
    // Looked up by its SCIM path (the host sends it as the case `nick-name`), removed by its case.
    remove: mp.target(person, 'nickName') === undefined ? [] : [mp.WellKnown.NICK_NAME],
  });
}
