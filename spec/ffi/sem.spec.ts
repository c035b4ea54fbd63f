// SysV semaphores through koffi on this host (SysV IPC needs no device-mapper), and the
// cookie protocol on them: the same keys, values and listing as libdevmapper's dmsetup.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { ERRNO } from '../../ffi/errors.js';
import { IPC_NOWAIT, openSemOps } from '../../ffi/sem.js';
import { DmAbortError, DmArgumentError } from '../../lib/errors.js';
import { UdevCookies, realCookieHost, type CookieHost } from '../../lib/udev/cookies.js';
import { DmUdevTimeoutError } from '../../lib/errors.js';

const linux = process.platform === 'linux' && fs.existsSync('/proc/sysvipc/sem');
const d = linux ? describe : describe.skip;

function keysNow(): number[] {
  return fs.readFileSync('/proc/sysvipc/sem', 'utf8').split('\n').slice(1).filter((l) => l.trim()).map((l) => Number(l.trim().split(/\s+/)[0]) >>> 0);
}

/** The real host, with udev reported running and its rules installed (this host has neither). */
async function host(): Promise<CookieHost> {
  const h = await realCookieHost({});
  return { ...h, udevRunning: () => true, notifyRulesInstalled: () => true };
}

function hasDmsetup(): boolean {
  try { execFileSync('dmsetup', ['udevflags', '0x10000'], { stdio: 'pipe' }); return true; } catch { return false; }
}

d('SysV semaphores (ffi/sem.ts)', () => {
  test('round trip: create (IPC_EXCL), SETVAL, +1, -1 with IPC_NOWAIT, wait-for-zero, IPC_RMID', async () => {
    const sems = await openSemOps();
    expect(sems.info()).toBeGreaterThanOrEqual(-1);
    const key = (0x0d4d << 16) | (0x8000 + (process.pid & 0x7fff));
    try { sems.remove(sems.get(key)); } catch { /* not there */ }
    const id = sems.create(key, 0o600);
    try {
      expect(() => sems.create(key, 0o600)).toThrow(expect.objectContaining({ errno: ERRNO.EEXIST }));
      expect(sems.get(key)).toBe(id);
      expect(sems.getVal(id)).toBe(0);
      sems.setVal(id, 1);
      expect(sems.op(id, 1, 0)).toBe(0);
      expect(sems.getVal(id)).toBe(2);
      expect(sems.op(id, 0, IPC_NOWAIT)).toBe(ERRNO.EAGAIN); // not zero: would sleep
      expect(sems.op(id, -1, IPC_NOWAIT)).toBe(0);
      expect(sems.op(id, -1, IPC_NOWAIT)).toBe(0);
      expect(sems.op(id, -1, IPC_NOWAIT)).toBe(ERRNO.EAGAIN); // below zero: would sleep
      expect(sems.op(id, 0, IPC_NOWAIT)).toBe(0);
      expect(keysNow()).toContain(key >>> 0);
    } finally {
      sems.remove(id);
    }
    expect(keysNow()).not.toContain(key >>> 0);
    expect(sems.op(id, 0, IPC_NOWAIT)).toBe(ERRNO.EINVAL); // gone
    expect(() => sems.get(key)).toThrow(expect.objectContaining({ errno: ERRNO.ENOENT }));
  });
});

