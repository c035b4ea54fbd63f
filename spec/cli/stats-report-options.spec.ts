import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { run } from '../../cli/index.js';
import { cliEnv } from './harness.js';
import { parseDisplayUnits, sizeToString } from '../../cli/stats-report.js';

// dmstats needs device-mapper, which this host's unprivileged tests cannot reach: the expected
// strings are built from libdevmapper 1.02.185's C formats (dm_units_to_factor and
// dm_size_to_string in libdm-string.c, show_units() and _report_init in dmsetup.c).
describe('dmstats --units (dm_units_to_factor, dm_size_to_string)', () => {
  const size = (sectors: bigint, units: string) => sizeToString(sectors, parseDisplayUnits(units)!);

  it('parses a unit letter, an optional number before it (custom units), and ignores what follows', () => {
    expect(parseDisplayUnits('m')).toEqual({ type: 'm', factor: 1048576n });
    expect(parseDisplayUnits('M')).toEqual({ type: 'M', factor: 1000000n });
    expect(parseDisplayUnits('s')).toEqual({ type: 's', factor: 512n });
    expect(parseDisplayUnits('h')).toEqual({ type: 'h', factor: 1n });
    expect(parseDisplayUnits('mx')).toEqual({ type: 'm', factor: 1048576n });
    expect(parseDisplayUnits('2k')).toEqual({ type: 'U', factor: 2048n });
    expect(parseDisplayUnits('1.5k')).toEqual({ type: 'U', factor: 1536n });
    // libdm returns 0 for these: dmsetup says "Invalid --units argument."
    for (const bad of ['', 'x', 'u', '2', '-1k']) expect(parseDisplayUnits(bad)).toBeUndefined();
  });

  it('a fixed unit divides by its factor, "%.2f" (no decimals for b, B, s, S) and no suffix', () => {
    expect(size(2048n, 'm')).toBe('1.00');
    expect(size(3n, 'k')).toBe('1.50');
    expect(size(2048n, 'M')).toBe('1.05');
    expect(size(2048n, 'K')).toBe('1048.58');
    expect(size(2048n, 's')).toBe('2048');
    expect(size(2048n, 'S')).toBe('2048');
    expect(size(2048n, 'b')).toBe('1048576');
    expect(size(2048n, 'B')).toBe('1048576');
    expect(size(4n, 'g')).toBe('0.00');
    expect(size(2048n, '2k')).toBe('512.00');
    expect(size(1n, '1.5k')).toBe('0.33');
    expect(size(0n, 'm')).toBe('0');
  });

  it('h and H choose the largest unit reached and always print its letter; r and R mark a rounded value with <', () => {
    expect(size(2048n, 'h')).toBe('1.00m');
    expect(size(2048n, 'H')).toBe('1.05M');
    expect(size(1n, 'H')).toBe('512B');
    expect(size(1n, 'h')).toBe('512b');
    expect(size(0n, 'H')).toBe('0');
    // 2043 MiB is 1.9951 GiB: "%.2f" shows 2.00, which overstates it.
    expect(size(2043n * 2048n, 'r')).toBe('<2.00g');
    expect(size(2043n * 2048n, 'h')).toBe('2.00g');
    expect(size(2048n, 'r')).toBe('1.00m');
  });
});

