import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { run } from '../../cli/index.js';

describe('dmctl stats on the simulator (dmstats output)', () => {
  let kernel: SimulatedKernel;
  let setup: DeviceMapper;
  const dmctl = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await run(args, { open: () => DeviceMapper.open({ backend: kernel.backend() }), stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, stdinIsTTY: true, env: {}, nodes: false });
    return { code, stdout, stderr };
  };
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    setup = await DeviceMapper.open({ backend: kernel.backend() });
    await setup.createDevice({ name: 'sv', table: [{ start: 0, length: 1024, type: 'zero', params: '' }, { start: 1024, length: 1024, type: 'zero', params: '' }] });
  });
  afterEach(async () => { await setup.close(); });

  it('create, list, group, print, delete', async () => {
    expect(await dmctl('stats', 'create', 'sv')).toEqual({ code: 0, stdout: 'sv: Created new region with 1 area(s) as region ID 0\n', stderr: '' });
    expect((await dmctl('stats', 'create', 'sv', '--areas', '4', '--start', '0', '--length', '512')).stdout).toBe('sv: Created new region with 4 area(s) as region ID 1\n');
    expect((await dmctl('stats', 'create', 'sv', '--segments', '--alias', 'segs')).stdout)
      .toBe('sv: Created new region with 1 area(s) as region ID 2\nsv: Created new region with 1 area(s) as region ID 3\nGrouped regions 2,3 as group ID 2 with alias segs\n');
    expect(await setup.message('sv', 0, '@stats_list')).toBe('0: 0+2048 2048 dmstats -\n1: 0+512 128 dmstats -\n2: 0+1024 1024 dmstats DMS_GROUP=segs:2-3#-\n3: 1024+1024 1024 dmstats -\n');
    const list = await dmctl('stats', 'list', 'sv');
    expect(list.stdout).toBe([
      'Name             GrpID RgID ObjType RgStart RgSize #Areas ArSize ProgID ',
      'sv                   -    0 region        0   2048      1   2048 dmstats',
      'sv                   -    1 region        0    512      4    128 dmstats',
      'segs                 2    2 region        0   1024      1   1024 dmstats',
      'segs                 2    3 region     1024   1024      1   1024 dmstats',
      'segs                 2  2-3 group         0   2048      1   2048 dmstats',
      '',
    ].join('\n'));
    kernel.simulateIo('sv', { direction: 'read', startSectors: 0, lengthSectors: 8, durationMs: 2 });
    expect((await dmctl('stats', 'print', 'sv', '--regionid', '1')).stdout).toBe('0+128 1 0 8 2 0 0 0 0 0 2 2 2 0\n128+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n256+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n384+128 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
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
    expect(doc).toEqual({ schemaVersion: 3, fields: ['stats_name', 'group_id', 'region_id', 'obj_type', 'region_start', 'region_len', 'area_count', 'area_len', 'program_id'], rows: [expect.objectContaining({ stats_name: 'sv', region_id: '0', region_len: '2048' })] });
  });
});
