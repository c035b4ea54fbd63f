// One AbortSignal shared by 1,000 calls in flight at once (the client's methods, its
// operations, waits and events() streams), on one client whose closing signal every
// operation watches: neither signal ever holds more than one 'abort' listener, none is left
// once the calls settled, no AbortSignal.any() reference piles up on them, and Node prints
// no MaxListenersExceededWarning (watched in a child process: jest's sandboxed `process`
// never receives the 'warning' event).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from '@jest/globals';
import { sharedSignalScenario } from './shared-signal-scenario.js';

test('1,000 calls sharing one signal: at most one listener on it and on the closing signal, none afterwards', async () => {
  const r = await sharedSignalScenario(1000);
  expect(r.failures).toEqual([]);
  expect(r.peak).toEqual({ shared: 1, closing: 1 });
  expect(r.after).toEqual({ shared: 0, closing: 0 });
  expect(r.dependants).toEqual({ shared: 0, closing: 0 });
});

test('the same in a process of its own: no MaxListenersExceededWarning (process "warning" event)', () => {
  const child = path.join(__dirname, 'shared-signal-child.ts');
  const r = spawnSync(process.execPath, ['-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'), '-e', `require(${JSON.stringify(child)})`], {
    encoding: 'utf8', timeout: 120_000,
  });
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { warnings?: string[]; after?: unknown; failures?: string[]; error?: string };
  expect(out.error).toBeUndefined();
  expect(out.failures).toEqual([]);
  expect(out.warnings).toEqual([]);
  expect(out.after).toEqual({ shared: 0, closing: 0 });
}, 120_000);
