// signal and timeoutMs on every public async method of DeviceMapper and on the tree
// operations (docs/conventions.md, "Cancellation, time and progress"): the methods are
// enumerated at runtime, so a new async method without the options fails here; an aborted
// signal rejects before any ioctl (counted by an interceptor on the simulator), a bad
// timeoutMs is a typed error before any ioctl, and errors keep the caller's frames.
import { describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DmAbortError, DmError, DmOperationError, reloadTree, removeTree, resumeTree, suspendTree,
} from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = () => [{ start: 0n, length: 8n, type: 'zero', params: '' }];

/** The arguments of each async method before its options (the options object is appended). */
const ARGS: Record<string, () => unknown[]> = {
  version: () => [], removeAll: () => [], list: () => [], create: () => [], remove: () => ['d'], cancelDeferredRemove: () => ['d'],
  rename: () => ['d', { newName: 'e' }], suspend: () => ['d'], resume: () => ['d'], infoMany: () => [['d']], statusMany: () => [['d']],
  info: () => ['d'], wait: () => ['d'], load: () => ['d', zero()], clear: () => ['d'], deps: () => ['d'], depsWithInfo: () => ['d'],
  status: () => ['d'], table: () => ['d'], listVersions: () => [], message: () => ['d', 0, 'hello'],
  setGeometry: () => ['d', { cylinders: 1, heads: 1, sectorsPerTrack: 1, startSectors: 0 }], armPoll: () => [], getTargetVersion: () => ['zero'],
  createDevice: () => [], removeDevice: () => ['d'], recover: () => [],
  removeMany: () => [['d']], createMany: () => [[{ name: 'n', table: zero() }]],
};
/** Options a method needs besides signal and timeoutMs. */
const EXTRA: Record<string, object> = { create: { name: 'n' }, createDevice: { name: 'n', table: zero() } };

function asyncMethods(): string[] {
  return Object.getOwnPropertyNames(DeviceMapper.prototype).filter((k) => {
    const d = Object.getOwnPropertyDescriptor(DeviceMapper.prototype, k)!;
    return typeof d.value === 'function' && d.value.constructor.name === 'AsyncFunction';
  });
}

async function setup() {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'd', uuid: 'CANCEL-d', table: zero() });
  let ioctls = 0;
  kernel.intercept({ before: () => { ioctls++; } });
  return { kernel, dm, ioctls: () => ioctls };
}

describe('signal and timeoutMs on every public async method', () => {
  test('the enumeration finds the async methods, and every one has arguments here (a new method must be added)', () => {
    const found = asyncMethods();
    expect(found.length).toBeGreaterThan(20);
    expect(found.filter((m) => !(m in ARGS))).toEqual([]);
  });

  test.each(Object.keys(ARGS))('%s: an aborted signal rejects with DmAbortError before any ioctl', async (m) => {
    const { dm, ioctls } = await setup();
    const ac = new AbortController();
    ac.abort('stop');
    const call = (dm as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m]!;
    const e = await call.call(dm, ...ARGS[m]!(), { ...EXTRA[m], signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    expect(ioctls()).toBe(0);
    dm.close();
  });

  test.each(Object.keys(ARGS))('%s: a bad timeoutMs is a typed error before any ioctl', async (m) => {
    const { dm, ioctls } = await setup();
    const call = (dm as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m]!;
    for (const timeoutMs of [0, -1, 1.5, 'x', 3_600_001]) {
      const e = await call.call(dm, ...ARGS[m]!(), { ...EXTRA[m], timeoutMs }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: expect.stringMatching(/^INVALID_/) });
    }
    expect(ioctls()).toBe(0);
    dm.close();
  });

  test.each([
    ['removeTree', (dm: DeviceMapper, o: object) => removeTree(dm, ['d'], o)],
    ['suspendTree', (dm: DeviceMapper, o: object) => suspendTree(dm, ['d'], o)],
    ['resumeTree', (dm: DeviceMapper, o: object) => resumeTree(dm, ['d'], o)],
    ['reloadTree', (dm: DeviceMapper, o: object) => reloadTree(dm, [{ device: 'd', table: zero() }], o)],
  ] as const)('%s: an aborted signal rejects before any ioctl; a bad timeoutMs is a typed error', async (_, run) => {
    const { dm, ioctls } = await setup();
    const ac = new AbortController();
    ac.abort();
    await expect(run(dm, { signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(run(dm, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(ioctls()).toBe(0);
    dm.close();
  });
});

describe("timeouts and the caller's stack", () => {
  test("wait(): timeoutMs rejects with TIMEOUT carrying the caller's frames, and gives the poller back", async () => {
    const { dm } = await setup();
    async function waiterWithAName() { return dm.wait('d', { timeoutMs: 20 }).catch((x: unknown) => x); }
    const e = (await waiterWithAName()) as Error;
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    expect(e.stack).toContain('waiterWithAName');
    expect(dm.pollerActive).toBe(false);
    dm.close();
  });

  test("removeDevice(): timeoutMs bounds the EBUSY retries; TIMEOUT with the caller's frames", async () => {
    const { kernel, dm } = await setup();
    kernel.openDevice('d');
    async function removerWithAName() { return dm.removeDevice('d', { retries: 1000, delayMs: 5, timeoutMs: 40 }).catch((x: unknown) => x); }
    const e = (await removerWithAName()) as Error;
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    expect(e.stack).toContain('removerWithAName');
    dm.close();
  });

  test("a single command's rejection keeps the caller's frames (with and without bounds)", async () => {
    const { dm } = await setup();
    async function statusCaller() { return dm.status('missing').catch((x: unknown) => x); }
    async function boundedStatusCaller() { return dm.status('missing', { timeoutMs: 1000 }).catch((x: unknown) => x); }
    const plain = (await statusCaller()) as Error;
    expect(plain).toBeInstanceOf(DmError);
    expect(plain.stack).toContain('statusCaller');
    const bounded = (await boundedStatusCaller()) as Error;
    expect(bounded).toBeInstanceOf(DmError);
    expect(bounded.stack).toContain('boundedStatusCaller');
    dm.close();
  });

  test('a load that lands after the caller gave up has its table cleared; a late create is removed', async () => {
    const { kernel, dm } = await setup();
    const ac = new AbortController();
    const off = kernel.intercept({ before: (e) => { if (e.command === 'load' || e.command === 'create') ac.abort(); } });
    await expect(dm.load({ uuid: 'CANCEL-d' }, zero(), { signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect((await dm.info('d')).exists && (await dm.info('d') as { flags: { inactivePresent: boolean } }).flags.inactivePresent).toBe(false);
    const ac2 = new AbortController();
    off();
    kernel.intercept({ before: (e) => { if (e.command === 'create') ac2.abort(); } });
    await expect(dm.create({ name: 'late', signal: ac2.signal })).rejects.toBeInstanceOf(DmAbortError);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(kernel.devices.has('late')).toBe(false);
    dm.close();
  });

  test('onProgress on the trees and on batches', async () => {
    const { dm } = await setup();
    const seen: string[] = [];
    await suspendTree(dm, ['d'], { onProgress: (p) => seen.push(`${p.operation} ${p.done}/${p.total}`) });
    await resumeTree(dm, ['d'], { onProgress: (p) => seen.push(`${p.operation} ${p.done}/${p.total}`) });
    await dm.infoMany(['d', 'd'], { onProgress: (p) => seen.push(`${p.operation} ${p.done}/${p.total}`) });
    expect(seen).toEqual(['suspendTree 0/1', 'resumeTree 0/1', 'infoMany 1/2', 'infoMany 2/2']);
    dm.close();
  });
});
