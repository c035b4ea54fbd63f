// createDevice's chained path (lib/operations/create-device.ts createChained): create → load →
// resume submitted as one chain when the transport can run one (the engine), judged step by
// step so the rollback is today's: a failure at each step, the worker dying with the chain in
// it or before taking it, abort before and after the chain is sent, close() mid-chain, a chain
// the transport refuses (the step-by-step path), and udev sync (never chained).
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmError, DmIdentityError } from '../../lib/index.js';
import { DmEngineError, ERRNO } from '../../ffi/errors.js';
import { SimulatedKernel } from '../../testing/index.js';
import { chainedBackend, type ChainHooks } from './chain-transport.js';
import { Actor } from './actor.js';

const table = [{ start: 0, length: 8, type: 'zero', params: '' }];

async function setup(hooks: ChainHooks = { chains: 0 }, options: { udev?: boolean } = {}) {
  const kernel = new SimulatedKernel(options.udev ? { udev: true } : {});
  const calls: string[] = [];
  kernel.intercept({ before: (e) => { if (e.label === 'me' && e.command !== 'version') calls.push(e.command ?? '?'); } });
  const dm = await DeviceMapper.open({ backend: chainedBackend(kernel.backend({ label: 'me' }), hooks) });
  return { kernel, dm, hooks, calls };
}

