// The read-only inspection API (inspect(), lib/inspect/) on the simulated kernel: for a stack
// of devices (uuids, a suspended one, a read-only one, shared lower devices, a name that is not
// UTF-8, an inactive table), what sysfs gives equals what the ioctl API gives on every field
// sysfs knows, and the fields it does not know are undefined. Then sysfs's hostility: a device
// removed between the listing and its reads, attributes too long or malformed.
import { beforeEach, afterEach, describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DeviceTree, DmAbortError, DmArgumentError, DmSysfsError, DmSyscallError, inspect, type Backend, type DeviceInfo, type DevNo,
  type SysfsDeviceInfo, type SysfsReader, type TreeNode,
} from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;

const line = (length: number, type: string, params: string) => ({ start: 0, length, type, params });
const ODD = Uint8Array.from([0x6f, 0x64, 0x64, 0xff, 0x21]); // "odd\xff!": not UTF-8

beforeEach(async () => {
  kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

/** a, b over loops; top over a and b; ro over loop1 read-only; odd (not UTF-8) over a; a suspended; b has an inactive table too. */
async function stack(): Promise<void> {
  await dm.createDevice({ name: 'a', uuid: 'UUID-A', table: [line(2048, 'linear', '/dev/loop0 0')] });
  await dm.createDevice({ name: 'b', table: [line(4096, 'linear', '/dev/loop1 0')] });
  await dm.createDevice({ name: 'top', uuid: 'UUID-TOP', table: [line(2048, 'linear', '/dev/mapper/a 0'), { start: 2048, length: 4096, type: 'linear', params: '/dev/mapper/b 0' }] });
  await dm.createDevice({ name: 'ro', table: [line(100, 'linear', '/dev/loop1 8192')], readOnly: true });
  // create/load/resume: createDevice's identity check takes only text names.
  await dm.create({ name: ODD, uuid: 'UUID-ODD' });
  await dm.load({ name: ODD }, [line(10, 'linear', '/dev/mapper/a 100')]);
  await dm.resume({ name: ODD });
  await dm.load('b', [line(4096, 'linear', '/dev/loop1 0')]);
  await dm.suspend('a');
}

/** The fields sysfs knows, from either API's info. */
function known(d: DeviceInfo | SysfsDeviceInfo) {
  return {
    name: d.name, nameBytes: d.nameBytes, uuid: d.uuid, uuidBytes: d.uuidBytes, dev: d.dev,
    readOnly: d.flags.readOnly, suspended: d.flags.suspended, activePresent: d.flags.activePresent,
  };
}
const sortDevs = (l: readonly { major: number; minor: number }[]) => l.map((x) => `${x.major}:${x.minor}`).sort();

describe('inspect() equals the ioctl API on what sysfs knows', () => {
  test('list: names, uuids, devs, in list() order; eventNr not reported', async () => {
    await stack();
    const viaIoctl = await dm.list();
    const viaSysfs = await inspect({ backend: kernel.backend() }).list();
    expect(viaSysfs.map((d) => ({ name: d.name, nameBytes: d.nameBytes, uuid: d.uuid, dev: d.dev })))
      .toEqual(viaIoctl.map((d) => ({ name: d.name, nameBytes: d.nameBytes, uuid: d.uuid, dev: d.dev })));
    expect(viaSysfs).toHaveLength(5);
    expect(viaSysfs.every((d) => d.eventNr === undefined)).toBe(true);
  });

  test('info: every known field equal, every unknown one undefined', async () => {
    await stack();
    const ins = inspect({ backend: kernel.backend() });
    for (const d of await dm.list()) {
      const id = { name: d.nameBytes ?? d.name };
      const a = await dm.info(id);
      const b = await ins.info(id);
      if (!a.exists || !b.exists) throw new Error('missing');
      expect(known(b)).toEqual(known(a));
      expect([b.openCount, b.eventNr, b.targetCount, b.rawFlags, b.flags.inactivePresent, b.flags.deferredRemove]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
      // size is the live table's
      const t = await dm.table(id);
      expect(b.sizeSectors).toBe(t.targets.reduce((s, x) => s + x.length, 0n));
    }
    const a = await ins.info('a');
    expect(a.exists && a.flags.suspended).toBe(true);
    const ro = await ins.info('ro');
    expect(ro.exists && ro.flags.readOnly).toBe(true);
    expect(await ins.info({ uuid: 'UUID-TOP' })).toMatchObject({ exists: true, name: 'top' });
    const top = await dm.info('top');
    expect(await ins.info({ dev: { major: top.exists ? top.dev.major : 0, minor: top.exists ? top.dev.minor : 0 } })).toMatchObject({ exists: true, name: 'top' });
    expect(await ins.info('nothing')).toEqual({ exists: false });
    expect(await ins.info({ name: ODD })).toMatchObject({ exists: true, uuid: 'UUID-ODD', nameBytes: ODD });
  });

  test('deps: the same devices as DM_TABLE_DEPS (slaves/ order is sysfs\'s)', async () => {
    await stack();
    const ins = inspect({ backend: kernel.backend() });
    for (const name of ['a', 'b', 'top', 'ro'] as const) {
      expect(sortDevs(await ins.deps(name))).toEqual(sortDevs(await dm.deps(name)));
    }
    await expect(ins.deps('nothing')).rejects.toMatchObject({ code: 'ENXIO' });
    // An inactive table's devices are held (bd_link_disk_holder) before the resume: slaves/ shows them, DM_TABLE_DEPS of the live table not.
    await dm.load('ro', [line(100, 'linear', '/dev/loop0 0')], { readOnly: true });
    expect(sortDevs(await ins.deps('ro'))).toEqual(['7:0', '7:1']);
    expect(sortDevs(await dm.deps('ro'))).toEqual(['7:1']);
  });

  test('tree: the same nodes, roots, leaves, children and parents as DeviceTree.read', async () => {
    await stack();
    const t1 = await DeviceTree.read(dm);
    const t2 = await inspect({ backend: kernel.backend() }).tree();
    const shape = <I extends { name: string }>(t: { nodes: readonly TreeNode<never>[] } | DeviceTree<DeviceInfo> | DeviceTree<SysfsDeviceInfo>) => {
      const nodes = (t as DeviceTree<DeviceInfo>).nodes;
      return Object.fromEntries(nodes.map((n) => [n.key, { kind: n.kind, name: n.name, uuid: n.uuid, children: sortDevs(n.children.map((c) => c.dev)), parents: sortDevs(n.parents.map((c) => c.dev)) }]));
    };
    expect(shape(t2)).toEqual(shape(t1));
    expect(sortDevs(t2.roots.map((n) => n.dev))).toEqual(sortDevs(t1.roots.map((n) => n.dev)));
    expect(sortDevs(t2.leaves.map((n) => n.dev))).toEqual(sortDevs(t1.leaves.map((n) => n.dev)));
    expect(t2.get('top')?.info?.uuid).toBe('UUID-TOP');
    expect(t2.get('top')?.info?.openCount).toBeUndefined();
  });

  test('a device with no table: not in sysfs on dm 4.45+ (no gendisk yet), listed before', async () => {
    await dm.create({ name: 'empty' });
    expect((await inspect({ backend: kernel.backend() }).list()).map((d) => d.name)).toEqual([]);
    const old = new SimulatedKernel({ version: [4, 43, 0] });
    const dm2 = await DeviceMapper.open({ backend: old.backend() });
    try {
      await dm2.create({ name: 'empty', uuid: 'U-E' });
      const [d] = await inspect({ backend: old.backend() }).list();
      expect(d).toMatchObject({ name: 'empty', uuid: 'U-E' });
      expect(await inspect({ backend: old.backend() }).info('empty')).toMatchObject({ exists: true, sizeSectors: 0n, flags: { activePresent: false } });
    } finally {
      dm2.close();
    }
  });

  test('works where the control node is refused (an unprivileged process)', async () => {
    await stack();
    kernel.privileged = false;
    await expect(DeviceMapper.open({ backend: kernel.backend() })).rejects.toMatchObject({ name: 'DmPermissionError' });
    expect(await inspect({ backend: kernel.backend() }).list()).toHaveLength(5);
  });
});

/** A backend whose sysfs is the simulator's, with `hook` around every call. */
function hooked(k: SimulatedKernel, hook: { readdir?: (p: string, real: SysfsReader) => Promise<string[]>; readFile?: (p: string, max: number, real: SysfsReader) => Promise<Uint8Array> }): Backend {
  const b = k.backend();
  const real = b.sysfs!;
  return {
    ...b,
    sysfs: {
      readdir: (p) => (hook.readdir ?? ((q, r) => r.readdir(q)))(p, real),
      readFile: (p, m) => (hook.readFile ?? ((q, mm, r) => r.readFile(q, mm)))(p, m, real),
    },
  };
}

describe('hostile sysfs', () => {
  test('a device removed between the listing and its reads is skipped, not an error', async () => {
    await stack();
    const b = hooked(kernel, {
      readFile: async (p, m, real) => {
        // `top` goes away right after the listing: its first attribute read meets ENOENT.
        if (p.endsWith('/dm/name') && new TextDecoder().decode(await real.readFile(p, m)) === 'top\n') await dm.remove('top');
        return real.readFile(p, m);
      },
    });
    const names = (await inspect({ backend: b }).list()).map((d) => d.name);
    expect(names).not.toContain('top');
    expect(names).toContain('a');
  });

  test('EINVAL from a dm attribute of a device being freed: skipped', async () => {
    await stack();
    const b = hooked(kernel, { readFile: async (p, m, real) => { if (/dm-0\/dm\/suspended$/.test(p)) throw new DmSyscallError('x', { errno: 22, syscall: 'read' }); return real.readFile(p, m); } });
    expect((await inspect({ backend: b }).list())).toHaveLength(4);
  });

  test('a dependency removed between readdir of slaves/ and its dev: left out', async () => {
    await stack();
    const b = hooked(kernel, { readFile: async (p, m, real) => { if (/slaves\/loop0\/dev$/.test(p)) throw new DmSyscallError('x', { errno: 2, syscall: 'open' }); return real.readFile(p, m); } });
    expect(await inspect({ backend: b }).deps('a')).toEqual([]);
  });

  test('huge, empty or malformed attributes are DmSysfsError naming the attribute', async () => {
    await stack();
    const with_ = (re: RegExp, bytes: Uint8Array) => inspect({ backend: hooked(kernel, { readFile: async (p, m, real) => (re.test(p) ? bytes.subarray(0, m + 1) : real.readFile(p, m)) }) });
    const big = new Uint8Array(1 << 20).fill(0x61);
    await expect(with_(/dm\/name$/, big).list()).rejects.toBeInstanceOf(DmSysfsError);
    await expect(with_(/dm\/name$/, new Uint8Array(200).fill(0x61)).list()).rejects.toMatchObject({ code: 'DM_SYSFS', path: expect.stringMatching(/dm\/name$/) });
    await expect(with_(/dm\/name$/, Uint8Array.of(0x0a)).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
    await expect(with_(/\/dev$/, new TextEncoder().encode('garbage\n')).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
    await expect(with_(/\/dev$/, new TextEncoder().encode('99999:1\n')).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
    await expect(with_(/suspended$/, new TextEncoder().encode('2\n')).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
    await expect(with_(/size$/, new TextEncoder().encode('-1\n')).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
    await expect(with_(/size$/, new TextEncoder().encode('99999999999999999999999\n')).list()).rejects.toMatchObject({ code: 'DM_SYSFS' });
  });

  test('a sysfs without /sys/block is a DmSyscallError with the errno', async () => {
    const b = hooked(kernel, { readdir: async () => { throw new DmSyscallError('x', { errno: 2, syscall: 'readdir' }); } });
    await expect(inspect({ backend: b }).list()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('bad arguments are typed errors before any read; signal and timeoutMs end the wait', async () => {
    let reads = 0;
    const b = hooked(kernel, { readdir: async (p, real) => { reads++; return real.readdir(p); } });
    const ins = inspect({ backend: b });
    await expect(ins.info(null as never)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(ins.list({ bogus: 1 } as never)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(ins.list({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(reads).toBe(0);
    await expect(ins.list({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(DmAbortError);
    const slow = inspect({ backend: hooked(kernel, { readdir: () => new Promise(() => {}) }) });
    await expect(slow.tree({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(() => inspect({ backend: 5 } as never)).toThrow(DmArgumentError);
  });
});

// The sysfs DeviceInfo is not a DeviceInfo: a caller cannot pass it where the ioctl API's is needed.
// @ts-expect-error openCount is undefined in SysfsDeviceInfo
const notAssignable: DeviceInfo = {} as SysfsDeviceInfo;
void notAssignable;
void ({} as DevNo);
