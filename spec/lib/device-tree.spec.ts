// DeviceTree and the tree operations on the simulated kernel: stacks (thin on thin-pool on
// linear, crypt on linear, a lower device shared by two stacks), libdevmapper's orders, devices
// used from outside the subtree, deferred removal, a racing process that replaces a node
// between two of our ioctls, and every error path of suspend/reload resuming what it suspended.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DeviceTree, DmIdentityError, DmOperationError, reloadTree, removeTree, resumeTree, suspendTree, type TreeNode,
} from '../../lib/index.js';
import { SimError, SimulatedKernel, tableDeviceOrder, type SimTargetType } from '../../testing/index.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fakeSysfs } from '../cli/harness.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;
let log: string[];

/** A minimal crypt target: `cipher key iv_offset device offset`, the device is its one dependency. */
const crypt: SimTargetType = {
  name: 'crypt', version: [1, 24, 0],
  construct(argv, _len, ctx) {
    const d = argv[3] === undefined ? undefined : ctx.lookup(argv[3]);
    if (!d) throw new SimError('ENODEV', 'crypt: Device lookup failed');
    return { table: `${argv[0]} ${'0'.repeat(argv[1]!.length)} ${argv[2]} ${d.major}:${d.minor} ${argv[4]}`, status: () => '', deps: [d] };
  },
};

const line = (length: number, type: string, params: string) => ({ start: 0, length, type, params });

/** A hang guard: `p`, or a failure when it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

beforeEach(async () => {
  kernel = new SimulatedKernel();
  kernel.registerTarget(crypt);
  kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  log = [];
  kernel.intercept({ after: (e) => { if (e.errno === 0 && e.command && !['listDevices', 'deps', 'version', 'info', 'status'].includes(e.command)) log.push(`${e.command} ${e.device?.name ?? '?'}`); } });
});
afterEach(() => dm.close());

/** thin on thin-pool on two linears (meta, data) over loop0/loop1; crypt on a linear over loop0. */
async function stacks(): Promise<void> {
  await dm.createDevice({ name: 'meta', table: [line(2048, 'linear', '/dev/loop0 0')] });
  await dm.createDevice({ name: 'data', table: [line(8192, 'linear', '/dev/loop1 0')] });
  await dm.createDevice({ name: 'pool', uuid: 'POOL-1', table: [line(8192, 'thin-pool', '/dev/mapper/meta /dev/mapper/data 128 0')] });
  await dm.message('pool', 0, 'create_thin 1');
  await dm.createDevice({ name: 'thin', uuid: 'THIN-1', table: [line(8192, 'thin', '/dev/mapper/pool 1')] });
  await dm.createDevice({ name: 'clin', table: [line(1000, 'linear', '/dev/loop0 4096')] });
  await dm.createDevice({ name: 'crypt', uuid: 'CRYPT-1', table: [line(1000, 'crypt', 'aes-xts-plain64 00112233 0 /dev/mapper/clin 0')] });
  log = [];
}

const names = (ns: readonly TreeNode[]) => ns.map((n) => n.name || n.key);
// The pool's devices as DM_TABLE_DEPS lists them: pool_ctr() opens meta, then data, and the
// kernel lists a table's devices newest first (docs/kernel-facts.md), so: data, meta.
const POOL_DEVS = tableDeviceOrder(['meta', 'data']);
const [FIRST, SECOND] = POOL_DEVS as [string, string];
/** The leaf under each pool device (7:0 is named loop0 by the fake sysfs of the first test). */
const LOOP_OF: Record<string, string> = { meta: 'loop0', data: '7:1' };

