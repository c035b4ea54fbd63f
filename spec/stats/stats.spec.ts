import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper, DmStats, statsMetrics, parseAuxData, buildAuxData, formatRegionList, parseRegionList, parseHistogramBounds, histogramToString, HISTOGRAM_FLAGS, UNBOUNDED_NS, parseStatsList, DmArgumentError } from '../../lib/index.js';
import type { StatsCounters } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const counters = (o: Partial<Record<keyof StatsCounters, bigint>>): StatsCounters => ({
  reads: 0n, readsMerged: 0n, readSectors: 0n, readNs: 0n, writes: 0n, writesMerged: 0n, writeSectors: 0n, writeNs: 0n,
  ioInProgress: 0n, ioNs: 0n, weightedIoNs: 0n, totalReadNs: 0n, totalWriteNs: 0n, ...o,
});

describe('libdm derived metrics (hand-computed from libdm-stats.c)', () => {
  const c = counters({ reads: 100n, readsMerged: 10n, readSectors: 800n, readNs: 200_000_000n, writes: 50n, writesMerged: 5n, writeSectors: 400n, writeNs: 100_000_000n, ioNs: 500_000_000n, weightedIoNs: 1_500_000_000n });
  const m = statsMetrics(c, 1000);
  it('per-second rates', () => {
    expect(m.readsPerSec).toBe(100);
    expect(m.writesPerSec).toBe(50);
    expect(m.readSectorsPerSec).toBe(800);
    expect(m.writeSectorsPerSec).toBe(400);
    expect(m.throughputPerSec).toBe(150);
  });
  it('merges per second keep libdm\'s missing ×10⁹ (merges / interval in ns)', () => {
    expect(m.readMergesPerSec).toBe(10 / 1e9);
    expect(m.writeMergesPerSec).toBe(5 / 1e9);
  });
  it('request size, queue, waits and utilisation', () => {
    expect(m.averageRequestSectors).toBe(8);
    expect(m.averageQueueDepth).toBe(1.5);
    expect(m.averageWaitMs).toBe(2);
    expect(m.averageReadWaitMs).toBe(2);
    expect(m.averageWriteWaitMs).toBe(2);
    expect(m.utilization).toBe(0.5);
  });
  it('service time: the utilisation truncated to an integer percent, through dm_percent_to_float', () => {
    // util 50% -> (int32)50 -> 50 / DM_PERCENT_1 as float; svctm = 1e9 * that / (100 * 150).
    expect(m.serviceTimeMs).toBe((1e9 * Math.fround(50 / 1e6)) / 15000 / 1e6);
    expect(statsMetrics(counters({ ioNs: 5n }), 1000).serviceTimeMs).toBe(0);
  });
  it('utilisation is capped at the interval; zero counters give zeros', () => {
    expect(statsMetrics(counters({ ioNs: 3_000_000_000n }), 1000).utilization).toBe(1);
    const z = statsMetrics(counters({}), 1000);
    expect([z.averageRequestSectors, z.averageWaitMs, z.averageReadWaitMs, z.averageWriteWaitMs, z.averageQueueDepth]).toEqual([0, 0, 0, 0, 0]);
    expect(() => statsMetrics(c, 0)).toThrow(DmArgumentError);
  });
});

