/**
 * A parked wait on the simulator keeps Node alive exactly like the real backend's parked
 * poll (testing/keep-alive.ts): a lone `wait()` or `events()` runs until its event;
 * `events({ ref: false })` lets the process exit. Whole processes, so a child each.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';

function run(mode: string) {
  const r = spawnSync(process.execPath, ['-r', path.join(__dirname, 'ts-child.cjs'), '-e', `require(${JSON.stringify(path.join(__dirname, 'keep-alive-child.ts'))})`, mode], {
    encoding: 'utf8', timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe('simulated waits hold the event loop like a parked poll', () => {
  test('a lone wait() keeps the process alive until its event', () => {
    expect(run('wait')).toMatchObject({ code: 0, stdout: 'woken' });
  });

  test('a lone events() iterator keeps the process alive until its event', () => {
    expect(run('events')).toMatchObject({ code: 0, stdout: 'event changed' });
  });

  test('events({ ref: false }) holds nothing: the process exits before the event', () => {
    const r = run('events-unref');
    expect(r.stdout).toBe('exit 0');
  });
});
