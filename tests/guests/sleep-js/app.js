// Waits on the clock in JavaScript, as its config's `wait` says. JavaScript has no blocking sleep:
// `"timer"` sets an hour-long `setTimeout` and returns, `"spin"` reads `Date.now()` until an hour
// has passed. The host's clocks are virtual and move only when a guest sleeps: the timer costs the
// call nothing, and the spin never ends, so the call's deadline stops it.

const HOUR_MS = 3600 * 1000;

export function decide(person, current, config) {
  const { wait } = JSON.parse(config);
  const started = Date.now();
  if (wait === 'timer') {
    setTimeout(() => {}, HOUR_MS);
  } else if (wait === 'spin') {
    while (Date.now() - started < HOUR_MS) {}
  } else {
    throw { code: 'invalid-config', message: `unknown wait ${wait}` };
  }
  return { tag: 'no-change', val: `waited ${wait}` };
}
