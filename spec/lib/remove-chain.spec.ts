// removeDevice's verified attempts as chains (lib/operations/identity.ts removeVerifiedChain):
// DM_DEV_STATUS → DM_DEV_REMOVE submitted as one chain, checked against the expected device's
// reference header, judged so that the outcome is the step-by-step path's: EBUSY retried (the
// delay on this thread), EBUSY to the end, a stranger at the status (nothing removed), the
// worker dying with the chain in it or before taking it, abort before and after the chain is
// sent, close() mid-chain, a transport that cannot chain, udev sync, removeMany, createDevice's
// rollback.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmError, DmIdentityError } from '../../lib/index.js';
import { DmEngineError, ERRNO } from '../../ffi/errors.js';
import { requestCode } from '../../codec/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { chainedBackend, type ChainHooks } from './chain-transport.js';
import { Actor } from './actor.js';

const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
const INFO = requestCode('info'), REMOVE = requestCode('remove');

async function setup(hooks: ChainHooks = { chains: 0 }, options: { udev?: boolean } = {}) {
  hooks.log ??= [];
  const kernel = new SimulatedKernel(options.udev ? { udev: true } : {});
  const calls: string[] = [];
  kernel.intercept({ before: (e) => { if (e.label === 'me' && e.command !== 'version') calls.push(e.command ?? '?'); } });
  const dm = await DeviceMapper.open({ backend: chainedBackend(kernel.backend({ label: 'me' }), hooks) });
  return { kernel, dm, hooks, calls, a: new Actor(kernel) };
}

/** Fails the first `n` DM_DEV_REMOVEs of ours with EBUSY (n = Infinity: all of them). */
function busy(kernel: SimulatedKernel, n: number): { readonly count: number } {
  const seen = { count: 0 };
  kernel.intercept({ fault: (e) => (e.label === 'me' && e.command === 'remove' && seen.count++ < n ? { errno: ERRNO.EBUSY } : undefined) });
  return seen;
}

