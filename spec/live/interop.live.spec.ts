// dmctl against real dmsetup (Debian's, DM_DISABLE_UDEV=1) on the same devices: text output
// equal byte for byte for ls, info, table, status, deps and targets, the driver line of
// version; names outside libdevmapper's mangling whitelist; devices made by either tool seen,
// changed and removed by the other; /dev/mapper nodes; the loop-device API.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, blockDeviceSectors, DeviceMapper, detachLoop, loopInfo, type LoopDevice } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';
import { runDmctl, runDmsetup, type ToolOut } from './tool-runners.js';

const REPO = path.resolve(__dirname, '..', '..');
const env = { ...process.env, DM_DISABLE_UDEV: '1' };
process.env.DM_DISABLE_UDEV = '1';

type Out = ToolOut;
const dmsetup = (...args: string[]): Out => runDmsetup(env, args);
const dmctl = (...args: string[]): Promise<Out> => runDmctl(env, args);

/** Both tools, same arguments: equal stdout and exit status. */
async function same(...args: string[]): Promise<string> {
  const a = dmsetup(...args);
  const b = await dmctl(...args);
  expect({ args, stdout: b.stdout, code: b.code }).toEqual({ args, stdout: a.stdout, code: a.code });
  return a.stdout;
}

function rdev(p: string): string | undefined {
  try {
    const s = fs.statSync(p);
    return s.isBlockDevice() ? `${Math.floor(s.rdev / 256) & 0xfff}:${(s.rdev & 0xff) | (Math.floor(s.rdev / 4096) & 0xfff00)}` : 'not-a-block-device';
  } catch {
    return undefined;
  }
}