describe('DeviceTree: one snapshot, libdevmapper\'s orders', () => {
  test('nodes, parents, children; roots and leaves in deptree order; non-dm leaves', async () => {
    await stacks();
    // Non-dm devices are named from sysfs (/sys/dev/block/7:0 → …/loop0); 7:1 has no entry here.
    const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-sysfs-'));
    fakeSysfs(sysfs, { major: 7, minor: 0 }, 'loop0');
    const t = await DeviceTree.read(dm, { sysfs });
    fs.rmSync(sysfs, { recursive: true, force: true });
    // List order is name order: clin, crypt, data, meta, pool, thin.
    expect(names(t.roots)).toEqual(['crypt', 'thin']);
    expect(names(t.leaves)).toEqual(['loop0', '7:1']);
    expect(t.node({ dev: { major: 7, minor: 1 } }).name).toBe('');
    const pool = t.node('pool');
    expect(pool.kind).toBe('dm');
    expect(pool.uuid).toBe('POOL-1');
    expect(names(pool.children)).toEqual(POOL_DEVS);
    expect(POOL_DEVS).toEqual(['data', 'meta']);
    expect(names(pool.parents)).toEqual(['thin']);
    const loop0 = t.node({ dev: { major: 7, minor: 0 } });
    expect(loop0.kind).toBe('block');
    expect(loop0.info).toBeUndefined();
    expect(names(loop0.parents)).toEqual(['clin', 'meta']);
    expect(t.node({ uuid: 'THIN-1' })).toBe(t.node('thin'));
    expect(t.node('meta').info?.openCount).toBe(1); // held by the pool's table
    expect(names(t.topDown(['thin']))).toEqual(['thin', 'pool', ...POOL_DEVS, ...POOL_DEVS.map((n) => LOOP_OF[n])]);
    // dm_tree_activate_children: all below first
    expect(names(t.bottomUp(['thin']))).toEqual([...POOL_DEVS.map((n) => LOOP_OF[n]), ...POOL_DEVS, 'pool', 'thin']);
    expect(names(t.above(['meta']))).toEqual(['thin', 'pool', 'meta']);
    expect(names(t.removalOrder(['thin', 'crypt']))).toEqual(['thin', 'pool', ...POOL_DEVS, 'crypt', 'clin']);
    expect(names(t.removalOrder(['pool']))).toEqual([]); // used by thin, outside the subtree
    expect(() => t.node('nope')).toThrow(DmOperationError);
  });

  test('a device used by two stacks: listed once, under both, and after both users top-down', async () => {
    await dm.createDevice({ name: 'shared', table: [line(4096, 'linear', '/dev/loop0 0')] });
    await dm.createDevice({ name: 'a', table: [line(1000, 'linear', '/dev/mapper/shared 0')] });
    await dm.createDevice({ name: 'b', table: [line(1000, 'linear', '/dev/mapper/shared 1000')] });
    await dm.createDevice({ name: 'top', table: [line(500, 'linear', '/dev/mapper/a 0'), { start: 500, length: 500, type: 'linear', params: '/dev/mapper/b 0' }] });
    const t = await DeviceTree.read(dm, { sysfs: '/nonexistent' });
    expect(names(t.roots)).toEqual(['top']);
    expect(names(t.node('shared').parents)).toEqual(['a', 'b']);
    expect(t.node('shared').info?.openCount).toBe(2);
    // top's table opens a, then b: the kernel lists b, a.
    const topDevs = tableDeviceOrder(['a', 'b']);
    expect(names(t.node('top').children)).toEqual(topDevs);
    expect(names(t.topDown())).toEqual(['top', ...topDevs, 'shared', '7:0']);
    expect(names(t.bottomUp())).toEqual(['7:0', 'shared', ...topDevs, 'top']);
  });
});

