import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { cliEnv } from './harness.js';
import { cFixed, humanSize } from '../../cli/stats-report.js';

describe('dmctl stats on the simulator (dmstats output)', () => {
  let kernel: SimulatedKernel;
  let setup: DeviceMapper;
  let env: ReturnType<typeof cliEnv>;
  const dmctl = (...args: string[]) => env.dmctl(args);
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    env = cliEnv(kernel);
    setup = await DeviceMapper.open({ backend: kernel.backend() });
    await setup.createDevice({ name: 'sv', table: [{ start: 0, length: 1024, type: 'zero', params: '' }, { start: 1024, length: 1024, type: 'zero', params: '' }] });
  });
  afterEach(async () => { await setup.close(); env.cleanup(); });

  it('create, list, group, print, delete', async () => {
    expect(await dmctl('stats', 'create', 'sv')).toEqual({ code: 0, stdout: 'sv: Created new region with 1 area(s) as region ID 0\n', stderr: '' });
    expect((await dmctl('stats', 'create', 'sv', '--areas', '4', '--start', '0', '--length', '512')).stdout).toBe('sv: Created new region with 4 area(s) as region ID 1\n');
    expect((await dmctl('stats', 'create', 'sv', '--segments', '--alias', 'segs')).stdout)
      .toBe('sv: Created new region with 1 area(s) as region ID 2\nsv: Created new region with 1 area(s) as region ID 3\nGrouped regions 2,3 as group ID 2 with alias segs\n');
    expect(await setup.message('sv', 0, '@stats_list')).toBe('0: 0+2048 2048 dmstats -\n1: 0+512 128 dmstats -\n2: 0+1024 1024 dmstats DMS_GROUP=segs:2-3#-\n3: 1024+1024 1024 dmstats -\n');
    const list = await dmctl('stats', 'list', 'sv');
    // The layout dmstats 1.02.185 printed for the same regions in the live comparison.
    expect(list.stdout).toBe([
      'Name             GrpID RgID ObjType RgStart RgSize  #Areas ArSize  ProgID ',
      'sv                   -    0 region        0   1.00m      1   1.00m dmstats',
      'sv                   -    1 region        0 256.00k      4  64.00k dmstats',
      'segs                 2    2 region        0 512.00k      1 512.00k dmstats',
      'segs                 2    3 region  512.00k 512.00k      1 512.00k dmstats',
      'segs                 2  2-3 group         0   1.00m      1   1.00m dmstats',
      '',
    ].join('\n'));
    // -v: areas first; a region row's area start wraps as libdm computes it ("0b").
    expect((await dmctl('stats', 'list', 'sv', '-v', '-o', 'region_id,obj_type,area_id,area_start,area_offset')).stdout).toBe([
      'RgID ObjType ArID ArStart ArOff  ',
      '   0 area       0       0       0',
      '   1 area       0       0       0',
      '   1 area       1  64.00k  64.00k',
      '   1 area       2 128.00k 128.00k',
      '   1 area       3 192.00k 192.00k',
      '   2 area       0       0       0',
      '   3 area       0 512.00k       0',
      '   1 region     0      0b      0b',
      ' 2-3 group      0       0       0',
      '',
    ].join('\n'));
    kernel.simulateIo('sv', { direction: 'read', startSectors: 0, lengthSectors: 8, durationMs: 2 });
    expect((await dmctl('stats', 'print', 'sv', '--regionid', '1')).stdout).toBe('0+128 1 0 8 2 0 0 0 0 0 2 2 2 0\n128+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n256+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n384+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
    await setup.message('sv', 0, '@stats_set_aux 2 DMS_GROUP=segs:2-3#mine');
    // A group row shows no user data (dmstats, measured), its leader's region row does.
    expect((await dmctl('stats', 'list', 'sv', '--group', '--region', '-o', 'region_id,obj_type,user_data', '--noheadings')).stdout)
      .toBe('0:region:\n1:region:\n2:region:mine\n3:region:\n2-3:group:\n');
    expect((await dmctl('stats', 'ungroup', 'sv', '--groupid', '2')).stdout).toBe('Removed group ID 2 on sv\n');
    expect((await dmctl('stats', 'group', 'sv', '--regions', '0,1', '--alias', 'g')).stdout).toBe('Grouped regions 0,1 as group ID 0 on sv\n');
    expect(await dmctl('stats', 'delete', 'sv', '--groupid', '0')).toMatchObject({ code: 0, stdout: 'Deleted statistics group 0.\n' });
    expect(await dmctl('stats', 'delete', 'sv', '--allregions')).toMatchObject({ code: 0, stdout: '' });
    expect(await setup.message('sv', 0, '@stats_list')).toBe('');
  });

  it('usage errors as dmstats', async () => {
    expect(await dmctl('stats', 'delete', 'sv')).toMatchObject({ code: 1, stderr: 'Please specify a --regionid or --groupid, or use --allregions.\n' });
    expect(await dmctl('stats', 'create', 'sv', '--areas', '2', '--areasize', '1m')).toMatchObject({ code: 1, stderr: 'Please specify one of --areas and --areasize.\n' });
    expect(await dmctl('stats', 'bogus', 'sv')).toMatchObject({ code: 1, stderr: 'Unknown stats command.\n' });
  });

  it('--json list', async () => {
    await dmctl('stats', 'create', 'sv');
    const doc = JSON.parse((await dmctl('stats', 'list', 'sv', '--json')).stdout);
    expect(doc).toEqual({ schemaVersion: 3, fields: ['stats_name', 'group_id', 'region_id', 'obj_type', 'region_start', 'region_len', 'area_count', 'area_len', 'program_id'], rows: [expect.objectContaining({ stats_name: 'sv', region_id: '0', region_len: '1.00m' })] });
  });
});

describe('dmstats number formats', () => {
  it('dm_size_to_string with units h: power-of-1024 letters, bytes without decimals, the ×512 wrapping', () => {
    expect(humanSize(0n)).toBe('0');
    expect(humanSize(1n)).toBe('512b');
    expect(humanSize(2n)).toBe('1.00k');
    expect(humanSize(8192n)).toBe('4.00m');
    expect(humanSize(2731n)).toBe('1.33m');
    expect(humanSize(1n << 55n)).toBe('0b');
    expect(humanSize((1n << 64n) - 1n)).toBe('16.00e');
  });
  it("printf's %.2f rounds exact ties to even, where toFixed rounds them up", () => {
    expect(cFixed(0.125, 2)).toBe('0.12');
    expect((0.125).toFixed(2)).toBe('0.13');
    expect(cFixed(0.375, 2)).toBe('0.38');
    expect(cFixed(1.005, 2)).toBe('1.00');
    expect(cFixed(10.75, 2)).toBe('10.75');
    expect(cFixed(0, 6)).toBe('0.000000');
  });
});
