// dm-stats file maps against the real kernel, ext4 and dmstats: a fragmented file on ext4 on
// a dm linear device over a loop device. `dmstats create --filemap` and `dmctl stats create
// --filemap` must make the same regions (the same @stats_list bytes) and print the same
// bytes; `list` must print the same; a group made by either is read by the other; after the
// file grew, `update_filemap` by each must leave the same regions and print the same.
import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, detachLoop, DeviceMapper, DmStats, type LoopDevice } from '../../lib/index.js';
import { describeLiveOn, kernelLabel } from './live-env.js';
import { dmctl, have, tool } from './realtools-env.js';

process.env.DM_DISABLE_UDEV = '1';
jest.setTimeout(20 * 60_000);

const MiB = 1024 * 1024;
const NAME = `dmts-fmap-${process.pid % 10000}`;
const dump: string[] = [];

describeLiveOn(['6.1', 'newest'], `dm-stats file maps: dmctl against dmstats [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let loop: LoopDevice | undefined;
  let dir: string;
  let mnt: string;
  let file: string;
  let mounted = false;

  /**
   * Appends `chunks` 4 KiB blocks to the file, each followed by one to a filler file and an
   * fsync of both: while both files are small, ext4 allocates them from one shared
   * preallocation, so the file's blocks interleave with the filler's (the file stays under
   * 64 KiB, where ext4 would switch to a preallocation of its own).
   */
  const grow = (chunks: number, tag: number) => {
    const f = fs.openSync(file, 'a');
    const g = fs.openSync(path.join(mnt, 'filler'), 'a');
    try {
      for (let i = 0; i < chunks; i++) {
        fs.writeSync(f, Buffer.alloc(4096, tag + i));
        fs.fsyncSync(f);
        fs.writeSync(g, Buffer.alloc(4096, 0xee));
        fs.fsyncSync(g);
      }
    } finally {
      fs.closeSync(f);
      fs.closeSync(g);
    }
  };
  const raw = async () => (await dm.message(NAME, 0, '@stats_list')) ?? '';
  const clearAll = async () => {
    const s = await DmStats.open(dm, NAME);
    for (const r of (await s.list({ allPrograms: true })).regions) await dm.message(NAME, 0, `@stats_delete ${r.regionId}`);
  };
  /** Puts back the regions and aux_data of an earlier @stats_list (ids come out the same on a device without regions). */
  const restore = async (listed: string) => {
    await clearAll();
    for (const line of listed.split('\n').filter(Boolean)) {
      const m = /^(\d+): (\d+)\+(\d+) (\d+) (\S+) (\S+)/.exec(line)!;
      const id = await dm.message(NAME, 0, `@stats_create ${m[2]}+${m[3]} /1 ${m[5]} -`);
      expect(id).toBe(m[1]);
      if (m[6] !== '-') await dm.message(NAME, 0, `@stats_set_aux ${m[1]} ${m[6]}`);
    }
    expect(await raw()).toBe(listed);
  };
  const record = (what: string, out: { code: number; stdout: string; stderr: string }) => {
    dump.push(`$ ${what}\n[exit ${out.code}]\n${out.stdout}${out.stderr ? `[stderr]\n${out.stderr}` : ''}`);
    return out;
  };

  beforeAll(async () => {
    if (!have('dmstats')) throw new Error('dmstats is not installed on the host root (package dmsetup)');
    if (!have('mkfs.ext4')) throw new Error('mkfs.ext4 is not installed on the host root (package e2fsprogs)');
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-fmap-'));
    mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 * MiB);
    loop = await attachLoop(img);
    const made = await dm.createDevice({ name: NAME, table: [{ start: 0, length: (64 * MiB) / 512, type: 'linear', params: `${loop.path} 0` }] });
    // Without udev there is no /dev/mapper node; devtmpfs made /dev/dm-N.
    const dev = `/dev/dm-${made.dev.minor}`;
    const mk = spawnSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'nodiscard', dev], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`mkfs.ext4: ${mk.stderr}`);
    const mo = spawnSync('mount', ['-t', 'ext4', dev, mnt], { encoding: 'utf8' });
    if (mo.status !== 0) throw new Error(`mount: ${mo.stderr}`);
    mounted = true;
    file = path.join(mnt, 'frag.dat');
    grow(8, 1);
  });

  beforeEach(async () => { await clearAll(); });

  afterAll(async () => {
    if (mounted) spawnSync('umount', [mnt]);
    await dm?.removeDevice(NAME).catch(() => undefined);
    if (loop) await detachLoop(loop.path).catch(() => undefined);
    dm?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    const out = path.join(path.resolve(__dirname, '..', '..'), '.cache', 'live');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, `stats-filemap-${kernelLabel}.txt`), dump.join('\n') + '\n');
  });

  test('create --filemap: the same regions, the same output, the same list; each reads the other\'s group', async () => {
    const variants: string[][] = [['--nomonitor'], ['--nomonitor', '--alias', 'hot'], ['--nogroup', '--nomonitor'], ['--nomonitor', '--precise'], ['--nomonitor', '--bounds', '500us,2ms']];
    for (const extra of variants) {
      await clearAll();
      const a = record(`dmstats create --filemap ${file} ${extra.join(' ')}`, tool('dmstats', 'create', '--filemap', file, ...extra));
      const aList = await raw();
      const aShown = record(`dmstats list ${NAME}`, tool('dmstats', 'list', NAME)).stdout;
      // dmstats' group, read by the library.
      const aGroups = (await (await DmStats.open(dm, NAME)).list()).groups;
      await clearAll();
      const b = record(`dmctl stats create --filemap ${file} ${extra.join(' ')}`, await dmctl('stats', 'create', '--filemap', file, ...extra));
      const bList = await raw();
      // dmctl's group, read by dmstats.
      const bShown = record(`dmstats list ${NAME} (dmctl's regions)`, tool('dmstats', 'list', NAME)).stdout;
      const bCtl = record(`dmctl stats list ${NAME}`, await dmctl('stats', 'list', NAME)).stdout;
      expect({ code: b.code, stdout: b.stdout }).toEqual({ code: a.code, stdout: a.stdout });
      expect(bList).toBe(aList);
      expect(bShown).toBe(aShown);
      expect(bCtl).toBe(aShown);
      expect(aList.split('\n').filter(Boolean).length).toBeGreaterThan(1); // the file is fragmented
      if (!extra.includes('--nogroup')) expect(aGroups).toEqual([{ groupId: 0, alias: extra.includes('hot') ? 'hot' : 'frag.dat', members: aGroups[0]!.members }]);
      else expect(aGroups).toEqual([]);
    }
    // Without --nomonitor dmstats forks dmfilemapd; its stdout and exit are what dmctl prints.
    await clearAll();
    const a = record(`dmstats create --filemap ${file}`, tool('dmstats', 'create', '--filemap', file));
    await clearAll();
    const b = record(`dmctl stats create --filemap ${file}`, await dmctl('stats', 'create', '--filemap', file));
    expect({ code: b.code, stdout: b.stdout }).toEqual({ code: a.code, stdout: a.stdout });
  });

  test('update_filemap after the file grew: the same regions and output from either tool, on either tool\'s group', async () => {
    const r0 = record('dmctl create (update base)', await dmctl('stats', 'create', '--filemap', file, '--nomonitor'));
    expect(r0.code).toBe(0);
    const before = await raw();
    grow(3, 0x40);
    const a = record(`dmstats update_filemap ${file} --groupid 0 --nomonitor`, tool('dmstats', 'update_filemap', file, '--groupid', '0', '--nomonitor'));
    const aList = await raw();
    const aShown = tool('dmstats', 'list', NAME).stdout;
    await restore(before);
    const b = record(`dmctl stats update_filemap ${file} --groupid 0 --nomonitor`, await dmctl('stats', 'update_filemap', file, '--groupid', '0', '--nomonitor'));
    expect(b).toEqual(a);
    expect(await raw()).toBe(aList);
    expect(record(`dmctl stats list ${NAME}`, await dmctl('stats', 'list', NAME)).stdout).toBe(aShown);
    expect(aList).not.toBe(before);
    // The library's view of dmstats' update: one group, every region a member, id kept.
    const l = await (await DmStats.open(dm, NAME)).list();
    expect(l.groups.map((g) => [g.groupId, g.alias, g.members.length])).toEqual([[0, 'frag.dat', l.regions.length]]);
    // And dmstats updating a group dmctl made matches DmStats.updateFromFile on dmstats' group.
    grow(2, 0x60);
    const beforeSecond = await raw();
    const c = record('dmctl update (second)', await dmctl('stats', 'update_filemap', file, '--groupid', '0', '--nomonitor'));
    const cList = await raw();
    await restore(beforeSecond);
    const d = record('dmstats update (second)', tool('dmstats', 'update_filemap', file, '--groupid', '0', '--nomonitor'));
    expect(c).toEqual(d);
    expect(await raw()).toBe(cList);
  });

  test('update_filemap after the file was rewritten (the leader\'s extent gone) and after it was truncated to nothing', async () => {
    expect((await dmctl('stats', 'create', '--filemap', file, '--nomonitor')).code).toBe(0);
    // Rewritten: new blocks, none where the old ones were (the filler keeps those taken).
    fs.truncateSync(file, 0);
    fs.writeFileSync(path.join(mnt, 'hole-keeper'), Buffer.alloc(65536, 0x11));
    const keeper = fs.openSync(path.join(mnt, 'hole-keeper'), 'r');
    fs.fsyncSync(keeper);
    fs.closeSync(keeper);
    grow(5, 0x20);
    for (const step of ['rewritten', 'truncated']) {
      if (step === 'truncated') fs.truncateSync(file, 0);
      const before = await raw();
      const gid = Number(/^(\d+):[^\n]*DMS_GROUP/m.exec(before)![1]);
      const a = record(`dmstats update_filemap (${step})`, tool('dmstats', 'update_filemap', file, '--groupid', String(gid), '--nomonitor'));
      const aList = await raw();
      await restore(before);
      const b = record(`dmctl stats update_filemap (${step})`, await dmctl('stats', 'update_filemap', file, '--groupid', String(gid), '--nomonitor'));
      expect(b).toEqual(a);
      expect(await raw()).toBe(aList);
    }
  });
});
