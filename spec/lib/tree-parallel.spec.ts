// removeTree with several devices in flight (lib/operations/tree-schedule.ts) on the simulator:
// a trace of every DM_DEV_REMOVE (its start and its return) proves that no device is removed
// before each of its holders has returned, over independent stacks, a diamond and a leaf shared
// by two stacks; the bound on devices in flight is observed at the kernel and at the
// transport (lanes); a device of another owner that appears mid-way is not touched; abort and
// close mid-way; a fault at every device stops new starts, lets those in flight finish and
// reports each device's outcome as the kernel has it. suspendTree and resumeTree likewise
// (top-down, bottom-up), a failed or stopped suspendTree resuming all it suspended.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DeviceTree, DmAbortError, DmClosedError, DmError, DmIdentityError, reloadTree, removeTree, resumeTree, suspendTree, type Backend, type TreeNode,
} from '../../lib/index.js';
import { SimulatedKernel, simFaults, type SimFaults } from '../../testing/index.js';
import { Actor } from './actor.js';

let kernel: SimulatedKernel;
let faults: SimFaults;
let dm: DeviceMapper;
/** uuid → name of every device this spec made (a removal by uuid carries no name). */
let nameOf: Map<string, string>;
/** Every remove that reached the kernel, in order: `start x` when it entered, `end x` when it returned. */
let trace: string[];
let inFlight: number;
let peak: number;
let lanes: Set<number | undefined>;
/** Every DM_DEV_SUSPEND (suspend or resume) that reached the kernel: `start x`, then `end x suspended|resumed`. */
let strace: string[];
let sInFlight: number;
let sPeak: number;

const line = (length: number, type: string, params: string) => ({ start: 0, length, type, params });

/** A backend that records the lane of every async call at the transport (what may reach a thread of its own). */
function laneRecording(k: SimulatedKernel, label: string): Backend {
  const base = k.backend({ label });
  return {
    ...base,
    async openControl() {
      const t = await base.openControl();
      return {
        get fd() { return t.fd; },
        ioctl: (r, b) => t.ioctl(r, b),
        ioctlAsync: (r, b, kind, lane) => { lanes.add(lane); return t.ioctlAsync(r, b, kind); },
        close: () => t.close(),
      };
    },
  };
}

beforeEach(async () => {
  kernel = new SimulatedKernel();
  faults = simFaults(kernel);
  nameOf = new Map();
  trace = [];
  inFlight = 0;
  peak = 0;
  lanes = new Set();
  strace = [];
  sInFlight = 0;
  sPeak = 0;
  dm = await DeviceMapper.open({ backend: laneRecording(kernel, 'victim') });
  kernel.intercept({
    before: (e) => {
      if (e.label === 'victim' && e.command === 'suspend') { strace.push(`start ${e.name ?? nameOf.get(e.uuid ?? '')}`); sPeak = Math.max(sPeak, ++sInFlight); }
      if (e.label !== 'victim' || e.command !== 'remove') return;
      trace.push(`start ${e.name ?? nameOf.get(e.uuid ?? '')}`);
      peak = Math.max(peak, ++inFlight);
    },
    after: (e) => {
      if (e.label === 'victim' && e.command === 'suspend') { sInFlight--; if (e.errno === 0) strace.push(`end ${e.device?.name} ${e.device?.suspended ? 'suspended' : 'resumed'}`); }
      if (e.label !== 'victim' || e.command !== 'remove') return;
      inFlight--;
      if (e.errno === 0) trace.push(`end ${e.device?.name}`);
    },
  });
});
afterEach(() => { faults.clear(); dm.close(); });

async function make(name: string, table: ReturnType<typeof line>[], uuid = true): Promise<void> {
  const id = uuid ? `TREE-${name}` : undefined;
  if (id) nameOf.set(id, name);
  await dm.createDevice({ name, ...(id ? { uuid: id } : {}), table });
}

/**
 * `stacks` stacks of three (top_i on mid_i on base_i), a diamond (dtop on da and db, both on
 * dshared) and a leaf shared by two stacks (s1 and s2 on sleaf). Returns the roots.
 */
