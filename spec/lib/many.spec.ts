// removeMany / createMany on the simulator: results per device in order, the concurrency bound
// (kernel calls in flight counted at the transport), identity (a device replaced mid-batch
// fails with DEVICE_REPLACED and is not touched), abort and close mid-batch leaving no
// half-made device, stopOnError, and every argument checked before any ioctl.
import { describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DmAbortError, DmArgumentError, DmClosedError, DmIdentityError, DmOperationError, type Backend, type CreateManySpec, type DeviceInfo, type ManyStopped,
} from '../../lib/index.js';
import { SimulatedKernel, simFaults } from '../../testing/index.js';
import { Actor } from './actor.js';

const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
const specs = (n: number, uuid = true): CreateManySpec[] => Array.from({ length: n }, (_, i) => ({ name: `m${i}`, ...(uuid ? { uuid: `MANY-${i}` } : {}), table }));

/** A backend that counts the async ioctls in flight at once, at the transport (what reaches a kernel-facing thread). */
function counting(kernel: SimulatedKernel): { backend: Backend; peak: () => number; lanes: Set<number | undefined> } {
  const base = kernel.backend();
  let inFlight = 0, peak = 0;
  const lanes = new Set<number | undefined>();
  return {
    peak: () => peak,
    lanes,
    backend: {
      ...base,
      async openControl() {
        const t = await base.openControl();
        return {
          get fd() { return t.fd; },
          ioctl: (r, b) => t.ioctl(r, b),
          ioctlAsync: async (r, b, kind, lane) => {
            lanes.add(lane);
            peak = Math.max(peak, ++inFlight);
            try { return await t.ioctlAsync(r, b, kind); } finally { inFlight--; }
          },
          close: () => t.close(),
        };
      },
    },
  };
}

/** Every device the kernel has is complete: resumed with a live table (nothing half-made). */
function allComplete(kernel: SimulatedKernel): void {
  for (const d of kernel.devices.values()) {
    expect({ name: d.name, suspended: d.suspended, live: d.live !== undefined && d.live !== null }).toEqual({ name: d.name, suspended: false, live: true });
  }
}