describe('aux_data and group descriptors', () => {
  it('reads a descriptor dmstats wrote', () => {
    expect(parseAuxData('DMS_GROUP=vol:0-2,5#-')).toEqual({ group: { alias: 'vol', members: [0, 1, 2, 5] }, userData: '' });
    expect(parseAuxData('DMS_GROUP=:3#mine')).toEqual({ group: { alias: '', members: [3] }, userData: 'mine' });
    expect(parseAuxData('-')).toEqual({ userData: '' });
    expect(parseAuxData('plain')).toEqual({ userData: 'plain' });
    expect(parseAuxData('DMS_GROUP=broken')).toMatchObject({ malformed: true });
  });
  it('writes what libdm writes, and reads it back', () => {
    expect(buildAuxData('', { alias: 'vol', members: [0, 1, 2, 5] })).toBe('DMS_GROUP=vol:0-2,5#-');
    expect(buildAuxData('u', { alias: '', members: [4, 6, 7] })).toBe('DMS_GROUP=:4,6-7#u');
    expect(buildAuxData('')).toBe('-');
    for (const [user, alias, members] of [['', 'a', [1, 2, 3]], ['data', 'my vol', [0, 4]], ['x\\y', '', [7]]] as const) {
      const word = buildAuxData(user, { alias, members });
      // The kernel's argument splitter removes the escapes before storing the word.
      const stored = word.replace(/\\(.)/g, '$1');
      expect(parseAuxData(stored)).toEqual({ group: { alias, members }, userData: user });
    }
  });
  it('region lists in range notation', () => {
    expect(formatRegionList([5, 0, 1, 2, 9, 10])).toBe('0-2,5,9-10');
    expect(parseRegionList('0-2,5,9-10')).toEqual([0, 1, 2, 5, 9, 10]);
    expect(() => parseRegionList('1,,2')).toThrow(DmArgumentError);
    expect(() => buildAuxData('a\nb')).toThrow(DmArgumentError);
  });
});

describe('histogram bounds as dmstats parses and prints them', () => {
  it('units ns/us/ms/s, and a suffix stays in force as in libdm', () => {
    expect(parseHistogramBounds('1ms,2ms,1s')).toEqual([1_000_000n, 2_000_000n, 1_000_000_000n]);
    expect(parseHistogramBounds('10us,20')).toEqual([10_000n, 20_000n]);
    expect(parseHistogramBounds('500ns')).toEqual([500n]);
    expect(parseHistogramBounds('5')).toEqual([5n]);
    expect(() => parseHistogramBounds('1ms,,2ms')).toThrow(DmArgumentError);
    expect(() => parseHistogramBounds('1xs')).toThrow(DmArgumentError);
  });
  it('strings', () => {
    const bins = [{ upperNs: 1_000_000n, count: 3n }, { upperNs: 2_000_000n, count: 1n }, { upperNs: UNBOUNDED_NS, count: 0n }];
    expect(histogramToString(bins, 0, HISTOGRAM_FLAGS.boundsLower | HISTOGRAM_FLAGS.suffix)).toBe('0s,1ms,2ms');
    expect(histogramToString(bins, -1, HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsLower | HISTOGRAM_FLAGS.suffix)).toBe('0s:3:1ms:1:2ms:0');
    expect(histogramToString(bins, -1, HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsRange | HISTOGRAM_FLAGS.suffix)).toBe('0s-1ms:3:1ms-2ms:1:>2ms:0');
  });
});

