// Adversarial review of wait(): the waiter follows its device by number after the first
// lookup (so a rename is followed), and minors are handed out again at once (the lowest free
// one). A device removed and another one created while the waiter sleeps must not be taken
// for the one it waits on: where the device has a uuid, a different uuid is another device.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmIdentityError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { Actor } from '../lib/actor.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

async function turns(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('wait() and a device replaced under its minor', () => {
  test('the device is removed and another one made at its minor while the waiter sleeps: the wait does not return the other device', async () => {
    const kernel = new SimulatedKernel();
    const actor = new Actor(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'mine', uuid: 'UUID-MINE', table: zero });
      const mine = await dm.info('mine');
      let outcome: unknown;
      const p = dm.wait('mine').then((v) => { outcome = v; }, (e: unknown) => { outcome = e; });
      await turns();
      expect(outcome).toBeUndefined();
      // Another process: remove ours, create a stranger (it gets the freed minor).
      actor.remove({ name: 'mine' });
      const stranger = actor.createLive('stranger', { uuid: 'UUID-STRANGER' });
      expect(stranger.minor).toBe((mine as { dev: { minor: number } }).dev.minor);
      await turns();
      // The stranger's own event: before the fix the waiter, now asleep on the stranger,
      // resolved with { device: { name: 'stranger', uuid: 'UUID-STRANGER', … } }.
      kernel.triggerEvent('stranger');
      await turns();
      void p;
      expect(outcome).toBeInstanceOf(DmIdentityError);
      expect(outcome).toMatchObject({ code: 'DEVICE_REPLACED', actual: { uuid: 'UUID-STRANGER' } });
    } finally {
      dm.close();
    }
  });

  test('the swap lands between the wake-up check and the DEV_WAIT ioctl: the reply names the stranger, and the wait refuses it', async () => {
    const kernel = new SimulatedKernel();
    const actor = new Actor(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'mine', uuid: 'UUID-MINE', table: zero });
      // Ours at event 2, the stranger will be at 0: the DEV_WAIT by number returns at once for it.
      kernel.triggerEvent('mine');
      kernel.triggerEvent('mine');
      let outcome: unknown;
      const p = dm.wait('mine').then((v) => { outcome = v; }, (e: unknown) => { outcome = e; });
      await turns();
      const off = kernel.intercept({
        before: (e) => {
          if (e.command !== 'wait') return;
          actor.remove({ name: 'mine' });
          actor.createLive('stranger', { uuid: 'UUID-STRANGER' });
        },
      });
      kernel.triggerEvent('mine');
      await turns();
      off();
      void p;
      // Before the fix: resolved with the stranger's status.
      expect(outcome).toBeInstanceOf(DmIdentityError);
    } finally {
      dm.close();
    }
  });

  test('a rename is still followed (same uuid, new name)', async () => {
    const kernel = new SimulatedKernel();
    const actor = new Actor(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'mine', uuid: 'UUID-MINE', table: zero });
      const p = dm.wait('mine');
      await turns();
      actor.rename('mine', 'renamed');
      await expect(p).resolves.toMatchObject({ device: { name: 'renamed', uuid: 'UUID-MINE' } });
    } finally {
      dm.close();
    }
  });
});