async function forest(stacks: number, uuid = true): Promise<string[]> {
  for (let i = 0; i < stacks; i++) {
    await make(`base${i}`, [line(100, 'zero', '')], uuid);
    await make(`mid${i}`, [line(100, 'linear', `/dev/mapper/base${i} 0`)], uuid);
    await make(`top${i}`, [line(100, 'linear', `/dev/mapper/mid${i} 0`)], uuid);
  }
  await make('dshared', [line(200, 'zero', '')], uuid);
  await make('da', [line(100, 'linear', '/dev/mapper/dshared 0')], uuid);
  await make('db', [line(100, 'linear', '/dev/mapper/dshared 100')], uuid);
  await make('dtop', [line(100, 'linear', '/dev/mapper/da 0'), { start: 100, length: 100, type: 'linear', params: '/dev/mapper/db 0' }], uuid);
  await make('sleaf', [line(200, 'zero', '')], uuid);
  await make('s1', [line(100, 'linear', '/dev/mapper/sleaf 0')], uuid);
  await make('s2', [line(100, 'linear', '/dev/mapper/sleaf 100')], uuid);
  return [...Array.from({ length: stacks }, (_, i) => `top${i}`), 'dtop', 's1', 's2'];
}

/**
 * The order proof: every removal of a device started after the removal of each of its
 * holders in the snapshot had returned, and every device reported removed is gone.
 */
function expectTreeOrder(tree: DeviceTree, removed: readonly TreeNode[]): void {
  for (const n of removed) {
    const start = trace.indexOf(`start ${n.name}`);
    expect(start).toBeGreaterThanOrEqual(0);
    for (const p of n.parents) {
      const end = trace.indexOf(`end ${p.name}`);
      // A holder still there (kept, failed, not tried) would have made this removal fail EBUSY.
      expect({ device: n.name, holder: p.name, holderEnded: end >= 0 && end < start }).toEqual({ device: n.name, holder: p.name, holderEnded: true });
    }
    expect(kernel.devices.has(n.name)).toBe(false);
  }
  expect(tree).toBeDefined();
}

/** What the kernel still has, sorted. */
const left = () => [...kernel.devices.keys()].sort();
const names = (ns: readonly TreeNode[]) => ns.map((n) => n.name);

