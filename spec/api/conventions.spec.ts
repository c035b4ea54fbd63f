// docs/conventions.md over the handles the public API hands out, not only over DeviceMapper
// (spec/lib/cancellation.spec.ts): every async method of every object an export returns
// (BlockFile, ThinMetadataReader, ThinPool, DmStats, DeviceTree, VerityDevice, …, followed
// transitively from package.json's entry points by spec/api/async-options.ts) takes
// `signal` and `timeoutMs` in its last parameter, and every handle with a releasing method
// is `await using`-disposable. Then, at run time on the simulator and the host: an aborted
// signal rejects before any I/O, a tiny timeoutMs on a slow backend call rejects TIMEOUT,
// errors keep the caller's frames, and a call cut short leaves no half state.
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { publicEntries } from '../boundaries/imports.js';
import { programOf } from './units.js';
import { handleSurface, type HandleSurface } from './async-options.js';
import {
  allocatedByteRanges, changedByteRanges, createTypedDevice, DeviceMapper, DeviceTree, DmAbortError, DmOperationError, listThinDevices, loadTypedTable,
  nextFreeThinId, openBlockFile, openThinMetadata, thinDelta, thinDumpText, thinIdsInUse, ThinPool, type BlockFile, type ThinMetadataReader,
} from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, simFaults } from '../../testing/index.js';

const ROOT = path.join(__dirname, '..', '..');

/**
 * Types the package calls and does not hand out: a backend's service interfaces (reached
 * through the simulator's `backend()` and `simBlockIo()`, which tests and custom backends
 * use to build a backend) and dmctl's verb table. Their methods are bounded by the public
 * method that calls them.
 */
const SERVICE_INTERFACES = new Set([
  'Backend', 'BlockIo', 'SimBlockIo', 'ControlTransport', 'Watcher', 'NodeOps', 'SysfsReader', 'FileMapHandle', 'AttachedLoop',
  'IoctlRunner', 'UndoCalls', 'CookieHost', 'Verb',
]);

/** Async methods without `signal`/`timeoutMs`, each with why the rule does not apply. */
const ALLOWED: ReadonlyMap<string, string> = new Map([
  // Releases: cut short, a release would leave open what it releases; each waits only for
  // the handle's own calls (docs/conventions.md, "Handles").
  ['BlockFile.close', 'a release: it closes the fd once the calls cut short have landed'],
  ['ThinMetadataReader.close', 'a release: closes the metadata file (and lets go of a held metadata snapshot)'],
  ['LoopDevice.release', 'a release: closes the fd the attach kept open'],
  ['DeviceMapper.open', 'opens the control node and asks DM_VERSION, neither of which sleeps in the kernel (docs/kernel-facts.md); the client it makes is what calls are bounded on'],
  ['realCookieHost', "builds a backend's CookieHost from the environment (a service interface, called by the backend)"],
  ['run', "dmctl's command line: a process, stopped by the signals a process gets (SIGINT), as dmsetup is"],
  ['runDmctl', "dmctl's command line: a process, stopped by the signals a process gets (SIGINT), as dmsetup is"],
]);

let surface: HandleSurface;
beforeAll(() => {
  const files = publicEntries(ROOT).map((s) => path.join(ROOT, s));
  surface = handleSurface(programOf(ROOT, files), files, SERVICE_INTERFACES);
}, 180_000);

