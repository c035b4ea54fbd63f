// dmsetup's further verbs and options against real dmsetup (DM_DISABLE_UDEV=1) on real
// devices: table --concise byte for byte (one device, all, --target, crypt keys hidden and
// shown), create --concise by either tool giving the same devices, a dm-mod.create= string
// of the library read by dmsetup create --concise into the same tables, wipe_table, measure,
// target-version, mangle, ls --exec, --readahead and -U/-G/-M on the node.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, detachLoop, dmModCreate, parseDmModCreate, type LoopDevice } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { describeLiveOn, kernelLabel, recordLiveFact } from './live-env.js';

const env = { ...process.env, DM_DISABLE_UDEV: '1' };
process.env.DM_DISABLE_UDEV = '1';
// Each test spawns dmsetup a dozen times and more; under the VM's emulation one spawn takes
// about a second.
const SLOW_MS = 240_000;
const KEY = 'babebabebabebabebabebabebabebabebabebabebabebabebabebabebabebabe';

interface Out { code: number; stdout: string; stderr: string }

function dmsetup(...args: string[]): Out {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** dmctl in process; `ls --exec`'s command runs with its output captured into stdout. */
async function dmctl(...args: string[]): Promise<Out> {
  let stdout = '';
  let stderr = '';
  const exec = async (argv: readonly string[]) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    stdout += r.stdout;
    return r.status;
  };
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdinIsTTY: true, exec });
  return { code, stdout, stderr };
}

/** Both tools, same arguments: equal stdout and exit status. */
async function same(...args: string[]): Promise<string> {
  const a = dmsetup(...args);
  const b = await dmctl(...args);
  expect({ args, stdout: b.stdout, code: b.code }).toEqual({ args, stdout: a.stdout, code: a.code });
  return a.stdout;
}

