// dm-stats against the real kernel and the real dmstats: the same commands run with dmstats
// on one device and with `dmctl stats` on a twin device (same size and table, a name of the
// same length) must print the same bytes; regions and groups written by either tool are read
// by the other (dmstats lists what DmStats wrote, DmStats lists what dmstats wrote). dmstats
// comes from the host root (the dmsetup package); without it the suite fails in the VM.
import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceMapper, DmStats } from '../../lib/index.js';
import { describeLiveOn, kernelLabel } from './live-env.js';
import { dmctl, have, tool, type Out } from './realtools-env.js';

process.env.DM_DISABLE_UDEV = '1';
// Each dmstats run is a process start under emulation: the comparisons take many minutes.
jest.setTimeout(40 * 60_000);

const A = `sta${process.pid % 1000}`.padEnd(7, 'x');
const B = `stb${process.pid % 1000}`.padEnd(7, 'x');
const dump: string[] = [];
const table = [{ start: 0, length: 4096, type: 'zero', params: '' }, { start: 4096, length: 4096, type: 'zero', params: '' }];

/** Runs one dmstats command line on A and the same `dmctl stats` line on B; the difference, if any. */
async function both(...args: string[]): Promise<string | undefined> {
  const a = tool('dmstats', ...args.map((x) => (x === '@' ? A : x)));
  const b: Out = await dmctl('stats', ...args.map((x) => (x === '@' ? B : x)));
  const bOut = b.stdout.split(B).join(A);
  dump.push(`$ dmstats ${args.join(' ')}\n[exit ${a.code}]\n${a.stdout}${a.stderr ? `[stderr]\n${a.stderr}` : ''}[dmctl exit ${b.code}]\n${bOut}${b.stderr ? `[stderr]\n${b.stderr}` : ''}`);
  if (a.stdout === bOut && a.code === b.code) return undefined;
  return `dmstats ${args.join(' ')}\n--- dmstats (exit ${a.code}):\n${a.stdout}${a.stderr}\n--- dmctl (exit ${b.code}):\n${bOut}${b.stderr}`;
}

