// Adversarial review of the runner (lib/client/runner.ts): its process-wide queue of async
// ioctls (CALLS_IN_FLIGHT at once, ffi/engine.ts) and a caller that gives up while its call
// waits in that queue.
import { describe, expect, it } from '@jest/globals';
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';
import { DeviceMapper, DmAbortError, DmOperationError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

describe('a call still queued for an async slot when its caller gives up', () => {
  // Finding (fixed): runAsync took a process-wide slot (takeSlot) before it sends the ioctl, FIFO
  // and blind to the caller's signal. boundedCall rejected the caller at once with
  // DmAbortError, but the queued call stayed in the queue and was sent when a slot freed:
  // a remove the caller cancelled before it reached the kernel removed the device anyway,
  // after the caller was told it was aborted (docs/conventions.md: a kernel call *already
  // under way* finishes in the kernel; this one was not under way). Now boundedCall hands
  // its give-up signal to the runner (CallContext.stop): a waiter for a slot whose signal
  // aborts leaves the queue unsent.
  it('a remove aborted while queued behind CALLS_IN_FLIGHT slow calls is never sent', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'busy', table: zero });
      await dm.createDevice({ name: 'victim', table: zero });
      // Every status call is held in the "kernel" for a while: the slots fill up.
      const off = kernel.intercept({ fault: (e) => (e.command === 'status' ? { delayMs: 400 } : undefined) });
      const slow = Array.from({ length: CALLS_IN_FLIGHT }, () => dm.status('busy'));
      const ac = new AbortController();
      const removal = dm.remove('victim', { signal: ac.signal, udev: 'none' });
      await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      await expect(removal).rejects.toBeInstanceOf(DmAbortError);
      await Promise.all(slow);
      off();
      await new Promise((r) => setTimeout(r, 50));
      // Before the fix: false — the cancelled remove was sent once a slot freed.
      expect(kernel.devices.has('victim')).toBe(true);
    } finally {
      dm.close();
    }
  });

  it('a remove whose timeoutMs passes while it is queued is never sent either', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'busy', table: zero });
      await dm.createDevice({ name: 'victim', table: zero });
      const off = kernel.intercept({ fault: (e) => (e.command === 'status' ? { delayMs: 400 } : undefined) });
      const slow = Array.from({ length: CALLS_IN_FLIGHT }, () => dm.status('busy'));
      const e = await dm.remove('victim', { timeoutMs: 30, udev: 'none' }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmOperationError);
      expect(e).toMatchObject({ code: 'TIMEOUT' });
      await Promise.all(slow);
      off();
      await new Promise((r) => setTimeout(r, 50));
      expect(kernel.devices.has('victim')).toBe(true);
      // The queue still hands slots on: a later call runs.
      await expect(dm.remove('victim', { udev: 'none' })).resolves.toMatchObject({ name: 'victim' });
    } finally {
      dm.close();
    }
  });
});
