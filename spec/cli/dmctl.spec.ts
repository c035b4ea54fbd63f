// Every dmctl verb on the simulated kernel: dmsetup's text formats, --json through the
// exported schemas, --dry-run --hex, decode, errors, exit codes, /dev/mapper nodes.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  DmctlSchemas, InfoOutputSchema, LsOutputSchema, codecForTests,
} from './imports.js';
import { SimulatedKernel } from '../../testing/index.js';
import { codec, requestCode } from '../../codec/index.js';
import { cliEnv, fakeSysfs } from './harness.js';

let env: ReturnType<typeof cliEnv>;
beforeEach(() => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
  env.kernel.registerTarget({
    name: 'echo', version: [1, 0, 0],
    construct: () => ({ table: '', status: () => 'ok', deps: [], message: (argv: string[]) => (argv[0] === 'quiet' ? undefined : argv.join(' ')) }),
  });
});
afterEach(() => env.cleanup());

const ok = async (...argv: string[]) => {
  const r = await env.dmctl(argv);
  if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

describe('version and targets', () => {
  test('version prints the library and driver lines; --json has the driver version', async () => {
    expect(await ok('version')).toBe('Library version:   devicemapper 0.1.0 (dmctl)\nDriver version:    4.48.0\n');
    expect(JSON.parse(await ok('version', '--json'))).toEqual({ schemaVersion: 3, library: 'devicemapper 0.1.0 (dmctl)', driver: '4.48.0', driverVersion: [4, 48, 0] });
  });

  test('targets: "%-16s v%d.%d.%d" in the kernel\'s order', async () => {
    const out = await ok('targets');
    expect(out).toMatch(/^striped {10}v\d+\.\d+\.\d+\nlinear {11}v1\.4\.0\nerror {12}v\d+\.\d+\.\d+\n$/);
    const j = DmctlSchemas.targets.parse(JSON.parse(await ok('targets', '--json')));
    expect(j.targets[1]).toEqual({ name: 'linear', version: [1, 4, 0] });
  });
});

describe('create, ls, info, table, status, deps', () => {
  beforeEach(async () => {
    await ok('create', 'z', '--table', '0 2048 zero');
    await ok('create', 'lin', '-u', 'LIN-1', '--notable');
  });

  test('ls: "name\\t(major:minor)", ls -o blkdevname/devname from sysfs, --target "(major, minor)"', async () => {
    expect(await ok('ls')).toBe('lin\t(254:1)\nz\t(254:0)\n');
    fakeSysfs(env.sysfs, { major: 254, minor: 0 }, 'dm-0', 'z');
    expect(await ok('ls', '-o', 'blkdevname')).toBe('lin\t(254:1)\nz\t(dm-0)\n');
    expect(await ok('ls', '-o', 'devname')).toBe('lin\t(254:1)\nz\t(z)\n');
    expect(await ok('ls', '--target', 'zero')).toBe('z\t(254, 0)\n');
    const j = LsOutputSchema.parse(JSON.parse(await ok('ls', '--json')));
    expect(j.devices).toEqual([
      { name: 'lin', major: 254, minor: 1, uuid: 'LIN-1', eventNr: 0 },
      { name: 'z', major: 254, minor: 0, uuid: null, eventNr: 0 },
    ]);
  });

  test('ls on no devices: "No devices found"', async () => {
    await ok('remove', 'z', 'lin');
    expect(await ok('ls')).toBe('No devices found\n');
    expect(await ok('info')).toBe('No devices found\n');
    expect(JSON.parse(await ok('ls', '--json'))).toEqual({ schemaVersion: 3, devices: [] });
  });

  test('info: dmsetup\'s long format, Read Ahead from sysfs, UUID line, all devices without arguments', async () => {
    fakeSysfs(env.sysfs, { major: 254, minor: 1 }, 'dm-1', 'lin', 128);
    expect(await ok('info', 'lin')).toBe([
      'Name:              lin',
      'State:             ACTIVE',
      'Read Ahead:        256',
      'Tables present:    None',
      'Open count:        0',
      'Event number:      0',
      'Major, minor:      254, 1',
      'Number of targets: 0',
      'UUID: LIN-1',
      '', '',
    ].join('\n'));
    const all = await ok('info');
    expect(all.split('Name:').length - 1).toBe(2);
    expect(all).toContain('Name:              z\nState:             ACTIVE\nTables present:    LIVE\n');
    const j = InfoOutputSchema.parse(JSON.parse(await ok('info', '--json', 'lin')));
    expect(j.devices[0]).toMatchObject({ name: 'lin', uuid: 'LIN-1', readAhead: 256, tablesPresent: { live: false, inactive: false }, state: 'ACTIVE' });
  });

  test('info -c: dm_report columns, widths grown to the data, --noheadings with ":"', async () => {
    const out = await ok('info', '-c', 'z', 'lin');
    expect(out).toBe(
      'Name             Maj Min Stat Open Targ Event  UUID                            \n'
      + 'z                254   0 L--w    0    1      0                                 \n'
      + 'lin              254   1 ---w    0    0      0 LIN-1                           \n',
    );
    expect(await ok('info', '-c', '--noheadings', 'z')).toBe('z:254:0:L--w:0:1:0:\n');
    expect(await ok('info', '-C', '-o', 'name,devno,suspended,readonly,tables_loaded', 'z')).toBe(
      'Name             DevNo Suspended Read-only Tables\nz                254:0 Active    Writeable Live  \n',
    );
    // no block device in sysfs (no table yet): dmsetup fails the whole report, so does dmctl
    const ra = await env.dmctl(['info', '-c', '-o', 'name,read_ahead', 'z']);
    expect(ra).toMatchObject({ code: 1, stdout: '' });
    expect(ra.stderr).toMatch(/Cannot get the read ahead of z/);
    fakeSysfs(env.sysfs, { major: 254, minor: 0 }, 'dm-0', 'z', 64);
    expect(await ok('info', '-c', '--noheadings', '-o', 'name,read_ahead,blkdevname', 'z')).toBe('z:128:dm-0\n');
    const r = await env.dmctl(['info', '-c', '-o', 'bogus', 'z']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Unrecognised field: bogus/);
  });

  test('info of a missing device: "Device does not exist." and exit 1', async () => {
    const r = await env.dmctl(['info', 'nope']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^Device does not exist\./);
  });

  test('table/status: one line per target; "name: " prefix for several devices; empty line without a table', async () => {
    await ok('load', 'lin', '--table', '0 1024 linear /dev/loop0 0\n# comment\n\n1024 1024 linear 7:0 2048');
    await ok('resume', 'lin');
    expect(await ok('table', 'lin')).toBe('0 1024 linear 7:0 0\n1024 1024 linear 7:0 2048\n');
    expect(await ok('table')).toBe('lin: 0 1024 linear 7:0 0\nlin: 1024 1024 linear 7:0 2048\nz: 0 2048 zero \n');
    expect(await ok('status', 'z')).toBe('0 2048 zero \n');
    expect(await ok('table', '--target', 'zero')).toBe('z: 0 2048 zero \n');
    await ok('create', 'empty', '--notable');
    expect(await ok('table', 'empty')).toBe('\n');
    const j = DmctlSchemas.table.parse(JSON.parse(await ok('table', '--json', 'lin')));
    expect(j.devices[0]!.targets[1]).toEqual({ start: '1024', length: '1024', type: 'linear', params: '7:0 2048' });
    expect(DmctlSchemas.status.parse(JSON.parse(await ok('status', '--json', 'z'))).devices[0]!.targets[0]!.type).toBe('zero');
  });

  test('table --inactive and info with an inactive table', async () => {
    await ok('load', 'z', '--table', '0 2048 error');
    expect(await ok('table', '--inactive', 'z')).toBe('0 2048 error \n');
    expect(await ok('info', 'z')).toContain('Tables present:    LIVE & INACTIVE\n');
    await ok('clear', 'z');
    expect(await ok('info', 'z')).toContain('Tables present:    LIVE\n');
  });

  test('table hides crypt keys unless --showkeys', async () => {
    env.kernel.registerTarget({ name: 'crypt', version: [1, 24, 0], construct: (argv) => ({ table: argv.join(' '), status: () => '', deps: [] }) });
    await ok('create', 'c', '--table', '0 8 crypt aes-xts-plain64 00112233445566778899aabbccddeeff 0 7:0 0');
    expect(await ok('table', 'c')).toBe('0 8 crypt aes-xts-plain64 00000000000000000000000000000000 0 7:0 0\n');
    expect(await ok('table', '--showkeys', 'c')).toBe('0 8 crypt aes-xts-plain64 00112233445566778899aabbccddeeff 0 7:0 0\n');
  });

  test('deps: "N dependencies\\t: (maj, min)", -o devname/blkdevname', async () => {
    await ok('load', 'lin', '--table', '0 1024 linear /dev/loop0 0');
    await ok('resume', 'lin');
    expect(await ok('deps', 'lin')).toBe('1 dependencies\t: (7, 0)\n');
    expect(await ok('deps')).toBe('lin: 1 dependencies\t: (7, 0)\nz: 0 dependencies\t:\n');
    fakeSysfs(env.sysfs, { major: 7, minor: 0 }, 'loop0');
    expect(await ok('deps', '-o', 'blkdevname', 'lin')).toBe('1 dependencies\t: (loop0)\n');
    expect(await ok('deps', '-o', 'devname', 'lin')).toBe('1 dependencies\t: (loop0)\n');
    const j = DmctlSchemas.deps.parse(JSON.parse(await ok('deps', '--json', 'lin')));
    expect(j.devices[0]!.deps).toEqual([{ major: 7, minor: 0, name: 'loop0' }]);
  });

  test('ls --tree: devices and what they use', async () => {
    await ok('load', 'lin', '--table', '0 1024 linear /dev/loop0 0');
    await ok('resume', 'lin');
    env.kernel.addBlockDevice('/dev/mapper/lin', 254, 1, 1024);
    await ok('create', 'top', '--table', '0 1024 linear 254:1 0');
    expect(await ok('ls', '--tree')).toBe('top (254:2)\n `-lin (254:1)\n    `- (7:0)\nz (254:0)\n'); // dmsetup's drawing: a non-dm leaf is " (7:0)"
    const j = LsOutputSchema.parse(JSON.parse(await ok('ls', '--tree', '--json')));
    expect(j.tree?.[0]).toEqual({ name: 'top', major: 254, minor: 2, children: [{ name: 'lin', major: 254, minor: 1, children: [{ name: null, major: 7, minor: 0, children: [] }] }] });
  });

  test('devices selected by -u uuid and -j/-m numbers', async () => {
    expect(await ok('info', '-c', '--noheadings', '-u', 'LIN-1')).toBe('lin:254:1:---w:0:0:0:LIN-1\n');
    expect(await ok('info', '-c', '--noheadings', '-j', '254', '-m', '0')).toBe('z:254:0:L--w:0:1:0:\n');
  });
});

describe('changing devices', () => {
  test('create from stdin and from a file; --readonly; --notable; rollback on a bad table', async () => {
    await env.dmctl(['create', 'a'], { stdin: '0 8 zero\n' }).then((r) => expect(r.code).toBe(0));
    const file = `${env.sysfs}/t.table`;
    require('node:fs').writeFileSync(file, '0 16 zero\n');
    await ok('create', 'b', file, '--readonly');
    expect(await ok('info', 'b')).toContain('State:             ACTIVE (READ-ONLY)\n');
    expect(await ok('table', 'b')).toBe('0 16 zero \n');
    await ok('create', 'c', '-n');
    expect(await ok('info', 'c')).toContain('Tables present:    None\n');
    const bad = await env.dmctl(['create', 'd', '--table', '0 8 linear /dev/sdz 0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^dmctl create: DM_TABLE_LOAD \(load\): ENOENT/);
    expect(bad.stderr).toMatch(/\n {2}kernel: device-mapper: table: .*linear: Device lookup failed/);
    expect(bad.stderr).toMatch(/\n {2}try: a device named in the table does not exist/);
    expect((await env.dmctl(['info', 'd'])).code).toBe(1);
    const tty = await env.dmctl(['create', 'e']);
    expect(tty.code).toBe(1);
    expect(tty.stderr).toMatch(/No table given/);
    const fmt = await env.dmctl(['create', 'e', '--table', 'zero 8 0']);
    expect(fmt.stderr).toMatch(/Invalid format on line 1/);
  });

  test('create makes /dev/mapper/<name>; rename moves it; remove drops it; --json reports it', async () => {
    const j = DmctlSchemas.result.parse(JSON.parse(await ok('create', 'n1', '--table', '0 8 zero', '--json')));
    expect(j).toEqual({ schemaVersion: 3, verb: 'create', ok: true, devices: [{ name: 'n1', uuid: null, major: 254, minor: 0, node: 'created' }] });
    expect(env.nodes.get('/dev/mapper/n1')).toEqual({ major: 254, minor: 0 });
    await ok('rename', 'n1', 'n2');
    expect(env.nodes.has('/dev/mapper/n1')).toBe(false);
    expect(env.nodes.get('/dev/mapper/n2')).toEqual({ major: 254, minor: 0 });
    await ok('rename', 'n2', '--setuuid', 'U-2');
    expect(await ok('info', '-c', '--noheadings', '-o', 'name,uuid', 'n2')).toBe('n2:U-2\n');
    const setAgain = await env.dmctl(['rename', 'n2', '--setuuid', 'U-3']);
    expect(setAgain.code).toBe(1);
    await ok('remove', 'n2');
    expect(env.nodes.size).toBe(0);
  });

  test('suspend/resume (several devices, --noflush --nolockfs), load/reload, clear', async () => {
    await ok('create', 'a', '--table', '0 8 zero');
    await ok('create', 'b', '--table', '0 8 zero');
    await ok('suspend', '--noflush', '--nolockfs', 'a', 'b');
    expect(await ok('info', '-c', '--noheadings', '-o', 'name,attr')).toBe('a:L-sw\nb:L-sw\n');
    await ok('reload', 'a', '--table', '0 16 error');
    await ok('resume', 'a', 'b');
    expect(await ok('table', 'a')).toBe('0 16 error \n');
    await ok('load', 'a', '--table', '0 8 zero');
    await ok('clear', 'a');
    expect(await ok('info', '-c', '--noheadings', '-o', 'attr', 'a')).toBe('L--w\n');
    const r = await env.dmctl(['load', 'a', '--notable']);
    expect(r.code).toBe(1);
  });

  test('remove: EBUSY with a hint; --retry; --deferred; --force swaps in an error table', async () => {
    await ok('create', 'busy', '--table', '0 8 zero');
    env.kernel.openDevice('busy');
    const r = await env.dmctl(['remove', 'busy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EBUSY: device is open/);
    expect(r.stderr).toMatch(/try: the device is open .*--retry, --deferred, or --force/);
    const forced = await env.dmctl(['remove', '--force', 'busy']);
    expect(forced.code).toBe(1);
    expect(await ok('table', 'busy')).toBe('0 8 error \n');
    const d = DmctlSchemas.result.parse(JSON.parse(await ok('remove', '--deferred', '--json', 'busy')));
    expect(d.devices[0]).toMatchObject({ name: 'busy', deferred: true });
    expect(await ok('info', 'busy')).toContain('State:             ACTIVE (DEFERRED REMOVE)\n');
    env.kernel.closeDevice('busy');
    for (let i = 0; i < 50 && env.kernel.devices.has('busy'); i++) await new Promise((r) => setTimeout(r, 10));
    expect((await env.dmctl(['info', 'busy'])).code).toBe(1);
    await ok('create', 'r', '--table', '0 8 zero');
    await ok('remove', '--retry', 'r');
  });

  test('remove_all removes every closed device; --force error-tables the rest and says how many stay, still exit 0', async () => {
    await ok('create', 'a', '--table', '0 8 zero');
    await ok('create', 'b', '--table', '0 8 zero');
    env.kernel.openDevice('b');
    await ok('remove_all');
    expect(await ok('ls')).toBe('b\t(254:1)\n');
    expect(env.nodes.has('/dev/mapper/a')).toBe(false);
    const f = await env.dmctl(['remove_all', '--force']);
    expect(f.code).toBe(0); // dmsetup: the count on stderr, exit 0 (live verbs-more)
    expect(f.stderr).toBe('Unable to remove 1 device(s).\n');
    expect(await ok('table', 'b')).toBe('0 8 error \n');
  });

  test('message prints the target\'s response (dmsetup adds a newline), --json', async () => {
    await ok('create', 'm', '--table', '0 8 echo');
    expect(await ok('message', 'm', '0', 'hello', 'world')).toBe('hello world\n');
    expect(await ok('message', 'm', '0', 'quiet')).toBe('');
    expect(JSON.parse(await ok('message', '--json', 'm', '0', 'hi'))).toEqual({ schemaVersion: 3, name: 'm', response: 'hi' });
    expect((await env.dmctl(['message', 'm', 'x', 'hi'])).stderr).toMatch(/Invalid sector/);
    expect((await env.dmctl(['message', 'm', '0'])).stderr).toMatch(/No message supplied/);
    const rej = await env.dmctl(['message', 'm', '100', 'hi']);
    expect(rej.stderr).toMatch(/EINVAL[\s\S]*try: the target rejected the message/);
  });

  test('wait returns once the event number differs from event_nr (default 0)', async () => {
    await ok('create', 'w', '--table', '0 8 zero');
    const waiting = env.dmctl(['wait', '--json', 'w']);
    await new Promise((r) => setTimeout(r, 20));
    env.kernel.triggerEvent('w');
    const r = await waiting;
    expect(r.code).toBe(0);
    expect(DmctlSchemas.wait.parse(JSON.parse(r.stdout))).toMatchObject({ name: 'w', eventNr: 1 });
    expect(await ok('wait', 'w', '0')).toBe('');
  });

  test('setgeometry', async () => {
    await ok('create', 'g', '--table', '0 8 zero');
    await ok('setgeometry', 'g', '1', '16', '63', '0');
    expect(env.kernel.devices.get('g')?.geometry).toBe('1 16 63 0');
    expect((await env.dmctl(['setgeometry', 'g', '1', '2'])).code).toBe(1);
  });

  test('recover: --dry-run reports and changes nothing; then a dead process\'s suspended device is resumed; --json follows its schema', async () => {
    await ok('create', 'x', '-u', 'U-x', '--table', '0 8 zero');
    await ok('suspend', 'x');
    const dead = env.kernel.processes.spawn();
    const x = env.kernel.devices.get('x')!;
    env.kernel.processes.store(dead).write('k', {
      version: 1, op: 'suspendTree', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: 254, minor: x.minor } } }],
    });
    expect(await ok('recover')).toMatch(/^0 operations recovered from simulated:.*; records left: 1 of live processes\n$/);
    dead.kill();
    expect(await ok('recover', '--dry-run')).toBe(`suspendTree of pid ${dead.pid}: planned\n  resume x (uuid U-x, 254:${x.minor}): planned\n1 operation to recover from simulated:/run/devicemapper/intents\n`);
    expect(x.suspended).toBe(true);
    const j = DmctlSchemas.recover.parse(JSON.parse(await ok('recover', '--json')));
    expect(j.operations).toMatchObject([{ operation: 'suspendTree', outcome: 'recovered', actions: [{ action: 'resume', outcome: 'done', note: null }] }]);
    expect(x.suspended).toBe(false);
    expect([...env.kernel.processes.records().keys()]).toEqual([]);
    expect((await env.dmctl(['recover', 'extra'])).code).toBe(1);
  });

  test('mknodes: adds missing nodes, removes stale ones, leaves control alone', async () => {
    await ok('create', 'a', '--table', '0 8 zero');
    env.nodes.delete('/dev/mapper/a');
    env.nodes.set('/dev/mapper/stale', { major: 254, minor: 9 });
    env.nodes.set('/dev/mapper/control', { major: 10, minor: 236 });
    const j = DmctlSchemas.mknodes.parse(JSON.parse(await ok('mknodes', '--json')));
    expect(j.nodes).toEqual(expect.arrayContaining([{ path: '/dev/mapper/a', action: 'created' }, { path: '/dev/mapper/stale', action: 'removed' }]));
    expect([...env.nodes.keys()].sort()).toEqual(['/dev/mapper/a', '/dev/mapper/control']);
    env.nodes.delete('/dev/mapper/a');
    await ok('mknodes', 'a');
    expect(env.nodes.has('/dev/mapper/a')).toBe(true);
  });
});

describe('name mangling (libdevmapper auto mode)', () => {
  test('names outside the whitelist reach the kernel as \\xNN and print unmangled', async () => {
    await ok('create', 'a b', '--table', '0 8 zero');
    expect([...env.kernel.devices.keys()]).toEqual(['a\\x20b']);
    expect(await ok('ls')).toBe('a b\t(254:0)\n');
    expect(await ok('info', '-c', '--noheadings', '-o', 'name,mangled_name', 'a b')).toBe('a b:a\\x20b\n');
    expect(env.nodes.has('/dev/mapper/a\\x20b')).toBe(true);
    // already mangled input is kept in auto mode; mixed input is refused
    expect(await ok('info', '-c', '--noheadings', '-o', 'name', 'a\\x20b')).toBe('a b\n');
    const mixed = await env.dmctl(['info', 'a b\\x20c']);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/mixed mangled and unmangled/);
    // hex mode: whitelisted characters stay, everything else (a backslash too) is mangled
    await ok('create', '--manglename', 'hex', 'h\\x20 j', '--table', '0 8 zero');
    expect(env.kernel.devices.has('h\\x5cx20\\x20j')).toBe(true);
    await ok('create', '--manglename', 'none', 'raw name', '--table', '0 8 zero');
    expect(env.kernel.devices.has('raw name')).toBe(true);
    expect(await ok('ls')).toContain('raw name\t(');
    expect(await ok('ls', '--json', '--manglename', 'none')).toContain('"a\\\\x20b"');
  });

  test('DM_DEFAULT_NAME_MANGLING_MODE selects the mode', async () => {
    const r = await env.dmctl(['create', 'p q', '--table', '0 8 zero'], { env: { DM_DEFAULT_NAME_MANGLING_MODE: 'none' } });
    expect(r.code).toBe(0);
    expect(env.kernel.devices.has('p q')).toBe(true);
  });
});