describe('createDevice as one chain', () => {
  test('the three ioctls go as one chain; the result is the step-by-step path\'s', async () => {
    const { kernel, dm, hooks, calls } = await setup();
    const info = await dm.createDevice({ name: 'a', uuid: 'U-a', table });
    expect(hooks.chains).toBe(1);
    expect(calls).toEqual(['create', 'load', 'suspend']);
    expect(info.flags.suspended).toBe(false);
    expect(kernel.devices.get('a')?.live?.lines.length).toBe(1);
    const plain = new SimulatedKernel();
    const dm2 = await DeviceMapper.open({ backend: plain.backend() });
    const info2 = await dm2.createDevice({ name: 'a', uuid: 'U-a', table });
    expect(info).toEqual(info2);
    await dm.close();
    await dm2.close();
  });

  test.each([
    ['create', 0, ['create']],
    ['load', 1, ['create', 'load', 'info', 'remove']],
    ['suspend', 2, ['create', 'load', 'suspend', 'info', 'remove']],
  ] as const)('a failure at the %s stops the chain; what was made is removed (ours only)', async (command, _at, expected) => {
    const { kernel, dm, calls } = await setup();
    let failed = false;
    kernel.intercept({ fault: (e) => (e.label === 'me' && e.command === command && !failed ? ((failed = true), { errno: ERRNO.EINVAL }) : undefined) });
    const err = await dm.createDevice({ name: 'a', uuid: 'U-a', table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmError);
    expect((err as DmError).code).toBe('EINVAL');
    expect(calls).toEqual(expected);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('a mismatch at the load (no uuid: by name): DmIdentityError, no resume, the stranger untouched, ours removed', async () => {
    const { kernel, dm, calls } = await setup();
    const a = new Actor(kernel);
    a.create('filler');
    let acted = false;
    kernel.intercept({
      before: (e) => {
        if (e.label !== 'me' || e.command !== 'load' || acted) return;
        acted = true;
        // Between the worker's create and load, someone removes ours and makes another under
        // the name on another minor.
        a.remove({ name: 'a' });
        a.create('filler2');
        a.create('a');
      },
    });
    const stranger = () => kernel.devices.get('a');
    const err = await dm.createDevice({ name: 'a', table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect((err as DmIdentityError).step).toBe('load');
    // No resume; the rollback's look (DM_DEV_STATUS, 'info') finds a stranger under the name and removes nothing.
    expect(calls).toEqual(['create', 'load', 'info']);
    expect(stranger()).toBeDefined();
    expect(stranger()?.live).toBeUndefined(); // loaded (the window by design, reported) but never resumed
    await dm.close();
  });

  test('a mismatch at the resume (a uuid: another minor took it): DmIdentityError', async () => {
    const { kernel, dm, calls } = await setup();
    const a = new Actor(kernel);
    let acted = false;
    kernel.intercept({
      before: (e) => {
        if (e.label !== 'me' || e.command !== 'suspend' || acted) return;
        acted = true;
        a.remove({ uuid: 'U-a' });
        a.create('filler');
        a.create('b', { uuid: 'U-a' });
        a.call('load', { id: { uuid: 'U-a' }, targets: table });
      },
    });
    const err = await dm.createDevice({ name: 'a', uuid: 'U-a', table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect((err as DmIdentityError).step).toBe('resume');
    expect(calls.slice(0, 3)).toEqual(['create', 'load', 'suspend']);
    await dm.close();
  });

  test('the worker dying with the chain in it: DmEngineError (sent), the intent record left for recover()', async () => {
    const { kernel, dm } = await setup({ chains: 0, dieAfter: 0 });
    const err = await dm.createDevice({ name: 'a', uuid: 'U-a', table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmEngineError);
    expect((err as DmEngineError).sent).toBe(true);
    expect(kernel.devices.has('a')).toBe(true); // made, never learnt of: what recover() is for
    await dm.close();
  });

  test('the worker dying before it took the chain: the steps go one by one', async () => {
    const { kernel, dm, hooks, calls } = await setup({ chains: 0, dieAfter: -1 });
    await dm.createDevice({ name: 'a', uuid: 'U-a', table });
    expect(hooks.chains).toBe(1);
    expect(calls).toEqual(['create', 'load', 'suspend']);
    expect(kernel.devices.get('a')?.live).toBeDefined();
    await dm.close();
  });

  test('a transport that cannot chain now (engine not ready): the step-by-step path', async () => {
    const { kernel, dm, hooks, calls } = await setup({ chains: 0, refuse: true });
    await dm.createDevice({ name: 'a', uuid: 'U-a', table });
    expect(hooks.chains).toBe(0);
    expect(calls).toEqual(['create', 'load', 'suspend']);
    expect(kernel.devices.get('a')?.live).toBeDefined();
    await dm.close();
  });

  test('abort before the chain is sent: nothing reaches the kernel', async () => {
    const { kernel, dm, hooks, calls } = await setup();
    const ac = new AbortController();
    ac.abort();
    await expect(dm.createDevice({ name: 'a', uuid: 'U-a', table, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect([hooks.chains, calls.length, kernel.devices.size]).toEqual([0, 0, 0]);
    await dm.close();
  });

  test('abort after the chain was sent: it runs to its end, then the device it made is removed', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0, gate: new Promise((r) => { open = r; }) };
    const { kernel, dm, calls } = await setup(hooks);
    const ac = new AbortController();
    const p = dm.createDevice({ name: 'a', uuid: 'U-a', table, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 5));
    expect(hooks.chains).toBe(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(DmAbortError);
    open();
    await dm[Symbol.asyncDispose](); // waits for the late chain and its undo
    expect(calls.slice(0, 3)).toEqual(['create', 'load', 'suspend']);
    expect(calls).toContain('remove');
    expect(kernel.devices.size).toBe(0);
  });

  test('close() mid-chain: the chain runs to its end; close() waits for it; the fd is released', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0, gate: new Promise((r) => { open = r; }) };
    const { kernel, dm } = await setup(hooks);
    const p = dm.createDevice({ name: 'a', uuid: 'U-a', table }).then((v) => v, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    const closing = dm[Symbol.asyncDispose]();
    open();
    const [r] = await Promise.all([p, closing]);
    // As a step under way at close(): it finishes; the chain held all three steps, so the device is complete.
    expect((r as { name?: string }).name).toBe('a');
    expect(kernel.devices.get('a')?.live).toBeDefined();
    expect(kernel.openFds).toBe(0);
  });

  test('udev sync: the cookie is made on this thread right before the resume, so no chain', async () => {
    const { dm, hooks, calls } = await setup({ chains: 0 }, { udev: true });
    await dm.createDevice({ name: 'a', uuid: 'U-a', table, udev: 'sync' });
    expect(hooks.chains).toBe(0);
    expect(calls).toEqual(['create', 'load', 'suspend']);
    await dm.close();
  });
});
