// inspect() and dmctl's sysfs fallback on a real kernel, as an unprivileged user: a child node
// process run under `setpriv --reuid=65534 --regid=65534 --clear-groups` (nobody) reads the
// devices, their info, their deps and the tree from sysfs, is refused by /dev/mapper/control,
// and runs dmctl ls / ls --tree / info / deps; root compares everything with the ioctl API's
// results and with dmctl's output as root. docs/sysfs-inspection.md.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, detachLoop, DeviceMapper, DeviceTree, type DeviceInfo, type LoopDevice } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { describeLive, dmMinorFloor, kernelLabel, recordLiveFact } from './live-env.js';

const REPO = path.resolve(__dirname, '..', '..');
const env = { ...process.env, DM_DISABLE_UDEV: '1' };

async function dmctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdinIsTTY: true, nodes: false });
  return { code, stdout, stderr };
}

/** What the unprivileged child reports (bigints as strings, bytes as hex). */
interface ChildReport {
  uid: number;
  openError: string;
  list: { name: string; nameHex: string | null; uuid: string | null; major: number; minor: number; eventNr: null }[];
  info: Record<string, { readOnly: boolean; suspended: boolean; activePresent: boolean; sizeSectors: string; openCount: null; eventNr: null; targetCount: null; inactivePresent: null }>;
  deps: Record<string, string[]>;
  tree: Record<string, { kind: string; name: string; uuid: string | null; children: string[]; parents: string[] }>;
  dmctl: Record<string, { code: number; stdout: string; stderr: string }>;
}

function childScript(prefix: string, dmctlRuns: string[][]): string {
  return `
    const { inspect, DeviceMapper } = await import(${JSON.stringify(path.join(REPO, 'dist/lib/index.js'))});
    const { run } = await import(${JSON.stringify(path.join(REPO, 'dist/cli/index.js'))});
    const hex = (b) => b ? Buffer.from(b).toString('hex') : null;
    const key = (d) => d.major + ':' + d.minor;
    const out = { uid: process.getuid(), list: [], info: {}, deps: {}, tree: {}, dmctl: {} };
    try { const dm = await DeviceMapper.open(); dm.close(); out.openError = 'none'; } catch (e) { out.openError = e.code; }
    const ins = inspect();
    for (const d of await ins.list()) {
      out.list.push({ name: d.name, nameHex: hex(d.nameBytes), uuid: d.uuid, major: d.dev.major, minor: d.dev.minor, eventNr: d.eventNr ?? null });
      if (!d.name.startsWith(${JSON.stringify(prefix)})) continue;
      const i = await ins.info({ name: d.nameBytes ?? d.name });
      out.info[key(d.dev)] = { readOnly: i.flags.readOnly, suspended: i.flags.suspended, activePresent: i.flags.activePresent, sizeSectors: String(i.sizeSectors),
        openCount: i.openCount ?? null, eventNr: i.eventNr ?? null, targetCount: i.targetCount ?? null, inactivePresent: i.flags.inactivePresent ?? null };
      out.deps[key(d.dev)] = (await ins.deps({ dev: d.dev })).map(key).sort();
    }
    const t = await ins.tree();
    for (const n of t.nodes) out.tree[n.key] = { kind: n.kind, name: n.name, uuid: n.uuid, children: n.children.map((c) => c.key).sort(), parents: n.parents.map((c) => c.key).sort() };
    for (const argv of ${JSON.stringify(dmctlRuns)}) {
      let stdout = '', stderr = '';
      const code = await run(argv, { stdout: (x) => { stdout += x; }, stderr: (x) => { stderr += x; }, stdinIsTTY: true, nodes: false });
      out.dmctl[argv.join(' ')] = { code, stdout, stderr };
    }
    process.stdout.write(JSON.stringify(out));
  `;
}

