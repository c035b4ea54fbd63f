// clone, ebs and vdo beyond the shared cases (cases.ts): their input checks, message builders,
// the vdo stats parser on the kernel's format and on hostile text, target version needs, and
// the simulated targets' refusals, messages and status shapes.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DmError, DmTargetError, DmTargetParseError, buildTarget, checkTargetVersion, cloneMessage, createTypedDevice, parseStatus, parseTarget, normalise,
  parseVdoStats, targetVersionNeed, vdoMessage, type TypedTarget,
} from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const vdoLine = (o: Record<string, unknown> = {}): TypedTarget => ({
  start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', storageSizeBlocks: 65536, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380, ...o,
} as TypedTarget);
const cloneLine = (o: Record<string, unknown> = {}): TypedTarget => ({
  start: 0, length: 131072, type: 'clone', metadataDevice: '/dev/loop3', destinationDevice: '/dev/loop1', sourceDevice: '/dev/loop0', regionSizeSectors: 8, ...o,
} as TypedTarget);
const ebsLine = (o: Record<string, unknown> = {}): TypedTarget => ({ start: 0, length: 8192, type: 'ebs', device: '/dev/loop0', offsetSectors: 0, emulatedBlockSizeSectors: 8, ...o } as TypedTarget);

function thrown(fn: () => unknown): unknown {
  try { fn(); } catch (e) { return e; }
  throw new Error('did not throw');
}

describe('input checks (INVALID_INPUT before any syscall)', () => {
  test.each([
    ['clone region not a power of two', cloneLine({ regionSizeSectors: 24 }), 'regionSizeSectors'],
    ['clone region below 8', cloneLine({ regionSizeSectors: 4 }), 'regionSizeSectors'],
    ['clone region above 2^21', cloneLine({ regionSizeSectors: 1 << 22 }), 'regionSizeSectors'],
    ['clone negative threshold', cloneLine({ hydrationThreshold: -1 }), 'hydrationThreshold'],
    ['ebs emulated size not a power of two', ebsLine({ emulatedBlockSizeSectors: 3 }), 'emulatedBlockSizeSectors'],
    ['ebs offset off the underlying block size', ebsLine({ offsetSectors: 3, underlyingBlockSizeSectors: 2 }), 'offsetSectors'],
    ['vdo I/O size', vdoLine({ minimumIoSizeBytes: 1024 }), 'minimumIoSizeBytes'],
    ['vdo era length', vdoLine({ blockMapEraLengthBlocks: 16381 }), 'blockMapEraLengthBlocks'],
    ['vdo zones partly zero', vdoLine({ logicalThreads: 2 }), 'logicalThreads'],
    ['vdo cache too small for its logical zones', vdoLine({ blockMapCacheSizeBlocks: 8191, hashZoneThreads: 1, logicalThreads: 2, physicalThreads: 1 }), 'blockMapCacheSizeBlocks'],
    ['vdo 61 logical threads', vdoLine({ logicalThreads: 61, hashZoneThreads: 1, physicalThreads: 1, blockMapCacheSizeBlocks: 1 << 20 }), 'logicalThreads'],
    ['vdo maxDiscard 0', vdoLine({ maxDiscardBlocks: 0 }), 'maxDiscardBlocks'],
    ['vdo V0 with a storage size', vdoLine({ legacy: { version: 0, readCache: ['disabled', '0'], raid5Mode: 'on', writePolicy: 'auto', poolName: 'p', threadConfig: '.' } }), 'storageSizeBlocks'],
    ['vdo V4 without a storage size', vdoLine({ storageSizeBlocks: undefined }), 'storageSizeBlocks'],
    ['vdo V2 without its pool name', vdoLine({ legacy: { version: 2, raid5Mode: 'on', writePolicy: 'auto' } }), 'legacy.poolName'],
    ['vdo V3 with a V2 word', vdoLine({ legacy: { version: 3, writePolicy: 'auto', raid5Mode: 'on' } }), 'legacy.raid5Mode'],
    ['vdo V1 with key/value options', vdoLine({ compression: true, legacy: { version: 1, readCache: ['enabled', '1'], raid5Mode: 'on', writePolicy: 'auto', poolName: 'p', threadConfig: '.' } }), 'legacy.version'],
    ['vdo legacy word with a blank', vdoLine({ legacy: { version: 3, writePolicy: 'a b' } }), 'legacy.writePolicy'],
  ])('%s', (_n, line, field) => {
    const e = thrown(() => buildTarget(line));
    expect(e).toBeInstanceOf(DmTargetError);
    expect(e).toMatchObject({ code: 'INVALID_INPUT', target: line.type, field });
  });
});

