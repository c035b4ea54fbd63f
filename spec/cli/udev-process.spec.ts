// A cookie printed for another command outlives the process that printed it: dmctl runs in
// processes of its own on this host's real SysV semaphores (SysV IPC needs no device-mapper),
// and the documented workflow (docs/udev-cookies.md) — `udevcreatecookie`, later commands
// with `--udevcookie`, udev's `udevcomplete`, then `udevreleasecookie` — works across them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { openSemOps } from '../../ffi/sem.js';

const sysv = process.platform === 'linux' && fs.existsSync('/proc/sysvipc/sem');
const d = sysv ? describe : describe.skip;

function dmctlProcess(argv: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [
    '-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'),
    '-e', `require(${JSON.stringify(path.join(__dirname, 'real-cookie-child.ts'))})`,
    JSON.stringify(argv),
  ], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The value of the semaphore set with this key, or undefined when none exists. */
async function semValue(key: number): Promise<number | undefined> {
  const sems = await openSemOps();
  let semid: number;
  try { semid = sems.get(key); } catch { return undefined; }
  return sems.getVal(semid);
}

const leftovers: number[] = [];
afterEach(async () => {
  const sems = await openSemOps();
  for (const key of leftovers.splice(0)) { try { sems.remove(sems.get(key)); } catch { /* released */ } }
});

d('a cookie printed by dmctl udevcreatecookie (real semaphores, one process per command)', () => {
  test('outlives dmctl: joined by a later create, completed by udev\'s udevcomplete, released by udevreleasecookie', async () => {
    const made = dmctlProcess(['udevcreatecookie']);
    expect([made.code, made.stderr]).toEqual([0, '']);
    expect(made.stdout).toMatch(/^0x0D4D[0-9A-F]{4}\n$/);
    const text = made.stdout.trim();
    const cookie = Number(text);
    leftovers.push(cookie);
    // dmctl has exited: the semaphore is the user's now, at the creator's 1.
    expect(await semValue(cookie)).toBe(1);

    const joined = dmctlProcess(['create', 'p24', '--table', '0 8 zero', '--udevcookie', text]);
    expect([joined.code, joined.stderr]).toEqual([0, '']);
    expect(await semValue(cookie)).toBe(2); // the create's uevent, not waited for

    // What udev's 95-dm-notify.rules runs once the rules for that uevent ran.
    const completed = dmctlProcess(['udevcomplete', `0x${((0x0060 << 16) | (cookie & 0xffff)).toString(16)}`]);
    expect(completed.code).toBe(0);
    expect(await semValue(cookie)).toBe(1);

    const released = dmctlProcess(['udevreleasecookie', text, '--udev-timeout', '10000']);
    expect([released.code, released.stderr]).toEqual([0, '']);
    expect(await semValue(cookie)).toBeUndefined();
  }, 240_000);
});
