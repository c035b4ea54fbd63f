// lib/events/abort-fanout.ts's contract, one registration at a time: each onAbort() call is its
// own registration (called once on abort, removed by its own unregister), even when the
// same function is registered more than once on one signal.
import { expect, test } from '@jest/globals';
import { getEventListeners } from 'node:events';
import { onAbort } from '../../lib/events/abort-fanout.js';

test('the same function registered twice on one signal: unregistering one leaves the other, called once', () => {
  const c = new AbortController();
  let calls = 0;
  const fn = (): void => { calls++; };
  const off1 = onAbort(c.signal, fn);
  const off2 = onAbort(c.signal, fn);
  off1();
  expect(getEventListeners(c.signal, 'abort')).toHaveLength(1);
  c.abort();
  expect(calls).toBe(1);
  off2(); // after the abort: a no-op
  expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
});

test('the same function registered twice: both called on abort; both unregistered leaves no listener', () => {
  const a = new AbortController();
  let calls = 0;
  const fn = (): void => { calls++; };
  onAbort(a.signal, fn);
  onAbort(a.signal, fn);
  a.abort();
  expect(calls).toBe(2);

  const b = new AbortController();
  const offs = [onAbort(b.signal, fn), onAbort(b.signal, fn)];
  for (const off of offs) off();
  offs[0]!(); // twice: still a no-op
  expect(getEventListeners(b.signal, 'abort')).toHaveLength(0);
  b.abort();
  expect(calls).toBe(2);
});