describe('removeTree', () => {
  test('thin on thin-pool on linear: top-down, each once its users are gone; loop devices untouched; nothing left', async () => {
    await stacks();
    const r = await removeTree(dm, ['thin']);
    expect(names(r.removed)).toEqual(['thin', 'pool', ...POOL_DEVS]);
    expect(r.complete).toBe(true);
    expect(r.kept).toEqual([]);
    expect(log).toEqual(['thin', 'pool', ...POOL_DEVS].map((n) => `remove ${n}`));
    expect([...kernel.devices.keys()].sort()).toEqual(['clin', 'crypt']);
    const c = await removeTree(dm, [{ uuid: 'CRYPT-1' }]);
    expect(names(c.removed)).toEqual(['crypt', 'clin']);
    expect(kernel.devices.size).toBe(0);
  });

  test('a lower device another stack still uses is kept, with what is below it', async () => {
    await dm.createDevice({ name: 'shared', table: [line(4096, 'linear', '/dev/loop0 0')] });
    await dm.createDevice({ name: 'a', table: [line(1000, 'linear', '/dev/mapper/shared 0')] });
    await dm.createDevice({ name: 'b', table: [line(1000, 'linear', '/dev/mapper/shared 1000')] });
    const r = await removeTree(dm, ['a']);
    expect(names(r.removed)).toEqual(['a']);
    expect(r.kept.map((k) => [k.node.name, k.reason, names(k.users)])).toEqual([['shared', 'used', ['b']]]);
    expect(r.complete).toBe(false);
    expect([...kernel.devices.keys()].sort()).toEqual(['b', 'shared']);
    // Both users named: the shared device goes after the second.
    const r2 = await removeTree(dm, ['b']);
    expect(names(r2.removed)).toEqual(['b', 'shared']);
  });

  test('a lower device opened from outside the subtree (open count beyond its users) is kept', async () => {
    await stacks();
    kernel.openDevice('pool'); // e.g. a process holding /dev/mapper/pool
    const r = await removeTree(dm, ['thin']);
    expect(names(r.removed)).toEqual(['thin']);
    expect(r.kept.map((k) => [k.node.name, k.reason, k.openCount])).toEqual([['pool', 'open', 1]]);
    expect([...kernel.devices.keys()].sort()).toEqual(['clin', 'crypt', 'data', 'meta', 'pool']);
  });

  test('a named device that stays open: EBUSY retries, then kept busy; with deferred the whole stack goes at its last close', async () => {
    await stacks();
    kernel.openDevice('crypt');
    const busy = await removeTree(dm, ['crypt'], { retries: 3, delayMs: 0 });
    expect(busy.kept.map((k) => [k.node.name, k.reason])).toEqual([['crypt', 'busy']]);
    expect(busy.removed).toEqual([]);
    expect(kernel.calls.get('remove')).toBe(3);
    const d = await removeTree(dm, ['crypt'], { deferred: true });
    expect(names(d.deferred)).toEqual(['crypt', 'clin']);
    expect(d.complete).toBe(true);
    expect(kernel.devices.has('crypt')).toBe(true);
    kernel.closeDevice('crypt');
    for (let i = 0; i < 10 && kernel.devices.has('clin'); i++) await new Promise((r) => setImmediate(r));
    expect([...kernel.devices.keys()].sort()).toEqual(['data', 'meta', 'pool', 'thin']);
  });

  test('a device with a suspended device below is not removed (its removal could sleep until that device is resumed): kept, bounded, nothing touched', async () => {
    await stacks();
    // Someone suspended a lower device first (or a suspendTree was interrupted): the pool's
    // removal would sleep on its metadata commit to the suspended meta (the simulator parks it).
    await dm.suspend('meta');
    log = [];
    const r = await within(removeTree(dm, ['thin']), 5_000);
    expect(r.removed).toEqual([]);
    expect(r.kept.map((k) => [k.node.name, k.reason, names(k.suspended ?? [])])).toEqual([['thin', 'suspended', ['meta']]]);
    expect(r.complete).toBe(false);
    expect(log).toEqual([]);
    expect([...kernel.devices.keys()].sort()).toEqual(['clin', 'crypt', 'data', 'meta', 'pool', 'thin']);
    await dm.resume('meta');
    expect(names((await within(removeTree(dm, ['thin']), 5_000)).removed)).toEqual(['thin', 'pool', ...POOL_DEVS]);
  });

  test('each removal is bounded (timeoutMs): one that sleeps in the kernel fails TIMEOUT with what was done, and finishes on its own once the device below is resumed', async () => {
    await stacks();
    // Right before our remove of the pool (after the check), someone suspends meta: the removal sleeps.
    const off = kernel.intercept({ before: (e) => { if (e.command === 'remove' && e.uuid === 'POOL-1') { off(); kernel.devices.get('meta')!.suspended = true; } } });
    const e = await within(removeTree(dm, ['thin'], { timeoutMs: 300 }).catch((x: unknown) => x), 5_000);
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    expect((e as { treeProgress: { removed: TreeNode[] } }).treeProgress.removed.map((n) => n.name)).toEqual(['thin']);
    expect(kernel.devices.has('pool')).toBe(true);
    await dm.resume('meta');
    for (let i = 0; i < 50 && kernel.devices.has('pool'); i++) await new Promise((r) => setImmediate(r));
    expect(kernel.devices.has('pool')).toBe(false);
    await expect(removeTree(dm, ['thin'], { timeoutMs: 0 })).rejects.toThrow('timeoutMs');
  });

  test('a racing process replaces a node between two of our ioctls: DmIdentityError, the stranger untouched, nothing further', async () => {
    await stacks();
    // After our remove of the pool, someone removes the pool's first device (no uuid) and makes their own on another minor.
    const off2 = kernel.intercept({
      before: (e) => {
        if (e.label === undefined && e.command === 'info' && kernel.devices.has(FIRST) && !kernel.devices.has('pool')) {
          off2();
          const m = kernel.devices.get(FIRST)!;
          kernel.devices.delete(FIRST);
          kernel.devices.set(FIRST, { ...m, minor: 42, live: undefined, inactive: undefined, stats: new Map() });
        }
      },
    });
    const e = await removeTree(dm, ['thin']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmIdentityError);
    expect((e as { treeProgress: { removed: TreeNode[] } }).treeProgress.removed.map((n) => n.name)).toEqual(['thin', 'pool']);
    expect(kernel.devices.get(FIRST)?.minor).toBe(42); // the stranger is still there
    expect(kernel.devices.has(SECOND)).toBe(true); // nothing further
    expect(log).toEqual(['remove thin', 'remove pool']);
  });

  test('a node with a uuid re-created on another minor by someone else: detected, not removed', async () => {
    await stacks();
    const t = await DeviceTree.read(dm);
    // Between the snapshot and the removal, the crypt device is replaced (same name and uuid, new minor).
    await dm.removeDevice('crypt');
    await dm.createDevice({ name: 'crypt2', table: [line(8, 'zero', '')] }); // takes the freed minor
    await dm.createDevice({ name: 'crypt', uuid: 'CRYPT-1', table: [line(8, 'zero', '')] });
    log = [];
    await expect(removeTree(dm, ['crypt'], { tree: t })).rejects.toBeInstanceOf(DmIdentityError);
    expect(log).toEqual([]);
    expect(kernel.devices.has('crypt')).toBe(true);
  });

  test('bad input is refused before any ioctl', async () => {
    await stacks();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    await expect(removeTree(dm, [])).rejects.toThrow('devices must be a non-empty array');
    await expect(removeTree(dm, ['thin'], { retries: -1 })).rejects.toThrow('options.retries');
    await expect(suspendTree(dm, ['thin'], { tree: {} as DeviceTree })).rejects.toThrow('options.tree must be a DeviceTree');
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });
});