describe('removeTree in parallel', () => {
  test('8 stacks of 3, a diamond and a shared leaf: nothing left, no device removed before its holders, at most `concurrency` in flight and that many at once', async () => {
    const roots = await forest(8);
    new Actor(kernel).createLive('other', { uuid: 'OTHER-1' }); // another owner's device, outside the tree
    const tree = await DeviceTree.read(dm);
    faults.delay('remove', 4, { times: Infinity }); // each removal sleeps in the "kernel", as a grace period does
    const progress: number[] = [];
    const r = await removeTree(dm, roots, { tree, concurrency: 4, onProgress: (p) => progress.push(p.done) });
    expect(r.complete).toBe(true);
    expect(r.kept).toEqual([]);
    expect(r.removed).toHaveLength(8 * 3 + 4 + 3);
    expect(left()).toEqual(['other']);
    expect(kernel.devices.get('other')!.suspended).toBe(false);
    expectTreeOrder(tree, r.removed);
    // The shared devices went after both of their users, and once each.
    expect(trace.filter((t) => t === 'start dshared')).toHaveLength(1);
    expect(trace.filter((t) => t === 'start sleaf')).toHaveLength(1);
    // Bounded, and the bound was reached: independent devices were removed at once.
    expect(peak).toBe(4);
    // Each device in flight carried its lane: 0…3, one per slot (the transport may give each a thread).
    expect([...lanes].filter((l) => l !== undefined).sort()).toEqual([0, 1, 2, 3]);
    expect(progress).toEqual(Array.from({ length: r.removed.length }, (_, i) => i + 1));
  });

  test('concurrency 1 removes one device at a time, in the sequential walk\'s order (removalOrder)', async () => {
    const roots = await forest(3);
    const tree = await DeviceTree.read(dm);
    const r = await removeTree(dm, roots, { tree, concurrency: 1 });
    expect(peak).toBe(1);
    expect(names(r.removed)).toEqual(names(tree.removalOrder(roots)));
    expect(left()).toEqual([]);
  });

  test('the default concurrency is removeMany\'s (32): a forest of 40 stacks has 32 in flight at once', async () => {
    const roots = await forest(40);
    faults.delay('remove', 4, { times: Infinity });
    const r = await removeTree(dm, roots);
    expect(r.complete).toBe(true);
    expect(peak).toBe(32);
    expect(left()).toEqual([]);
  });

  test('bad concurrency is refused before any ioctl', async () => {
    await forest(1);
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    for (const c of [0, -1, 1.5, 129, '4', Number.NaN]) {
      await expect(removeTree(dm, ['top0'], { concurrency: c as number })).rejects.toThrow('options.concurrency');
    }
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });

  test('a device of another owner that takes a name of the tree mid-way is not touched: DmIdentityError, nothing new starts, those in flight finish, each outcome reported as the kernel has it', async () => {
    // No uuids: each device is addressed by name and verified first (docs/identity.md).
    const roots = await forest(8, false);
    const tree = await DeviceTree.read(dm);
    faults.delay('remove', 4, { times: Infinity });
    const a = new Actor(kernel);
    let stranger: ReturnType<Actor['createLive']> | undefined;
    const off = kernel.intercept({
      before: (e) => {
        if (e.label !== 'victim' || e.command !== 'remove' || stranger) return;
        // At the first removal: top5 is removed by someone else, who makes their own top5 (a
        // filler first, so that it cannot get the freed minor back).
        a.remove({ name: 'top5' });
        a.createLive('filler');
        stranger = a.createLive('top5');
      },
    });
    const e = await removeTree(dm, roots, { tree, concurrency: 4 }).catch((x: unknown) => x);
    off();
    expect(e).toBeInstanceOf(DmIdentityError);
    expect((e as DmIdentityError).code).toBe('DEVICE_REPLACED');
    const p = (e as { treeProgress: { removed: TreeNode[]; failed: { node: TreeNode; error: unknown }[] } }).treeProgress;
    expect(p.failed.map((f) => [f.node.name, f.error])).toEqual([['top5', e]]);
    expect(kernel.devices.get('top5')).toBe(stranger);
    expect(stranger!.suspended).toBe(false);
    // Below the stranger, nothing was touched; what the error says was removed is gone, and
    // every removal that started returned (none is left in the kernel).
    expect(kernel.devices.has('mid5') && kernel.devices.has('base5')).toBe(true);
    expectTreeOrder(tree, p.removed);
    const started = trace.filter((t) => t.startsWith('start ')).map((t) => t.slice(6));
    expect(started.sort()).toEqual(names(p.removed).sort());
    expect(inFlight).toBe(0);
    // It stopped: devices were left that it would otherwise have removed.
    expect(p.removed.length).toBeLessThan(8 * 3 - 3 + 7);
  });

  test.each(['abort', 'close'] as const)('%s mid-way: no removal starts after it, the stop\'s error carries what was removed, what is left is intact', async (how) => {
    const roots = await forest(8);
    const tree = await DeviceTree.read(dm);
    faults.delay('remove', 4, { times: Infinity });
    const ac = new AbortController();
    let ends = 0;
    let startsAtStop = -1;
    const off = kernel.intercept({
      after: (e) => {
        if (e.label !== 'victim' || e.command !== 'remove' || ++ends !== 5) return;
        startsAtStop = trace.filter((t) => t.startsWith('start ')).length;
        if (how === 'abort') ac.abort(new Error('enough')); else dm.close();
      },
    });
    const e = await removeTree(dm, roots, { tree, concurrency: 4, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(how === 'abort' ? DmAbortError : DmClosedError);
    const p = (e as { treeProgress: { removed: TreeNode[] } }).treeProgress;
    // Removals in flight at the stop finish in the kernel (they cannot be taken back); let them land.
    for (let i = 0; i < 100 && inFlight > 0; i++) await new Promise((r) => setTimeout(r, 2));
    off();
    expect(inFlight).toBe(0);
    expect(trace.filter((t) => t.startsWith('start ')).length).toBe(startsAtStop);
    expectTreeOrder(tree, p.removed);
    expect(p.removed.length).toBeGreaterThanOrEqual(5 - 4); // at least those that returned before the stop's turn
    // Nothing half-done: every device left is live and resumed.
    for (const d of kernel.devices.values()) expect({ name: d.name, suspended: d.suspended }).toEqual({ name: d.name, suspended: false });
    expect(kernel.devices.size).toBeGreaterThan(0);
  });

  describe('a fault at each device', () => {
    const ALL = [...['top', 'mid', 'base'].flatMap((l) => [0, 1].map((i) => `${l}${i}`)), 'dtop', 'da', 'db', 'dshared', 's1', 's2', 'sleaf'];
    test.each(ALL.flatMap((d) => [['remove', d], ['info', d]] as const))('%s of %s fails EIO: that device fails, nothing below it is removed, the others in flight finish, each outcome reported as the kernel has it', async (command, device) => {
      const roots = await forest(2);
      const tree = await DeviceTree.read(dm);
      // The fault first: the first rule that matches a call is the one it gets.
      faults.failNext(command, 'EIO', { device: `TREE-${device}` });
      faults.delay('remove', 2, { times: Infinity });
      const e = await removeTree(dm, roots, { tree, concurrency: 3 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmError);
      expect((e as DmError).code).toBe('EIO');
      const p = (e as { treeProgress: { removed: TreeNode[]; kept: unknown[]; failed: { node: TreeNode }[] } }).treeProgress;
      expect(p.failed).toHaveLength(1);
      const failed = p.failed[0]!.node;
      // A failed remove is that device's; a failed read may be a user's look below it (whether anything there is suspended).
      if (command === 'remove') expect(failed.name).toBe(device);
      else expect(names(tree.above([device]))).toContain(failed.name);
      expect(p.kept).toEqual([]);
      for (const n of tree.subtree([failed])) expect(kernel.devices.has(n.name)).toBe(true);
      expectTreeOrder(tree, p.removed);
      // The report is the kernel's state: removed = exactly what is gone.
      expect(names(p.removed).sort()).toEqual(tree.subtree(roots).map((n) => n.name).filter((n) => !kernel.devices.has(n)).sort());
      expect(inFlight).toBe(0);
      // What is left is whole and can be removed by a second call.
      const rest = await DeviceTree.read(dm);
      const again = await removeTree(dm, rest.roots, { tree: rest, concurrency: 3 });
      expect(again.complete).toBe(true);
      expect(left()).toEqual([]);
    });
  });
});

/** Each of `nodes` had its DM_DEV_SUSPEND start only after that of each of `before(node)` (in the set) had returned `what`. */
function expectSuspendOrder(nodes: readonly TreeNode[], before: (n: TreeNode) => readonly TreeNode[], what: 'suspended' | 'resumed'): void {
  const set = new Set(nodes);
  for (const n of nodes) {
    const start = strace.lastIndexOf(`start ${n.name}`);
    expect(start).toBeGreaterThanOrEqual(0);
    for (const b of before(n)) {
      if (!set.has(b)) continue;
      const end = strace.lastIndexOf(`end ${b.name} ${what}`);
      expect({ device: n.name, after: b.name, ended: end >= 0 && end < start }).toEqual({ device: n.name, after: b.name, ended: true });
    }
  }
}

describe('suspendTree / resumeTree in parallel', () => {
  test('suspend top-down and resume bottom-up: no device before its users (suspend) or what it uses (resume), at most `concurrency` at once and that many, each in its lane', async () => {
    const roots = await forest(8);
    const tree = await DeviceTree.read(dm);
    faults.delay('suspend', 4, { times: Infinity }); // each DM_DEV_SUSPEND sleeps in the "kernel"
    const s = await suspendTree(dm, roots, { tree, concurrency: 4 });
    expect(s.suspended).toHaveLength(8 * 3 + 7);
    expect([...kernel.devices.values()].every((d) => d.suspended)).toBe(true);
    expectSuspendOrder(s.suspended, (n) => n.parents, 'suspended');
    expect(sPeak).toBe(4);
    expect([...lanes].filter((l) => l !== undefined).sort()).toEqual([0, 1, 2, 3]);
    strace = [];
    sPeak = 0;
    const r = await resumeTree(dm, roots, { tree, concurrency: 4 });
    expect(r.resumed).toHaveLength(8 * 3 + 7);
    expect([...kernel.devices.values()].some((d) => d.suspended)).toBe(false);
    expectSuspendOrder(r.resumed, (n) => n.children, 'resumed');
    expect(sPeak).toBe(4);
  });

  test('concurrency 1: one at a time, in the sequential orders (topDown, bottomUp)', async () => {
    const roots = await forest(3);
    const tree = await DeviceTree.read(dm);
    const s = await suspendTree(dm, roots, { tree, concurrency: 1 });
    expect(names(s.suspended)).toEqual(names(tree.topDown(roots)));
    const r = await resumeTree(dm, roots, { tree, concurrency: 1 });
    expect(names(r.resumed)).toEqual(names(tree.bottomUp(roots)));
    expect(sPeak).toBe(1);
  });

  test('reloadTree goes one at a time and refuses concurrency; bad values refused before any ioctl', async () => {
    await forest(1);
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    await expect(reloadTree(dm, [{ device: 'base0', table: [line(100, 'zero', '')] }], { concurrency: 2 } as never)).rejects.toThrow('concurrency');
    for (const c of [0, 129, 2.5]) {
      await expect(suspendTree(dm, ['top0'], { concurrency: c })).rejects.toThrow('options.concurrency');
      await expect(resumeTree(dm, ['top0'], { concurrency: c })).rejects.toThrow('options.concurrency');
    }
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });

  const MIDDLE = ['top3', 'mid3', 'base3', 'da', 'dshared', 'sleaf'];
  test.each(MIDDLE)('a suspend that fails at %s: nothing further starts, those in flight finish, and everything suspended is resumed (each before its users)', async (device) => {
    const roots = await forest(8);
    const tree = await DeviceTree.read(dm);
    faults.failNext('suspend', 'EIO', { device: `TREE-${device}` });
    faults.delay('suspend', 3, { times: Infinity });
    const e = await suspendTree(dm, roots, { tree, concurrency: 4 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EIO');
    const p = (e as { treeProgress: { suspended: TreeNode[]; failed: { node: TreeNode }[] } }).treeProgress;
    expect(names(p.failed.map((f) => f.node))).toEqual([device]);
    expect(sInFlight).toBe(0);
    expect([...kernel.devices.values()].filter((d) => d.suspended).map((d) => d.name)).toEqual([]);
    // The undo resumed each device it suspended before any of its users (bottom-up).
    const undo = strace.slice(strace.findIndex((t) => t.endsWith(' resumed')) - 1);
    for (const n of p.suspended) {
      const mine = undo.indexOf(`end ${n.name} resumed`);
      expect(mine).toBeGreaterThanOrEqual(0);
      for (const u of n.parents) if (p.suspended.includes(u)) expect(undo.indexOf(`end ${u.name} resumed`)).toBeGreaterThan(mine);
    }
  });

  test.each(MIDDLE)('a resume that fails at %s: nothing further starts, those in flight finish, what uses it stays suspended, each outcome reported as the kernel has it', async (device) => {
    const roots = await forest(8);
    const tree = await DeviceTree.read(dm);
    await suspendTree(dm, roots, { tree });
    faults.failNext('suspend', 'EIO', { device: `TREE-${device}` });
    faults.delay('suspend', 3, { times: Infinity });
    const e = await resumeTree(dm, roots, { tree, concurrency: 4 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EIO');
    const p = (e as { treeProgress: { resumed: TreeNode[]; failed: { node: TreeNode }[] } }).treeProgress;
    expect(names(p.failed.map((f) => f.node))).toEqual([device]);
    expect(sInFlight).toBe(0);
    for (const u of tree.above([device])) expect(kernel.devices.get(u.name)!.suspended).toBe(true);
    expect(names(p.resumed).sort()).toEqual([...kernel.devices.values()].filter((d) => !d.suspended).map((d) => d.name).sort());
    expectSuspendOrder(p.resumed, (n) => n.children, 'resumed');
    await resumeTree(dm, roots, { tree });
    expect([...kernel.devices.values()].some((d) => d.suspended)).toBe(false);
  });

  test('abort mid-suspendTree: everything suspended (those in flight too, once they land) is resumed', async () => {
    const roots = await forest(8);
    const tree = await DeviceTree.read(dm);
    faults.delay('suspend', 4, { times: Infinity });
    const ac = new AbortController();
    let ends = 0;
    const off = kernel.intercept({ after: (e) => { if (e.label === 'victim' && e.command === 'suspend' && ++ends === 6) ac.abort(new Error('enough')); } });
    const e = await suspendTree(dm, roots, { tree, concurrency: 4, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    for (let i = 0; i < 100 && (sInFlight > 0 || [...kernel.devices.values()].some((d) => d.suspended)); i++) await new Promise((r) => setTimeout(r, 5));
    off();
    expect([...kernel.devices.values()].filter((d) => d.suspended).map((d) => d.name)).toEqual([]);
    await dm[Symbol.asyncDispose]();
  });
});
