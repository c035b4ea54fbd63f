// Adversarial review of FaultyDevice (lib/operations/faulty-device.ts). Each `it.failing` is
// a defect found in review and left to the engineers changing lib/operations/: it flips (and
// fails as a reminder) once fixed; make it a plain `it` then.
import { describe, expect, it } from '@jest/globals';
import { DeviceMapper, DmOperationError, FaultyDevice } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { Actor } from '../lib/actor.js';

describe('setMode() on a device someone else holds suspended', () => {
  // Finding: setMode() always runs load → suspend → resume. On a device another actor had
  // suspended (to quiesce I/O for a snapshot of the disk underneath, say), the suspend is a
  // no-op for the kernel and the resume then resumes the device under that actor: its I/O
  // starts again in the middle of the other's work. ThinPool.snapshot() follows the rule
  // "an origin someone else had suspended is left suspended"; FaultyDevice does not.
  // Proposed fix (faulty-device.ts, setMode): read the device's info first; when it is
  // already suspended, load the table and stop there (the other actor's resume makes it
  // live) — or refuse with DmOperationError EBUSY before loading — but never resume it.
  it('a device suspended by another actor is still suspended after failAll()', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/loop0', 7, 0, 65536);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const dev = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0' });
      new Actor(kernel).call('suspend', { id: { name: 'fd' }, action: 'suspend' });
      expect(kernel.devices.get('fd')!.suspended).toBe(true);
      const e = await dev.failAll().then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmOperationError);
      expect(e).toMatchObject({ code: 'EBUSY' });
      // Before the fix: false — setMode resumed the other actor's suspension.
      expect(kernel.devices.get('fd')!.suspended).toBe(true);
      // Refused before the load: nothing staged in their inactive slot, the live table unchanged.
      expect(kernel.devices.get('fd')!.inactive).toBeUndefined();
      expect(kernel.devices.get('fd')!.live?.lines[0]?.type).toBe('linear');
    } finally {
      dm.close();
    }
  });
});

describe('setMode(): suspended by someone else between its info and its load', () => {
  it('is refused, its loaded table dropped, and the device left suspended', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/loop0', 7, 0, 65536);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const dev = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0' });
      const actor = new Actor(kernel);
      let done = false;
      const off = kernel.intercept({
        before: (e) => {
          if (done || e.command !== 'load') return;
          done = true;
          actor.call('suspend', { id: { name: 'fd' }, action: 'suspend' });
        },
      });
      const e = await dev.failAll().then(() => undefined, (x: unknown) => x);
      off();
      expect(done).toBe(true);
      expect(e).toMatchObject({ code: 'EBUSY' });
      expect(kernel.devices.get('fd')!.suspended).toBe(true);
      expect(kernel.devices.get('fd')!.inactive).toBeUndefined();
      expect(kernel.devices.get('fd')!.live?.lines[0]?.type).toBe('linear');
    } finally {
      dm.close();
    }
  });
});
