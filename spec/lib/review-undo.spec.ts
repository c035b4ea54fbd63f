// Adversarial review of the operation core's undo paths: what a multi-step operation made is
// removed again when it fails or is stopped, after close() too, and never someone else's.
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper, FaultyDevice, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simFaults, thinSim } from '../../testing/index.js';

const MiB = 1024n * 1024n;
let kernel: SimulatedKernel;
let dm: DeviceMapper;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

describe('undo after close()', () => {
  test('ThinPool.delete with discard: close() after the helper activation still removes the helper', async () => {
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
    });
    await p.createThin(1);
    // The helper's status call is the step after its createDevice: close the client there.
    const off = kernel.intercept({ before: (e) => { if (e.command === 'status' && e.uuid === 'THIN-1-pool') dm.close(); } });
    const e = await p.delete(1, { discard: true }).then(() => undefined, (x: unknown) => x);
    off();
    expect(e).toMatchObject({ code: 'DM_CLOSED' });
    await dm[Symbol.asyncDispose]();
    expect([...kernel.devices.keys()]).toEqual(['pool']);
    expect(thinSim(kernel).pool('pool').thins.has(1)).toBe(true);
  });
});

describe('a step that lands after the operation gave up, then close()', () => {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  test('createDevice: a create that lands after TIMEOUT is removed even when the client is closed meanwhile', async () => {
    simFaults(kernel).delay('create', 80);
    const e = await dm.createDevice({ name: 'late', uuid: 'LATE-1', table: [{ start: 0, length: 8, type: 'zero', params: '' }], timeoutMs: 10 })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    await dm[Symbol.asyncDispose](); // waits for what is in flight, the late create's undo included
    await sleep(150);
    expect([...kernel.devices.keys()]).toEqual([]);
  });

  test('FaultyDevice.setMode: a suspend that lands after TIMEOUT is resumed even when the client is closed meanwhile', async () => {
    kernel.addBlockDevice('/dev/sdz', 8, 0, 2048);
    const f = await FaultyDevice.create(dm, { name: 'f', device: '/dev/sdz' });
    simFaults(kernel).delay('suspend', 80);
    const e = await f.failAll({ timeoutMs: 10 }).then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    await dm[Symbol.asyncDispose]();
    await sleep(150);
    expect(kernel.devices.get('f')!.suspended).toBe(false);
  });
});

describe('listeners on the caller\'s signal', () => {
  test('ThinPool.conditions(): ending the iterator with throw() lets go of the caller\'s signal', async () => {
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
    });
    const ac = new AbortController();
    const it = p.conditions({ signal: ac.signal, initial: false });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    await it.throw!(new Error('consumer failed')).catch(() => undefined);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('single commands: a call that lands after the caller gave up, then close()', () => {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  test('suspend with timeoutMs: a suspend that lands after TIMEOUT is resumed even when the client is closed meanwhile', async () => {
    await dm.createDevice({ name: 's', uuid: 'S-1', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    simFaults(kernel).delay('suspend', 80);
    const e = await dm.suspend('s', { timeoutMs: 10 }).then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    await dm[Symbol.asyncDispose]();
    await sleep(150);
    expect(kernel.devices.get('s')!.suspended).toBe(false);
  });
});