describeLiveOn(['6.1', 'newest'], `dm-stats: DmStats and dmctl stats against dmstats [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;

  beforeAll(async () => {
    if (!have('dmstats')) throw new Error('dmstats is not installed on the host root (package dmsetup)');
    dm = await DeviceMapper.open();
    for (const n of [A, B]) await dm.createDevice({ name: n, table });
  });

  // Every test starts from devices without regions (of any program).
  beforeEach(async () => {
    for (const n of [A, B]) {
      const s = await DmStats.open(dm, n);
      for (const r of (await s.list({ allPrograms: true })).regions) await dm.message(n, 0, `@stats_delete ${r.regionId}`);
    }
  });

  afterAll(async () => {
    for (const n of [A, B]) await dm?.removeDevice(n).catch(() => undefined);
    dm?.close();
    const out = path.join(path.resolve(__dirname, '..', '..'), '.cache', 'live');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, `stats-${kernelLabel}.txt`), dump.join('\n') + '\n');
  });

  test('the same command lines print the same bytes', async () => {
    const lines: string[][] = [
      ['create', '@'],
      ['create', '@', '--areas', '4', '--start', '0', '--length', '256k'],
      ['create', '@', '--segments', '--alias', 'segs'],
      ['create', '@', '--bounds', '1ms,5ms,10ms', '--areasize', '1m'],
      ['create', '@', '--bounds', '500us,2ms', '--start', '1024', '--length', '1024'],
      ['create', '@', '--precise', '--programid', 'other', '--userdata', 'hello'],
      ['list', '@'],
      ['list', '@', '-v'],
      ['list', '@', '--histogram'],
      ['list', '@', '--allprograms'],
      ['list', '@', '--noheadings'],
      ['list', '@', '-o', 'region_id,precise,user_data,hist_bins,hist_ranges,area_offset'],
      ['list', '@', '--group'],
      ['list', '@', '--area'],
      ['list', '@', '--units', 's'],
      ['list', '@', '--units', 'k', '--nosuffix'],
      ['list', '@', '--units', 'H'],
      ['list', '@', '--units', 'x'],
      ['list', '@', '-O', '-region_len,region_id'],
      ['list', '@', '-S', 'region_len>300k', '-o', 'region_id,region_len'],
      ['list', '@', '-S', 'id=1'],
      ['list', '@', '--nameprefixes', '-o', 'region_id,region_start,program_id'],
      ['list', '@', '--rows', '-o', 'region_id,area_count'],
      ['list', '@', '--separator', ',', '-o', 'region_id,area_len'],
      ['list', '@', '--histogram', '--notimesuffix'],
      ['report', '@', '--region', '--interval', '1', '--count', '2', '-o', 'region_id,read_count'],
      ['print', '@', '--regionid', '1'],
      ['print', '@', '--allregions'],
      ['report', '@'],
      ['report', '@', '--raw'],
      ['report', '@', '--histogram'],
      ['report', '@', '--histogram', '--relative'],
      ['report', '@', '--area', '-o', 'region_id,area_id,area_start,area_len,read_count'],
      ['report', '@', '--group'],
      ['report', '@', '--noheadings', '-o', 'region_id,reads_per_sec,util,await'],
      ['group', '@', '--regions', '0,1', '--alias', 'pair'],
      ['list', '@'],
      ['ungroup', '@', '--groupid', '0'],
      ['list', '@'],
      ['clear', '@', '--allregions'],
      ['delete', '@', '--regionid', '4'],
      ['delete', '@', '--groupid', '2'],
      ['list', '@'],
      ['delete', '@'],
      ['group', '@'],
      ['create', '@', '--areas', '2', '--areasize', '1m'],
      ['print', '@', '--regionid', '99'],
      ['delete', '@', '--allregions'],
      ['list', '@'],
    ];
    const differences: string[] = [];
    for (const l of lines) {
      const d = await both(...l);
      if (d) differences.push(d);
    }
    expect(differences).toEqual([]);
  });

  test('groups written by dmstats are read by DmStats, and the reverse', async () => {
    const must = (...args: string[]) => {
      const r = tool('dmstats', ...args);
      if (r.code !== 0) throw new Error(`dmstats ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    must('create', A, '--segments', '--alias', 'bytool');
    must('create', A, '--areas', '3');
    const sa = await DmStats.open(dm, A);
    const la = await sa.list();
    expect(la.groups).toEqual([{ groupId: 0, alias: 'bytool', members: [0, 1] }]);
    expect(la.regions.map((r) => [r.regionId, r.startSectors, r.lengthSectors, r.areaCount, r.groupId])).toEqual([[0, 0n, 4096n, 1, 0], [1, 4096n, 4096n, 1, 0], [2, 0n, 8192n, 3, undefined]]);

    const sb = await DmStats.open(dm, B);
    expect(await sb.createSegmentRegions({ alias: 'bylib' })).toEqual([0, 1]);
    expect(await sb.createRegion({ areas: 3 })).toBe(2);
    await sb.setUserData(0, 'mine');
    const listed = must('list', B, '-o', 'region_id,group_id,stats_name,obj_type,user_data', '--noheadings');
    expect(listed).toBe(`0:0:bylib:region:mine\n1:0:bylib:region:\n2:-:${B}:region:\n0-1:0:bylib:group:\n`);
    must('ungroup', B, '--groupid', '0');
    expect((await sb.list()).groups).toEqual([]);
    expect((await sb.list()).regions[0]!.userData).toBe('mine');
    await sb.createGroup([1, 2], { alias: 'second' });
    must('delete', B, '--regionid', '2');
    expect((await sb.list()).groups).toEqual([{ groupId: 1, alias: 'second', members: [1] }]);
    for (const s of [sa, sb]) for (const r of (await s.list()).regions) await s.deleteRegion(r.regionId);
  });

  test('the kernel grammar the simulator models: errors and formats', async () => {
    const msg = (m: string) => dm.message(A, 0, m);
    await expect(msg('@stats_create 0+0 /1')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - /0')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 1 bogus')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 1 histogram:5,3')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 p a extra')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_delete 3')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(msg('@stats_print x')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await msg('@stats_create - 3000 1 precise_timestamps')).toBe('0');
    expect(await msg('@stats_print 0 2 1')).toBe('6000+3000 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
    expect(await msg('@stats_list')).toBe('0: 0+8192 3000 - - precise_timestamps\n');
    expect(await msg('@stats_set_aux 0 a\\ b')).toBeUndefined();
    expect(await msg('@stats_list')).toBe('0: 0+8192 3000 - a b precise_timestamps\n');
    expect(await msg('@stats_clear 0')).toBe('');
    await msg('@stats_delete 0');
  });
});