describe('--dry-run: nothing is sent', () => {
  test('--hex annotates the exact request bytes the client sends, field by field', async () => {
    const r = await env.dmctl(['create', 'x', '--table', '0 8 linear /dev/loop0 0', '--dry-run', '--hex']);
    expect(r.code).toBe(0);
    expect(env.kernel.devices.size).toBe(0);
    expect(r.stdout).toContain('DM_DEV_CREATE (create)  ioctl 0xc138fd03  data_size 312');
    expect(r.stdout).toContain('DM_TABLE_LOAD (load)  ioctl 0xc138fd09');
    expect(r.stdout).toContain('DM_DEV_SUSPEND (resume)  ioctl 0xc138fd06');
    expect(r.stdout).toMatch(/0030 {2}78 +dm_ioctl\.name = "x"/);
    expect(r.stdout).toMatch(/0150 {2}6c 69 6e 65 61 72 00 .* spec\[0\]\.target_type = "linear"/);
    expect(r.stdout).toMatch(/0160 {2}2f 64 65 76 2f 6c 6f 6f 70 30 20 30 00 +spec\[0\]\.params = "\/dev\/loop0 0"/);
    expect(r.stdout).toContain('(alignment padding, 3 bytes)');
  });

  test('--json gives the same bytes as the codec, for every verb', async () => {
    const j = DmctlSchemas.dryRun.parse(JSON.parse((await env.dmctl(['info', 'x', '--dry-run', '--json'])).stdout));
    const expected = codec.encodeRequest('info', { id: { name: 'x' } });
    expect(j.requests[0]!.hex).toBe(Buffer.from(expected).toString('hex'));
    expect(j.requests[0]!.request).toBe(`0x${requestCode('info').toString(16)}`);
    const verbs: string[][] = [
      ['version'], ['targets'], ['ls'], ['info'], ['table', 'x'], ['status', 'x'], ['deps', 'x'], ['remove', '--force', 'x'], ['remove_all'],
      ['suspend', 'x'], ['resume', 'x'], ['load', 'x', '--table', '0 8 zero'], ['clear', 'x'], ['rename', 'x', 'y'], ['rename', 'x', '--setuuid', 'u'],
      ['message', 'x', '0', 'hi'], ['wait', 'x', '3'], ['setgeometry', 'x', '1', '2', '3', '4'], ['mknodes'],
    ];
    for (const v of verbs) {
      const out = await env.dmctl([...v, '--dry-run', '--json']);
      expect({ v, code: out.code, err: out.stderr }).toEqual({ v, code: 0, err: '' });
      expect(DmctlSchemas.dryRun.parse(JSON.parse(out.stdout)).requests.length).toBeGreaterThan(0);
    }
    expect(env.kernel.calls.size).toBe(0);
    const plain = await env.dmctl(['message', 'x', '0', 'hi', '--dry-run']);
    expect(plain.stdout).toBe('would send DM_TARGET_MSG (message)  target_count=0 flags=0x00000000 name="x" uuid=""\n');
    const table = DmctlSchemas.dryRun.parse(JSON.parse((await env.dmctl(['table', 'x', '--dry-run', '--json'])).stdout));
    expect(table.requests[0]!.fields.find((f) => f.field === 'dm_ioctl.flags')?.value).toBe('0x00008010 (DM_STATUS_TABLE_FLAG | DM_SECURE_DATA_FLAG)');
    expect(table.requests[0]!.size).toBe(16384);
  });
});