describe('DmStats on the simulator', () => {
  let kernel: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'vol', uuid: 'VOL-1', table: [{ start: 0, length: 1000, type: 'zero', params: '' }, { start: 1000, length: 1000, type: 'zero', params: '' }] });
  });
  afterEach(async () => { await dm.close(); });

  it('creates regions with the message libdm sends and lists them back', async () => {
    expect(DmStats.createMessage({ programId: 'dmstats' })).toBe('@stats_create - /1 dmstats -');
    expect(DmStats.createMessage({ programId: 'p', startSectors: 8, lengthSectors: 100, areaLengthSectors: 10, histogramBounds: '10us,1ms', userData: 'a b' }))
      .toBe('@stats_create 8+100 10 2 precise_timestamps histogram:10000,1000000 p a\\ b');
    const st = await DmStats.open(dm, 'vol');
    expect(st.uuid).toBe('VOL-1');
    expect(await st.createRegion({ areas: 4 })).toBe(0);
    expect(await st.createRegion({ startSectors: 100, lengthSectors: 50, histogramBounds: '1ms,2ms', userData: 'hello world' })).toBe(1);
    const l = await st.list();
    expect(l.regions).toEqual([
      expect.objectContaining({ regionId: 0, startSectors: 0n, lengthSectors: 2000n, areaLengthSectors: 500n, areaCount: 4, programId: 'dmstats', userData: '', precise: false, groupId: undefined }),
      expect.objectContaining({ regionId: 1, startSectors: 100n, lengthSectors: 50n, userData: 'hello world', histogramBoundsNs: [1_000_000n, 2_000_000n] }),
    ]);
    expect((await st.list({ programId: 'other' })).regions).toEqual([]);
  });

  it('groups: segments, aliases, deleting members and leaders', async () => {
    const st = await DmStats.open(dm, { name: 'vol' });
    expect(await st.createSegmentRegions({ alias: 'segs' })).toEqual([0, 1]);
    expect((await st.list()).groups).toEqual([{ groupId: 0, alias: 'segs', members: [0, 1] }]);
    expect(await dm.message('vol', 0, '@stats_list')).toBe('0: 0+1000 1000 dmstats DMS_GROUP=segs:0-1#-\n1: 1000+1000 1000 dmstats -\n');
    await st.setAlias(0, 'renamed');
    await st.setUserData(0, 'mine');
    expect(await dm.message('vol', 0, '@stats_list')).toContain('0: 0+1000 1000 dmstats DMS_GROUP=renamed:0-1#mine\n');
    await st.deleteRegion(1);
    expect((await st.list()).groups).toEqual([{ groupId: 0, alias: 'renamed', members: [0] }]);
    await st.createRegion();
    await st.createGroup([1], { alias: 'two' });
    await st.deleteGroup(1);
    expect((await st.list()).groups.map((g) => g.groupId)).toEqual([0]);
    await st.deleteGroup(0, { removeRegions: true });
    expect((await st.list()).regions.map((r) => r.regionId)).toEqual([1]);
    await expect(st.deleteRegion(7)).rejects.toMatchObject({ code: 'ENXIO' });
  });

  it('counts simulated I/O per area and clears on sample', async () => {
    const st = await DmStats.open(dm, 'vol');
    await st.createRegion({ areas: 2 });
    kernel.simulateIo('vol', { direction: 'read', startSectors: 990, lengthSectors: 20, durationMs: 3 });
    kernel.simulateIo('vol', { direction: 'write', startSectors: 0, lengthSectors: 8 });
    expect(await st.print(0)).toBe('0+1000 1 0 10 3 1 0 8 0 0 3 3 3 0\n1000+1000 1 0 10 3 0 0 0 0 0 3 3 3 0\n');
    const s = await st.sample();
    expect(s.regions[0]!.areas[0]!.counters).toMatchObject({ reads: 1n, readSectors: 10n, readNs: 3_000_000n, writes: 1n, writeSectors: 8n });
    expect(await st.print(0)).toBe('0+1000 0 0 0 0 0 0 0 0 0 0 0 0 0\n1000+1000 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
  });

  it('the kernel\'s grammar and errors', async () => {
    const msg = (m: string) => dm.message('vol', 0, m);
    await expect(msg('@stats_create 0+0 /1')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - /0')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 1 bogus')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 1 histogram:5,3')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_create - 8 p a extra')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(msg('@stats_delete 3')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(msg('@stats_print x')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await msg('@stats_create - 600 1 precise_timestamps')).toBe('0');
    expect(await msg('@stats_print 0 2 1')).toBe('1200+600 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
    expect(await msg('@stats_list')).toBe('0: 0+2000 600 - - precise_timestamps\n');
    expect(parseStatsList('0: 0+2000 600 - - precise_timestamps\n')[0]).toMatchObject({ programId: '', auxData: '', precise: true });
  });

  it('refuses bad input before any ioctl', async () => {
    const st = await DmStats.open(dm, 'vol');
    await expect(st.createRegion({ areas: 0 })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(st.createRegion({ areas: 2, areaLengthSectors: 8 })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(st.createRegion({ histogramBounds: '2ms,1ms' })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(st.createGroup([0], { alias: 'a:b' })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(DmStats.open(dm, 'vol', { programId: 'two words' })).rejects.toBeInstanceOf(DmArgumentError);
  });
});