describe('vdo table versions the kernel accepts (V0–V4: get_version_number, REQUIRED_ARGC)', () => {
  const parse = (params: string) => parseTarget({ start: 0, length: 2097152, type: 'vdo', params });
  test('each version\'s word count: V0 and V1 exactly (10, 12), V2–V4 at least (9, 7, 6); V5 and V0.5 are refused', () => {
    for (const params of [
      'V5 7:2 65536 4096 32768 16380',
      'V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1',
      'V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 . extra',
      '7:2 4096 disabled 0 32768 16380 on auto vdo0',
      'V2 7:2 65536 4096 32768 16380 on auto',
      'V3 7:2 65536 4096 32768 16380',
      'V2 7:2 65536 4096 32768 16380 on auto vdo2 maxDiscard',
      'V0 7:2 4096 disabled 0 32768 16380 on auto vdo0 .',
    ]) {
      expect({ params, e: thrown(() => parse(params)) }).toEqual({ params, e: expect.any(DmTargetParseError) });
    }
  });
  test('a V0/V1 thread word: its known counts read into the thread fields, unknown keys ignored (as the kernel), bad form refused', () => {
    const p = parse('V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 cpu=3,future=9,logical=2,physical=2,hash=2') as Record<string, unknown>;
    expect(p).toMatchObject({ cpuThreads: 3, logicalThreads: 2, physicalThreads: 2, hashZoneThreads: 2, storageSizeBlocks: 65536n });
    expect(p).not.toHaveProperty('future');
    expect(buildTarget({ start: 0, length: 2097152, type: 'vdo', ...p } as TypedTarget).params).toBe('V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 cpu=3,future=9,logical=2,physical=2,hash=2');
    expect(thrown(() => parse('V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 cpu'))).toMatchObject({ field: 'threadConfig' });
    expect(parse('7:2 4096 disabled 0 32768 16380 on auto vdo0 .')).not.toHaveProperty('storageSizeBlocks');
  });
});

describe('integrity modes: normalise follows the kernel version', () => {
  test('journal_sectors outside mode J: kept for dm 4.47/4.48, dropped for 4.50 (7.3)', () => {
    const d: TypedTarget = { start: 0, length: 8192, type: 'integrity', device: '7:3', offsetSectors: 0, tagSizeBytes: 4, mode: 'D', journalSectors: 880 };
    expect(normalise(d, { kernel: [4, 48, 0] })).toMatchObject({ journalSectors: 880, interleaveSectors: 32768, bufferSectors: 128 });
    expect(normalise(d, { kernel: [4, 50, 0] })).not.toHaveProperty('journalSectors');
    expect(normalise({ ...d, mode: 'J' }, { kernel: [4, 50, 0] })).toMatchObject({ journalSectors: 880, journalWatermarkPercent: 50 });
    expect(normalise({ ...d, mode: 'R' })).toMatchObject({ interleaveSectors: 32768, bufferSectors: 128 });
    expect(parseTarget({ start: 0, length: 8192, type: 'integrity', params: '7:3 0 4 D 3 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c' }))
      .toEqual(normalise({ ...d, internalHash: { algorithm: 'crc32c' } }, { kernel: [4, 50, 0] }));
  });
});