describe('decode', () => {
  test('a reply in hex (as strace prints it, or plain) becomes JSON', async () => {
    await ok('create', 'z', '--table', '0 2048 zero');
    // A reply the simulator wrote: LIST_DEVICES.
    const buf = codecForTests.encodeRequest('listDevices', { withUuid: true });
    env.kernel.ioctl(requestCode('listDevices'), buf);
    const hex = Buffer.from(buf.subarray(0, 400)).toString('hex');
    const j = DmctlSchemas.decode.parse(JSON.parse(await ok('decode', 'ls', hex)));
    expect(j.ioctl).toBe('DM_LIST_DEVICES');
    expect(j.reply).toMatchObject({ version: [4, 48, 0], devices: [{ name: 'z', dev: { major: 254, minor: 0, raw: '65024' }, uuid: null }] });
    const strace = `"${[...buf.subarray(0, 400)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;
    expect(JSON.parse(await ok('decode', 'DM_LIST_DEVICES', strace)).reply).toEqual(j.reply);
    expect(JSON.parse((await env.dmctl(['decode', 'listDevices', '-'], { stdin: hex })).stdout).reply).toEqual(j.reply);
    const bad = await env.dmctl(['decode', 'ls', 'zz']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not hex/);
    const unknown = await env.dmctl(['decode', 'frobnicate', '00']);
    expect(unknown.stderr).toMatch(/Unknown command "frobnicate"/);
    const short = await env.dmctl(['decode', 'info', '0400000000000000', '--json']);
    expect(DmctlSchemas.error.parse(JSON.parse(short.stderr)).error.code).toBe('MALFORMED_REPLY');
  });
});

describe('usage, help and errors', () => {
  test('no command, unknown command, unknown option: usage on stderr, exit 1', async () => {
    expect((await env.dmctl([])).code).toBe(1);
    const u = await env.dmctl(['frob']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/unknown command "frob"/);
    const o = await env.dmctl(['ls', '--bogus']);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/unknown option '--bogus'/);
    const h = await env.dmctl(['help']);
    expect(h.code).toBe(0);
    for (const v of ['create', 'remove', 'remove_all', 'suspend', 'resume', 'load', 'reload', 'clear', 'rename', 'table', 'status', 'deps', 'message', 'wait', 'setgeometry', 'mknodes', 'decode', 'ls', 'info', 'targets', 'version']) {
      expect(h.stdout).toContain(`  ${v}`);
    }
    expect((await env.dmctl(['create', '--help'])).stdout).toMatch(/^Usage: dmctl create <dev_name>/);
    const noName = await env.dmctl(['create']);
    expect(noName.stderr).toMatch(/Please provide a name for the new device\.[\s\S]*Usage: dmctl create/);
  });

  test('--json errors on stderr follow ErrorOutputSchema, with the kernel log', async () => {
    const r = await env.dmctl(['create', 'bad', '--table', '0 8 linear /dev/nope 0', '--json']);
    expect(r.code).toBe(1);
    const e = DmctlSchemas.error.parse(JSON.parse(r.stderr)).error;
    expect(e).toMatchObject({ code: 'ENOENT', command: 'load', device: 'bad' });
    expect(e.kernelLog.join('\n')).toMatch(/Device lookup failed/);
    expect(e.hint).toMatch(/does not exist/);
  });

  test('EACCES: run as root', async () => {
    env.kernel.privileged = false;
    // `table` needs the control node (ls, info and deps fall back to sysfs: spec/cli/sysfs-fallback.spec.ts).
    const r = await env.dmctl(['table']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EACCES/);
    expect(r.stderr).toMatch(/try: run as root/);
  });

  test('codec errors name the argument and send nothing', async () => {
    const r = await env.dmctl(['create', 'x'.repeat(200), '--table', '0 8 zero']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/127/);
    expect(r.stderr).toMatch(/try: nothing was sent to the kernel/);
  });
});