describe('dmctl stats list|report report options (on the simulator)', () => {
  let kernel: SimulatedKernel;
  let setup: DeviceMapper;
  let env: ReturnType<typeof cliEnv>;
  const dmctl = (...args: string[]) => env.dmctl(args);
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    env = cliEnv(kernel);
    setup = await DeviceMapper.open({ backend: kernel.backend() });
    await setup.createDevice({ name: 'sv', table: [{ start: 0, length: 2048, type: 'zero', params: '' }] });
    await dmctl('stats', 'create', 'sv');
    await dmctl('stats', 'create', 'sv', '--areas', '4', '--start', '0', '--length', '512', '--bounds', '1ms,10ms');
  });
  afterEach(async () => { await setup.close(); env.cleanup(); });

  it('--units: sizes in the unit, without a suffix (show_units() is 0 for a string option); --nosuffix changes nothing', async () => {
    const o = ['-o', 'region_id,region_start,region_len,area_len'];
    expect((await dmctl('stats', 'list', 'sv', '--units', 's', ...o)).stdout).toBe('RgID RgStart RgSize ArSize\n   0       0   2048   2048\n   1       0    512    128\n');
    const k = await dmctl('stats', 'list', 'sv', '--units', 'k', ...o);
    expect(k.stdout).toBe('RgID RgStart RgSize  ArSize \n   0       0 1024.00 1024.00\n   1       0  256.00   64.00\n');
    expect((await dmctl('stats', 'list', 'sv', '--units', 'k', '--nosuffix', ...o)).stdout).toBe(k.stdout);
    expect(await dmctl('stats', 'list', 'sv', '--units', 'x')).toMatchObject({ code: 1, stdout: '', stderr: 'Invalid --units argument.\n' });
  });

  it('-O/--sort and -S/--select through the report engine (region_ prefix optional in list)', async () => {
    expect((await dmctl('stats', 'list', 'sv', '-O', '-region_id', '-o', 'region_id,area_count')).stdout).toBe('RgID #Areas\n   1      4\n   0      1\n');
    expect((await dmctl('stats', 'list', 'sv', '--sort', 'area_len', '-o', 'region_id')).stdout).toBe('RgID\n   1\n   0\n');
    // A size selection: 300k is 600 sectors; region 1 is 512.
    expect((await dmctl('stats', 'list', 'sv', '-S', 'region_len>300k', '-o', 'region_id,region_len')).stdout).toBe('RgID RgSize\n   0  1.00m\n');
    expect((await dmctl('stats', 'list', 'sv', '-S', 'id=1', '-o', 'region_id')).stdout).toBe('RgID\n   1\n');
    expect((await dmctl('stats', 'list', 'sv', '--select', 'hist_bins=3 || program_id=x', '-o', 'region_id')).stdout).toBe('RgID\n   1\n');
    // report: areas first, then the region of more than one area; no prefix may be left out there.
    expect((await dmctl('stats', 'report', 'sv', '-S', 'obj_type=region', '-o', 'region_id,obj_type')).stdout).toBe('RgID ObjType\n   1 region \n');
    const bad = await dmctl('stats', 'report', 'sv', '-S', 'id=1', '-o', 'region_id');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\nUnrecognised selection field: id\nSelection syntax error at 'id=1'.\n/);
    const unknown = await dmctl('stats', 'list', 'sv', '-O', 'bogus');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\ndm_report: Unrecognised field: bogus\n$/);
  });

  it('--nameprefixes, --rows, --separator, --noheadings, --unquoted', async () => {
    expect((await dmctl('stats', 'list', 'sv', '--nameprefixes', '-o', 'stats_name,region_id,region_len')).stdout)
      .toBe("Name RgID RgSize\nDM_STATS_NAME='sv' DM_REGION_ID='0' DM_REGION_LEN='1.00m'\nDM_STATS_NAME='sv' DM_REGION_ID='1' DM_REGION_LEN='256.00k'\n");
    expect((await dmctl('stats', 'list', 'sv', '--nameprefixes', '--unquoted', '--noheadings', '-o', 'region_id')).stdout).toBe('DM_REGION_ID=0\nDM_REGION_ID=1\n');
    expect((await dmctl('stats', 'list', 'sv', '--rows', '-o', 'stats_name,region_id')).stdout).toBe('Name sv sv\nRgID 0 1\n');
    expect((await dmctl('stats', 'list', 'sv', '--separator', ',', '-o', 'stats_name,region_id,area_len')).stdout).toBe('Name,RgID,ArSize\nsv,0,1.00m\nsv,1,64.00k\n');
    expect((await dmctl('stats', 'list', 'sv', '--separator', '-', '--noheadings', '-o', 'region_id,area_count')).stdout).toBe('0-1\n1-4\n');
  });

  it("the device's task and info fields on every row, as dmsetup's stats objects carry them; deps fields have no data", async () => {
    const info = await setup.info('sv');
    if (!info.exists) throw new Error('no sv');
    expect((await dmctl('stats', 'list', 'sv', '-o', 'name,region_id,major,minor', '-S', 'name=sv && region_id=1')).stdout)
      .toBe(`Name             RgID Maj Min\nsv                  1 ${String(info.dev.major).padStart(3)} ${String(info.dev.minor).padStart(3)}\n`);
    expect(await dmctl('stats', 'list', 'sv', '-o', 'device_count')).toMatchObject({ code: 1, stderr: '_do_report_object: no data assigned to field device_count\nCommand failed.\n' });
  });

  it('--notimesuffix: histogram bounds in plain nanoseconds', async () => {
    expect((await dmctl('stats', 'list', 'sv', '-S', 'id=1', '-o', 'hist_bounds,hist_ranges')).stdout).toBe('Histogram Bounds Histogram Ranges     \n0s,1ms,10ms      0s-1ms,1ms-10ms,>10ms\n');
    expect((await dmctl('stats', 'list', 'sv', '-S', 'id=1', '-o', 'hist_bounds', '--notimesuffix')).stdout).toBe('Histogram Bounds  \n0,1000000,10000000\n');
  });

  it('--json keeps the selected rows in sort order', async () => {
    const doc = JSON.parse((await dmctl('stats', 'list', 'sv', '--json', '-O', '-region_id', '-o', 'region_id,region_len', '--units', 's')).stdout);
    expect(doc).toEqual({ schemaVersion: 3, fields: ['region_id', 'region_len'], rows: [{ region_id: '1', region_len: '512' }, { region_id: '0', region_len: '2048' }] });
  });
});