describeLiveOn(['6.1', 'newest'], `dmsetup's further verbs, dmctl against dmsetup [kernel ${kernelLabel}]`, () => {
  const p = `vb${process.pid % 10000}`;
  let dir: string;
  let loop: LoopDevice;
  let dm: DeviceMapper;
  let ld: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-vb-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 8 * 1024 * 1024);
    loop = await attachLoop(file);
    ld = `${loop.major}:${loop.minor}`;
    dm = await DeviceMapper.open();
  });

  afterAll(async () => {
    for (const d of await dm.list()) if (d.name.includes(p)) await dm.removeDevice({ name: d.name }).catch(() => undefined);
    dmsetup('mknodes');
    dm.close();
    await detachLoop(loop);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function removeAll(): Promise<void> {
    for (const d of await dm.list()) if (d.name.includes(p)) await dm.removeDevice({ name: d.name });
    dmsetup('mknodes');
  }

  test('create --concise by either tool gives the same devices; table --concise is byte for byte dmsetup\'s', async () => {
    const spec = `${p}-a,UUID-${p}-a,,ro,0 2048 linear ${ld} 0,2048 1024 zero;${p}-b,,200,,0 4096 linear ${loop.path} 4096;${p}-c,,,rw,0 8 crypt aes-xts-plain64 ${KEY} 0 ${ld} 0`;
    expect(dmsetup('create', '--concise', spec)).toMatchObject({ code: 0 });
    const byDmsetup = await same('table', '--concise');
    await same('table', '--concise', `${p}-a`);
    await same('table', '--concise', `${p}-a`, `${p}-c`);
    await same('table', '--concise', '--target', 'linear');
    await same('table', '--concise', '--showkeys', `${p}-c`);
    expect(byDmsetup).not.toContain(KEY);
    await removeAll();
    const made = await dmctl('create', '--concise', spec);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    // The same devices: dmsetup prints the same line for dmctl's devices (the first device's
    // minor was the kernel's choice both times: equal when nothing else was made meanwhile).
    expect(dmsetup('table', '--concise').stdout).toBe(byDmsetup);
    await same('table', '--concise');
    await same('info', '-c', `${p}-a`);
    recordLiveFact('conciseLine', byDmsetup.replace(/[0-9a-f]{64}/g, '<key>'));
    await removeAll();
  }, SLOW_MS);

  test('create --concise: the same inputs are refused by both (exit 1, nothing made)', async () => {
    for (const spec of ['a,b', `${p}-x,,,xx,0 8 zero`, `${p}-x,,,,0 8 zero,`, `${p}-x,,,,x 8 zero`, `${p}-x,,,,0 8 zero\\`]) {
      const a = dmsetup('create', '--concise', spec);
      const b = await dmctl('create', '--concise', spec);
      expect({ spec, code: b.code }).toEqual({ spec, code: a.code });
      expect(a.code).toBe(1);
    }
    expect((await dm.list()).filter((d) => d.name.includes(p))).toEqual([]);
  }, SLOW_MS);

  test('a dm-mod.create= argument of the library is read by dmsetup create --concise into the tables it describes', async () => {
    const devices = [
      { name: `${p}-k1`, uuid: `K-${p}-1`, readOnly: true, table: [{ start: 0, length: 2048, type: 'linear', params: `${ld} 0` }, { start: 2048, length: 2048, type: 'linear', params: `${ld} 8192` }] },
      { name: `${p}-k2`, minor: 201, table: [{ start: 0, length: 4096, type: 'striped', params: `2 8 ${ld} 0 ${ld} 4096` }] },
    ];
    const arg = dmModCreate(devices);
    const value = arg.slice('dm-mod.create="'.length, -1);
    expect(dmsetup('create', '--concise', value)).toMatchObject({ code: 0 });
    expect(dmsetup('table', `${p}-k1`).stdout).toBe(`0 2048 linear ${ld} 0\n2048 2048 linear ${ld} 8192\n`);
    expect(dmsetup('table', `${p}-k2`).stdout).toBe(`0 4096 striped 2 8 ${ld} 0 ${ld} 4096\n`);
    const k1 = await dm.info({ name: `${p}-k1` });
    const k2 = await dm.info({ name: `${p}-k2` });
    if (!k1.exists || !k2.exists) throw new Error('the devices of the dm-mod.create= string were not created');
    expect([k1.uuid, k1.flags.readOnly, k2.uuid, k2.flags.readOnly, k2.dev.minor]).toEqual([`K-${p}-1`, true, null, false, 201]);
    // And what the kernel now holds, as dmsetup prints it, reads back to the same devices.
    const line = dmsetup('table', '--concise', `${p}-k1`, `${p}-k2`).stdout.trim();
    const back = parseDmModCreate(`dm-mod.create="${line}"`)!;
    expect(back.map((d) => ({ name: d.name, uuid: d.uuid, ro: d.readOnly, table: d.table.map((t) => `${t.start} ${t.length} ${t.type} ${t.params}`) }))).toEqual([
      { name: `${p}-k1`, uuid: `K-${p}-1`, ro: true, table: [`0 2048 linear ${ld} 0`, `2048 2048 linear ${ld} 8192`] },
      { name: `${p}-k2`, uuid: undefined, ro: false, table: [`0 4096 striped 2 8 ${ld} 0 ${ld} 4096`] },
    ]);
    expect(back[1]!.minor).toBe(201);
    recordLiveFact('dmModCreate', arg);
    await removeAll();
  }, SLOW_MS);

  test('wipe_table, measure, target-version: the same output and the same tables', async () => {
    expect(dmsetup('create', `${p}-w1`, '--table', `0 2048 linear ${ld} 0\n2048 2048 zero`).code).toBe(0);
    expect((await dmctl('create', `${p}-w2`, '--table', `0 2048 linear ${ld} 0\n2048 2048 zero`)).code).toBe(0);
    await same('measure', `${p}-w1`);
    recordLiveFact('measureLine', dmsetup('measure', `${p}-w1`).stdout.trim());
    await same('target-version', 'linear', 'zero', 'striped');
    await same('target-version', 'no-such-target');
    await same('target-version', 'linear', 'no-such-target', 'zero');
    const a = dmsetup('wipe_table', `${p}-w1`);
    const b = await dmctl('wipe_table', `${p}-w2`);
    expect([b.code, b.stdout]).toEqual([a.code, a.stdout]);
    expect((await dmctl('table', `${p}-w2`)).stdout).toBe(dmsetup('table', `${p}-w1`).stdout);
    expect(dmsetup('table', `${p}-w1`).stdout).toBe('0 4096 error \n');
    await same('wipe_table', '-f', `${p}-w1`);
    await same('wipe_table');
    await removeAll();
  }, SLOW_MS);

  test('mangle (--manglename none): the same renames and lines', async () => {
    expect(dmsetup('create', `${p} m1`, '--table', '0 8 zero').code).toBe(0); // auto: the kernel holds "<p>\x20m1"
    expect((await dmctl('create', `${p} m2`, '--table', '0 8 zero')).code).toBe(0);
    const a = dmsetup('mangle', '--manglename', 'none', `${p}\\x20m1`);
    const b = await dmctl('mangle', '--manglename', 'none', `${p}\\x20m2`);
    expect({ code: b.code, out: b.stdout.replace('m2', 'm1').replace('m2', 'm1') }).toEqual({ code: a.code, out: a.stdout });
    recordLiveFact('mangleLine', a.stdout.trim());
    expect((await dm.list()).filter((d) => d.name.includes(p)).map((d) => d.name).sort()).toEqual([`${p} m1`, `${p} m2`]);
    await same('mangle', '--manglename', 'none', `${p} m1`);
    await removeAll();
  }, SLOW_MS);

  test('ls --exec runs the command on each device node, as dmsetup', async () => {
    expect(dmsetup('create', `${p}-e1`, '--table', `0 8 linear ${ld} 0`).code).toBe(0);
    expect((await dmctl('create', `${p}-e2`, '--table', '0 8 zero')).code).toBe(0);
    const out = await same('ls', '--target', 'linear', '--exec', 'echo x');
    expect(out).toContain(`x /dev/mapper/${p}-e1\n`);
    await same('ls', '--exec', 'ls -l');
    // -v: dmsetup's own line is buffered past the command's (stdout is a pipe): compare the lines.
    const v1 = dmsetup('ls', '--target', 'zero', '--exec', 'echo', '-v');
    const v2 = await dmctl('ls', '--target', 'zero', '--exec', 'echo', '-v');
    expect([v2.code, v2.stdout.split('\n').sort()]).toEqual([v1.code, v1.stdout.split('\n').sort()]);
    await removeAll();
  }, SLOW_MS);

  test('-v on table, status, measure and deps (the info block first), and their --exec, as dmsetup', async () => {
    expect(dmsetup('create', `${p}-v1`, '-u', `UUID-${p}-v1`, '--table', `0 2048 linear ${ld} 0\n2048 2048 zero`).code).toBe(0);
    expect((await dmctl('create', `${p}-v2`, '--table', '0 8 zero')).code).toBe(0);
    expect(dmsetup('create', `${p}-v3`, '--notable').code).toBe(0);
    const names = [`${p}-v1`, `${p}-v2`, `${p}-v3`];
    for (const verb of ['table', 'status', 'measure', 'deps']) {
      await same(verb, '-v', names[0]!);
      await same(verb, '-v', ...names);
    }
    await same('table', '-v', '--target', 'zero', ...names);
    await same('status', '-v', '--target', 'linear', ...names);
    // --exec without -v: only the commands' output (dmsetup prints no line).
    for (const verb of ['table', 'status', 'measure']) {
      const out = await same(verb, '--exec', 'echo x', ...names);
      expect(out).toContain(`x /dev/mapper/${p}-v3\n`);
      await same(verb, '--exec', 'echo y', '--target', 'zero', ...names);
    }
    await same('table', '--concise', '--exec', 'echo c', ...names);
    // -v with --exec: dmsetup's own lines are buffered past the commands' (stdout is a pipe): compare the lines.
    const a = dmsetup('table', '-v', '--exec', 'echo', ...names);
    const b = await dmctl('table', '-v', '--exec', 'echo', ...names);
    expect([b.code, b.stdout.split('\n').sort()]).toEqual([a.code, a.stdout.split('\n').sort()]);
    recordLiveFact('tableVerbose', dmsetup('table', '-v', names[0]!).stdout);
    await removeAll();
  }, SLOW_MS);

  test('--readahead and -U/-G/-M: the same read-ahead and the same node owner and mode', async () => {
    expect(dmsetup('create', `${p}-r1`, '--table', '0 8192 zero', '--readahead', '1000', '-U', '12', '-G', '34', '-M', '640').code).toBe(0);
    expect((await dmctl('create', `${p}-r2`, '--table', '0 8192 zero', '--readahead', '1000', '-U', '12', '-G', '34', '-M', '640')).code).toBe(0);
    const ra = (n: string) => dmsetup('info', '-c', '--noheadings', '-o', 'read_ahead', n).stdout;
    expect(ra(`${p}-r2`)).toBe(ra(`${p}-r1`));
    expect(ra(`${p}-r1`)).toBe('1000\n');
    const st = (n: string) => { const s = fs.statSync(`/dev/mapper/${n}`); return { uid: s.uid, gid: s.gid, mode: (s.mode & 0o7777).toString(8) }; };
    expect(st(`${p}-r2`)).toEqual(st(`${p}-r1`));
    expect(st(`${p}-r1`)).toEqual({ uid: 12, gid: 34, mode: '640' });
    for (const [n, tool] of [[`${p}-r1`, 'dmsetup'], [`${p}-r2`, 'dmctl']] as const) {
      if (tool === 'dmsetup') dmsetup('suspend', n); else await dmctl('suspend', n);
      if (tool === 'dmsetup') dmsetup('resume', n, '--readahead', '+64'); else await dmctl('resume', n, '--readahead', '+64');
    }
    expect(ra(`${p}-r2`)).toBe(ra(`${p}-r1`));
    await removeAll();
  }, SLOW_MS);
});