describe('message builders', () => {
  test('clone', () => {
    expect([cloneMessage.enableHydration(), cloneMessage.disableHydration(), cloneMessage.hydrationThreshold(0), cloneMessage.hydrationBatchSize(64)])
      .toEqual(['enable_hydration', 'disable_hydration', 'hydration_threshold 0', 'hydration_batch_size 64']);
    expect(thrown(() => cloneMessage.hydrationThreshold(-1))).toMatchObject({ code: 'INVALID_INPUT', target: 'clone' });
    expect(thrown(() => cloneMessage.hydrationBatchSize(1.5))).toMatchObject({ code: 'INVALID_INPUT' });
  });
  test('vdo', () => {
    expect([vdoMessage.stats(), vdoMessage.compression(true), vdoMessage.compression(false), vdoMessage.index('enable'), vdoMessage.dump(), vdoMessage.dump('queues', 'vdo'), vdoMessage.dumpOnShutdown()])
      .toEqual(['stats', 'compression on', 'compression off', 'index-enable', 'dump', 'dump queues vdo', 'dump-on-shutdown']);
    expect(thrown(() => vdoMessage.index('open' as 'enable'))).toMatchObject({ code: 'INVALID_INPUT', target: 'vdo' });
    expect(thrown(() => vdoMessage.dump('everything' as 'all'))).toMatchObject({ code: 'INVALID_INPUT', field: 'what[0]' });
    expect(thrown(() => vdoMessage.compression('on' as unknown as boolean))).toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('hostile table and status lines give typed parse errors', () => {
  test.each([
    ['clone', '7:3 7:1 7:0 8 1 hydrate'],
    ['clone', '7:3 7:1 7:0 8 0 3 hydration_threshold 1 x'],
    ['clone', '7:3 7:1 7:0 8 0 2 hydration_threshold 99999999999'],
    ['clone', '7:3 7:1 7:0 8 0 2 colour 1'],
    ['clone', '/dev/loop3 7:1 7:0 8'],
    ['ebs', '7:0 0 8 1 1'],
    ['ebs', '7:0 0 70000'],
    ['vdo', 'V2 7:2 65536 4096 32768 16380'],
    ['vdo', 'V4 7:2 65536 1024 32768 16380'],
    ['vdo', 'V4 7:2 65536 4096 32768 16380 maxDiscard'],
    ['vdo', 'V4 7:2 65536 4096 32768 16380 compression maybe'],
    ['vdo', 'V4 7:2 65536 4096 32768 16380 readCache 1'],
  ])('%s table %j', (type, params) => {
    expect(thrown(() => parseTarget({ start: 0, length: 8, type, params }))).toBeInstanceOf(DmTargetParseError);
  });

  test.each([
    ['clone', '8 14/2048 64 1024/1024 0 0 4 hydration_threshold 1 hydration_batch_size 1'],
    ['clone', '8 14/2048 64 1024/1024 0 0 4 hydration_threshold 1 hydration_batch_sizes 1 rw'],
    ['clone', '8 14/2048 64 1024/1024 0 0 3 hydration_threshold 1 hydration_batch_size rw'],
    ['clone', '8 14 64 1024/1024 0 0 4 hydration_threshold 1 hydration_batch_size 1 rw'],
    ['clone', '8 14/2048 64 1024/1024 0 0 4 hydration_threshold -1 hydration_batch_size 1 rw'],
    ['clone', '8 14/2048 64 1024/1024 0 0 4 hydration_threshold 1 hydration_batch_size 1 rx'],
    ['vdo', '/dev/loop2 normal - online offline 4128'],
    ['vdo', '/dev/loop2 sleeping - online offline 1 2'],
    ['vdo', '/dev/loop2 normal yes online offline 1 2'],
    ['vdo', '/dev/loop2 normal - online compressing 1 2'],
    ['vdo', '/dev/loop2 normal - online offline 1 99999999999999999999999'],
  ])('%s status %j', (type, params) => {
    expect(thrown(() => parseStatus({ start: 0, length: 8, type, params }))).toBeInstanceOf(DmTargetParseError);
  });

  test('clone status: a newer kernel\'s extra core args and trailing fields are kept, not fatal', () => {
    const s = parseStatus({ start: 0, length: 8, type: 'clone', params: '8 14/2048 64 1/1024 0 0 6 hydration_threshold 1 hydration_batch_size 1 future 3 rw more' });
    expect(s.status).toMatchObject({ hydrationThreshold: 1, hydrationBatchRegions: 1, metadataMode: 'rw', extra: ['more'] });
  });
});

/** A stats reply in the kernel's format, as the simulated vdo writes it. */
async function simStats(o: Record<string, unknown> = {}): Promise<string> {
  const kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop2', 7, 2, 1 << 20);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  try {
    await createTypedDevice(dm, { name: 'v', table: [vdoLine(o)] });
    return (await dm.message('v', 0, vdoMessage.stats())) ?? '';
  } finally {
    dm.close();
  }
}

describe('parseVdoStats', () => {
  test('the kernel\'s format: named fields typed, groups nested, values as bigint', async () => {
    const text = await simStats();
    const s = parseVdoStats(text);
    expect(s).toMatchObject({
      version: 36, dataBlocksUsed: 0n, physicalBlocks: 65536n, logicalBlocks: 262144n, blockMapCacheSizeBytes: 32768n * 4096n, blockSizeBytes: 4096n,
      mode: 'normal', inRecoveryMode: false, recoveryPercentage: 0, maxVIOs: 2048, logicalBlockSizeBytes: 4096n, extra: {},
    });
    expect(s.groups.journal).toEqual({ diskFull: 0n, slabJournalCommitsRequested: 0n, entries: { started: 0n, written: 0n, committed: 0n }, blocks: { started: 0n, written: 0n, committed: 0n } });
    expect(Object.keys(s.groups)).toHaveLength(24);
    expect(s.groups.biosIn).toEqual({ read: 0n, write: 0n, emptyFlush: 0n, discard: 0n, flush: 0n, fua: 0n });
  });

  test('a newer kernel\'s unknown scalar lands in extra; values keep their words', async () => {
    const text = (await simStats()).replace(/ }$/, ' futureCounter : 7, futureWord : yes, }');
    expect(parseVdoStats(text).extra).toEqual({ futureCounter: 7n, futureWord: 'yes' });
  });

  test('__proto__ is an ordinary key, never a prototype', async () => {
    const text = (await simStats()).replace('packer : {', 'packer : { __proto__ : 5, ');
    const s = parseVdoStats(text);
    expect(Object.getPrototypeOf(s.groups.packer)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(s.groups.packer, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).compressedBlocksWritten).toBeUndefined();
  });

  test.each([
    ['empty', ''],
    ['not braced', 'version : 36'],
    ['unterminated', '{ version : 36, '],
    ['trailing text', '{ version : 36, } x'],
    ['missing fields', '{ version : 36, }'],
    ['a key without a value', '{ version : , }'],
    ['a duplicate key', '{ version : 36, version : 36, }'],
    ['deep nesting', `{ a : ${'{ a : '.repeat(20)}1${' }'.repeat(20)} }`],
    ['a number where a word is named', '{ mode : 5, }'],
  ])('%s → DmTargetParseError', (_n, text) => {
    expect(thrown(() => parseVdoStats(text))).toBeInstanceOf(DmTargetParseError);
  });

  test('out-of-range and mistyped named fields → DmTargetParseError naming the field', async () => {
    const base = await simStats();
    for (const [from, to, field] of [
      ['version : 36', 'version : 4294967296', 'version'],
      ['inRecoveryMode : 0', 'inRecoveryMode : 2', 'inRecoveryMode'],
      ['mode : normal', 'mode : { x : 1, }', 'mode'],
      ['physicalBlocks : 65536', 'physicalBlocks : 99999999999999999999', 'physicalBlocks'],
      ['blockSize : 4096', 'blockSize : four', 'blockSize'],
    ] as const) {
      expect(base).toContain(from);
      const e = thrown(() => parseVdoStats(base.replace(from, to)));
      expect(e).toBeInstanceOf(DmTargetParseError);
      expect((e as Error).message).toContain(field);
    }
  });
});

describe('target version needs', () => {
  test('what each line needs, the newest requirement first', () => {
    expect(targetVersionNeed(vdoLine())).toEqual({ type: 'vdo', version: [9, 0, 0], feature: 'the in-tree vdo target' });
    expect(targetVersionNeed(cloneLine())?.version).toEqual([1, 0, 0]);
    expect(targetVersionNeed(ebsLine())?.version).toEqual([1, 0, 0]);
    const integrity = { start: 0, length: 8, type: 'integrity', device: '/dev/loop0', offsetSectors: 0, tagSizeBytes: 4 } as const;
    expect(targetVersionNeed({ ...integrity, mode: 'J' })).toBeUndefined();
    expect(targetVersionNeed({ ...integrity, mode: 'B' })?.version).toEqual([1, 3, 0]);
    expect(targetVersionNeed({ ...integrity, mode: 'J', sectorsPerBit: 8 })?.feature).toBe('mode B');
    expect(targetVersionNeed({ ...integrity, mode: 'I' })).toEqual({ type: 'integrity', version: [1, 12, 0], feature: 'mode I' });
    expect(targetVersionNeed({ start: 0, length: 8, type: 'zero' })).toBeUndefined();
  });

  test('checkTargetVersion: TARGET_VERSION when older, silent when equal or newer', () => {
    const inline: TypedTarget = { start: 0, length: 8, type: 'integrity', device: '/dev/loop0', offsetSectors: 0, tagSizeBytes: 4, mode: 'I' };
    const e = thrown(() => checkTargetVersion(inline, [1, 10, 0]));
    expect(e).toBeInstanceOf(DmTargetError);
    expect(e).toMatchObject({ code: 'TARGET_VERSION', target: 'integrity', message: expect.stringContaining('mode I needs target version 1.12.0') });
    expect(() => checkTargetVersion(inline, [1, 12, 0])).not.toThrow();
    expect(() => checkTargetVersion(inline, [2, 0, 0])).not.toThrow();
    expect(thrown(() => checkTargetVersion(vdoLine(), [8, 2, 1]))).toMatchObject({ code: 'TARGET_VERSION', target: 'vdo' });
    expect(() => checkTargetVersion(vdoLine(), [9, 0, 0])).not.toThrow();
    expect(thrown(() => checkTargetVersion(vdoLine(), [9, 0] as unknown as [number, number, number]))).toMatchObject({ code: 'INVALID_INPUT', field: 'version' });
  });
});

describe('the simulated clone, ebs and vdo', () => {
  let kernel: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => {
    kernel = new SimulatedKernel({ version: [4, 47, 0] });
    for (let i = 0; i < 8; i++) kernel.addBlockDevice(`/dev/loop${i}`, 7, i, 1 << 20);
    dm = await DeviceMapper.open({ backend: kernel.backend() });
  });
  afterEach(() => dm.close());

  test.each([
    ['clone', '/dev/loop3 /dev/loop1 /dev/loop0', 'clone: Invalid number of arguments'],
    ['clone', '/dev/loop3 /dev/loop1 /dev/loop0 12', 'clone: Region size is not a power of 2'],
    ['clone', '/dev/loop3 /dev/loop1 /dev/loop0 8 1 hydrate', 'clone: Invalid feature argument'],
    ['clone', '/dev/loop3 /dev/loop1 /dev/loop0 8 0 1 hydration_threshold', 'clone: Number of core arguments must be even'],
    ['clone', '/dev/loop3 /dev/loop1 /dev/loop0 8 0 2 hydration_threshold x', "clone: Invalid value for argument `hydration_threshold'"],
    ['ebs', '/dev/loop0 0', 'ebs: Invalid argument count'],
    ['ebs', '/dev/loop0 0 16', 'ebs: Invalid emulated block size'],
    ['ebs', '/dev/loop0 3 8 2', 'ebs: Device offset must be multiple of underlying block size'],
    ['vdo', 'V5 7:2 65536 4096 32768 16380', 'vdo: Unknown version number detected'],
    ['vdo', 'V4 7:2 65536 1024 32768 16380', 'vdo: Invalid logical block size'],
    ['vdo', 'V4 7:2 65536 4096 32768 16380 logical', 'vdo: Odd number of optional arguments given but they should be <key> <value> pairs'],
    ['vdo', 'V4 7:2 65536 4096 32768 16380 logical 1', 'vdo: Logical, physical, and hash zones counts must all be zero or all non-zero'],
  ])('%s %j is refused with EINVAL and the constructor\'s error', async (type, params, error) => {
    await dm.create({ name: 'bad' });
    const e = await dm.load('bad', [{ start: 0n, length: 2048n, type, params }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect(e).toMatchObject({ code: 'EINVAL' });
    expect((e as DmError).kernelLog).toContain(`device-mapper: table: 254:0: ${error}`);
  });

  test('clone: hydration messages change the status; an unknown message is EINVAL', async () => {
    await createTypedDevice(dm, { name: 'c', table: [cloneLine({ regionSizeSectors: 64, noHydration: true })] });
    const status = async () => parseStatus((await dm.status('c')).targets[0]!).status;
    expect(await status()).toMatchObject({ health: 'ok', hydratedRegions: 0n, totalRegions: 2048n, features: ['no_hydration'], hydrationThreshold: 1 });
    await dm.message('c', 0, cloneMessage.hydrationThreshold(16));
    await dm.message('c', 0, cloneMessage.enableHydration());
    expect(await status()).toMatchObject({ hydratedRegions: 2048n, features: [], hydrationThreshold: 16 });
    await expect(dm.message('c', 0, 'hydrate_now')).rejects.toMatchObject({ code: 'EINVAL' });
    expect((await dm.table('c')).targets[0]!.params).toBe('7:3 7:1 7:0 64 1 no_hydration');
  });

  test.each([
    [[4, 47, 0], 'D', '7:3 0 4 D 4 journal_sectors:880 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c'],
    [[4, 50, 0], 'D', '7:3 0 4 D 3 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c'],
    [[4, 50, 0], 'B', '7:3 0 4 B 5 interleave_sectors:32768 buffer_sectors:128 sectors_per_bit:32768 bitmap_flush_interval:10000 internal_hash:crc32c'],
    [[4, 50, 0], 'R', '7:3 0 4 R 3 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c'],
  ] as const)('integrity on dm %j, mode %s: the measured table text', async (version, mode, text) => {
    const k = new SimulatedKernel({ version: [...version] });
    k.addBlockDevice('/dev/loop3', 7, 3, 1 << 20);
    const d = await DeviceMapper.open({ backend: k.backend() });
    try {
      await createTypedDevice(d, { name: 'i', table: [{ start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode, journalSectors: 880, internalHash: { algorithm: 'crc32c' } }] });
      expect((await d.table('i')).targets[0]!.params).toBe(text);
    } finally {
      d.close();
    }
  });

  test('vdo: status, compression message, stats message', async () => {
    await createTypedDevice(dm, { name: 'v', table: [vdoLine({ deduplication: false })] });
    const status = async () => parseStatus((await dm.status('v')).targets[0]!).status;
    expect(await status()).toMatchObject({ device: '/dev/loop2', operatingMode: 'normal', inRecovery: false, indexState: 'closed', compressionState: 'offline', totalPhysicalBlocks: 65536n });
    await dm.message('v', 0, vdoMessage.compression(true));
    expect(await status()).toMatchObject({ compressionState: 'online' });
    expect(parseVdoStats((await dm.message('v', 0, vdoMessage.stats())) ?? '').physicalBlocks).toBe(65536n);
    await expect(dm.message('v', 0, 'grow')).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
