// Review of removeMany / createMany (lib/operations/many.ts): per-device errors keep the
// caller's stack, as every error of the library does (docs/conventions.md).
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmClosedError, DmArgumentError, DmBaseError, type ManyStopped } from '../../lib/index.js';
import { SimulatedKernel, simFaults } from '../../testing/index.js';

describe('removeMany / createMany review', () => {
  test('a per-device error names the caller in its stack, for a device that was not first in its lane', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createMany([{ name: 'a', table: [{ start: 0, length: 8, type: 'zero', params: '' }] }]);
    async function callerOfRemoveMany() {
      return dm.removeMany(['a', 'missing-1', 'missing-2'], { concurrency: 1 });
    }
    const results = await callerOfRemoveMany();
    expect(results.map((r) => r.ok)).toEqual([true, false, false]);
    for (const r of results.slice(1)) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(String((r.error as Error).stack)).toContain('callerOfRemoveMany');
    }
    dm.close();
  });

  test('createMany with stopOnError: a failed device and those never started name the caller', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    async function callerOfCreateMany() {
      return dm.createMany([{ name: 'x', table }, { name: 'x', table }, { name: 'y', table }], { concurrency: 1, stopOnError: true });
    }
    const results = await callerOfCreateMany();
    expect(results.map((r) => r.ok)).toEqual([true, false, false]);
    for (const r of results.slice(1)) if (!r.ok) expect(String((r.error as Error).stack)).toContain('callerOfCreateMany');
    dm.close();
  });

  // The doc comment of createMany's check says "a batch with a bad entry sends nothing at all",
  // and conventions.md: hostile input gets a typed error before any syscall. Only the shape
  // (a non-empty table array) was checked up front: a bad table line, udev option or rollback
  // in a later spec failed that spec alone, after the earlier ones were created.
  test.each([
    ['a table line with a negative length', { table: [{ start: 0, length: -8, type: 'zero', params: '' }] }],
    ['a table line that is not an object', { table: ['0 8 zero'] }],
    ["udev: 'bogus'", { udev: 'bogus' }],
    ['rollback.retries -1', { rollback: { retries: -1 } }],
  ])('createMany with %s in its last spec creates nothing', async (_, bad) => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    let ioctls = 0;
    kernel.intercept({ before: () => { ioctls++; } });
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    const specs = [{ name: 'a', table }, { name: 'b', table }, { name: 'c', table, ...bad }];
    const e = await (dm.createMany as (s: unknown) => Promise<unknown>)(specs).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmBaseError);
    expect((e as DmArgumentError).argument ?? (e as { field?: string }).field ?? '').toMatch(/^specs\[2\]/);
    expect(ioctls).toBe(0);
    expect(kernel.devices.size).toBe(0);
    dm.close();
  });

  // The stop's error carried `results`, and the devices never started held that very error:
  // a cycle (error.results[i].error === error), so JSON.stringify of the error (a logger's
  // serialiser) threw "Converting circular structure to JSON".
  test('a stopped batch\'s error serialises: its results do not hold the error itself', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    const stop = new AbortController();
    const specs = Array.from({ length: 6 }, (_, i) => ({ name: `s${i}`, table }));
    const e = await dm.createMany(specs, { concurrency: 1, signal: stop.signal, onProgress: (q) => { if (q.done === 2) stop.abort(); } })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    const results = (e as DmAbortError & ManyStopped).results;
    expect(results.filter((r) => !r.ok)).toHaveLength(4);
    for (const r of results) if (!r.ok) { expect(r.error).toBeInstanceOf(DmAbortError); expect(r.error).not.toBe(e); }
    expect(() => JSON.stringify(e, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toThrow(); // bigints: DeviceInfo's storage values
    await dm[Symbol.asyncDispose]();
  });

  // close() mid-createMany with each step of the creations in flight sleeping in the kernel
  // (the create lands after the close: its late undo removes it; a load or resume under way:
  // the rollback removes the device by its identity even after close()).
  test.each([['create', true], ['load', true], ['suspend', true], ['create', false], ['load', false], ['suspend', false]] as const)('close() while %s calls sleep in the kernel leaves no half-made device (uuid: %s)', async (step, uuid) => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    faults.delay(step, 5, { times: Infinity });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    const specs = Array.from({ length: 24 }, (_, i) => ({ name: `c${i}`, ...(uuid ? { uuid: `CLOSE-${i}` } : {}), table }));
    let closed: Promise<void> | undefined;
    const e = await dm.createMany(specs, { concurrency: 6, onProgress: (q) => { if (q.done === 3 && !closed) closed = dm[Symbol.asyncDispose](); } })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmClosedError);
    await closed;
    await new Promise((r) => setTimeout(r, 50));
    const ok = (e as DmClosedError & ManyStopped).results.flatMap((r) => (r.ok ? [(r.value as { name: string }).name] : []));
    expect(ok.length).toBeLessThan(24); // the close did stop the batch
    expect([...kernel.devices.keys()].sort()).toEqual([...ok].sort());
    for (const d of kernel.devices.values()) expect({ name: d.name, suspended: d.suspended, live: d.live != null }).toEqual({ name: d.name, suspended: false, live: true });
    faults.clear();
  });

  test.each([
    { concurrency: NaN }, { concurrency: Infinity }, { concurrency: -1 }, { concurrency: '4' }, { concurrency: 2 ** 53 }, { concurrency: 1e9 },
    { timeoutMs: NaN }, { timeoutMs: -1 }, { timeoutMs: 0 }, { timeoutMs: Infinity }, { timeoutMs: 2 ** 31 }, { stopOnError: 'yes' }, { onProgress: 1 },
  ])('options %p: a typed error before any ioctl, from both', async (bad) => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    let ioctls = 0;
    kernel.intercept({ before: () => { ioctls++; } });
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    await expect((dm.createMany as (s: unknown, o: unknown) => Promise<unknown>)([{ name: 'a', table }], bad)).rejects.toBeInstanceOf(DmBaseError);
    await expect((dm.removeMany as (s: unknown, o: unknown) => Promise<unknown>)(['a'], bad)).rejects.toBeInstanceOf(DmBaseError);
    expect(ioctls).toBe(0);
    dm.close();
  });
});
