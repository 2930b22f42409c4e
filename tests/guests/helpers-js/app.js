// Exercises plugins/sdk-js/muster-plugin.js (copied beside this file by the polyglot test):
// every kind of value, optional keys, group checks, skip and fail. Its cases are
// `../helpers-cases.json`, shared with the Python twin.
import * as mp from './muster-plugin.js';

export function transform(person, config) {
  const cfg = mp.config(config, { mode: 'string' }, { count: ['number', 3] });
  if (cfg.mode === 'skip') return mp.skip('asked to skip');
  if (cfg.mode === 'fail') mp.fail('asked-to-fail', 'the configuration asked for a failure');
  return mp.changes({
    set: {
      title: mp.attribute(person, 'department'),
      active: mp.inGroup(person, 'zoom-users'),
      'x.count': cfg.count,
      'x.tags': ['a', 'b'],
      'x.none': null,
    },
    remove: mp.target(person, 'nickName') === undefined ? [] : ['nickName'],
  });
}
