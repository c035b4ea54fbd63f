// A woken waiter never resolves with a reply older than its own check (docs/events.md, "Which
// DEV_WAIT reply a waiter may take"): forced on the simulator by holding one DM_DEV_WAIT reply,
// made by the kernel before an event, in flight while that event wakes another waiter.
import { describe, expect, test } from '@jest/globals';
import { commandNumber } from '../../codec/index.js';
import { DeviceMapper, DmOperationError, type Backend, type ControlTransport } from '../../lib/index.js';
import { clientParts } from '../../lib/client/internal-keys.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];
const WAIT = commandNumber('wait');

/**
 * The simulator's backend, except that the first DM_DEV_WAIT's reply, once the kernel has
 * written it, is held in flight: `onReply` runs (the test raises its event there), and the
 * reply is delivered when the promise it returns settles.
 */
function holdingFirstWait(kernel: SimulatedKernel, onReply: () => Promise<void>): Backend {
  const inner = kernel.backend();
  let held = false;
  return {
    ...inner,
    openControl: async (): Promise<ControlTransport> => {
      const t = await inner.openControl();
      return {
        get fd() { return t.fd; },
        ioctl: (r, b) => t.ioctl(r, b),
        close: () => t.close(),
        ioctlAsync: async (r, b, kind) => {
          const res = await t.ioctlAsync(r, b, kind);
          if ((r & 0xff) === WAIT && !held) {
            held = true;
            await onReply();
          }
          return res;
        },
      };
    },
  };
}

function settle(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('wait(): a reply in flight is shared only with waiters whose check it follows', () => {
  test('A in flight, event, B (eventNr = the number A\'s reply carries) woken: B resolves with the newer number', async () => {
    const kernel = new SimulatedKernel();
    let waitsSeen = 0;
    const backend = holdingFirstWait(kernel, async () => {
      // A's reply is written (it carries event_nr n0); now the device's event n0 + 1 happens
      // and wakes B, while A's reply is still on its way back.
      kernel.triggerEvent('w');
      await settle(50);
      waitsSeen = dm.ioctlCounts.get('wait') ?? 0;
    });
    const dm = await DeviceMapper.open({ backend });
    try {
      await dm.createDevice({ name: 'w', table: zero });
      const info = await dm.info('w');
      if (!info.exists) throw new Error('no device');
      const n0 = info.eventNr;
      // B waits for the device's next event: it parks on the poller.
      const b = dm.wait('w', { eventNr: n0 });
      await settle(20);
      // A's eventNr is not the device's: its DEV_WAIT returns at once, with n0.
      const a = dm.wait('w', { eventNr: n0 + 1000 });
      const [ra, rb] = await Promise.all([a, b]);
      expect(ra.device.eventNr).toBe(n0);
      // B's own check saw n0 + 1: a reply made before it (n0, B's own eventNr) is not B's.
      expect(rb.device.eventNr).toBe(n0 + 1);
      // B issued a DEV_WAIT of its own while A's was held: two in all.
      expect(waitsSeen).toBe(2);
      expect(dm.ioctlCounts.get('wait')).toBe(2);
    } finally {
      dm.close();
    }
  });

  test('waiters woken by the same event still share one reply (the reply follows their shared check)', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'w', table: zero });
      const waits = Array.from({ length: 20 }, () => dm.wait('w'));
      await settle(20);
      const before = dm.ioctlCounts.get('wait') ?? 0;
      kernel.triggerEvent('w');
      const rs = await Promise.all(waits);
      expect((dm.ioctlCounts.get('wait') ?? 0) - before).toBe(1);
      const nr = rs[0]!.device.eventNr;
      for (const r of rs) expect(r.device.eventNr).toBe(nr);
    } finally {
      dm.close();
    }
  });

  test('a DEV_WAIT that sleeps (device replaced on its number between check and ioctl) ends at timeoutMs; other calls go on', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const other = await DeviceMapper.open({ backend: kernel.backend({ label: 'other' }) });
    try {
      await dm.createDevice({ name: 'w', table: zero });
      await dm.createDevice({ name: 'x', table: zero });
      kernel.triggerEvent('w');
      const info = await dm.info('w');
      if (!info.exists || info.eventNr === 0) throw new Error('expected an event on w');
      const runner = other[clientParts]().runner;
      let replaced = false;
      const off = kernel.intercept({
        before: (e) => {
          if (e.label !== undefined || e.command !== 'wait' || replaced) return;
          // Between the waiter's check (event_nr 1) and its DEV_WAIT(0): w is replaced by a
          // device on the same minor whose event_nr is 0, the waiter's own.
          replaced = true;
          runner.runSync('remove', { id: { name: 'w' } });
          runner.runSync('create', { name: 'w' });
        },
      });
      const t0 = Date.now();
      // Hang guard: a wait that ignored its timeout would otherwise hold the test to jest's.
      const err = await Promise.race([dm.wait('w', { eventNr: 0, timeoutMs: 300 }).catch((x: unknown) => x), settle(3000).then(() => 'still waiting')]);
      expect(replaced).toBe(true);
      expect(err).toBeInstanceOf(DmOperationError);
      expect((err as DmOperationError).code).toBe('TIMEOUT');
      expect(Date.now() - t0).toBeLessThan(3000);
      // The DEV_WAIT still sleeps in the kernel; batches and single calls are not behind it.
      const st = await dm.statusMany(['x', 'w'], { timeoutMs: 2000 });
      expect(st.map((r) => r.ok)).toEqual([true, true]);
      off();
    } finally {
      kernel.triggerEvent('w'); // lets the sleeping DEV_WAIT return
      await settle(20);
      other.close();
      dm.close();
    }
  });
});