describe('suspendTree / resumeTree', () => {
  test('top-down suspend, bottom-up resume, each ioctl identity-checked', async () => {
    await stacks();
    const s = await suspendTree(dm, ['thin']);
    expect(names(s.suspended)).toEqual(['thin', 'pool', ...POOL_DEVS]);
    expect(log).toEqual(['thin', 'pool', ...POOL_DEVS].map((n) => `suspend ${n}`));
    log = [];
    const r = await resumeTree(dm, ['thin']);
    expect(names(r.resumed)).toEqual([...POOL_DEVS, 'pool', 'thin']);
    expect(log).toEqual([...POOL_DEVS, 'pool', 'thin'].map((n) => `suspend ${n}`)); // DM_DEV_SUSPEND without the flag
    expect([...kernel.devices.values()].some((d) => d.suspended)).toBe(false);
  });

  test('a lower device with a live user outside the subtree is not suspended', async () => {
    await dm.createDevice({ name: 'shared', table: [line(4096, 'linear', '/dev/loop0 0')] });
    await dm.createDevice({ name: 'a', table: [line(1000, 'linear', '/dev/mapper/shared 0')] });
    await dm.createDevice({ name: 'b', table: [line(1000, 'linear', '/dev/mapper/shared 1000')] });
    const s = await suspendTree(dm, ['a']);
    expect(names(s.suspended)).toEqual(['a']);
    expect(s.skipped.map((k) => [k.node.name, names(k.users)])).toEqual([['shared', ['b']]]);
    expect(kernel.devices.get('shared')!.suspended).toBe(false);
    await resumeTree(dm, ['a']);
  });

  test('a failure half-way resumes everything it suspended, bottom-up, and throws', async () => {
    await stacks();
    // Someone renames the pool's second device after our suspend of its first: the suspend of the second fails (ENXIO).
    const off = kernel.intercept({
      before: (e) => {
        if (e.command === 'suspend' && kernel.devices.get(FIRST)?.suspended && kernel.devices.has(SECOND)) {
          off();
          const d = kernel.devices.get(SECOND)!;
          kernel.devices.delete(SECOND);
          kernel.devices.set(`${SECOND}-moved`, { ...d, name: `${SECOND}-moved` });
        }
      },
    });
    const e = await suspendTree(dm, ['thin']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(log).toEqual(['thin', 'pool', FIRST, FIRST, 'pool', 'thin'].map((n) => `suspend ${n}`));
    expect([...kernel.devices.values()].filter((d) => d.suspended).map((d) => d.name)).toEqual([]);
  });
});

describe('reloadTree: load, suspend from the top, resume from the bottom', () => {
  test('crypt on a growing linear: the linear is loaded and resumed first, then the crypt; both suspended top-down and resumed bottom-up', async () => {
    await stacks();
    const r = await reloadTree(dm, [
      { device: 'crypt', table: [line(2000, 'crypt', 'aes-xts-plain64 00112233 0 /dev/mapper/clin 0')] },
      { device: 'clin', table: [line(2000, 'linear', '/dev/loop0 4096')] },
    ]);
    expect(names(r.loaded)).toEqual(['clin', 'crypt']);
    expect(names(r.resumedEarly)).toEqual(['clin']);
    expect(names(r.suspended)).toEqual(['crypt', 'clin']);
    expect(names(r.resumed)).toEqual(['clin', 'crypt']);
    expect(log).toEqual(['load clin', 'suspend clin', 'load crypt', 'suspend crypt', 'suspend clin', 'suspend clin', 'suspend crypt']);
    expect((await dm.table('crypt')).targets[0]!.length).toBe(2000n);
    expect([...kernel.devices.values()].some((d) => d.suspended || d.inactive)).toBe(false);
  });

  test('a lower table changed under live users: the users are suspended from the top too', async () => {
    await stacks();
    const r = await reloadTree(dm, [{ device: 'meta', table: [line(2048, 'linear', '/dev/loop0 0')] }]);
    expect(names(r.suspended)).toEqual(['thin', 'pool', 'meta']);
    expect(names(r.resumed)).toEqual(['meta', 'pool', 'thin']);
  });

  test('a load that fails: the tables already staged are cleared, nothing was suspended', async () => {
    await stacks();
    const e = await reloadTree(dm, [
      { device: 'clin', table: [line(1000, 'linear', '/dev/loop1 0')] },
      { device: 'crypt', table: [line(1000, 'crypt', 'aes-xts-plain64 00 0 /dev/nope 0')] },
    ]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(log).toEqual(['load clin', 'clear clin']);
    expect([...kernel.devices.values()].some((d) => d.suspended || d.inactive)).toBe(false);
  });

  test('a suspend that fails: staged tables cleared, what was suspended resumed with its old table', async () => {
    await stacks();
    const off = kernel.intercept({
      before: (e) => {
        if (e.command === 'suspend' && kernel.devices.get('thin')?.suspended && kernel.devices.has('pool')) {
          off();
          const d = kernel.devices.get('pool')!;
          kernel.devices.delete('pool');
          kernel.devices.set('pool-x', { ...d, name: 'pool-x', uuid: 'OTHER' });
        }
      },
    });
    const e = await reloadTree(dm, [{ device: 'meta', table: [line(2048, 'linear', '/dev/loop1 0')] }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(log).toEqual(['load meta', 'suspend thin', 'clear meta', 'suspend thin']);
    expect([...kernel.devices.values()].some((d) => d.suspended || d.inactive)).toBe(false);
    expect((await dm.table('meta')).targets[0]!.params).toBe('7:0 0');
  });
});

describe('the simulator holds lower devices open as the kernel does', () => {
  test('a device used by another table is open (EBUSY on remove); remove_all still takes a whole stack down, top first', async () => {
    await stacks();
    await expect(dm.remove('meta')).rejects.toMatchObject({ code: 'EBUSY' });
    expect(((await dm.info('pool')) as { openCount: number }).openCount).toBe(1);
    await dm.removeAll();
    expect(kernel.devices.size).toBe(0);
  });
});