describeLive(`dmctl interop with dmsetup [kernel ${kernelLabel}]`, () => {
  const p = `it${process.pid % 10000}`;
  let dir: string;
  let loop: LoopDevice;
  let dm: DeviceMapper;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-it-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 8 * 1024 * 1024);
    loop = await attachLoop(file);
    dm = await DeviceMapper.open();
    expect(dmsetup('create', `${p}-a`, '--table', '0 2048 zero').code).toBe(0);
    expect((await dmctl('create', `${p}-b`, '-u', `UUID-${p}-b`, '--table', `0 8192 linear ${loop.path} 0\n8192 4096 linear ${loop.major}:${loop.minor} 8192`)).code).toBe(0);
    expect((await dmctl('create', `${p}-c`, '--notable')).code).toBe(0);
  });

  afterAll(async () => {
    for (const d of await dm.list()) if (d.name.startsWith(p) || d.name.startsWith(`sp ace${p}`)) await dm.removeDevice({ name: d.name }).catch(() => undefined);
    dmsetup('mknodes');
    dm.close();
    await detachLoop(loop);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('loop API: attach gives a bound /dev/loopN of the file\'s size; BLKGETSIZE64 agrees with blockdev', async () => {
    expect(loop.sizeSectors).toBe(16384n);
    expect(await blockDeviceSectors(loop.path)).toBe(16384n);
    expect(execFileSync('blockdev', ['--getsz', loop.path], { encoding: 'utf8' }).trim()).toBe('16384');
    expect((await loopInfo(loop))?.fileName).toBe(loop.file);
    const second = await attachLoop(loop.file, { readOnly: true, offsetBytes: 4096 });
    try {
      expect(second.path).not.toBe(loop.path);
      expect(second.sizeSectors).toBe(16376n);
      expect(execFileSync('blockdev', ['--getro', second.path], { encoding: 'utf8' }).trim()).toBe('1');
    } finally {
      await detachLoop(second);
    }
    expect(await loopInfo(second)).toBeUndefined();
  });

  test('version: the driver line is the same', async () => {
    const a = dmsetup('version').stdout.split('\n').find((l) => l.startsWith('Driver version:'));
    const b = (await dmctl('version')).stdout.split('\n').find((l) => l.startsWith('Driver version:'));
    expect(b).toBe(a);
    recordLiveFact('dmsetupVersion', dmsetup('version').stdout.split('\n')[0]);
  });

  test('targets, ls, ls -o, ls --target: byte for byte', async () => {
    await same('targets');
    await same('ls');
    await same('ls', '-o', 'blkdevname');
    await same('ls', '-o', 'devname');
    await same('ls', '--target', 'linear');
  });

  test('info (long and -c, one and all devices), table, status, deps (-o devno|devname|blkdevname): byte for byte', async () => {
    for (const n of [`${p}-a`, `${p}-b`, `${p}-c`]) {
      await same('info', n);
      await same('info', '-c', n);
      await same('info', '-c', '--noheadings', n);
      await same('table', n);
      await same('status', n);
      await same('deps', n);
      await same('deps', '-o', 'devname', n);
      await same('deps', '-o', 'blkdevname', n);
      await same('info', '-c', '-o', 'name,devno,tables_loaded,suspended,readonly,blkdevname,read_ahead', n);
    }
    await same('info');
    await same('info', '-c');
    await same('table');
    await same('status');
    await same('deps');
    await same('table', `${p}-a`, `${p}-b`);
    await same('table', '--target', 'linear', `${p}-b`);
    await same('info', '-u', `UUID-${p}-b`);
    const { dev: { major, minor } } = (await dm.info(`${p}-a`)) as { dev: { major: number; minor: number } };
    await same('info', '-j', String(major), '-m', String(minor));
  });

  test('states: suspended, inactive table, read-only — info and table agree with dmsetup', async () => {
    const n = `${p}-a`;
    expect((await dmctl('suspend', n)).code).toBe(0);
    await same('info', n);
    await same('info', '-c', n);
    expect((await dmctl('load', n, '--table', '0 2048 error')).code).toBe(0);
    await same('info', n);
    await same('table', '--inactive', n);
    await same('status', '--inactive', n);
    expect((await dmctl('resume', n)).code).toBe(0);
    await same('table', n);
    expect(dmsetup('reload', n, '--table', '0 2048 zero', '--readonly').code).toBe(0);
    expect((await dmctl('clear', n)).code).toBe(0);
    await same('info', n);
    expect(dmsetup('reload', '--readonly', n, '--table', '0 2048 zero').code).toBe(0);
    expect((await dmctl('resume', n)).code).toBe(0);
    await same('info', n);
  });

  test('devices made by dmsetup are changed and removed by dmctl, with their /dev/mapper node', async () => {
    const n = `${p}-d`;
    expect(dmsetup('create', n, '--table', '0 100 zero').code).toBe(0);
    const dev = rdev(`/dev/mapper/${n}`);
    expect(dev).toMatch(/^\d+:\d+$/);
    expect((await dmctl('rename', n, `${n}r`)).code).toBe(0);
    expect(rdev(`/dev/mapper/${n}`)).toBeUndefined();
    expect(rdev(`/dev/mapper/${n}r`)).toBe(dev);
    await same('info', `${n}r`);
    expect((await dmctl('rename', `${n}r`, '--setuuid', `U-${n}`)).code).toBe(0);
    expect(dmsetup('info', '-c', '--noheadings', '-o', 'uuid', `${n}r`).stdout.trim()).toBe(`U-${n}`);
    expect((await dmctl('message', `${n}r`, '0', '@cancel_deferred_remove')).code).toBe(0);
    expect((await dmctl('setgeometry', `${n}r`, '1', '16', '63', '0')).code).toBe(0);
    // wait: the rename moved the event number, so waiting for "not 0" returns at once.
    expect((await dmctl('wait', `${n}r`)).code).toBe(0);
    expect((await dmctl('remove', `${n}r`)).code).toBe(0);
    expect(rdev(`/dev/mapper/${n}r`)).toBeUndefined();
    expect(dmsetup('info', `${n}r`).code).toBe(1);
  });

  test('devices made by dmctl are seen, changed and removed by dmsetup; nodes made like dmsetup\'s', async () => {
    const n = `${p}-e`;
    expect((await dmctl('create', n, '--table', '0 100 zero')).code).toBe(0);
    const st = fs.statSync(`/dev/mapper/${n}`);
    expect(st.isBlockDevice()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    await same('info', n);
    expect(dmsetup('rename', n, `${n}r`).code).toBe(0);
    expect(rdev(`/dev/mapper/${n}r`)).toMatch(/^\d+:\d+$/);
    await same('info', `${n}r`);
    expect(dmsetup('suspend', `${n}r`).code).toBe(0);
    await same('info', `${n}r`);
    expect(dmsetup('resume', `${n}r`).code).toBe(0);
    expect(dmsetup('remove', `${n}r`).code).toBe(0);
    expect((await dmctl('info', `${n}r`)).code).toBe(1);
    expect(rdev(`/dev/mapper/${n}r`)).toBeUndefined();
  });

  test('remove --force swaps in an error table; --retry; --deferred on an open device', async () => {
    const n = `${p}-f`;
    expect((await dmctl('create', n, '--table', '0 100 zero')).code).toBe(0);
    const info = await dm.info(n);
    if (!info.exists) throw new Error('not created');
    const fd = fs.openSync(`/dev/dm-${info.dev.minor}`, 'r');
    try {
      const busy = await dmctl('remove', n);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/EBUSY/);
      expect(busy.stderr).toMatch(/try: .*--deferred/);
      const forced = await dmctl('remove', '--force', n);
      expect(forced.code).toBe(1); // still open: the error table is in, the remove fails
      expect(dmsetup('table', n).stdout).toBe('0 100 error \n');
      expect((await dmctl('remove', '--deferred', n)).code).toBe(0);
      expect(dmsetup('info', n).stdout).toMatch(/State: {13}ACTIVE \(DEFERRED REMOVE\)/);
      await same('info', n);
    } finally {
      fs.closeSync(fd);
    }
    for (let i = 0; i < 50 && (await dm.info(n)).exists; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await dm.info(n)).exists).toBe(false);
  });

  test('names outside the mangling whitelist: mangled the same way, both ways', async () => {
    const a = `sp ace${p}`;
    expect(dmsetup('create', a, '--table', '0 8 zero').code).toBe(0);
    // The kernel holds the mangled name; both tools print it unmangled.
    expect((await dm.list()).some((d) => d.name === `sp\\x20ace${p}`)).toBe(true);
    await same('info', a);
    await same('ls');
    expect(rdev(`/dev/mapper/sp\\x20ace${p}`)).toMatch(/^\d+:\d+$/);
    expect((await dmctl('remove', a)).code).toBe(0);
    const b = `x y${p}`;
    expect((await dmctl('create', b, '--table', '0 8 zero')).code).toBe(0);
    expect((await dm.list()).some((d) => d.name === `x\\x20y${p}`)).toBe(true);
    await same('info', b);
    expect(dmsetup('remove', b).code).toBe(0);
    // --manglename none sends the name as given; dmsetup (auto) then refuses to list at all: documented difference.
    const raw = `raw name${p}`;
    expect((await dmctl('create', '--manglename', 'none', raw, '--table', '0 8 zero')).code).toBe(0);
    const ls = dmsetup('ls');
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/should be mangled but it contains blacklisted characters/);
    expect((await dmctl('ls')).stdout).toContain(`${raw}\t(`);
    expect((await dmctl('remove', '--manglename', 'none', raw)).code).toBe(0);
    expect(dmsetup('ls').code).toBe(0);
  });

  test('errors: which device, the kernel\'s lines, what to try; exit 1 like dmsetup', async () => {
    const bad = await dmctl('create', `${p}-bad`, '--table', '0 8 linear /dev/nonexistent 0');
    expect(bad.code).toBe(1);
    expect(dmsetup('create', `${p}-bad2`, '--table', '0 8 linear /dev/nonexistent 0').code).toBe(1);
    expect(bad.stderr).toMatch(/DM_TABLE_LOAD/);
    expect(bad.stderr).toMatch(/kernel: device-mapper: table: \d+:\d+: linear: .*Device lookup failed/);
    expect(bad.stderr).toMatch(/try: /);
    expect((await dm.info(`${p}-bad`)).exists).toBe(false); // rolled back
    // A line of a typed target is checked before any ioctl (cli/table-check.ts): nothing is made.
    const typed = await dmctl('create', `${p}-typed`, '--table', '0 8 linear 7:0 notanumber');
    expect(typed.code).toBe(1);
    expect(typed.stderr).toMatch(/Invalid linear target on line 1/);
    expect((await dm.info(`${p}-typed`)).exists).toBe(false);
    // A type the package leaves to the kernel: its EINVAL, its line, the hint (with the module
    // or without it, "Invalid number of arguments" or "unknown target type": both EINVAL).
    const inval = await dmctl('create', `${p}-inval`, '--table', '0 8 unstriped notanumber');
    expect(inval.stderr).toMatch(/EINVAL[\s\S]*kernel: device-mapper: table: [\s\S]*try: the kernel rejected the table/);
    const missing = await dmctl('info', `${p}-missing`);
    expect([missing.code, dmsetup('info', `${p}-missing`).code]).toEqual([1, 1]);
    expect(missing.stderr).toMatch(/Device does not exist/);
  });

  test('mknodes restores a deleted node and drops a stale one', async () => {
    const n = `${p}-b`;
    const node = `/dev/mapper/${n}`;
    const dev = rdev(node);
    fs.unlinkSync(node);
    expect(rdev(node)).toBeUndefined();
    expect((await dmctl('mknodes')).code).toBe(0);
    expect(rdev(node)).toBe(dev);
    fs.unlinkSync(node);
    expect((await dmctl('mknodes', n)).code).toBe(0);
    expect(rdev(node)).toBe(dev);
  });

  test('bin/dmctl.js runs from dist when built (npx dmctl)', () => {
    const bin = path.join(REPO, 'bin', 'dmctl.js');
    if (!fs.existsSync(path.join(REPO, 'dist', 'lib', 'cli', 'index.js'))) return;
    const r = spawnSync(process.execPath, [bin, 'ls', '--json'], { encoding: 'utf8', env });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).devices.some((d: { name: string }) => d.name === `${p}-b`)).toBe(true);
  });
});
