// The device tree on real kernels: our own stacks (thin on thin-pool on linear, crypt on
// linear, a linear shared by two stacks) and LVM's (linear + old-style snapshot), built on loop
// devices. `dmctl ls --tree` must print exactly what dmsetup prints for every tree option;
// DeviceTree's orders must be dmsetup's (top level, inverted) and LVM's removal order; the
// kernel's open counts must be what removeTree relies on; suspend/resume/reload of a stack
// finish (bounded) with nothing left suspended; a lower device suspended first deadlocks
// nothing (bounded); teardown leaves nothing. Orders below the pool follow the kernel's
// DM_TABLE_DEPS rule (newest first: tableDeviceOrder, docs/kernel-facts.md), not a list.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  attachLoop, detachLoop, DeviceMapper, DeviceTree, reloadTree, removeTree, resumeTree, suspendTree, type LoopDevice, type TreeNode,
} from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { tableDeviceOrder } from '../../testing/index.js';
import { topLevelLabels } from './tree-drawing.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';
import { LVM_CONFIG } from './realtools-env.js';

process.env.DM_DISABLE_UDEV = '1';

interface Out { code: number; stdout: string; stderr: string }
const baseEnv = { ...process.env, DM_DISABLE_UDEV: '1', LVM_SUPPRESS_FD_WARNINGS: '1' };

function dmsetup(env: NodeJS.ProcessEnv, ...args: string[]): Out {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

async function dmctl(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Out> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdinIsTTY: true, columns: undefined });
  return { code, stdout, stderr };
}

