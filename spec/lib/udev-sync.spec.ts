// Udev synchronisation with cookies on the simulated kernel and its simulated udevd
// (lib/udev-sync.ts, lib/testing/udev-sim.ts): what users' code with `udev: 'sync'` sees.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmAbortError } from '../../lib/index.js';
import { SimulatedKernel } from '../../lib/testing/index.js';
import { DmUdevTimeoutError, UDEV_FLAGS, decodeCookie, DM_COOKIE_MAGIC } from '../../lib/udev-cookie.js';

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
});