describe('createMany / removeMany', () => {
  test('create and remove many: one result per device in input order, nothing left, a device of another owner untouched', async () => {
    const kernel = new SimulatedKernel();
    const other = new Actor(kernel).createLive('other', { uuid: 'OTHER-1' });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const progress: number[] = [];
    const created = await dm.createMany(specs(40), { concurrency: 8, onProgress: (p) => progress.push(p.done) });
    expect(created.map((r) => (r.ok ? r.value.name : r.error))).toEqual(specs(40).map((s) => s.name));
    expect(progress).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(kernel.devices.size).toBe(41);
    allComplete(kernel);
    const removed = await dm.removeMany(created.map((r) => (r.ok ? r.value : 'never')), { concurrency: 8 });
    expect(removed.every((r) => r.ok)).toBe(true);
    expect([...kernel.devices.keys()]).toEqual(['other']);
    expect(kernel.devices.get('other')).toBe(other);
    expect(other.suspended).toBe(false);
    dm.close();
  });

  test.each([1, 3, 16])('at most `concurrency` (%i) kernel calls in flight, and that many when devices wait in the kernel', async (concurrency) => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    const c = counting(kernel);
    const dm = await DeviceMapper.open({ backend: c.backend });
    // Each call sleeps in the "kernel" a little, as a remove's grace period does: lanes overlap.
    faults.delay('create', 3, { times: Infinity });
    faults.delay('remove', 3, { times: Infinity });
    const created = await dm.createMany(specs(24), { concurrency });
    expect(created.filter((r) => r.ok)).toHaveLength(24);
    expect(c.peak()).toBe(concurrency);
    // Each device in flight is its own lane: the transport may run each on a thread of its own.
    expect([...c.lanes].sort((x, y) => x! - y!)).toEqual(Array.from({ length: concurrency }, (_, i) => i));
    const removed = await dm.removeMany(specs(24).map((s) => ({ uuid: s.uuid! })), { concurrency, retries: 1 });
    expect(removed.filter((r) => r.ok)).toHaveLength(24);
    expect(c.peak()).toBe(concurrency);
    expect(kernel.devices.size).toBe(0);
    faults.clear();
    dm.close();
  });

  test('a device another actor replaced mid-batch fails with DEVICE_REPLACED and is not touched; the rest are removed', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim' }) });
    const a = new Actor(kernel);
    // No uuids: each removal is addressed by name and verified first (docs/identity.md).
    const created = (await dm.createMany(specs(10, false))).map((r) => (r.ok ? r.value : undefined)) as DeviceInfo[];
    let replacement: ReturnType<Actor['createLive']> | undefined;
    const off = kernel.intercept({
      before: (e) => {
        if (e.label !== 'victim' || e.command !== 'remove' || replacement) return;
        // At the batch's first removal, m7 is removed and another device made under its name
        // (a filler first, so the new one cannot get the freed minor back).
        a.call('remove', { id: { name: 'm7' } });
        a.createLive('filler');
        replacement = a.createLive('m7');
      },
    });
    const results = await dm.removeMany(created, { concurrency: 4 });
    off();
    const failed = results.flatMap((r, i) => (r.ok ? [] : [[i, r.error] as const]));
    expect(failed.map(([i]) => i)).toEqual([7]);
    expect(failed[0]![1]).toBeInstanceOf(DmIdentityError);
    expect((failed[0]![1] as DmIdentityError).code).toBe('DEVICE_REPLACED');
    expect([...kernel.devices.keys()].sort()).toEqual(['filler', 'm7']);
    expect(kernel.devices.get('m7')).toBe(replacement);
    expect(replacement!.suspended).toBe(false);
    dm.close();
  });

  test('abort mid-createMany: no further device starts, those under way are rolled back, every device left is complete and reported created', async () => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    faults.delay('load', 2, { times: Infinity });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const stop = new AbortController();
    const p = dm.createMany(specs(30), { concurrency: 4, signal: stop.signal, onProgress: (q) => { if (q.done === 6) stop.abort(); } });
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    const results = (e as DmAbortError & ManyStopped).results;
    expect(results).toHaveLength(30);
    await dm[Symbol.asyncDispose](); // waits for anything late (a create that lands after the stop is removed then)
    const ok = results.flatMap((r) => (r.ok ? [(r.value as DeviceInfo).name] : []));
    expect(ok.length).toBeGreaterThanOrEqual(6);
    expect(ok.length).toBeLessThan(30);
    expect([...kernel.devices.keys()].sort()).toEqual([...ok].sort());
    allComplete(kernel);
    // The entries never started say so with the stop's error.
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.error instanceof DmAbortError)).toBe(true);
    faults.clear();
  });

  test('abort mid-removeMany: no further device starts; every device left is intact', async () => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createMany(specs(30));
    faults.delay('remove', 2, { times: Infinity });
    const stop = new AbortController();
    const e = await dm.removeMany(specs(30).map((s) => s.name), { concurrency: 4, signal: stop.signal, onProgress: (q) => { if (q.done === 5) stop.abort(); } })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    await dm[Symbol.asyncDispose]();
    const left = kernel.devices.size;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(25);
    allComplete(kernel);
    faults.clear();
  });

  test('close() mid-createMany stops the batch with DmClosedError and rolls back what was under way', async () => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    faults.delay('load', 2, { times: Infinity });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    let closed: Promise<void> | undefined;
    const e = await dm.createMany(specs(30), { concurrency: 4, onProgress: (q) => { if (q.done === 4 && !closed) closed = dm[Symbol.asyncDispose](); } })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmClosedError);
    await closed;
    const ok = (e as DmClosedError & ManyStopped).results.flatMap((r) => (r.ok ? [(r.value as DeviceInfo).name] : []));
    expect([...kernel.devices.keys()].sort()).toEqual([...ok].sort());
    allComplete(kernel);
    faults.clear();
  });

  test('timeoutMs stops the batch with DmOperationError TIMEOUT', async () => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    faults.delay('suspend', 20, { times: Infinity }); // the resume (DM_DEV_SUSPEND without the flag)
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const e = await dm.createMany(specs(20), { concurrency: 2, timeoutMs: 50 }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect((e as DmOperationError).code).toBe('TIMEOUT');
    await dm[Symbol.asyncDispose]();
    allComplete(kernel);
    faults.clear();
  });

  test('a failure is that device\'s alone; with stopOnError no further device starts', async () => {
    const kernel = new SimulatedKernel();
    const faults = simFaults(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    faults.failNext('load', 'EINVAL', { device: 'MANY-2' });
    const all = await dm.createMany(specs(6), { concurrency: 1 });
    expect(all.map((r) => r.ok)).toEqual([true, true, false, true, true, true]);
    expect(kernel.devices.has('m2')).toBe(false); // rolled back
    await dm.removeMany(specs(6).map((s) => s.name).filter((n) => n !== 'm2'));
    faults.failNext('load', 'EINVAL', { device: 'MANY-2' });
    const some = await dm.createMany(specs(6), { concurrency: 1, stopOnError: true });
    expect(some.map((r) => r.ok)).toEqual([true, true, false, false, false, false]);
    expect([...kernel.devices.keys()].sort()).toEqual(['m0', 'm1']);
    dm.close();
  });

  test('every entry and option is checked before any ioctl', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    let ioctls = 0;
    kernel.intercept({ before: () => { ioctls++; } });
    const bad: unknown[][] = [
      [[...specs(3), { name: 'x' }]], [[...specs(3), { name: 'x', table: [] }]], [specs(3), { concurrency: 0 }], [specs(3), { concurrency: 129 }],
      [[...specs(2), { ...specs(1)[0], udevCookie: 1 }]], [specs(3), { bogus: 1 }], ['nope'],
    ];
    for (const args of bad) await expect((dm.createMany as (...a: unknown[]) => Promise<unknown>)(...args)).rejects.toBeInstanceOf(DmArgumentError);
    for (const args of [[['a', { name: 'b', uuid: 'c' }]], [['a', 7]], [['a'], { retries: -1 }], [['a'], { concurrency: 1.5 }], [['a', { name: 'x', uuid: null, dev: { major: 'x', minor: 0 } }]]]) {
      await expect((dm.removeMany as (...a: unknown[]) => Promise<unknown>)(...args)).rejects.toThrow();
    }
    expect(ioctls).toBe(0);
    dm.close();
  });
});
