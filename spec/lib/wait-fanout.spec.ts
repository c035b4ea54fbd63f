// One event waking many waits of one device: one check and one reply ioctl for all of them
// (lib/events/wake-snapshot.ts), each waiter still getting the reply it would have got alone.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

function count(dm: DeviceMapper, c: string): number {
  return dm.ioctlCounts.get(c) ?? 0;
}

describe('wait() fan-out', () => {
  test('1,000 waits on one device, one event: all resolve from one DEV_STATUS and one DEV_WAIT', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'w', table: zero });
      const waits = Array.from({ length: 1000 }, () => dm.wait('w'));
      await new Promise((r) => setTimeout(r, 20)); // every wait parked after the poller's arm
      const infoBefore = count(dm, 'info');
      const waitBefore = count(dm, 'wait');
      kernel.triggerEvent('w');
      const results = await Promise.all(waits);
      expect(results).toHaveLength(1000);
      const nr = (await dm.info('w') as { eventNr: number }).eventNr;
      for (const r of results) expect(r.device.eventNr).toBe(nr);
      expect(count(dm, 'wait') - waitBefore).toBe(1);
      expect(count(dm, 'info') - infoBefore).toBeLessThanOrEqual(2); // the check, + the info above
      // Each waiter owns its result objects.
      expect(results[0]!.device).not.toBe(results[1]!.device);
      expect(results[0]!.targets).not.toBe(results[1]!.targets);
    } finally {
      dm.close();
    }
  });

  test('waiters with different options get different replies; a wait started after the check does not use it', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'w', table: zero });
      const plain = Array.from({ length: 5 }, () => dm.wait('w'));
      const tables = Array.from({ length: 5 }, () => dm.wait('w', { table: true }));
      await new Promise((r) => setTimeout(r, 20));
      const waitBefore = count(dm, 'wait');
      kernel.triggerEvent('w');
      const [p, t] = await Promise.all([Promise.all(plain), Promise.all(tables)]);
      expect(count(dm, 'wait') - waitBefore).toBe(2);
      for (const r of t) expect(r.targets[0]!.params).toBe('');
      expect(p).toHaveLength(5);
      // A new wait, whose default eventNr is the current one, parks (it does not reuse the old check).
      const late = dm.wait('w');
      let settled = false;
      void late.then(() => { settled = true; }, () => { settled = true; });
      await new Promise((r) => setTimeout(r, 20));
      expect(settled).toBe(false);
      kernel.triggerEvent('w');
      await late;
    } finally {
      dm.close();
    }
  });

  test('50 events() streams woken by one event share one DM_LIST_DEVICES, and each yields the event', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'e', table: zero });
      const streams = Array.from({ length: 50 }, () => dm.events({ filter: { kinds: ['renamed'] } }));
      const firsts = streams.map((it) => it.next());
      await new Promise((r) => setTimeout(r, 20)); // every stream has its first snapshot
      const before = count(dm, 'listDevices');
      await dm.rename('e', { newName: 'f' });
      const got = await Promise.all(firsts);
      for (const r of got) expect(r).toMatchObject({ done: false, value: { kind: 'renamed', name: 'f' } });
      expect(count(dm, 'listDevices') - before).toBe(1);
      for (const it of streams) await it.return?.();
    } finally {
      dm.close();
    }
  });
});
