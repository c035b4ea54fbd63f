// dmsetup's further verbs and options on the simulated kernel: create/table --concise,
// wipe_table, measure, mangle, target-version, ls --exec, -U/-G/-M, --readahead,
// --addnodeon*, and the options dmctl accepts without effect.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DmctlSchemas } from './imports.js';
import { SimulatedKernel } from '../../testing/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { cliEnv, memoryNodes } from './harness.js';

const KEY = '00112233445566778899aabbccddeeff';
let env: ReturnType<typeof cliEnv>;
beforeEach(() => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
  env.kernel.registerTarget({ name: 'crypt', version: [1, 24, 0], construct: (argv) => ({ table: argv.join(' '), status: () => '', deps: [] }) });
});
afterEach(() => env.cleanup());

const ok = async (argv: string[], opts: { stdin?: string } = {}) => {
  const r = await env.dmctl(argv, opts);
  if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

describe('create --concise / table --concise', () => {
  test('devices of a concise list are created with their uuid, minor, ro flag and table; table --concise prints them back as one line', async () => {
    expect(await ok(['create', '--concise', 'a,UUID-A,5,ro,0 8 zero,8 8 linear 7:0 0;b,,,,0 16 error'])).toBe('');
    expect(await ok(['ls'])).toBe('a\t(254:5)\nb\t(254:0)\n');
    expect(await ok(['table', '--concise', 'a'])).toBe('a,UUID-A,5,ro,0 8 zero ,8 8 linear 7:0 0\n');
    // All devices: kernel order, ';' between them, one newline at the end (dmsetup's bytes).
    const all = await ok(['table', '--concise']);
    expect(all.split(';').sort()).toEqual(['a,UUID-A,5,ro,0 8 zero ,8 8 linear 7:0 0', 'b,,0,rw,0 16 error \n'].sort());
    expect(all.match(/\n/g)).toHaveLength(1);
    // It is create --concise input again.
    await ok(['remove', 'a']);
    await ok(['remove', 'b']);
    await ok(['create', '--concise'], { stdin: all });
    expect(await ok(['table', '--concise'])).toBe(all);
  });

  test('--target keeps the matching lines and skips devices without one; --json carries the line and the devices', async () => {
    await ok(['create', '--concise', 'a,,,,0 8 zero,8 8 linear 7:0 0;b,,,,0 16 error']);
    expect(await ok(['table', '--concise', '--target', 'linear'])).toBe('a,,0,rw,8 8 linear 7:0 0\n');
    const j = DmctlSchemas.conciseTable.parse(JSON.parse(await ok(['table', '--concise', '--json', 'a'])));
    expect(j).toEqual({ schemaVersion: 3, concise: 'a,,0,rw,0 8 zero ,8 8 linear 7:0 0', devices: [{ name: 'a', uuid: null, minor: 0, readOnly: false, targets: [{ start: '0', length: '8', type: 'zero', params: '' }, { start: '8', length: '8', type: 'linear', params: '7:0 0' }] }] });
  });

  test('a device without a table prints its four fields; no devices: "No devices found"', async () => {
    expect(await ok(['table', '--concise'])).toBe('No devices found\n');
    await ok(['create', 'empty', '--notable']);
    expect(await ok(['table', '--concise'])).toBe('empty,,0,rw\n');
  });

  test('crypt keys are hidden unless --showkeys; the params are quoted as dmsetup quotes them', async () => {
    await ok(['create', '--concise', `c,,,,0 8 crypt aes-xts-plain64 ${KEY} 0 7:0 0`]);
    expect(await ok(['table', '--concise', 'c'])).toBe(`c,,0,rw,0 8 crypt aes-xts-plain64 ${'0'.repeat(32)} 0 7:0 0\n`);
    expect(await ok(['table', '--concise', '--showkeys', 'c'])).toBe(`c,,0,rw,0 8 crypt aes-xts-plain64 ${KEY} 0 7:0 0\n`);
    env.kernel.registerTarget({ name: 'echo', version: [1, 0, 0], construct: (argv) => ({ table: argv.join(' '), status: () => '', deps: [] }) });
    await ok(['create', '--concise', 'e,,,,0 8 echo a\\,b\\;c\\\\d']);
    expect(await ok(['table', 'e'])).toBe('0 8 echo a,b;c\\d\n');
    expect(await ok(['table', '--concise', 'e'])).toBe('e,,1,rw,0 8 echo a\\,b\\;c\\\\d\n');
  });

  test('bad input: dmsetup\'s refusals, exit 1, nothing created (every device is checked first), keys never shown', async () => {
    for (const [argv, message] of [
      [['create', '--concise', 'a,b'], /five comma-separated fields/],
      [['create', '--concise', 'a,,,xx,0 8 zero'], /'ro' or 'rw' or empty/],
      [['create', '--concise', '--table', '0 8 zero', 'a,,,,0 8 zero'], /incompatible with --\[no\]table, --minor, --uuid and --inactive/],
      [['create', '--concise', '-u', 'x', 'a,,,,0 8 zero'], /incompatible/],
      [['create', '--concise', 'a,,,,0 8 zero', 'extra'], /at most one argument/],
      [['create', '--concise', 'ok,,,,0 8 zero;bad,,,,0 8 lineer 7:0 0'], /did you mean "linear"/],
      [['create', '--concise', `c,,,,x 8 crypt aes ${KEY} 0 7:0 0`], /INVALID_TABLE|table line 1/],
    ] as const) {
      const r = await env.dmctl([...argv]);
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(KEY);
    }
    expect(await ok(['ls'])).toBe('No devices found\n');
  });

  test('the second device failing in the kernel leaves the first (as dmsetup)', async () => {
    const r = await env.dmctl(['create', '--concise', 'one,,,,0 8 zero;two,,,,0 8 linear /dev/nope 0']);
    expect(r.code).toBe(1);
    expect(await ok(['ls'])).toBe('one\t(254:0)\n');
  });

  test('--dry-run lists create, load, resume per device; --json is a result document', async () => {
    expect(await ok(['create', '--concise', 'a,,,ro,0 8 zero;b,,,,;', '--dry-run'])).toMatch(/^would send DM_DEV_CREATE .*name="a".*\nwould send DM_TABLE_LOAD .*\nwould send DM_DEV_SUSPEND .*\nwould send DM_DEV_CREATE .*name="b"/);
    const j = DmctlSchemas.result.parse(JSON.parse(await ok(['create', '--concise', 'a,,3,,0 8 zero', '--json'])));
    expect(j.devices).toEqual([{ name: 'a', uuid: null, major: 254, minor: 3, node: expect.any(String) }]);
  });
});

describe('wipe_table, measure, target-version, mangle', () => {
  test('wipe_table swaps in an error table of the same size; --force resumes without flush or lockfs', async () => {
    await ok(['create', 'w', '--table', '0 8 zero\n8 24 linear 7:0 0']);
    expect(await ok(['wipe_table', 'w'])).toBe('');
    expect(await ok(['table', 'w'])).toBe('0 32 error \n');
    const dry = await ok(['wipe_table', '-f', 'w', '--dry-run', '--json']);
    const resume = DmctlSchemas.dryRun.parse(JSON.parse(dry)).requests[1]!;
    expect(resume.fields.find((f) => f.field === 'dm_ioctl.flags')!.value).toMatch(/NOFLUSH.*SKIP_LOCKFS|SKIP_LOCKFS.*NOFLUSH/);
    const r = await env.dmctl(['wipe_table']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('No device specified.')]);
    expect((await env.dmctl(['wipe_table', 'nope'])).code).toBe(1);
  });

  test('measure sends DM_TABLE_STATUS with the IMA flag and prints status\'s format', async () => {
    await ok(['create', 'm', '--table', '0 8 zero']);
    expect(await ok(['measure', 'm'])).toBe('0 8 zero \n');
    const dry = DmctlSchemas.dryRun.parse(JSON.parse(await ok(['measure', 'm', '--dry-run', '--json'])));
    expect(dry.requests[0]!.fields.find((f) => f.field === 'dm_ioctl.flags')!.value).toMatch(/IMA_MEASUREMENT/);
    const old = cliEnv(new SimulatedKernel({ version: [4, 44, 0] }));
    await old.dmctl(['create', 'm', '--table', '0 8 zero']);
    const r = await old.dmctl(['measure', 'm']);
    old.cleanup();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/4\.45/);
  });

  test('target-version prints "%-16s v%d.%d.%d" per target; an unknown one fails', async () => {
    expect(await ok(['target-version', 'linear', 'zero'])).toMatch(/^linear {11}v1\.4\.0\nzero {13}v\d+\.\d+\.\d+\n$/);
    const r = await env.dmctl(['target-version', 'linear', 'no-such']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^linear /);
    expect((await env.dmctl(['target-version'])).code).toBe(1);
    expect(DmctlSchemas.targets.parse(JSON.parse(await ok(['target-version', 'linear', '--json']))).targets).toEqual([{ name: 'linear', version: [1, 4, 0] }]);
  });

  test('mangle renames a name not in the mode\'s form and leaves one that is', async () => {
    await ok(['create', 'a b', '--table', '0 8 zero', '--manglename', 'none']);
    await ok(['create', 'ok', '--table', '0 8 zero']);
    const out = await ok(['mangle']);
    expect(out.split('\n').sort()).toEqual(['', 'a b: renaming to a\\x20b', 'ok: [no UUID]: name already in correct form'].sort());
    expect(await ok(['ls', '--manglename', 'none'])).toBe('a\\x20b\t(254:0)\nok\t(254:1)\n');
    expect(await ok(['mangle', 'a b'])).toBe('a b: [no UUID]: name already in correct form\n');
    const j = DmctlSchemas.mangle.parse(JSON.parse(await ok(['mangle', 'ok', '--json'])));
    expect(j.devices).toEqual([{ name: 'ok', uuid: null, newName: null, renamed: false }]);
  });
});