function lvm(...args: string[]): Out {
  const [sub, ...rest] = args;
  const r = spawnSync('lvm', [sub!, '--config', LVM_CONFIG, ...rest], { encoding: 'utf8', env: baseEnv, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

// LVM's stack (DM_TREE_LVM=0 leaves it out). On the first 6.1 run `vgchange -an` blocked in the
// kernel until the VM's timeout: the failed suspend test before it had left the thin stack
// suspended, and LVM's device scan reads every block device, the suspended dm ones too (a read
// of a suspended device waits for its resume). With the suspend tests resuming whatever they
// leave (finally), it took 1.7 s on 6.1 and 6.12 (2026-11-29).
const haveLvm = process.env.DM_TREE_LVM !== '0' && spawnSync('sh', ['-c', 'command -v lvm'], { env: baseEnv }).status === 0;
const names = (ns: readonly TreeNode[]) => ns.map((n) => n.name || n.key);
const report: Record<string, unknown> = {};

describeLive(`device tree: dmctl ls --tree = dmsetup's, libdevmapper's orders, stack operations [kernel ${kernelLabel}]`, () => {
  const p = `dt${process.pid % 10000}`;
  const VG = `${p}vg`;
  let dir: string;
  const loops: LoopDevice[] = [];
  let dm: DeviceMapper;
  let lvmMade = false;
  const line = (length: number, type: string, params: string) => ({ start: 0, length, type, params });
  const ours = (n: string) => n.startsWith(p);
  // pool_ctr() opens meta, then data; the kernel lists a table's devices newest first.
  const POOL_DEVS = () => tableDeviceOrder([`${p}meta`, `${p}data`]);
  const suspendedOurs = () => dm.listSync().filter((d) => ours(d.name) && (dm.infoSync(d.name) as { flags: { suspended: boolean } }).flags.suspended).map((d) => d.name);
  /** Resumes (bottom-up, with dmsetup: a separate process, whatever our own threads wait on) what a failed test left suspended. */
  const resumeOurs = () => {
    for (const n of DeviceTree.readSync(dm).bottomUp()) if (n.kind === 'dm' && ours(n.name) && n.info?.flags.suspended) dmsetup(baseEnv, 'resume', n.name);
  };

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devtree-'));
    for (let i = 0; i < 3; i++) {
      const f = path.join(dir, `d${i}`);
      fs.writeFileSync(f, '');
      fs.truncateSync(f, 16 * 1024 * 1024);
      loops.push(await attachLoop(f));
    }
    const [l0, l1] = [loops[0]!.path, loops[1]!.path];
    await dm.createDevice({ name: `${p}meta`, table: [line(2048, 'linear', `${l0} 0`)] });
    await dm.createDevice({ name: `${p}data`, table: [line(8192, 'linear', `${l1} 0`)] });
    await dm.createDevice({ name: `${p}pool`, uuid: `${p}-POOL`, table: [line(8192, 'thin-pool', `${devOf(`${p}meta`)} ${devOf(`${p}data`)} 128 0`)] });
    await dm.message(`${p}pool`, 0, 'create_thin 1');
    await dm.createDevice({ name: `${p}thin`, uuid: `${p}-THIN`, table: [line(8192, 'thin', `${devOf(`${p}pool`)} 1`)] });
    await dm.createDevice({ name: `${p}clin`, table: [line(4096, 'linear', `${l0} 4096`)] });
    await dm.createDevice({ name: `${p}crypt`, uuid: `CRYPT-PLAIN-${p}`, table: [line(4096, 'crypt', `aes-xts-plain64 ${'a5'.repeat(32)} 0 ${devOf(`${p}clin`)} 0`)] });
    await dm.createDevice({ name: `${p}shared`, table: [line(4096, 'linear', `${l1} 8192`)] });
    await dm.createDevice({ name: `${p}a`, table: [line(2048, 'linear', `${devOf(`${p}shared`)} 0`)] });
    // A long name: lines past 80 columns are cut by dmsetup ("...") unless notrunc.
    await dm.createDevice({ name: `${p}b-${'x'.repeat(90)}`, table: [line(2048, 'linear', `${devOf(`${p}shared`)} 2048`)] });
    if (haveLvm) {
      const pv = loops[2]!.path;
      for (const d of ['/run/lvm', '/run/lock/lvm']) fs.mkdirSync(d, { recursive: true });
      lvmMade = lvm('pvcreate', '-q', '-y', pv).code === 0 && lvm('vgcreate', '-q', '-y', '-s', '1M', VG, pv).code === 0
        && lvm('lvcreate', '-q', '-y', '-L', '4M', '-n', 'lin', VG).code === 0
        && lvm('lvcreate', '-q', '-y', '-s', '-L', '2M', '-n', 'snap', `${VG}/lin`).code === 0;
    }
    report.lvm = haveLvm ? (lvmMade ? 'linear + snapshot made' : 'lvm failed') : 'not run (no lvm, or DM_TREE_LVM=0)';
  }, 300_000);

  afterAll(async () => {
    if (lvmMade) { lvm('vgchange', '-q', '-an', VG); lvm('vgremove', '-q', '-ff', VG); }
    for (const d of (await dm.list()).filter((x) => ours(x.name))) await dm.removeDevice(d.name, { retries: 3, delayMs: 50 }).catch(() => undefined);
    for (const l of loops) await detachLoop(l).catch(() => undefined);
    dm.close();
    fs.rmSync(dir, { recursive: true, force: true });
    recordLiveFact('deviceTree', report);
  });

  function devOf(name: string): string {
    const d = dm.listSync().find((x) => x.name === name)!;
    return `${d.dev.major}:${d.dev.minor}`;
  }

  const OPTIONS = [
    undefined, 'ascii', 'utf', 'vt100', 'inverted', 'compact', 'notrunc', 'nodevice', 'blkdevname', 'active', 'open', 'rw', 'uuid',
    'active,open,rw,uuid', 'inverted,blkdevname,nodevice', 'inverted,compact', 'compact,notrunc,utf', 'table', 'status', 'device,nodevice,blkdevname',
    'i', 'c,a', 'u', 'bogus', 'ascii,bogus,uuid',
  ];

  test('ls --tree: the same bytes and exit status as dmsetup for every tree option, in the C and a UTF-8 locale', async () => {
    const diffs: unknown[] = [];
    let compared = 0;
    for (const lang of ['C', 'C.UTF-8']) {
      const env = { ...baseEnv, LANG: lang, LC_ALL: lang };
      for (const o of OPTIONS) {
        const args = o === undefined ? ['ls', '--tree'] : ['ls', '--tree', '-o', o];
        const a = dmsetup(env, ...args);
        const b = await dmctl(env, ...args);
        compared++;
        if (a.stdout !== b.stdout || a.code !== b.code) diffs.push({ lang, args: args.join(' '), dmsetup: a.stdout.slice(0, 2000), dmctl: b.stdout.slice(0, 2000), codes: [a.code, b.code], stderr: b.stderr.slice(0, 300) });
      }
    }
    report.lsTreeCompared = compared;
    report.lsTreeDiffs = diffs;
    report.lsTreeSample = dmsetup({ ...baseEnv, LANG: 'C', LC_ALL: 'C' }, 'ls', '--tree', '-o', 'ascii').stdout;
    recordLiveFact('deviceTree', report);
    process.stdout.write(`device tree: ls --tree compared ${compared} times, ${diffs.length} differences\n${report.lsTreeSample as string}\n`);
    expect(diffs).toEqual([]);
  }, 240_000);

  test('DeviceTree orders are dmsetup\'s: the top level, the inverted top level, each node\'s children', async () => {
    const t = await DeviceTree.read(dm);
    const env = { ...baseEnv, LANG: 'C', LC_ALL: 'C' };
    // Top-level entries of dmsetup's drawing are the tree's roots (inverted: leaves), in order;
    // a loop device is a nameless " (7:0)" line there (tree-drawing.ts).
    const label = (n: TreeNode) => (n.kind === 'dm' ? n.name : '');
    expect(t.roots.map(label)).toEqual(topLevelLabels(dmsetup(env, 'ls', '--tree', '-o', 'ascii,notrunc').stdout));
    expect(t.leaves.map(label)).toEqual(topLevelLabels(dmsetup(env, 'ls', '--tree', '-o', 'ascii,notrunc,inverted').stdout));
    const thin = t.node(`${p}thin`);
    expect(names(thin.children)).toEqual([`${p}pool`]);
    expect(names(t.node(`${p}pool`).children)).toEqual(POOL_DEVS());
    expect(t.node(`${p}shared`).parents.map((n) => n.name)).toEqual([`${p}a`, `${p}b-${'x'.repeat(90)}`]);
    expect(t.node({ dev: { major: loops[0]!.major, minor: loops[0]!.minor } }).kind).toBe('block');
    expect(t.node({ dev: { major: loops[0]!.major, minor: loops[0]!.minor } }).name).toBe(path.basename(loops[0]!.path));
    report.orders = {
      roots: names(t.roots).filter(ours), topDownThin: names(t.topDown([`${p}thin`])), bottomUpThin: names(t.bottomUp([`${p}thin`])),
      removalOrder: names(t.removalOrder([`${p}thin`, `${p}crypt`, `${p}a`])),
    };
    recordLiveFact('deviceTree', report);
    process.stdout.write(`device tree orders: ${JSON.stringify(report.orders)}\n`);
  });

  test('open counts: one per mapped device whose tables use it (live and inactive share one), what removeTree compares with', async () => {
    const oc = (n: string) => (dm.infoSync(n) as { openCount: number }).openCount;
    expect(oc(`${p}meta`)).toBe(1);
    expect(oc(`${p}shared`)).toBe(2);
    expect(oc(`${p}thin`)).toBe(0);
    // An inactive table of the same user that uses the same device: still one open.
    await dm.load(`${p}a`, [line(2048, 'linear', `${devOf(`${p}shared`)} 100`)]);
    const both = oc(`${p}shared`);
    await dm.clear(`${p}a`);
    // An inactive table of a user that does not use it yet: one more.
    await dm.load(`${p}crypt`, [line(4096, 'crypt', `aes-xts-plain64 ${'a5'.repeat(32)} 0 ${devOf(`${p}shared`)} 0`)]);
    const inactive = oc(`${p}shared`);
    await dm.clear(`${p}crypt`);
    report.openCounts = { sharedLiveAndInactiveOfOneUser: both, sharedPlusInactiveUser: inactive };
    expect(both).toBe(2);
    expect(inactive).toBe(3);
  });

  test('suspendTree top-down and resumeTree bottom-up on the thin stack, bounded; nothing left suspended', async () => {
    const t0 = Date.now();
    try {
      const s = await suspendTree(dm, [`${p}thin`], { timeoutMs: 20_000 });
      expect(names(s.suspended)).toEqual([`${p}thin`, `${p}pool`, ...POOL_DEVS()]);
      for (const n of names(s.suspended)) expect((dm.infoSync(n) as { flags: { suspended: boolean } }).flags.suspended).toBe(true);
      const r = await resumeTree(dm, [`${p}thin`], { timeoutMs: 20_000 });
      expect(names(r.resumed)).toEqual([...POOL_DEVS(), `${p}pool`, `${p}thin`]);
      // A shared lower device with a live user outside the subtree is not suspended.
      const sa = await suspendTree(dm, [`${p}a`]);
      expect(sa.skipped.map((k) => k.node.name)).toEqual([`${p}shared`]);
      await resumeTree(dm, [`${p}a`]);
      report.suspendResumeMs = Date.now() - t0;
      expect(suspendedOurs()).toEqual([]);
    } finally {
      resumeOurs(); // a failed expectation must not leave the stack suspended for the tests after it
    }
  }, 120_000);

  test('a lower device suspended first deadlocks nothing (bounded): removeTree keeps the stack, suspendTree fails TIMEOUT or finishes within its bound, nothing stays suspended once it is resumed', async () => {
    const meta = `${p}meta`;
    const t0 = Date.now();
    expect(dmsetup(baseEnv, 'suspend', meta).code).toBe(0);
    let s: { suspended: string[] } | { error: string } | undefined;
    try {
      // Removing the pool (or the thin above it) would sleep on the pool's metadata commit.
      const r = await removeTree(dm, [`${p}thin`], { timeoutMs: 20_000 });
      expect(r.removed).toEqual([]);
      expect(r.kept.map((k) => [k.node.name, k.reason, names(k.suspended ?? [])])).toEqual([[`${p}thin`, 'suspended', [meta]]]);
      // From the top: the pool's suspend commits its metadata to the suspended meta and waits for it.
      s = await suspendTree(dm, [`${p}thin`], { timeoutMs: 5_000 }).then(
        (x) => ({ suspended: names(x.suspended) }), (e: unknown) => ({ error: String((e as { code?: unknown }).code ?? e) }));
      if ('error' in s) expect(s.error).toBe('TIMEOUT');
    } finally {
      dmsetup(baseEnv, 'resume', meta);
    }
    if (s && 'suspended' in s) await resumeTree(dm, [`${p}thin`], { timeoutMs: 20_000 });
    // A suspend that returned after its bound is resumed by suspendTree when it returns: wait for that (bounded).
    for (const end = Date.now() + 30_000; Date.now() < end && suspendedOurs().length;) await new Promise((r) => setTimeout(r, 200));
    report.lowerSuspendedFirst = { suspendTree: s, ms: Date.now() - t0, leftSuspended: suspendedOurs() };
    recordLiveFact('deviceTree', report);
    process.stdout.write(`device tree: lower device suspended first: ${JSON.stringify(report.lowerSuspendedFirst)}\n`);
    try {
      expect(suspendedOurs()).toEqual([]);
    } finally {
      resumeOurs();
    }
  }, 120_000);

  test('reloadTree: crypt on a growing linear (loaded bottom-up, the linear resumed first), then suspended from the top, resumed from the bottom', async () => {
    const r = await reloadTree(dm, [
      { device: `${p}crypt`, table: [line(6144, 'crypt', `aes-xts-plain64 ${'a5'.repeat(32)} 0 ${devOf(`${p}clin`)} 0`)] },
      { device: `${p}clin`, table: [line(6144, 'linear', `${loops[0]!.path} 4096`)] },
    ], { timeoutMs: 20_000 });
    expect(names(r.resumedEarly)).toEqual([`${p}clin`]);
    expect(names(r.suspended)).toEqual([`${p}crypt`, `${p}clin`]);
    expect(names(r.resumed)).toEqual([`${p}clin`, `${p}crypt`]);
    expect((await dm.table(`${p}crypt`)).targets[0]!.length).toBe(6144n);
    for (const n of [`${p}crypt`, `${p}clin`]) expect((dm.infoSync(n) as { flags: { suspended: boolean; inactivePresent: boolean } }).flags).toMatchObject({ suspended: false, inactivePresent: false });
    // The kernel refuses a table larger than its device: nothing staged or suspended remains.
    await expect(reloadTree(dm, [{ device: `${p}crypt`, table: [line(999_999, 'crypt', `aes-xts-plain64 ${'a5'.repeat(32)} 0 ${devOf(`${p}clin`)} 0`)] }])).rejects.toThrow();
    expect((dm.infoSync(`${p}crypt`) as { flags: { suspended: boolean; inactivePresent: boolean } }).flags).toMatchObject({ suspended: false, inactivePresent: false });
  }, 120_000);

  test('LVM\'s own deactivation order (lvm -v "Removing …") is the tree\'s removal order', () => {
    if (!lvmMade) { report.lvmOrder = report.lvm; return; }
    const t = DeviceTree.readSync(dm);
    const vgTops = t.roots.filter((n) => n.name.startsWith(`${VG}-`));
    const ourOrder = names(t.removalOrder(vgTops));
    const out = lvm('vgchange', '-an', '-v', VG);
    const lvmOrder = [...(out.stdout + out.stderr).matchAll(/Removing (\S+) \(\d+:\d+\)/g)].map((m) => m[1]!);
    report.lvmOrder = { lvm: lvmOrder, deviceTree: ourOrder };
    expect(out.code).toBe(0);
    expect(new Set(lvmOrder)).toEqual(new Set(ourOrder));
    // Each device after all of its users, in both.
    for (const order of [lvmOrder, ourOrder]) {
      for (const n of order) for (const u of t.node(n).parents) expect(order.indexOf(u.name)).toBeLessThan(order.indexOf(n));
    }
    lvmMade = lvm('vgremove', '-q', '-ff', VG).code !== 0;
  }, 120_000);

  test('removeTree: a shared lower device stays while another stack uses it; every stack then comes down; nothing is left', async () => {
    const a = await removeTree(dm, [`${p}a`], { timeoutMs: 20_000 });
    expect(names(a.removed)).toEqual([`${p}a`]);
    expect(a.kept.map((k) => [k.node.name, k.reason])).toEqual([[`${p}shared`, 'used']]);
    const t = await DeviceTree.read(dm);
    const all = await removeTree(dm, [`${p}thin`, `${p}crypt`, `${p}b-${'x'.repeat(90)}`], { tree: t, timeoutMs: 20_000 });
    report.removeOrder = names(all.removed);
    // The stacks go in parallel (removed lists them as their removals returned): every device
    // after each of its users, since none is tried before its users' removals have returned.
    const removed = names(all.removed);
    expect([...removed].sort()).toEqual([`${p}thin`, `${p}pool`, ...POOL_DEVS(), `${p}crypt`, `${p}clin`, `${p}b-${'x'.repeat(90)}`, `${p}shared`].sort());
    for (const n of all.removed) for (const u of n.parents) expect({ n: n.name, u: u.name, before: removed.indexOf(u.name) < removed.indexOf(n.name) }).toEqual({ n: n.name, u: u.name, before: true });
    expect(all.complete).toBe(true);
    expect((await dm.list()).filter((d) => ours(d.name))).toEqual([]);
  }, 120_000);
});
