// A cookie printed for another command outlives the process that printed it: dmctl runs in
// processes of its own on this host's real SysV semaphores (SysV IPC needs no device-mapper),
// and the documented workflow (docs/udev-cookies.md) — `udevcreatecookie`, later commands
// with `--udevcookie`, udev's `udevcomplete`, then `udevreleasecookie` — works across them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { openSemOps } from '../../ffi/sem.js';
import { realCookieHost, UdevCookies } from '../../lib/udev/cookies.js';

const sysv = process.platform === 'linux' && fs.existsSync('/proc/sysvipc/sem');
const d = sysv ? describe : describe.skip;

function dmctlProcess(argv: string[], exitAfterMs?: number): { code: number | null; stdout: string; stderr: string; pid: number } {
  const r = spawnSync(process.execPath, [
    '-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'),
    '-e', `require(${JSON.stringify(path.join(__dirname, 'real-cookie-child.ts'))})`,
    JSON.stringify(argv),
    ...(exitAfterMs !== undefined ? [String(exitAfterMs)] : []),
  ], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
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

  test('a cookie the library made for its own call is removed by the exit handler when the process ends mid-call', async () => {
    // create's resume waits for udev, which nobody here completes; the process exits meanwhile.
    const r = dmctlProcess(['create', 'p24mid', '--table', '0 8 zero', '--udev-timeout', '60000'], 1500);
    expect(r.code).toBe(7);
    const m = /^held (0x[0-9a-f]+) (\d+)$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    const cookie = Number(m![1]);
    leftovers.push(cookie);
    expect(Number(m![2])).toBe(1); // the resume's uevent, pending (the wait dropped the call's own 1)
    expect(await semValue(cookie)).toBeUndefined();
  }, 120_000);

  test('semInfo: the last pid that changed a cookie, its times; the creator\'s pid only until another process touched it', async () => {
    const made = dmctlProcess(['udevcreatecookie']);
    expect(made.code).toBe(0);
    const cookie = Number(made.stdout.trim());
    leftovers.push(cookie);
    const c = new UdevCookies(await realCookieHost({}));
    const semid = (await openSemOps()).get(cookie);
    const info = c.semInfo(semid)!;
    expect(info).toMatchObject({ key: cookie, semid, value: 1, lastPid: made.pid });
    expect(info.ctime).toBeGreaterThan(0);
    expect(() => process.kill(made.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' })); // its creator is gone
    // udev's `udevcomplete` (here: this process) touches it: the creator's pid is gone from it.
    c.inc(cookie);
    expect(c.semInfo(semid)).toMatchObject({ value: 2, lastPid: process.pid });
    expect(c.semInfo(0x7fffffff)).toBeUndefined();
    expect(() => c.semInfo(-1)).toThrow(expect.objectContaining({ name: 'DmArgumentError' }));
  }, 120_000);
});