d('cookies on real semaphores (lib/udev/cookies.ts)', () => {
  test('create → inc → complete → wait: value 1, 2, 1, then removed; the key is 0x0D4D<<16 | base', async () => {
    const c = new UdevCookies(await host());
    const cookie = c.create({ lifetime: 'call' });
    expect(cookie >>> 16).toBe(0x0d4d);
    expect(cookie & 0xffff).not.toBe(0);
    try {
      expect(c.list().find((e) => e.key === cookie)?.value).toBe(1);
      c.inc(cookie);
      expect(c.list().find((e) => e.key === cookie)?.value).toBe(2);
      // What udev's rule passes: DM_COOKIE with flags in the upper 16 bits.
      setTimeout(() => c.complete(((0x0060 << 16) | (cookie & 0xffff)) >>> 0), 5);
      await c.wait(cookie, { timeoutMs: 10_000 });
    } finally {
      try { c.destroy(cookie); } catch { /* removed by wait */ }
    }
    expect(keysNow()).not.toContain(cookie);
    expect(c.owned).toEqual([]);
  });

  test('timeout and abort remove the semaphore; no leak', async () => {
    const c = new UdevCookies(await host());
    const a = c.create({ lifetime: 'call' });
    c.inc(a);
    await expect(c.wait(a, { timeoutMs: 20 })).rejects.toBeInstanceOf(DmUdevTimeoutError);
    expect(keysNow()).not.toContain(a);
    const b = c.create({ lifetime: 'call' });
    c.inc(b);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 10);
    await expect(c.wait(b, { timeoutMs: 10_000, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect(keysNow()).not.toContain(b);
    expect(c.owned).toEqual([]);
  });

  test('a semaphore removed by someone else mid-wait counts as completed (EIDRM/EINVAL), as in libdevmapper', async () => {
    const c = new UdevCookies(await host());
    const cookie = c.create({ lifetime: 'call' });
    c.inc(cookie);
    const sems = await openSemOps();
    setTimeout(() => sems.remove(sems.get(cookie)), 5);
    await c.wait(cookie, { timeoutMs: 10_000 });
    expect(keysNow()).not.toContain(cookie);
  });

  test('process exit removes cookies still held (the exit handler)', async () => {
    const before = new Set(process.listeners('exit'));
    const c = new UdevCookies(await host());
    const cookie = c.create({ lifetime: 'call' });
    const added = process.listeners('exit').filter((l) => !before.has(l));
    // The handler is installed once per process: find it among all when an earlier test did.
    const handlers = added.length ? added : process.listeners('exit').filter((l) => l.name === 'removeLeftovers');
    expect(handlers.length).toBe(1);
    expect(keysNow()).toContain(cookie);
    (handlers[0] as () => void)();
    expect(keysNow()).not.toContain(cookie);
    expect(() => c.destroy(cookie)).toThrow(/Could not find notification semaphore/); // gone: nothing left to remove
  });

  test("a cookie made for the user (lifetime 'transaction') is never the exit handler's; one made for a call is", async () => {
    const c = new UdevCookies(await host());
    const mine = c.create({ lifetime: 'call' });
    const users = c.create({ lifetime: 'transaction' });
    try {
      expect(c.owned).toEqual([mine]);
      const handler = process.listeners('exit').find((l) => l.name === 'removeLeftovers') as (() => void) | undefined;
      expect(handler).toBeDefined();
      handler!();
      expect(keysNow()).not.toContain(mine);
      expect(keysNow()).toContain(users);
      expect(c.list().find((e) => e.key === users)?.value).toBe(1);
      // Released the documented way: the owner's wait drops its 1 and removes the set.
      await c.wait(users, { timeoutMs: 1000 });
      expect(keysNow()).not.toContain(users);
    } finally {
      for (const k of [mine, users]) { try { c.destroy(k); } catch { /* released */ } }
    }
  });

  test('create() names whose cookie it is: anything else is refused before any semaphore is made', async () => {
    const h = await host();
    let made = 0;
    const c = new UdevCookies({ ...h, sems: { ...h.sems, create: (k, m) => { made++; return h.sems.create(k, m); } } });
    for (const bad of [undefined, {}, { lifetime: 'process' }, { lifetime: 1 }, null]) {
      expect(() => c.create(bad as never)).toThrow(DmArgumentError);
    }
    expect(made).toBe(0);
  });

  // Not udevcomplete_all here: it would remove every cookie of this host, other processes' too (the VM test does).
  (hasDmsetup() ? test : test.skip)('dmsetup udevcookies lists our cookie with its value', async () => {
    const c = new UdevCookies(await host());
    const cookie = c.create({ lifetime: 'call' });
    c.inc(cookie);
    try {
      const out = execFileSync('dmsetup', ['udevcookies'], { encoding: 'utf8' });
      const line = out.split('\n').find((l) => l.startsWith(`0x${cookie.toString(16)}`));
      expect(line).toBeDefined();
      expect(line!.split(/\s+/)[2]).toBe('2');
    } finally {
      try { c.destroy(cookie); } catch { /* removed */ }
    }
  });
});

d('IPC_STAT (ffi/sem.ts stat, decoded by lib/kernel/syscall-structs.ts for this architecture)', () => {
  test('key, creator uid, times and size read as /proc/sysvipc/sem lists them', async () => {
    const h = await realCookieHost({});
    if (!h.stat) return; // an architecture whose struct semid_ds the package does not know
    const sems = await openSemOps();
    const key = (0x0d4d << 16) | (0x8800 + (process.pid & 0x7ff));
    try { sems.remove(sems.get(key)); } catch { /* not there */ }
    const id = sems.create(key, 0o600);
    try {
      sems.setVal(id, 1);
      expect(sems.op(id, 1, 0)).toBe(0);
      const line = fs.readFileSync('/proc/sysvipc/sem', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => Number(f[1]) === id)!;
      // key semid perms nsems uid gid cuid cgid otime ctime
      expect(h.stat(id)).toEqual({ key: key >>> 0, uid: Number(line[4]), cuid: Number(line[6]), mode: 0o600, nsems: 1, otime: Number(line[8]), ctime: Number(line[9]) });
      expect(h.stat(id).otime).toBeGreaterThan(0);
      expect(() => sems.stat!(id, new Uint8Array(64))).toThrow(RangeError); // never a buffer the kernel could overrun
    } finally {
      sems.remove(id);
    }
    expect(() => h.stat!(id)).toThrow(expect.objectContaining({ errno: ERRNO.EINVAL }));
  });
});