describe('the walk (spec/api/async-options.ts)', () => {
  test('finds planted offenders through returned handles, intersections and async iterables, not through parameters', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conventions-'));
    try {
      const file = path.join(dir, 'planted.ts');
      fs.writeFileSync(file, [
        'export interface Bounds { readonly signal?: AbortSignal; readonly timeoutMs?: number }',
        'export interface Handle { read(at: number, o?: Bounds): Promise<number>; write(at: number): Promise<void>; close(): Promise<void> }',
        'export interface Given { callback(x: number): Promise<void> }',
        'export interface Owned { close(): Promise<void>; [Symbol.asyncDispose](): Promise<void>; child(): Child }',
        'export interface Child { stream(o?: { readonly signal?: AbortSignal }): AsyncIterable<number> }',
        'export function open(given: Given, o?: Bounds): Promise<Handle & { extra(): Promise<void> }> { return null!; }',
        'export function owned(): Owned { return null!; }',
      ].join('\n'));
      const s = handleSurface(programOf(ROOT, [file]), [file]);
      expect(s.methods.filter((m) => m.problem !== undefined).map((m) => m.where)).toEqual(['Child.stream', 'Handle.close', 'Handle.extra', 'Handle.write', 'Owned.close']);
      expect(s.methods.map((m) => m.where)).not.toContain('Given.callback');
      expect(s.releasing).toEqual([
        { type: 'Handle', methods: ['close'], disposable: false },
        { type: 'Owned', methods: ['close'], disposable: true },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('signal and timeoutMs on every async method of every handle (docs/conventions.md)', () => {
  test('the walk reaches the handles of every entry point', () => {
    const found = surface.methods.map((m) => m.where);
    for (const m of ['BlockFile.read', 'BlockFile.write', 'BlockFile.sizeBytes', 'ThinMetadataReader.mappings', 'ThinPool.snapshot', 'DmStats.print',
      'DeviceTree.read', 'VerityDevice.close', 'FaultyDevice.failAll', 'DeviceMapperInspector.tree', 'UdevCookies.wait', 'thinDumpText', 'openBlockFile']) {
      expect(found).toContain(m);
    }
    expect(found.length).toBeGreaterThan(120);
  });

  test('every one takes signal and timeoutMs, or is listed with its reason', () => {
    const offending = surface.methods.filter((m) => m.problem !== undefined && !ALLOWED.has(m.where)).map((m) => `${m.where}: ${m.problem}`);
    if (offending.length) console.log(`async methods without signal/timeoutMs (docs/conventions.md):\n  ${offending.join('\n  ')}`);
    expect(offending).toEqual([]);
    // A listed method that now takes them (or is gone) leaves the list.
    const stale = [...ALLOWED.keys()].filter((k) => !surface.methods.some((m) => m.where === k && m.problem !== undefined));
    expect(stale).toEqual([]);
  });

  test('every handle that releases what it owns is await using-disposable', () => {
    expect(surface.releasing.filter((r) => !r.disposable).map((r) => r.type)).toEqual([]);
    expect(surface.releasing.map((r) => r.type)).toEqual(expect.arrayContaining(['BlockFile', 'LoopDevice', 'ThinMetadataReader', 'ThinPool', 'VerityDevice']));
  });
});

// --------------------------------------------------------------- BlockFile at run time ---

const FILE = '/srv/conventions.img';

async function simFile(mode: 'read' | 'write' = 'write') {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await simBlockIo(kernel).ensureFile(FILE, 1n << 20n);
  const f = await openBlockFile(FILE, { dm, mode });
  await f.write(0, new Uint8Array(4096).fill(0x11));
  return { kernel, dm, f, faults: simFaults(kernel) };
}

/** Each async call of the handle with its arguments before the options. */
const CALLS: Record<string, { readonly fault: 'read' | 'write' | 'sizeBytes'; readonly run: (f: BlockFile, o?: object) => Promise<unknown> }> = {
  read: { fault: 'read', run: (f, o) => f.read(0, new Uint8Array(512), o) },
  write: { fault: 'write', run: (f, o) => f.write(0, new Uint8Array(512).fill(0x22), o) },
  sizeBytes: { fault: 'sizeBytes', run: (f, o) => f.sizeBytes(o) },
};

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BlockFile: per-call signal and timeoutMs (simulator)', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => { cleanup?.(); cleanup = undefined; });

  test('the calls here are every bounded async method the walk finds on BlockFile', () => {
    const found = surface.methods.filter((m) => m.where.startsWith('BlockFile.') && !ALLOWED.has(m.where)).map((m) => m.where.slice('BlockFile.'.length));
    // dropCachedPages: the simulator has no page cache, so its files leave it out; the host's are below.
    expect(found.filter((m) => m !== 'dropCachedPages').sort()).toEqual(Object.keys(CALLS).sort());
  });

  test.each(Object.keys(CALLS))('%s: an aborted signal rejects with DmAbortError before any I/O', async (name) => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    const c = CALLS[name]!;
    // A fault on the call: used up only if the call reached the file.
    faults.failFile(FILE, c.fault, 'EIO');
    const ac = new AbortController();
    ac.abort('stop');
    await expect(c.run(f, { signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(c.run(f)).rejects.toMatchObject({ code: 'EIO', errno: os.constants.errno.EIO });
  });

  test.each(Object.keys(CALLS))("%s: a tiny timeoutMs on a slow call rejects TIMEOUT with the caller's frames", async (name) => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.delayFile(FILE, CALLS[name]!.fault, 300);
    async function callerWithAName() { return CALLS[name]!.run(f, { timeoutMs: 5 }).catch((x: unknown) => x); }
    const t0 = Date.now();
    const e = (await callerWithAName()) as Error;
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    expect(e.stack).toContain('callerWithAName');
    expect(Date.now() - t0).toBeLessThan(300);
    await f.close();
  });

  test.each(Object.keys(CALLS))("%s: a failure keeps its errno code and the caller's frames, bounded or not", async (name) => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.failFile(FILE, CALLS[name]!.fault, 'EIO', { times: 2 });
    async function boundedCaller() { return CALLS[name]!.run(f, { timeoutMs: 1000 }).catch((x: unknown) => x); }
    async function plainCaller() { return CALLS[name]!.run(f).catch((x: unknown) => x); }
    for (const e of [(await boundedCaller()) as Error, (await plainCaller()) as Error]) expect(e).toMatchObject({ code: 'EIO', errno: os.constants.errno.EIO });
    faults.failFile(FILE, CALLS[name]!.fault, 'EIO', { times: 2 });
    expect(((await boundedCaller()) as Error).stack).toContain('boundedCaller');
    expect(((await plainCaller()) as Error).stack).toContain('plainCaller');
  });

  test('bad options and arguments are typed errors before any I/O', async () => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.failFile(FILE, 'read', 'EIO');
    for (const o of [{ timeoutMs: 0 }, { timeoutMs: -1 }, { timeoutMs: 1.5 }, { signal: 'x' }, { timeout: 5 }]) {
      await expect(f.read(0, new Uint8Array(1), o as object)).rejects.toMatchObject({ code: expect.stringMatching(/^INVALID_/) });
    }
    await expect(f.read(-1, new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.read(0, 'x' as unknown as Uint8Array)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.write(0.5, new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.read(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EIO' });
  });

  test("a read cut short never writes into the caller's buffer after it gave up", async () => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.delayFile(FILE, 'read', 40);
    const into = new Uint8Array(512).fill(0xaa);
    await expect(f.read(0, into, { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await tick(80);
    expect(into.every((b) => b === 0xaa)).toBe(true);
    // In time, the bytes arrive.
    expect(await f.read(0, into, { timeoutMs: 1000 })).toBe(512);
    expect(into.every((b) => b === 0x11)).toBe(true);
  });

  test('a write cut short is ordered before later calls: a read after it sees it whole', async () => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.delayFile(FILE, 'write', 60);
    const ac = new AbortController();
    const w = f.write(0, new Uint8Array(4096).fill(0x33), { signal: ac.signal });
    await tick(5);
    ac.abort();
    await expect(w).rejects.toBeInstanceOf(DmAbortError);
    const into = new Uint8Array(4096);
    await f.read(0, into);
    expect(into.every((b) => b === 0x33)).toBe(true);
  });

  test('a write cut short that fails late is reported once, by the next call, with its errno', async () => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.failFile(FILE, 'write', 'ENOSPC', { delayMs: 40 });
    await expect(f.write(0, new Uint8Array(512).fill(0x44), { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(f.sizeBytes()).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await f.sizeBytes()).toBe(1n << 20n);
    const into = new Uint8Array(512);
    await f.read(0, into);
    expect(into.every((b) => b === 0x11)).toBe(true);
  });

  test('a later bounded call waits for a write cut short within its own bounds', async () => {
    const { dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.delayFile(FILE, 'write', 200);
    await expect(f.write(0, new Uint8Array(8), { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(f.read(0, new Uint8Array(8), { timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await f.close();
  });

  test('close() lets the calls cut short land first, then closes; calls after it are EBADF', async () => {
    const { kernel, dm, f, faults } = await simFile();
    cleanup = () => dm.close();
    faults.delayFile(FILE, 'write', 50);
    await expect(f.write(0, new Uint8Array(512).fill(0x55), { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await f.close();
    await expect(f.read(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EBADF' });
    await expect(f.read(0, new Uint8Array(1), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'EBADF' });
    const again = await openBlockFile(FILE, { dm });
    const into = new Uint8Array(512);
    await again.read(0, into);
    expect(into.every((b) => b === 0x55)).toBe(true);
    await again.close();
    expect(simBlockIo(kernel).fileFaults).toEqual([]);
  });

  test("the client's close() does not end the handle: the file is open on its own (bounded or not)", async () => {
    const { dm, f, faults } = await simFile();
    faults.delayFile(FILE, 'read', 30);
    const r = f.read(0, new Uint8Array(8), { timeoutMs: 5000 });
    await tick(5);
    dm.close();
    expect(await r).toBe(8);
    expect(await f.read(0, new Uint8Array(8), { timeoutMs: 1000 })).toBe(8);
    await f.close();
  });

  test('the simulator has no readSync: the handle leaves it out', async () => {
    const { dm, f } = await simFile();
    cleanup = () => dm.close();
    expect(f.readSync).toBeUndefined();
    expect(f.dropCachedPages).toBeUndefined();
  });
});

describe('BlockFile: per-call signal and timeoutMs (host files)', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockfile-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir); });

  test('every call: an aborted signal rejects before any I/O; the file is unchanged', async () => {
    const p = path.join(dir, 'f.img');
    fs.writeFileSync(p, Buffer.alloc(4096, 0x11));
    await using f = await openBlockFile(p, { mode: 'write' });
    const ac = new AbortController();
    ac.abort();
    for (const c of Object.values(CALLS)) await expect(c.run(f, { signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(f.dropCachedPages!({ signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect(fs.readFileSync(p).every((b) => b === 0x11)).toBe(true);
  });

  test('bounded calls do what unbounded ones do; readSync is the backend\'s own, unwrapped', async () => {
    const p = path.join(dir, 'g.img');
    fs.writeFileSync(p, Buffer.alloc(8192));
    const f = await openBlockFile(p, { mode: 'write' });
    await f.write(4096, new Uint8Array(4096).fill(0x66), { timeoutMs: 1000 });
    const into = new Uint8Array(4096);
    expect(await f.read(4096, into, { signal: new AbortController().signal, timeoutMs: 1000 })).toBe(4096);
    expect(into.every((b) => b === 0x66)).toBe(true);
    expect(await f.sizeBytes({ timeoutMs: 1000 })).toBe(8192n);
    await f.dropCachedPages!({ timeoutMs: 1000 });
    const sync = new Uint8Array(16);
    expect(f.readSync!(4096, sync)).toBe(16);
    expect(sync.every((b) => b === 0x66)).toBe(true);
    // No wrapper of ours on the hot path: a bound function of the backend's (no closure of bounded-file.ts).
    expect(f.readSync!.name).toBe('bound readSync');
    await f.close();
    await f.close();
    async function closedCaller() { return f.read(0, new Uint8Array(1), { timeoutMs: 100 }).catch((x: unknown) => x); }
    const e = (await closedCaller()) as Error;
    expect(e).toMatchObject({ code: 'EBADF' });
    expect(e.stack).toContain('closedCaller');
  });
});

// ------------------------------------------------------------- other handles at run time ---

describe('the other handles fixed here: an aborted signal before any ioctl', () => {
  const zero = () => [{ start: 0n, length: 8n, type: 'zero', params: '' }];
  async function setup() {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'd', uuid: 'CONV-d', table: zero() });
    let ioctls = 0;
    kernel.intercept({ before: () => { ioctls++; } });
    return { kernel, dm, ioctls: () => ioctls };
  }
  const aborted = () => { const ac = new AbortController(); ac.abort(); return ac.signal; };

  test('DeviceTree.read', async () => {
    const { dm, ioctls } = await setup();
    await expect(DeviceTree.read(dm, { signal: aborted() })).rejects.toBeInstanceOf(DmAbortError);
    await expect(DeviceTree.read(dm, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(ioctls()).toBe(0);
    expect((await DeviceTree.read(dm, { timeoutMs: 1000 })).nodes.length).toBe(1);
    dm.close();
  });

  test('createTypedDevice and loadTypedTable hand their bounds to the client', async () => {
    const { dm, ioctls } = await setup();
    const table = [{ type: 'zero' as const, start: 0n, length: 8n }];
    await expect(createTypedDevice(dm, { name: 'e', table, signal: aborted() })).rejects.toBeInstanceOf(DmAbortError);
    await expect(loadTypedTable(dm, 'd', table, { signal: aborted() })).rejects.toBeInstanceOf(DmAbortError);
    await expect(loadTypedTable(dm, 'd', table, { timeoutMs: -1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(ioctls()).toBe(0);
    await createTypedDevice(dm, { name: 'e', table, timeoutMs: 1000 });
    dm.close();
  });

  test("ThinPool.conditions(): timeoutMs ends the iteration with TIMEOUT carrying the caller's frames, once", async () => {
    const { dm } = await setup();
    const MiB = 1n << 20n;
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
    });
    await expect(async () => p.conditions({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    async function watcherWithAName() { return p.conditions({ timeoutMs: 30, initial: false }).next().catch((x: unknown) => x); }
    const t0 = Date.now();
    const e = (await watcherWithAName()) as Error;
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    expect(e.stack).toContain('watcherWithAName');
    expect(Date.now() - t0).toBeLessThan(2000);
    const it = p.conditions({ timeoutMs: 20, initial: false });
    await expect(it.next()).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(it.next()).resolves.toMatchObject({ done: true });
    await p.destroy();
    dm.close();
  });
});

describe('the thin metadata handle and its tools at run time (simulator)', () => {
  const MiB = 1n << 20n;
  async function pool() {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
    });
    await p.createThin(1);
    await p.snapshot(2, 1);
    const io = simBlockIo(kernel);
    const before = io.calls.length;
    await (await p.openMetadata()).close();
    // The metadata device's path: a delay on it holds the reads of blocks not cached yet. Read
    // live (not the held snapshot, which has no space maps for dataBlockReferenceCount).
    const opened = io.calls.slice(before).find((c) => c.startsWith('open '))!.split(' ')[1]!;
    const md = await openThinMetadata(opened, { dm });
    return { kernel, dm, p, md, opened };
  }
  /** Every async call of the handle and the tools over it, each drained (an iterator's first next() is where it waits). */
  const drain = async (x: AsyncIterable<unknown> | Promise<unknown>) => {
    if (Symbol.asyncIterator in (x as object)) { for await (const _ of x as AsyncIterable<unknown>) { /* drained */ } return undefined; }
    return x;
  };
  const META_CALLS: Record<string, (md: ThinMetadataReader, o: object) => AsyncIterable<unknown> | Promise<unknown>> = {
    'ThinMetadataReader.devices': (md, o) => md.devices(o),
    'ThinMetadataReader.mappingRoots': (md, o) => md.mappingRoots(o),
    'ThinMetadataReader.mappings': (md, o) => md.mappings(1, o),
    'ThinMetadataReader.mappingsAt': (md, o) => md.mappingsAt(1, 0n, o),
    'ThinMetadataReader.dataBlockReferenceCount': (md, o) => md.dataBlockReferenceCount(0n, o),
    listThinDevices: (md, o) => listThinDevices(md, o),
    thinDelta: (md, o) => thinDelta(md, 1, 2, o),
    thinDumpText: (md, o) => thinDumpText(md, o),
    allocatedByteRanges: (md, o) => allocatedByteRanges(md, 1, o),
    changedByteRanges: (md, o) => changedByteRanges(md, 1, 2, o),
    nextFreeThinId: (md, o) => nextFreeThinId(md, o),
    thinIdsInUse: (md, o) => thinIdsInUse(md, o),
  };

  test('the calls here are every async method the walk finds on the metadata handle and its tools', () => {
    const found = surface.methods.map((m) => m.where).filter((w) => w.startsWith('ThinMetadataReader.') || (w in META_CALLS));
    expect(found.filter((w) => !ALLOWED.has(w)).sort()).toEqual(Object.keys(META_CALLS).sort());
  });

  test.each(Object.keys(META_CALLS))('%s: an aborted signal rejects with DmAbortError before any read', async (name) => {
    const { kernel, dm, md, opened } = await pool();
    const faults = simFaults(kernel);
    faults.failFile(opened, 'read', 'EIO', { times: Infinity });
    const ac = new AbortController();
    ac.abort();
    await expect(drain(META_CALLS[name]!(md, { signal: ac.signal }))).rejects.toBeInstanceOf(DmAbortError);
    faults.clear();
    await md.close();
    dm.close();
  });

  // The calls that read blocks the open did not cache (the others answer from the cache, so
  // their bound has no read to end here; the aborted-signal case above covers them).
  const READING = ['ThinMetadataReader.mappings', 'listThinDevices', 'thinDelta', 'allocatedByteRanges', 'changedByteRanges'];
  async function timedOut(name: string) {
    const { kernel, dm, md, opened } = await pool();
    const faults = simFaults(kernel);
    faults.delayFile(opened, 'read', 200, { times: Infinity });
    async function toolCallerWithAName() { return drain(META_CALLS[name]!(md, { timeoutMs: 5 })).then(() => undefined, (x: unknown) => x); }
    const e = (await toolCallerWithAName()) as Error;
    faults.clear();
    await md.close();
    dm.close();
    return e;
  }
  test.each(READING)('%s: a tiny timeoutMs on slow reads rejects TIMEOUT', async (name) => {
    expect(await timedOut(name)).toMatchObject({ code: 'TIMEOUT' });
  });
  // Every reading call: a read deep in the walk that finds the time up throws the TIMEOUT made
  // when the caller's call began (blocks.ts boundsOf / bounds.ts walkBounds), not a new one.
  test.each(READING)("%s: the TIMEOUT carries the caller's frames", async (name) => {
    expect((await timedOut(name)).stack).toContain('toolCallerWithAName');
  });
});