describe('removeDevice: verified attempts as one chain each', () => {
  test('a removal pinned to an identity (expect): one chain [status, remove] checked against the reference; the result is the step-by-step path\'s', async () => {
    const { kernel, dm, hooks, calls, a } = await setup();
    const d = a.createLive('a');
    const info = { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } };
    const r = await dm.removeDevice('a', { expect: info });
    expect([hooks.chains, hooks.referenced]).toEqual([1, 1]);
    expect(hooks.log).toEqual([[INFO, REMOVE]]);
    expect(calls).toEqual(['info', 'remove']);
    expect(kernel.devices.size).toBe(0);
    // The step-by-step path on a kernel of its own gives the same result.
    const plain = await setup({ chains: 0, refuse: true });
    const d2 = plain.a.createLive('a');
    expect(d2.minor).toBe(d.minor);
    expect(await plain.dm.removeDevice('a', { expect: info })).toEqual(r);
    expect(plain.calls).toEqual(['info', 'remove']);
    await dm.close();
    await plain.dm.close();
  });

  test.each([[0], [2], [5]])('EBUSY %i times, then the remove goes through: one chain per attempt, the delay on this thread', async (n) => {
    const { kernel, dm, hooks, calls, a } = await setup();
    const d = a.createLive('a', { uuid: 'U-a' });
    const seen = busy(kernel, n);
    await dm.removeDevice({ uuid: 'U-a' }, { expect: { name: 'a', uuid: 'U-a', dev: { major: kernel.major, minor: d.minor } }, retries: 10, delayMs: 1 });
    expect(seen.count).toBe(n + 1);
    expect(hooks.chains).toBe(n + 1);
    expect(calls).toEqual(Array.from({ length: n + 1 }, () => ['info', 'remove']).flat());
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('EBUSY on every attempt: the last DmError EBUSY surfaces after `retries` chains; the device stays', async () => {
    const { kernel, dm, hooks, a } = await setup();
    const d = a.createLive('a');
    busy(kernel, Infinity);
    const err = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, retries: 4, delayMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmError);
    expect((err as DmError).code).toBe('EBUSY');
    expect((err as DmError).command).toBe('remove');
    expect(hooks.chains).toBe(4);
    expect(kernel.devices.has('a')).toBe(true);
    await dm.close();
  });

  test('by name without a uuid and no expect: the first attempt is the plain remove, every retry a chain', async () => {
    const { kernel, dm, hooks, calls, a } = await setup();
    a.createLive('a');
    busy(kernel, 2);
    await dm.removeDevice('a', { retries: 5, delayMs: 1 });
    expect(hooks.chains).toBe(2);
    expect(calls).toEqual(['info', 'remove', 'info', 'remove', 'info', 'remove']);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('a uuid and no expect: no verification, so no chain (single removes by uuid, as before)', async () => {
    const { kernel, dm, hooks, calls, a } = await setup();
    a.createLive('a', { uuid: 'U-a' });
    busy(kernel, 1);
    await dm.removeDevice({ uuid: 'U-a' }, { retries: 3, delayMs: 1 });
    expect(hooks.chains).toBe(0);
    expect(calls).toEqual(['remove', 'remove']);
    await dm.close();
  });

  test.each([
    ['no uuid: another device under the name', false],
    ['a uuid: another minor took it', true],
  ] as const)('a stranger at the status (%s): DmIdentityError, acted: false; the remove is never issued and the stranger stays', async (_label, withUuid) => {
    const { kernel, dm, hooks, calls, a } = await setup();
    const d = a.createLive('a', withUuid ? { uuid: 'U-a' } : {});
    const ours = { name: 'a', uuid: withUuid ? 'U-a' : null, dev: { major: kernel.major, minor: d.minor } };
    a.remove({ name: 'a' });
    a.create('filler');
    a.createLive('a', withUuid ? { uuid: 'U-a' } : {});
    const err = await dm.removeDevice(withUuid ? { uuid: 'U-a' } : 'a', { expect: ours }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect((err as DmIdentityError).acted).toBe(false);
    expect((err as DmIdentityError).step).toBe('info');
    expect(hooks.log).toEqual([[INFO, REMOVE]]);
    expect(calls).toEqual(['info']); // the remove was not issued
    expect(kernel.devices.get('a')?.live).toBeDefined();
    await dm.close();
  });

  test('a stranger takes the name between two attempts (EBUSY, then replaced): the second chain stops at its status', async () => {
    const { kernel, dm, calls, a } = await setup();
    const d = a.createLive('a');
    let n = 0;
    kernel.intercept({
      fault: (e) => (e.label === 'me' && e.command === 'remove' && n++ === 0 ? { errno: ERRNO.EBUSY } : undefined),
      after: (e) => {
        if (e.label !== 'me' || e.command !== 'remove' || n !== 1) return;
        a.remove({ name: 'a' });
        a.create('filler');
        a.createLive('a');
      },
    });
    const err = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, delayMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect(calls).toEqual(['info', 'remove', 'info']);
    expect(kernel.devices.get('a')?.live).toBeDefined();
    await dm.close();
  });

  test('our device gone before the chain: ENXIO from the status, nothing removed', async () => {
    const { kernel, dm, calls, a } = await setup();
    const d = a.createLive('a');
    a.remove({ name: 'a' });
    const err = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } } }).catch((e: unknown) => e);
    expect((err as DmError).code).toBe('ENXIO');
    expect((err as DmError).command).toBe('info');
    expect(calls).toEqual(['info']);
    await dm.close();
  });

  test('the worker dying with the chain in it: DmEngineError (sent), no further attempt', async () => {
    const { kernel, dm, hooks, a } = await setup({ chains: 0, dieAfter: 0 });
    const d = a.createLive('a');
    const err = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, delayMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmEngineError);
    expect((err as DmEngineError).sent).toBe(true);
    expect(hooks.chains).toBe(1);
    expect(kernel.devices.has('a')).toBe(true); // the worker died after the status: the remove never ran
    await dm.close();
  });

  test('the worker dying before it took the chain: the attempt goes step by step', async () => {
    const { kernel, dm, hooks, calls, a } = await setup({ chains: 0, dieAfter: -1 });
    const d = a.createLive('a');
    await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } } });
    expect(hooks.chains).toBe(1);
    expect(calls).toEqual(['info', 'remove']);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('abort before the chain is sent: nothing reaches the kernel', async () => {
    const { kernel, dm, hooks, calls, a } = await setup();
    const d = a.createLive('a');
    const ac = new AbortController();
    ac.abort();
    await expect(dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect([hooks.chains, calls.length, kernel.devices.size]).toEqual([0, 0, 1]);
    await dm.close();
  });

  test('abort while a chain is in flight (EBUSY coming): the caller is released at once; the chain runs to its end; no further attempt', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0, gate: new Promise((r) => { open = r; }) };
    const { kernel, dm, calls, a } = await setup(hooks);
    const d = a.createLive('a');
    busy(kernel, Infinity);
    const ac = new AbortController();
    const p = dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, signal: ac.signal, delayMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    expect(hooks.chains).toBe(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(DmAbortError);
    open();
    await dm[Symbol.asyncDispose]();
    expect(calls).toEqual(['info', 'remove']);
    expect(hooks.chains).toBe(1);
    expect(kernel.devices.has('a')).toBe(true);
  });

  test('a timeout during the delay between chains: DmOperationError TIMEOUT, no further chain', async () => {
    const { kernel, dm, hooks, a } = await setup();
    const d = a.createLive('a');
    busy(kernel, Infinity);
    const err = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, delayMs: 200, timeoutMs: 50 }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('TIMEOUT');
    const chains = hooks.chains;
    expect(chains).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(hooks.chains).toBe(chains);
    await dm.close();
  });

  test('close() mid-chain: the chain runs to its end; close() waits for it; the fd is released', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0, gate: new Promise((r) => { open = r; }) };
    const { kernel, dm, a } = await setup(hooks);
    const d = a.createLive('a');
    const p = dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } } }).then((v) => v, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    const closing = dm[Symbol.asyncDispose]();
    open();
    const [r] = await Promise.all([p, closing]);
    expect(r).toMatchObject({ name: 'a' });
    expect(kernel.devices.size).toBe(0);
    expect(kernel.openFds).toBe(0);
  });

  test('close() during the delay between chains: no further chain; DmClosedError', async () => {
    const { kernel, dm, hooks, a } = await setup();
    const d = a.createLive('a');
    busy(kernel, Infinity);
    const p = dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, delayMs: 100 }).then((v) => v, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await dm.close();
    const err = await p;
    expect((err as { code?: string }).code).toBe('DM_CLOSED');
    expect(hooks.chains).toBe(1);
    expect(kernel.devices.has('a')).toBe(true);
  });

  test('a transport that cannot chain now (engine not ready): the step-by-step path', async () => {
    const { kernel, dm, hooks, calls, a } = await setup({ chains: 0, refuse: true });
    const d = a.createLive('a');
    busy(kernel, 1);
    await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, delayMs: 1 });
    expect(hooks.chains).toBe(0);
    expect(calls).toEqual(['info', 'remove', 'info', 'remove']);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('udev sync: the cookie made once before the first attempt goes along in the chain; udev completes it', async () => {
    const { kernel, dm, hooks, a } = await setup({ chains: 0 }, { udev: true });
    const d = a.createLive('a');
    const r = await dm.removeDevice('a', { expect: { name: 'a', uuid: null, dev: { major: kernel.major, minor: d.minor } }, udev: 'sync' });
    expect(hooks.chains).toBe(1);
    expect(r.ueventGenerated).toBe(true);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('removeMany of what createMany returned: each removal one chain, nothing left', async () => {
    const { kernel, dm, hooks } = await setup({ chains: 0, refuse: true });
    const made = (await dm.createMany(Array.from({ length: 12 }, (_, i) => ({ name: `v${i}`, table })))).flatMap((r) => (r.ok ? [r.value] : []));
    expect(made).toHaveLength(12);
    hooks.refuse = false;
    const removed = await dm.removeMany(made, { concurrency: 4 });
    expect(removed.every((r) => r.ok)).toBe(true);
    expect(hooks.chains).toBe(12);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });

  test('createDevice\'s rollback (verify-then-remove of the half-made device) goes as a chain too', async () => {
    const { kernel, dm, hooks, calls } = await setup({ chains: 0 });
    let failed = false;
    kernel.intercept({ fault: (e) => (e.label === 'me' && e.command === 'suspend' && !failed ? ((failed = true), { errno: ERRNO.EIO }) : undefined) });
    const err = await dm.createDevice({ name: 'a', table }).catch((e: unknown) => e);
    expect((err as DmError).code).toBe('EIO');
    expect(hooks.chains).toBe(2); // create → load → resume, then the rollback's [status, remove]
    expect(calls).toEqual(['create', 'load', 'suspend', 'info', 'remove']);
    expect(kernel.devices.size).toBe(0);
    await dm.close();
  });
});