describeLive(`inspection from sysfs without root [kernel ${kernelLabel}]`, () => {
  const p = `si${process.pid % 10000}`;
  const odd = Uint8Array.from([...new TextEncoder().encode(`${p}-odd`), 0xff, 0x21]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysfs-insp-'));
  const loops: LoopDevice[] = [];
  let dm: DeviceMapper;
  let report: ChildReport;
  const dmctlRuns = [['ls'], ['ls', '--tree'], ['ls', '--tree', '-o', 'ascii,active,rw,uuid'], ['deps'], ['info', `${p}-top`], ['info', `${p}-sus`], ['info', '-c', '--noheadings', '-o', 'name,major,minor,suspended,readonly,uuid', `${p}-ro`], ['ls', '--target', 'linear']];
  const roots: Record<string, { code: number; stdout: string; stderr: string }> = {};

  beforeAll(async () => {
    for (const n of [0, 1]) {
      const f = path.join(dir, `l${n}.img`);
      fs.writeFileSync(f, '');
      fs.truncateSync(f, 8 << 20);
      loops.push(await attachLoop(f));
    }
    dm = await DeviceMapper.open();
    const lin = (len: number, dev: string, off = 0) => ({ start: 0, length: len, type: 'linear', params: `${dev} ${off}` });
    await dm.createDevice({ name: `${p}-a`, uuid: `${p}-UUID-A`, table: [lin(4096, loops[0]!.path)] });
    await dm.createDevice({ name: `${p}-b`, table: [lin(4096, loops[1]!.path)] });
    const a = await dm.info(`${p}-a`);
    const b = await dm.info(`${p}-b`);
    if (!a.exists || !b.exists) throw new Error('setup');
    await dm.createDevice({
      name: `${p}-top`, uuid: `${p}-UUID-TOP`,
      table: [lin(4096, `${a.dev.major}:${a.dev.minor}`), { start: 4096, length: 4096, type: 'linear', params: `${b.dev.major}:${b.dev.minor} 0` }],
    });
    await dm.createDevice({ name: `${p}-ro`, table: [lin(100, loops[1]!.path, 8192)], readOnly: true });
    await dm.createDevice({ name: `${p}-sus`, uuid: `${p}-UUID-SUS`, table: [{ start: 0, length: 64, type: 'zero', params: '' }] });
    await dm.suspend(`${p}-sus`);
    await dm.create({ name: odd });
    await dm.load({ name: odd }, [{ start: 0, length: 8, type: 'zero', params: '' }]);
    await dm.resume({ name: odd });
    // A loaded table never resumed: in sysfs (the gendisk is added at the first load), no live table.
    await dm.create({ name: `${p}-pending` });
    await dm.load(`${p}-pending`, [lin(16, loops[0]!.path, 10000)]);
    for (const argv of dmctlRuns) roots[argv.join(' ')] = await dmctl(...argv);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', childScript(p, dmctlRuns)], {
      // Root's environment (LANG decides the tree's drawing characters), minus nothing: only the uid and groups change.
      encoding: 'utf8', env, cwd: '/',
    });
    if (r.status !== 0) throw new Error(`unprivileged child failed (${r.status}): ${r.stderr}`);
    report = JSON.parse(r.stdout) as ChildReport;
  }, 120_000);

  afterAll(async () => {
    if (dm) {
      for (const n of [`${p}-top`, `${p}-a`, `${p}-b`, `${p}-ro`, `${p}-pending`]) await dm.remove(n).catch(() => {});
      await dm.resume(`${p}-sus`).catch(() => {});
      await dm.remove(`${p}-sus`).catch(() => {});
      await dm.remove({ name: odd }).catch(() => {});
      dm.close();
    }
    for (const l of loops) await detachLoop(l).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the child is nobody and the control node refuses it', () => {
    expect(report.uid).toBe(65534);
    expect(['EACCES', 'EPERM']).toContain(report.openError);
  });

  test('list: the names (bytes too), uuids and devs of the ioctl API, in list() order', async () => {
    const mine = (await dm.list()).filter((d) => d.name.startsWith(p));
    const seen = report.list.filter((d) => d.name.startsWith(p));
    // Before dm 4.46 (5.10) DM_LIST_DEVICES reports no uuid (undefined); sysfs has it: compare with info's.
    const uuidOf = async (d: (typeof mine)[number]) => {
      if (d.uuid !== undefined) return d.uuid;
      const i = await dm.info({ name: d.nameBytes ?? d.name });
      return i.exists ? i.uuid : undefined;
    };
    const expected = [];
    for (const d of mine) expected.push({ name: d.name, nameHex: d.nameBytes ? Buffer.from(d.nameBytes).toString('hex') : null, uuid: await uuidOf(d), major: d.dev.major, minor: d.dev.minor, eventNr: null });
    expect(seen).toEqual(expected);
    expect(seen.find((d) => d.nameHex !== null)?.nameHex).toBe(Buffer.from(odd).toString('hex'));
  });

  test('info: suspended, read-only, live table and size equal; the rest unknown', async () => {
    const mine = (await dm.list()).filter((d) => d.name.startsWith(p));
    expect(Object.keys(report.info)).toHaveLength(mine.length);
    for (const d of mine) {
      const i = await dm.info({ name: d.nameBytes ?? d.name });
      if (!i.exists) throw new Error('gone');
      const t = await dm.table({ name: d.nameBytes ?? d.name });
      const s = report.info[`${d.dev.major}:${d.dev.minor}`]!;
      expect({ name: d.name, ...s }).toEqual({
        name: d.name, readOnly: i.flags.readOnly, suspended: i.flags.suspended, activePresent: i.flags.activePresent,
        sizeSectors: String(t.targets.reduce((n, x) => n + x.length, 0n)), openCount: null, eventNr: null, targetCount: null, inactivePresent: null,
      });
    }
    recordLiveFact('sysfsInspection', { devices: mine.length, kernel: kernelLabel });
  });

  test('deps: slaves/ holds what DM_TABLE_DEPS lists (and, before a resume, the inactive table\'s devices)', async () => {
    for (const d of (await dm.list()).filter((x) => x.name.startsWith(p))) {
      const id = { name: d.nameBytes ?? d.name };
      const live = (await dm.deps(id)).map((x) => `${x.major}:${x.minor}`).sort();
      const s = report.deps[`${d.dev.major}:${d.dev.minor}`]!;
      if (d.name === `${p}-pending`) {
        expect(live).toEqual([]);
        expect(s).toEqual((await dm.deps(id, { inactive: true })).map((x) => `${x.major}:${x.minor}`).sort());
      } else {
        expect(s).toEqual(live);
      }
    }
  });

  test('tree: the nodes, names, uuids, children and parents of DeviceTree.read (plus what an inactive table holds)', async () => {
    const t = await DeviceTree.read(dm);
    const info = (n: { info: DeviceInfo | undefined }) => n.info;
    // The pending device's inactive table holds loop0: slaves/ links it, DM_TABLE_DEPS of the live table (none) does not.
    const pending = t.get(`${p}-pending`)!.key;
    const held = (await dm.deps(`${p}-pending`, { inactive: true })).map((x) => `${x.major}:${x.minor}`);
    expect(held).toEqual([`${loops[0]!.major}:${loops[0]!.minor}`]);
    for (const n of t.nodes) {
      if (n.kind === 'dm' && !info(n)!.name.startsWith(p)) continue;
      if (n.kind === 'block' && !n.parents.some((x) => x.name.startsWith(p))) continue;
      const children = n.key === pending ? held : n.children.map((c) => c.key);
      const parents = [...n.parents.map((c) => c.key), ...(held.includes(n.key) ? [pending] : [])];
      expect({ key: n.key, ...report.tree[n.key] }).toEqual({ key: n.key, kind: n.kind, name: n.name, uuid: n.uuid, children: children.sort(), parents: parents.sort() });
    }
  });

  test('dmctl as nobody: ls, ls --tree and deps print what root prints; info marks the unknown fields', () => {
    const note = /^dmctl: (EACCES|EPERM) from \/dev\/mapper\/control: read from sysfs instead; what sysfs cannot know is shown as unknown\n$/;
    for (const k of ['ls', 'ls --tree', 'ls --tree -o ascii,active,rw,uuid', 'deps']) {
      const u = report.dmctl[k]!;
      expect({ k, code: u.code, stderr: u.stderr.replace(note, 'NOTE') }).toEqual({ k, code: 0, stderr: 'NOTE' });
      // Before dm 4.45 (5.10) the kernel lists in name-hash order, which sysfs cannot give: the lines are compared as sets there.
      const lines = (x: string) => (dmMinorFloor < 45 ? x.split('\n').sort() : x.split('\n'));
      if (k === 'deps') {
        // The pending device's inactive table holds loop0 (slaves/); DM_TABLE_DEPS of its live table (none) has nothing.
        const pendingLine = (deps: string) => `${p}-pending: ${deps}`;
        expect(roots[k]!.stdout).toContain(`${pendingLine('0 dependencies\t:')}\n`);
        expect(u.stdout).toContain(`${pendingLine(`1 dependencies\t: (${loops[0]!.major}, ${loops[0]!.minor})`)}\n`);
        const mine = u.stdout.replace(pendingLine(`1 dependencies\t: (${loops[0]!.major}, ${loops[0]!.minor})`), pendingLine('0 dependencies\t:'));
        expect(lines(mine)).toEqual(lines(roots[k]!.stdout));
      } else if (k === 'ls') {
        expect(lines(u.stdout)).toEqual(lines(roots[k]!.stdout));
      } else {
        // The pending device's inactive table holds loop0 (slaves/): the one line root's tree lacks.
        const mine = u.stdout.split('\n');
        const at = mine.findIndex((l) => l.startsWith(`${p}-pending `));
        expect(mine[at + 1]).toMatch(new RegExp(`^ (\`-|└─) \\(${loops[0]!.major}:${loops[0]!.minor}\\)$`));
        mine.splice(at + 1, 1);
        expect(lines(mine.join('\n'))).toEqual(lines(roots[k]!.stdout));
      }
    }
    for (const k of [`info ${p}-top`, `info ${p}-sus`]) {
      const r = roots[k]!.stdout.split('\n');
      const u = report.dmctl[k]!.stdout.split('\n');
      expect(u).toHaveLength(r.length);
      for (const [i, l] of r.entries()) if (!/^(Open count|Event number|Number of targets|Tables present):/.test(l)) expect(u[i]).toBe(l);
      expect(u).toEqual(expect.arrayContaining(['Open count:        unknown', 'Event number:      unknown', 'Number of targets: unknown']));
    }
    expect(report.dmctl[`info -c --noheadings -o name,major,minor,suspended,readonly,uuid ${p}-ro`]!.stdout).toBe(roots[`info -c --noheadings -o name,major,minor,suspended,readonly,uuid ${p}-ro`]!.stdout);
    // ls --target needs the tables: still refused.
    expect(report.dmctl['ls --target linear']!.code).not.toBe(0);
  });
});
