// Udev synchronisation with cookies on the simulated kernel and its simulated udevd
// (lib/udev/cookie-call.ts, testing/udev-sim.ts): what users' code with `udev: 'sync'` sees.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmAbortError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { UDEV_FLAGS, decodeCookie, UdevCookies, type SemOps } from '../../lib/udev/cookies.js';
import { DM_COOKIE_MAGIC } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { DmCookieError, DmUdevTimeoutError } from '../../lib/errors.js';

const table = [{ start: 0, length: 64, type: 'zero', params: '' }];

async function setup(options: { udev?: boolean } = { udev: true }) {
  const kernel = new SimulatedKernel(options);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  return { kernel, dm, udev: kernel.udev! };
}

describe('udev cookies on the simulator', () => {
  test('createDevice resolves only after udev made /dev/mapper/<name>; rename and remove leave no stale link; no semaphore left', async () => {
    const { dm, udev } = await setup();
    try {
      const d = await dm.createDevice({ name: 'c1', table });
      // No polling: the link is there the moment createDevice resolves.
      expect(udev.links.get('/dev/mapper/c1')).toBe(`../dm-${d.dev.minor}`);
      const ev = udev.events.at(-1)!;
      expect(ev.action).toBe('change');
      expect(ev.cookie >>> 16).toBe(UDEV_FLAGS.PRIMARY_SOURCE | UDEV_FLAGS.DISABLE_LIBRARY_FALLBACK);
      expect(ev.cookie & 0xffff).not.toBe(0);
      expect(udev.semaphores).toEqual([]);

      await dm.rename('c1', { newName: 'c2' });
      expect([...udev.links]).toEqual([['/dev/mapper/c2', `../dm-${d.dev.minor}`]]);
      expect(udev.semaphores).toEqual([]);

      await dm.removeDevice('c2');
      expect(udev.links.size).toBe(0);
      expect(udev.events.map((e) => e.action)).toEqual(['change', 'change', 'remove']);
      expect(udev.semaphores).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test("udev: 'none' sends no cookie (event_nr 0) and does not wait", async () => {
    const { dm, udev } = await setup();
    try {
      await dm.createDevice({ name: 'n1', table, udev: 'none' });
      expect(udev.events.at(-1)!.cookie).toBe(0);
      await dm.remove('n1', { udev: 'none' });
      expect(udev.events.at(-1)!.cookie).toBe(0);
      expect(udev.semaphores).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test('per-call flags reach the uevent (LOW_PRIORITY, DISABLE_DISK_RULES)', async () => {
    const { dm, udev } = await setup();
    try {
      await dm.createDevice({ name: 'f1', table, udevFlags: UDEV_FLAGS.LOW_PRIORITY | UDEV_FLAGS.DISABLE_DISK_RULES });
      const { flags } = decodeCookie(udev.events.at(-1)!.cookie);
      expect(flags).toBe(UDEV_FLAGS.PRIMARY_SOURCE | UDEV_FLAGS.DISABLE_LIBRARY_FALLBACK | UDEV_FLAGS.LOW_PRIORITY | UDEV_FLAGS.DISABLE_DISK_RULES);
      await dm.removeDevice('f1');
    } finally {
      dm.close();
    }
  });

  test('udev stopped mid-wait: DmUdevTimeoutError, the device rolled back, the semaphore removed', async () => {
    const { dm, udev, kernel } = await setup();
    try {
      udev.stop();
      // Killed: its control socket stays, so detection still says "running"; the wait times out.
      const p = dm.createDevice({ name: 't1', table, udev: 'sync', udevTimeoutMs: 50 });
      await expect(p).rejects.toBeInstanceOf(DmUdevTimeoutError);
      expect(udev.semaphores).toEqual([]);
      expect(kernel.devices.has('t1')).toBe(false);
      udev.start();
    } finally {
      dm.close();
    }
  });

  test('abort during the wait: DmAbortError, the semaphore removed, the device rolled back', async () => {
    const { dm, udev, kernel } = await setup();
    try {
      udev.stop();
      const ac = new AbortController();
      const p = dm.createDevice({ name: 'a1', table, signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await expect(p).rejects.toBeInstanceOf(DmAbortError);
      expect(udev.semaphores).toEqual([]);
      expect(kernel.devices.has('a1')).toBe(false);
    } finally {
      udev.start();
      dm.close();
    }
  });

  test('remove: a timeout says what happened (result attached) and leaves no semaphore', async () => {
    const { dm, udev, kernel } = await setup();
    try {
      await dm.createDevice({ name: 'r1', table });
      udev.stop();
      const e = await dm.remove('r1', { udevTimeoutMs: 30 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmUdevTimeoutError);
      expect((e as DmUdevTimeoutError).pending).toBe(1);
      expect((e as { result?: { name: string } }).result?.name).toBe('r1');
      expect(kernel.devices.has('r1')).toBe(false);
      expect(udev.semaphores).toEqual([]);
    } finally {
      udev.start();
      dm.close();
    }
  });

  test('a failed ioctl leaves no semaphore (libdm completes its own part)', async () => {
    const { dm, udev } = await setup();
    try {
      await expect(dm.remove('absent')).rejects.toMatchObject({ errno: 6 });
      await expect(dm.resume('absent')).rejects.toMatchObject({ errno: 6 });
      await expect(dm.rename('absent', { newName: 'x' })).rejects.toMatchObject({ errno: 6 });
      expect(udev.semaphores).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test('no uevent (resume of a running device, deferred remove of an open one): completed by the caller, no hang', async () => {
    const { dm, udev, kernel } = await setup();
    try {
      await dm.createDevice({ name: 'u1', table });
      const before = udev.events.length;
      const r = await dm.resume('u1', { udevTimeoutMs: 5000 });
      expect(r.flags.ueventGenerated).toBe(false);
      expect(udev.events.length).toBe(before);
      kernel.devices.get('u1')!.openCount = 1;
      const rm = await dm.remove('u1', { deferred: true, udevTimeoutMs: 5000 });
      expect(rm.deferred).toBe(true);
      expect(udev.semaphores).toEqual([]);
      kernel.devices.get('u1')!.openCount = 0;
      kernel.devices.get('u1')!.deferredRemove = false;
      await dm.removeDevice('u1');
    } finally {
      dm.close();
    }
  });

  /** A client whose cookie host's semaphore calls `fault` may replace (the simulator's udev underneath). */
  async function faultySetup(fault: { op?: (semid: number, delta: number, flags: number, real: SemOps['op']) => number; get?: (key: number, real: SemOps['get']) => number }) {
    const kernel = new SimulatedKernel({ udev: true });
    const real = kernel.udev!.host();
    const sems: SemOps = {
      ...real.sems,
      op: (semid, delta, flags) => (fault.op ?? ((i, d, f, r) => r(i, d, f)))(semid, delta, flags, real.sems.op),
      get: (key) => (fault.get ?? ((k, r) => r(k)))(key, real.sems.get),
    };
    const dm = await DeviceMapper.open({ backend: { ...kernel.backend(), openCookieHost: async () => ({ ...real, sems }) } });
    return { kernel, dm, udev: kernel.udev! };
  }

  test('no uevent and completing the cookie fails: the semaphore is released, the ioctl\'s result returned', async () => {
    let failDec = false;
    const { dm, udev } = await faultySetup({ op: (id, delta, flags, real) => (failDec && delta < 0 ? ERRNO.ERANGE : real(id, delta, flags)) });
    try {
      await dm.createDevice({ name: 'f1', table });
      failDec = true;
      const r = await dm.resume('f1', { udevTimeoutMs: 5000 }); // running already: no uevent
      expect(r.flags.ueventGenerated).toBe(false);
      expect(r.name).toBe('f1');
      expect(udev.semaphores).toEqual([]);
    } finally {
      failDec = false;
      dm.close();
    }
  });

  test('no uevent in a joined transaction and completing our part fails: the error carries the ioctl\'s result; the cookie stays the owner\'s', async () => {
    let failDec = false;
    const { dm, udev } = await faultySetup({ op: (id, delta, flags, real) => (failDec && delta < 0 ? ERRNO.ERANGE : real(id, delta, flags)) });
    const cookies = new UdevCookies(udev.host());
    try {
      await dm.createDevice({ name: 'f2', table });
      const cookie = cookies.create({ lifetime: 'transaction' });
      failDec = true;
      const e = await dm.resume('f2', { udevCookie: cookie }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmCookieError);
      expect((e as { result?: { name: string; flags: { ueventGenerated: boolean } } }).result).toMatchObject({ name: 'f2', flags: { ueventGenerated: false } });
      expect(cookies.list().map((c) => c.value)).toEqual([2]); // the owner's 1 and our increment nobody will complete
      failDec = false;
      cookies.complete(cookie);
      await cookies.wait(cookie, { timeoutMs: 1000 });
      expect(udev.semaphores).toEqual([]);
    } finally {
      failDec = false;
      dm.close();
    }
  });

  test('an increment that fails sends no ioctl and takes nothing from a joined cookie; an own cookie is released', async () => {
    let failInc = false;
    const { dm, udev, kernel } = await faultySetup({ op: (id, delta, flags, real) => (failInc && delta > 0 ? ERRNO.ERANGE : real(id, delta, flags)) });
    const cookies = new UdevCookies(udev.host());
    try {
      await dm.createDevice({ name: 'f3', table });
      await dm.suspend('f3');
      const cookie = cookies.create({ lifetime: 'transaction' });
      failInc = true;
      await expect(dm.resume('f3', { udevCookie: cookie })).rejects.toBeInstanceOf(DmCookieError);
      expect(cookies.list().map((c) => [c.key, c.value])).toEqual([[cookie, 1]]); // the owner's 1, untouched
      await expect(dm.resume('f3')).rejects.toBeInstanceOf(DmCookieError);
      expect(udev.semaphores.map((e) => e.key)).toEqual([cookie]); // the call's own is gone
      expect(kernel.devices.get('f3')!.suspended).toBe(true); // no ioctl was sent
      failInc = false;
      await cookies.wait(cookie, { timeoutMs: 1000 });
      await dm.resume('f3');
    } finally {
      failInc = false;
      dm.close();
    }
  });

  test('a failed ioctl whose cookie is already gone (udevcomplete_all meanwhile): the ioctl\'s error, not the clean-up\'s', async () => {
    let gone = false;
    const { dm, udev } = await faultySetup({
      op: (id, delta, flags, real) => {
        const r = real(id, delta, flags);
        if (delta > 0) { for (const s of udev.semaphores) udev.host().sems.remove(s.semid); gone = true; }
        return r;
      },
    });
    try {
      await expect(dm.remove('absent')).rejects.toMatchObject({ code: 'ENXIO' });
      expect(gone).toBe(true);
      expect(udev.semaphores).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test('the call\'s timeoutMs ends the udev wait too (resume, remove, rename): the semaphore is gone once the caller was told TIMEOUT', async () => {
    const { dm, udev } = await setup();
    try {
      await dm.createDevice({ name: 't1', table });
      await dm.createDevice({ name: 't2', table });
      await dm.createDevice({ name: 't3', table });
      await dm.suspend('t1');
      udev.stop(); // nothing completes a cookie; udevTimeoutMs stays at its thirty seconds
      const calls: [string, () => Promise<unknown>][] = [
        ['resume', () => dm.resume('t1', { timeoutMs: 40 })],
        ['remove', () => dm.remove('t2', { timeoutMs: 40 })],
        ['rename', () => dm.rename('t3', { newName: 't3b' }, { timeoutMs: 40 })],
      ];
      for (const [what, call] of calls) {
        const e = await call().catch((x: unknown) => x);
        expect([what, (e as { code?: string }).code]).toEqual([what, 'TIMEOUT']);
        // The wait polls on a timer: give it a few of its steps, far below udevTimeoutMs.
        for (let i = 0; i < 20 && udev.semaphores.length; i++) await new Promise((r) => setTimeout(r, 10));
        expect([what, udev.semaphores]).toEqual([what, []]);
      }
    } finally {
      udev.start();
      dm.close();
    }
  });

  test('a joined transaction (udevCookie): incremented per call, not waited for; the owner waits for all', async () => {
    const { dm, udev } = await setup();
    try {
      const { UdevCookies } = await import('../../lib/udev/cookies.js');
      const cookies = new UdevCookies(udev.host());
      udev.stop();
      const cookie = cookies.create({ lifetime: 'transaction' });
      await dm.createDevice({ name: 'j1', table, udevCookie: cookie });
      await dm.createDevice({ name: 'j2', table, udevCookie: cookie });
      expect(cookies.list().map((c) => c.value)).toEqual([3]); // 1 + two uevents pending
      expect(udev.events.slice(-2).map((e) => e.cookie & 0xffff)).toEqual([cookie & 0xffff, cookie & 0xffff]);
      udev.start();
      await cookies.wait(cookie, { timeoutMs: 5000 });
      expect(udev.semaphores).toEqual([]);
      expect([...udev.links.keys()].sort()).toEqual(['/dev/mapper/j1', '/dev/mapper/j2']);
      await dm.removeDevice('j1');
      await dm.removeDevice('j2');
    } finally {
      dm.close();
    }
  });

  test('default: sync only where libdevmapper would sync and the notify rule is installed', async () => {
    const cases: [string, (k: SimulatedKernel) => void, boolean][] = [
      ['udev running, rules installed', () => {}, true],
      ['no /run/udev/control', (k) => { k.udev!.controlSocket = false; }, false],
      ['no 95-dm-notify.rules', (k) => { k.udev!.notifyRules = false; }, false],
      ['DM_DISABLE_UDEV=1', (k) => { k.udev!.env.DM_DISABLE_UDEV = '1'; }, false],
    ];
    for (const [what, tweak, synced] of cases) {
      const kernel = new SimulatedKernel({ udev: true });
      tweak(kernel);
      const dm = await DeviceMapper.open({ backend: kernel.backend() });
      try {
        await dm.createDevice({ name: 'd', table });
        expect([what, kernel.udev!.events.at(-1)!.cookie !== 0]).toEqual([what, synced]);
      } finally {
        dm.close();
      }
    }
    // A kernel without cookies (dm < 4.15) never syncs, and refuses an explicit 'sync'.
    const old = new SimulatedKernel({ udev: true, version: [4, 14, 0] });
    const dm = await DeviceMapper.open({ backend: old.backend() });
    try {
      await dm.createDevice({ name: 'o', table });
      expect(old.udev!.events.at(-1)!.cookie).toBe(0);
      await expect(dm.remove('o', { udev: 'sync' })).rejects.toMatchObject({ name: 'DmUnsupportedError' });
      expect(old.devices.has('o')).toBe(true);
    } finally {
      dm.close();
    }
    // No udev at all: 'sync' is refused before any ioctl.
    const bare = new SimulatedKernel();
    const dm2 = await DeviceMapper.open({ backend: bare.backend() });
    try {
      await expect(dm2.createDevice({ name: 'b', table, udev: 'sync' })).rejects.toBeInstanceOf(DmArgumentError);
      expect(bare.calls.get('create')).toBeUndefined();
    } finally {
      dm2.close();
    }
  });

  test('bad udev options: typed errors before any ioctl', async () => {
    const { dm, kernel } = await setup();
    try {
      const bad: Record<string, unknown>[] = [
        { udev: 'yes' }, { udevFlags: 0x10000 }, { udevFlags: -1 }, { udevFlags: 1.5 },
        { udevCookie: 0x12340001 }, { udevCookie: 0x0d4d0000 }, { udevCookie: 'x' }, { udev: 'none', udevCookie: (DM_COOKIE_MAGIC << 16) | 1 },
        { udevTimeoutMs: -1 },
      ];
      for (const o of bad) {
        await expect(dm.createDevice({ name: 'x', table, ...o } as never)).rejects.toBeInstanceOf(DmArgumentError);
        await expect(dm.remove('x', o as never)).rejects.toBeInstanceOf(DmArgumentError);
        await expect(dm.resume('x', o as never)).rejects.toBeInstanceOf(DmArgumentError);
        await expect(dm.rename('x', { newName: 'y' }, o as never)).rejects.toBeInstanceOf(DmArgumentError);
        await expect(dm.removeDevice('x', o as never)).rejects.toBeInstanceOf(DmArgumentError);
      }
      expect([...kernel.calls.keys()]).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test('the wait does not block the event loop', async () => {
    const { dm, udev } = await setup();
    try {
      await dm.createDevice({ name: 'e1', table });
      udev.stop();
      let ticks = 0;
      const iv = setInterval(() => { ticks++; if (ticks === 5) udev.start(); }, 1);
      try {
        await dm.removeDevice('e1', { udevTimeoutMs: 10_000 });
      } finally {
        clearInterval(iv);
      }
      expect(ticks).toBeGreaterThanOrEqual(5); // the timer ran (and restarted udev) while remove waited
      expect(udev.semaphores).toEqual([]);
    } finally {
      dm.close();
    }
  });

  test('close() during a udev wait ends it: rejected at once, the semaphore removed, the half-made device rolled back', async () => {
    const { dm, udev, kernel } = await setup();
    udev.stop();
    try {
      const p = dm.createDevice({ name: 'cl', table, udevTimeoutMs: 60_000 }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 20));
      expect(udev.semaphores.length).toBe(1);
      dm.close();
      expect(await p).toBeInstanceOf(DmAbortError);
      expect(udev.semaphores).toEqual([]);
      expect(kernel.devices.has('cl')).toBe(false);
      expect(kernel.openFds).toBe(0);
    } finally {
      udev.start();
      dm.close();
    }
  });
});