describe('dmctl stats report --interval/--count (repeating reports)', () => {
  let kernel: SimulatedKernel;
  let setup: DeviceMapper;
  const dmctl = async (onStdout: (n: number) => void, ...args: string[]) => {
    let stdout = '';
    let stderr = '';
    let n = 0;
    const code = await run(args, { open: () => DeviceMapper.open({ backend: kernel.backend() }), stdout: (t) => { stdout += t; onStdout(n++); }, stderr: (t) => { stderr += t; }, stdinIsTTY: true, env: {}, nodes: false });
    return { code, stdout, stderr };
  };
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    setup = await DeviceMapper.open({ backend: kernel.backend() });
    await setup.createDevice({ name: 'sv', table: [{ start: 0, length: 2048, type: 'zero', params: '' }] });
    await dmctl(() => {}, 'stats', 'create', 'sv');
    await dmctl(() => {}, 'stats', 'create', 'sv', '--areas', '2', '--start', '0', '--length', '512');
  });
  afterEach(async () => { await setup.close(); });

  it('--count 2: two reports, headings each time, a blank line between; each interval counts from the last (print_clear)', async () => {
    const report = (rows: string) => `Name             RgID ObjType ArID #Reads\n${rows}`;
    const r = await dmctl((n) => {
      // I/O between the first report and the second.
      if (n === 0) kernel.simulateIo('sv', { direction: 'read', startSectors: 0, lengthSectors: 8, durationMs: 2 });
    }, 'stats', 'report', 'sv', '--interval', '0', '--count', '2', '-o', 'stats_name,region_id,obj_type,area_id,read_count');
    expect(r).toEqual({
      code: 0, stderr: '',
      stdout: report('sv                  0 area       0      0\nsv                  1 area       0      0\nsv                  1 area       1      0\nsv                  1 region     0      0\n')
        + '\n'
        + report('sv                  0 area       0      1\nsv                  1 area       0      1\nsv                  1 area       1      0\nsv                  1 region     0      1\n'),
    });
    // A third report sees nothing new.
    const three = await dmctl(() => {}, 'stats', 'report', 'sv', '--interval', '0', '--count', '3', '-o', 'read_count', '-S', 'read_count>0');
    expect(three).toEqual({ code: 0, stderr: '', stdout: '\n\n' });
    // --count 1 is the one-shot report; --noheadings prints no headings when repeating either.
    expect((await dmctl(() => {}, 'stats', 'report', 'sv', '--count', '1', '-o', 'area_id', '--region')).stdout).toBe('ArID\n   0\n   0\n');
    expect((await dmctl(() => {}, 'stats', 'report', 'sv', '--interval', '0', '--count', '2', '-o', 'area_id', '--region', '--noheadings')).stdout).toBe('0\n0\n\n0\n0\n');
  });

  it('repeated --separator and aligned reports', async () => {
    const r = await dmctl((n) => {
      if (n === 0) for (let i = 0; i < 12; i++) kernel.simulateIo('sv', { direction: 'read', startSectors: 0, lengthSectors: 8, durationMs: 1 });
    }, 'stats', 'report', 'sv', '--interval', '0', '--count', '2', '--region', '-o', 'region_id,read_count', '--separator', '|');
    // Unaligned (--separator): nothing to cut.
    expect(r.stdout).toBe('RgID|#Reads\n0|0\n1|0\n\nRgID|#Reads\n0|12\n1|12\n');
    const aligned = await dmctl((n) => {
      if (n === 0) kernel.simulateIo('sv', { direction: 'read', startSectors: 0, lengthSectors: 8, durationMs: 1 });
    }, 'stats', 'report', 'sv', '--interval', '0', '--count', '2', '--region', '-o', 'region_id,read_count');
    expect(aligned.stdout).toBe('RgID #Reads\n   0      0\n   1      0\n\nRgID #Reads\n   0      1\n   1      1\n');
  });

  it('--interval without --count repeats until SIGINT, which ends it as dmstats\' interrupted wait', async () => {
    const before = process.listeners('SIGINT');
    const started = Date.now();
    const r = await dmctl((n) => {
      // The report's blank line comes just before the wait starts listening.
      if (n === 1) setTimeout(() => { for (const l of process.listeners('SIGINT').filter((x) => !before.includes(x))) (l as () => void)(); }, 20);
    }, 'stats', 'report', 'sv', '--interval', '5', '-o', 'region_id', '--region');
    expect(r).toEqual({ code: 1, stdout: 'RgID\n   0\n   1\n\n', stderr: 'Report interval interrupted by signal.\n' });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(process.listeners('SIGINT')).toEqual(before);
  });
});

describe('the report engine across repeated outputs (dm_report_column_headings, dm_report_output)', () => {
  it('keeps the widths computed at the first output and cuts longer values ("%-*.*s"), as libdm clears RH_FIELD_CALC_NEEDED once', async () => {
    const { Report } = await import('../../cli/report/render.js');
    const r = new Report({ defaults: 'stats_name,region_id', baseTypes: ['stats', 'stats_meta'] });
    const row = (name: string, id: bigint) => (f: { id: string }) => (f.id === 'stats_name' ? { text: name, sort: name } : { text: String(id), sort: id });
    r.add(row('short', 1n));
    expect(r.columnHeadings() + r.output()).toBe('Name             RgID\nshort               1\n');
    r.add(row('a-much-longer-name-than-16', 123456n));
    expect(r.isEmpty).toBe(false);
    expect(r.columnHeadings() + r.output()).toBe('Name             RgID\na-much-longer-na 1234\n');
    expect(r.isEmpty).toBe(true);
  });
});
