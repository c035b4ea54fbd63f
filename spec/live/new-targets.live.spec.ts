// clone, ebs, vdo and dm-integrity's other modes on the real kernel: each target is created on
// loop devices where the kernel has its module (the kernel loads it on the table load or the
// version query), its table and status read back through the typed parsers and compared with
// normalise(), and its messages exercised. A module the kernel cannot load is reported on
// stderr as a visible skip (and recorded), not failed.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  attachLoop, checkTargetVersion, cloneMessage, detachLoop, DeviceMapper, DmError, createTypedDevice, nodeResolver, normalise,
  parseStatus, parseTable, parseVdoStats, targetVersionNeed, vdoMessage,
  type ParsedStatus, type ParsedStatusOf, type TargetType, type TypedTarget,
} from '../../lib/index.js';
import type { Version } from '../../codec/index.js';
import { describeLiveOn, kernelLabel, recordLiveFact } from './live-env.js';

const MiB = 1024 * 1024;

describeLiveOn(['6.1', 'newest'], `clone, ebs, vdo, integrity modes [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let dir: string;
  const loops: string[] = [];
  const prefix = `dmts-nt-${process.pid}-`;
  let n = 0;
  const facts: Record<string, unknown> = {};
  // s0: 64 MiB clone source; d1: 64 MiB clone destination; m2: 8 MiB clone metadata; i3: 64 MiB ebs/integrity
  let s0: string, d1: string, m2: string, i3: string;

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-newtargets-'));
    for (const [i, mib] of [64, 64, 8, 64].entries()) {
      const file = path.join(dir, `l${i}.img`);
      fs.writeFileSync(file, '');
      fs.truncateSync(file, mib * MiB);
      loops.push((await attachLoop(file)).path);
    }
    [s0, d1, m2, i3] = loops as [string, string, string, string];
    const fd = fs.openSync(s0, 'r+');
    fs.writeSync(fd, Buffer.alloc(MiB, 0x5a), 0, MiB, 0);
    fs.closeSync(fd);
  });

  afterAll(async () => {
    for (const d of await dm.list({ namePrefix: prefix })) {
      if (d.name.startsWith(prefix)) await dm.removeDevice(d.name).catch(() => undefined);
    }
    dm.close();
    for (const l of loops) await detachLoop(l).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    recordLiveFact('newTargets', facts);
  });

  function zero(dev: string, bytes = MiB): void {
    const fd = fs.openSync(dev, 'r+');
    try {
      fs.writeSync(fd, Buffer.alloc(bytes), 0, bytes, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The target's version, or why the kernel has no such target (its module did not load). */
  async function moduleVersion(type: string): Promise<Version | string> {
    try {
      const v = await dm.getTargetVersion(type);
      facts[`${type}Version`] = v.join('.');
      return v;
    } catch (e) {
      const why = `no ${type} target in kernel ${kernelLabel} (${(e as { code?: string }).code ?? String(e)}: modprobe dm-${type} failed or the module is not built)`;
      facts[`${type}Skipped`] = why;
      process.stderr.write(`[live] skipping the ${type} checks: ${why}\n`);
      return why;
    }
  }

  async function create(table: TypedTarget[]) {
    const name = `${prefix}${n++}`;
    try {
      const info = await createTypedDevice(dm, { name, table });
      return { name, dev: info.dev };
    } catch (e) {
      if (e instanceof DmError) throw Object.assign(new Error(`${e.message}\nkernel log: ${(e.kernelLog ?? []).join(' | ')}`), { dmError: e });
      throw e;
    }
  }

  /**
   * Creates the device; records the kernel's table and status texts, then checks the round
   * trip, at once or (with `soft`) into a list the test checks at its end, so one run of a
   * slow VM records every line.
   */
  async function roundTrip(label: string, table: TypedTarget[], soft?: unknown[]) {
    const d = await create(table);
    const kernelTable = (await dm.table(d.name)).targets;
    const statusLines = (await dm.status(d.name)).targets;
    facts[`${label}Table`] = kernelTable.map((t) => t.params);
    facts[`${label}Status`] = statusLines.map((t) => t.params);
    const parsed = parseTable(kernelTable);
    // integrity's journal size depends on the device: taken from the kernel when not given.
    const expected = normalise(table, { resolve: nodeResolver, kernel: dm.kernelVersion }).map((e, i) => {
      const got = parsed[i] as { journalSectors?: number } | undefined;
      return e.type === 'integrity' && e.journalSectors === undefined && got?.journalSectors !== undefined ? { ...e, journalSectors: got.journalSectors } : e;
    });
    if (!soft) expect(parsed).toEqual(expected);
    else if (!isDeepStrictEqual(parsed, expected)) soft.push({ label, kernel: kernelTable[0]!.params, parsed, expected });
    return { ...d, status: statusLines.map(parseStatus), kernelTable };
  }

  const statusOf = <T extends TargetType>(s: ParsedStatus[], type: T): ParsedStatusOf<T>['status'] => {
    const x = s[0]!;
    expect(x.type).toBe(type);
    return (x as unknown as ParsedStatusOf<T>).status;
  };

  test('clone: table round trip, status fields, hydration messages', async () => {
    const v = await moduleVersion('clone');
    if (typeof v === 'string') return;
    expect(() => checkTargetVersion({ start: 0, length: 8, type: 'clone', metadataDevice: m2, destinationDevice: d1, sourceDevice: s0, regionSizeSectors: 8 }, v)).not.toThrow();
    zero(m2);
    const length = 65536;
    const c = await roundTrip('clone', [{ start: 0, length, type: 'clone', metadataDevice: m2, destinationDevice: d1, sourceDevice: s0, regionSizeSectors: 64, noHydration: true }]);
    const s = statusOf(c.status, 'clone');
    expect(s).toMatchObject({
      health: 'ok', metadataBlockSizeSectors: 8, regionSizeSectors: 64, totalRegions: BigInt(length / 64), hydratingRegions: 0,
      features: ['no_hydration'], hydrationThreshold: 1, hydrationBatchRegions: 1, metadataMode: 'rw', extra: [],
    });
    if (s.health === 'ok') expect(s.hydratedRegions).toBe(0n);
    await dm.message(c.name, 0, cloneMessage.hydrationThreshold(16));
    await dm.message(c.name, 0, cloneMessage.hydrationBatchSize(4));
    await dm.message(c.name, 0, cloneMessage.enableHydration());
    let after = statusOf((await dm.status(c.name)).targets.map(parseStatus), 'clone');
    expect(after).toMatchObject({ features: [], hydrationThreshold: 16, hydrationBatchRegions: 4 });
    for (let i = 0; i < 100 && after.health === 'ok' && after.hydratedRegions < after.totalRegions; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = statusOf((await dm.status(c.name)).targets.map(parseStatus), 'clone');
    }
    facts.cloneHydratedStatus = (await dm.status(c.name)).targets[0]!.params;
    expect(after).toMatchObject({ hydratedRegions: BigInt(length / 64) });
    await dm.message(c.name, 0, cloneMessage.disableHydration());
    expect(statusOf((await dm.status(c.name)).targets.map(parseStatus), 'clone')).toMatchObject({ features: ['no_hydration'] });
    await expect(dm.message(c.name, 0, 'hydration_threshold x')).rejects.toMatchObject({ code: 'EINVAL' });
    // The kernel's table is the constructor's words: messages do not change it.
    expect((await dm.table(c.name)).targets[0]!.params).toBe(c.kernelTable[0]!.params);
    await dm.removeDevice(c.name);

    zero(m2);
    const all = await roundTrip('cloneOptions', [{
      start: 0, length, type: 'clone', metadataDevice: m2, destinationDevice: d1, sourceDevice: s0, regionSizeSectors: 8,
      noHydration: true, noDiscardPassdown: true, hydrationThreshold: 2, hydrationBatchRegions: 8,
    }]);
    expect(statusOf(all.status, 'clone')).toMatchObject({ features: ['no_hydration', 'no_discard_passdown'], hydrationThreshold: 2, hydrationBatchRegions: 8, totalRegions: BigInt(length / 8) });
    await dm.removeDevice(all.name);
  });

  test('ebs: table round trip with and without the underlying block size; 4 KiB logical blocks', async () => {
    const v = await moduleVersion('ebs');
    if (typeof v === 'string') return;
    const a = await roundTrip('ebs', [{ start: 0, length: 8192, type: 'ebs', device: i3, offsetSectors: 0, emulatedBlockSizeSectors: 8 }]);
    expect(statusOf(a.status, 'ebs')).toEqual({ extra: [] });
    expect(fs.readFileSync(`/sys/dev/block/${a.dev.major}:${a.dev.minor}/queue/logical_block_size`, 'utf8').trim()).toBe('4096');
    await dm.removeDevice(a.name);
    const b = await roundTrip('ebsUnderlying', [{ start: 0, length: 8192, type: 'ebs', device: i3, offsetSectors: 16, emulatedBlockSizeSectors: 4, underlyingBlockSizeSectors: 2 }]);
    expect(fs.readFileSync(`/sys/dev/block/${b.dev.major}:${b.dev.minor}/queue/logical_block_size`, 'utf8').trim()).toBe('2048');
    await dm.removeDevice(b.name);
  });

  test('integrity: the D, B and R modes read back as normalise says; I is refused on a device without metadata', async () => {
    const v = await moduleVersion('integrity');
    if (typeof v === 'string') return;
    // The inline mode came with Linux 6.11 (integrity 1.12.0): 6.1 is older, 6.12 and newer have it.
    const inline: TypedTarget = { start: 0, length: 8, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'I', internalHash: { algorithm: 'crc32c' } };
    expect(targetVersionNeed(inline)?.version).toEqual([1, 12, 0]);
    if (kernelLabel === '6.1' || kernelLabel === '5.10') expect(() => checkTargetVersion(inline, v)).toThrow(expect.objectContaining({ code: 'TARGET_VERSION' }));
    if (kernelLabel === '6.12' || kernelLabel === 'newest') expect(() => checkTargetVersion(inline, v)).not.toThrow();

    const mismatches: unknown[] = [];
    zero(i3, 4 * MiB);
    const direct = await roundTrip('integrityD', [{ start: 0, length: 8192, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'D', internalHash: { algorithm: 'crc32c' } }], mismatches);
    expect(statusOf(direct.status, 'integrity')).toMatchObject({ mismatches: 0n, recalculatePosition: null });
    await dm.removeDevice(direct.name);

    zero(i3, 4 * MiB);
    const bitmap = await roundTrip('integrityB', [{ start: 0, length: 8192, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'B', internalHash: { algorithm: 'crc32c' } }], mismatches);
    expect(statusOf(bitmap.status, 'integrity')).toMatchObject({ mismatches: 0n });
    await dm.removeDevice(bitmap.name);
    const tuned = await roundTrip('integrityBTuned', [{ start: 0, length: 8192, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'B', sectorsPerBit: 8192, bitmapFlushIntervalMs: 5000, allowDiscards: true, internalHash: { algorithm: 'crc32c' } }], mismatches);
    await dm.removeDevice(tuned.name);

    // Recovery mode reads the formatted device without checking tags.
    const recovery = await roundTrip('integrityR', [{ start: 0, length: 8192, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'R', internalHash: { algorithm: 'crc32c' } }], mismatches);
    await dm.removeDevice(recovery.name);

    // A loop device carries no integrity metadata: the inline mode's constructor refuses it.
    const refused = await create([inline]).then((d) => d, (e: unknown) => e);
    facts.integrityInline = refused instanceof Error ? refused.message.split('\n').slice(0, 2).join(' / ') : 'created';
    if (!(refused instanceof Error)) await dm.removeDevice((refused as { name: string }).name);
    expect(mismatches).toEqual([]);
  });

  test('integrity I (inline, 6.11+): on a device with an integrity profile, its table reads back as normalise says and data round-trips', async () => {
    const v = await moduleVersion('integrity');
    if (typeof v === 'string') return;
    // 6.1 has no mode I: the test above checks the kernel's refusal there.
    if (kernelLabel === '6.1' || kernelLabel === '5.10') return;
    // A loop device has no integrity profile. A dm-integrity device without an internal hash
    // (its tags are its user's, as dm-crypt's authenticated modes use it) exposes one: tuples
    // of its tag size, no checksum type; the inline mode keeps its tags in those tuples.
    zero(i3, 4 * MiB);
    const lower = await create([{ start: 0, length: 16384, type: 'integrity', device: i3, offsetSectors: 0, tagSizeBytes: 4, mode: 'D' }]);
    const under = `${lower.dev.major}:${lower.dev.minor}`;
    const mismatches: unknown[] = [];
    const inline = await roundTrip('integrityI', [{ start: 0, length: 8192, type: 'integrity', device: under, offsetSectors: 0, tagSizeBytes: 4, mode: 'I', internalHash: { algorithm: 'crc32c' } }], mismatches);
    expect(statusOf(inline.status, 'integrity')).toMatchObject({ mismatches: 0n });
    const node = `/dev/dm-${inline.dev.minor}`; // devtmpfs makes it, with or without udev
    const data = Buffer.alloc(64 * 1024, 0x6b);
    const fd = fs.openSync(node, 'r+');
    try {
      fs.writeSync(fd, data, 0, data.length, 4096);
      fs.fsyncSync(fd);
      const back = Buffer.alloc(data.length);
      fs.readSync(fd, back, 0, back.length, 4096);
      expect(back.equals(data)).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
    await dm.removeDevice(inline.name);
    await dm.removeDevice(lower.name);
    expect(mismatches).toEqual([]);
  });

  test('vdo: a V4 line, its status and the stats message (kernels with dm-vdo)', async () => {
    const v = await moduleVersion('vdo');
    if (typeof v === 'string') return;
    expect(() => checkTargetVersion({ start: 0, length: 8, type: 'vdo', storageDevice: '7:0', storageSizeBlocks: 1, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380 }, v)).not.toThrow();
    // A sparse backing file: vdo reserves gigabytes for its metadata and index.
    const file = path.join(dir, 'vdo.img');
    fs.writeFileSync(file, '');
    const bytes = 8 * 1024 * MiB;
    fs.truncateSync(file, bytes);
    const loop = (await attachLoop(file)).path;
    loops.push(loop);
    let formatted = 'no vdoformat: relying on the kernel';
    try {
      execFileSync('vdoformat', ['--force', '--logical-size=4G', loop], { stdio: 'pipe' });
      formatted = 'vdoformat';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') formatted = `vdoformat failed: ${String((e as { stderr?: Buffer }).stderr ?? e).slice(0, 200)}`;
    }
    facts.vdoFormat = formatted;
    const storage = nodeResolver(loop);
    const table: TypedTarget[] = [{
      start: 0, length: 8388608, type: 'vdo', storageDevice: storage, storageSizeBlocks: bytes / 4096, minimumIoSizeBytes: 4096,
      blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380, maxDiscardBlocks: 8, ackThreads: 1, bioThreads: 1, cpuThreads: 1, compression: false, deduplication: true,
    }];
    let d: { name: string };
    try {
      d = await roundTrip('vdo', table);
    } catch (e) {
      // Without vdoformat the volume is unformatted: the line passed the constructor's parsing
      // (parse_device_config) and failed only at the geometry block, which vdoformat writes.
      if (formatted === 'vdoformat') throw e;
      const dmError = (e as { dmError?: DmError }).dmError;
      expect(dmError?.code).toBe('EIO');
      expect((dmError?.kernelLog ?? []).join('\n')).toContain('vdo: Could not load geometry block');
      const why = `the kernel refused an unformatted vdo volume (${formatted}): ${String((e as Error).message).split('\n').slice(0, 2).join(' / ').slice(0, 300)}`;
      facts.vdoSkipped = why;
      process.stderr.write(`[live] skipping the vdo volume checks: ${why}\n`);
      return;
    }
    const s = statusOf((await dm.status(d.name)).targets.map(parseStatus), 'vdo');
    expect(s).toMatchObject({ operatingMode: 'normal', inRecovery: false, compressionState: 'offline', totalPhysicalBlocks: BigInt(bytes / 4096), extra: [] });
    const stats = parseVdoStats((await dm.message(d.name, 0, vdoMessage.stats())) ?? '');
    facts.vdoStatsVersion = stats.version;
    expect(stats).toMatchObject({ physicalBlocks: BigInt(bytes / 4096), logicalBlocks: 8388608n / 8n, blockSizeBytes: 4096n, mode: 'normal', inRecoveryMode: false });
    expect(Object.keys(stats.groups)).toEqual(expect.arrayContaining(['packer', 'blockMap', 'biosIn', 'index']));
    await dm.message(d.name, 0, vdoMessage.compression(true));
    expect(statusOf((await dm.status(d.name)).targets.map(parseStatus), 'vdo')).toMatchObject({ compressionState: 'online' });
    await dm.removeDevice(d.name);
  });
});