describe('ls --exec and the node, read-ahead and accepted options', () => {
  async function runWith(argv: string[], extra: Record<string, unknown> = {}) {
    let stdout = '';
    let stderr = '';
    const ops = memoryNodes();
    const owners: unknown[] = [];
    ops.chown = (p, uid, gid, mode) => { owners.push({ p, uid, gid, mode }); };
    const code = await run(argv, {
      stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, readStdin: async () => '', stdinIsTTY: true, env: {},
      open: () => DeviceMapper.open({ backend: env.kernel.backend() }), sysfs: env.sysfs, nodes: { dir: '/dev/mapper', udev: false, ops }, ...extra,
    });
    return { code, stdout, stderr, owners };
  }

  test('ls --exec runs the command with each device\'s node path; -v prints the ls line first; --target filters', async () => {
    await ok(['create', 'x', '--table', '0 8 zero']);
    await ok(['create', 'y', '--table', '0 8 linear 7:0 0']);
    const calls: string[][] = [];
    const exec = async (argv: readonly string[]) => { calls.push([...argv]); return 0; };
    const r = await runWith(['ls', '--exec', 'echo  -n'], { exec });
    expect(r.code).toBe(0);
    expect(calls.sort()).toEqual([['echo', '-n', '/dev/mapper/x'], ['echo', '-n', '/dev/mapper/y']]);
    calls.length = 0;
    const v = await runWith(['ls', '--exec', 'true', '--target', 'linear', '-v'], { exec });
    expect(calls).toEqual([['true', '/dev/mapper/y']]);
    expect(v.stdout).toBe('y\t(254, 1)\n');
    const j = DmctlSchemas.exec.parse(JSON.parse((await runWith(['ls', '--exec', 'true', '--target', 'zero', '--json'], { exec: async () => 3 })).stdout));
    expect(j.devices).toEqual([{ name: 'x', path: '/dev/mapper/x', exitCode: 3 }]);
    expect((await runWith(['ls', '--exec', '  '], { exec })).code).toBe(1);
  });

  test('table/status/measure --exec: no lines without -v, the command once per device with a (matching) line; --concise too', async () => {
    await ok(['create', 'x', '--table', '0 8 zero']);
    await ok(['create', 'y', '--table', '0 8 linear 7:0 0']);
    await ok(['create', 'n', '--notable']);
    const calls: string[][] = [];
    const exec = async (argv: readonly string[]) => { calls.push([...argv]); return 0; };
    for (const verb of ['table', 'status', 'measure']) {
      calls.length = 0;
      const r = await runWith([verb, '--exec', 'echo a'], { exec });
      expect({ verb, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ verb, code: 0, stdout: '', stderr: '' });
      // A device without a table still has its one (empty) line, so the command runs for it too.
      expect(calls.map((c) => c.join(' ')).sort()).toEqual(['echo a /dev/mapper/n', 'echo a /dev/mapper/x', 'echo a /dev/mapper/y']);
      calls.length = 0;
      await runWith([verb, '--exec', 'true', '--target', 'linear'], { exec });
      expect(calls).toEqual([['true', '/dev/mapper/y']]);
    }
    calls.length = 0;
    const v = await runWith(['table', 'x', '--exec', 'true', '-v'], { exec });
    expect(v.stdout).toBe(await ok(['table', 'x', '-v']));
    expect(calls).toEqual([['true', '/dev/mapper/x']]);
    calls.length = 0;
    const c = await runWith(['table', '--concise', 'x', 'y', '--exec', 'true'], { exec });
    expect([c.code, c.stdout]).toEqual([0, '']);
    expect(calls).toEqual([['true', '/dev/mapper/x'], ['true', '/dev/mapper/y']]);
    const j = DmctlSchemas.exec.parse(JSON.parse((await runWith(['status', 'y', '--exec', 'true', '--json'], { exec: async () => 7 })).stdout));
    expect(j.devices).toEqual([{ name: 'y', path: '/dev/mapper/y', exitCode: 7 }]);
    expect((await runWith(['table', '--exec', ' '], { exec })).code).toBe(1);
  });

  test('-v: table, status, measure and deps print the device\'s info block (info\'s long format) first; several devices: no prefix, an empty line after each', async () => {
    await ok(['create', 'x', '--table', '0 8 zero\n8 8 linear 7:0 0']);
    await ok(['create', 'y', '--table', '0 8 linear 7:0 0', '-u', 'UUID-Y']);
    const x = await ok(['info', 'x']);
    const y = await ok(['info', 'y']);
    for (const verb of ['table', 'status', 'measure', 'deps']) {
      const one = await ok([verb, 'x']);
      const other = await ok([verb, 'y']);
      expect({ verb, out: await ok([verb, '-v', 'x']) }).toEqual({ verb, out: x + one });
      expect({ verb, out: await ok([verb, '-v', 'x', 'y']) }).toEqual({ verb, out: `${x}${one}\n${y}${other}\n` });
    }
    // --target: a device without a matching line prints nothing, not even its block.
    expect(await ok(['table', '-v', '--target', 'zero', 'x', 'y'])).toBe(`${x}0 8 zero \n\n`);
    expect(await ok(['table', '--target', 'zero', 'x', 'y'])).toBe('x: 0 8 zero \n');
    // A device without a table: its block and one empty line; --target leaves it out.
    await ok(['create', 'n', '--notable']);
    expect(await ok(['table', '-v', 'n'])).toBe(`${await ok(['info', 'n'])}\n`);
    expect(await ok(['table', '--target', 'zero', 'n'])).toBe('');
  });

  test('-U/-G/-M set the node\'s owner and mode (octal); a bad mode is refused before any ioctl', async () => {
    const r = await runWith(['create', 'o', '--table', '0 8 zero', '-U', '12', '-G', '34', '-M', '640']);
    expect(r.code).toBe(0);
    expect(r.owners).toEqual([{ p: '/dev/mapper/o', uid: 12, gid: 34, mode: 0o640 }]);
    const bad = await runWith(['create', 'p', '--table', '0 8 zero', '-M', '9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Invalid argument for --mode: 9/);
    expect(await ok(['ls'])).toBe('o\t(254:0)\n');
  });

  test('--readahead writes bdi/read_ahead_kb ((sectors + 1) / 2); "+" only raises it; auto leaves it', async () => {
    const kb = path.join(env.sysfs, 'dev/block/254:0/bdi/read_ahead_kb');
    fs.mkdirSync(path.dirname(kb), { recursive: true });
    fs.writeFileSync(kb, '128\n');
    await ok(['create', 'r', '--table', '0 8 zero', '--readahead', '513']);
    expect(fs.readFileSync(kb, 'utf8')).toBe('257');
    await ok(['suspend', 'r']);
    await ok(['resume', 'r', '--readahead', '+256']);
    expect(fs.readFileSync(kb, 'utf8')).toBe('257');
    await ok(['suspend', 'r']);
    await ok(['resume', 'r', '--readahead', 'none']);
    expect(fs.readFileSync(kb, 'utf8')).toBe('0');
    await ok(['suspend', 'r']);
    await ok(['resume', 'r', '--readahead', 'auto']);
    expect(fs.readFileSync(kb, 'utf8')).toBe('0');
    const bad = await env.dmctl(['create', 's', '--table', '0 8 zero', '--readahead=-5']);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/read ahead/)]);
  });

  test('--addnodeoncreate makes the node of a device created without a table; with --addnodeonresume it is refused', async () => {
    const r = await runWith(['create', 'n', '--notable', '--addnodeoncreate']);
    expect(r.code).toBe(0);
    const both = await env.dmctl(['create', 'q', '--table', '0 8 zero', '--addnodeoncreate', '--addnodeonresume']);
    expect([both.code, both.stderr]).toEqual([1, expect.stringContaining('--addnodeonresume and --addnodeoncreate are incompatible.')]);
    expect(await ok(['ls'])).toBe('n\t(254:0)\n');
  });

  test('--noopencount sets DM_SKIP_BDGET_FLAG as libdm does: -vv says noopencount on every ioctl but the version check', async () => {
    await ok(['create', 'a', '--table', '0 8 zero']);
    const dmLines = (out: string) => out.split('\n').filter((l) => l.startsWith('dm ')).map((l) => l.replace(/\[\d+\] \(\*\d+\)$/, ''));
    // dmsetup 1.02.185 -vv info --noopencount, measured live (spec/live/verbs-more.live.spec.ts).
    expect(dmLines(await ok(['-vv', 'info', '--noopencount', 'a']))).toEqual(['dm version   [ opencount flush ]   ', 'dm info a  [ noopencount flush ]   ']);
    expect(dmLines(await ok(['-vv', 'info', 'a']))).toEqual(['dm version   [ opencount flush ]   ', 'dm info a  [ opencount flush ]   ']);
    // The open count is still shown: the kernel fills it whatever the flag (measured alike).
    env.kernel.openDevice('a');
    expect(await ok(['info', '--noopencount', 'a'])).toContain('Open count:        1\n');
  });

  test('--noopencount, --checks and --verifyudev are accepted', async () => {
    await ok(['create', 'a', '--table', '0 8 zero', '--checks', '--verifyudev', '--noopencount']);
    expect(await ok(['table', 'a', '--noopencount'])).toBe('0 8 zero \n');
  });

  test('help lists the new verbs', async () => {
    const out = await ok(['help']);
    for (const v of ['wipe_table', 'measure', 'mangle', 'target-version', 'create --concise', 'ls [--target <target_type>] [--exec <command>]']) expect(out).toContain(v);
  });
});

