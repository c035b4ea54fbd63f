// The interleaving behind the randomized stress's rare "our device does not run our table"
// (identity-races.spec.ts): a createDevice WITH a uuid (c1) is between its load and its
// resume when a createDevice WITHOUT a uuid (c2) loads by name, and someone else has
// removed c2's device and renamed c1's device into c2's name in between. c2's load reaches
// c1's device and replaces c1's table in its inactive slot; c1's resume (by uuid, correctly
// its own device) then swaps in c2's table. The kernel offers no way to prevent this (a
// load is addressed by name, uuid or dev, never "name and no uuid"; a resume cannot say
// which table): docs/identity.md, "What remains by design". What the library must do, and
// this test pins: c2 reports it (DmIdentityError, acted, naming c1's uuid) and touches
// nothing further — its rollback does not remove c1's device.
import { expect, test } from '@jest/globals';
import { DeviceMapper, DmIdentityError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { Actor } from './actor.js';

test('a uuid-less createDevice whose load reaches another client\'s device reports it and leaves that device alone', async () => {
  const kernel = new SimulatedKernel();
  const adversary = new Actor(kernel);
  const c1 = await DeviceMapper.open({ backend: kernel.backend({ label: 'c1' }) });
  const c2 = await DeviceMapper.open({ backend: kernel.backend({ label: 'c2' }) });
  const steps: string[] = [];
  let moved = false;
  kernel.intercept({
    before: (e) => {
      steps.push(`${e.label} ${e.command}`);
      // Right before c2's load, with c1's table already in c1's inactive slot.
      if (!moved && e.label === 'c2' && e.command === 'load' && kernel.devices.get('y')?.inactive) {
        moved = true;
        adversary.remove({ name: 'x' });
        adversary.rename('y', 'x');
      }
    },
  });
  const [r1, r2] = await Promise.allSettled([
    c1.createDevice({ name: 'y', uuid: 'C1', table: [{ start: 0, length: 16n, type: 'zero', params: '' }] }),
    c2.createDevice({ name: 'x', table: [{ start: 0, length: 24n, type: 'zero', params: '' }], rollback: { delayMs: 0 } }),
  ]);
  expect(moved).toBe(true);
  expect(steps.slice(0, 4)).toEqual(['c1 create', 'c2 create', 'c1 load', 'c2 load']);
  // c2: reported, as acted, naming the device it reached.
  expect(r2.status).toBe('rejected');
  const e = (r2 as PromiseRejectedResult).reason as DmIdentityError;
  expect(e).toBeInstanceOf(DmIdentityError);
  expect(e.step).toBe('load');
  expect(e.acted).toBe(true);
  expect(e.actual.uuid).toBe('C1');
  // c2 touched nothing further: c1's device is still there (its rollback verified and refused).
  const d = [...kernel.devices.values()].find((x) => x.uuid === 'C1');
  expect(d?.name).toBe('x');
  // c1's steps all reached its own device (by uuid); its resume swapped in what the kernel
  // held: c2's table (the documented window; nothing in c1's replies can tell).
  expect(r1.status).toBe('fulfilled');
  expect(d?.live?.lines[0]?.length).toBe(24n);
  await c1[Symbol.asyncDispose]();
  await c2[Symbol.asyncDispose]();
  expect(kernel.openFds).toBe(0);
});
