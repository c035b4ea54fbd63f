// Typed targets on the real kernel: for every target Debian's kernels ship, build a table,
// load it on loop devices, read table and status back through the parsers, check the round
// trip against normalise(), and exercise the target's messages.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  attachLoop, detachLoop, DeviceMapper, DmError, cacheMessage, createTypedDevice, eraMessage, nodeResolver, normalise, parseStatsPrint,
  parseStatus, parseTable, raidMessage, statsMessage, thinPoolMessage, writecacheMessage,
  type ParsedStatus, type ParsedStatusOf, type ParsedTarget, type TargetType, type TypedTarget,
} from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

const MiB = 1024 * 1024;
const KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const keyHex = Buffer.from(KEY).toString('hex');

describeLive(`typed targets [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let dir: string;
  const loops: string[] = [];
  const prefix = `dmts-tg-${process.pid}-`;
  let n = 0;
  const facts: Record<string, unknown> = {};
  // d0..d2: 64 MiB data devices; m3..m5: 8 MiB metadata/cache/cow; v6, v7: verity data and hash.
  let d0: string, d1: string, d2: string, m3: string, m4: string, m5: string, v6: string, v7: string;

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-targets-'));
    const sizes = [64, 64, 64, 8, 8, 8, 1, 1];
    for (const [i, mib] of sizes.entries()) {
      const file = path.join(dir, `l${i}.img`);
      fs.writeFileSync(file, '');
      fs.truncateSync(file, mib * MiB);
      loops.push((await attachLoop(file)).path);
    }
    [d0, d1, d2, m3, m4, m5, v6, v7] = loops as [string, string, string, string, string, string, string, string];
  });

  afterAll(async () => {
    for (const d of await dm.list({ namePrefix: prefix })) {
      if (d.name.startsWith(prefix)) await dm.removeDevice(d.name).catch(() => undefined);
    }
    dm.close();
    for (const l of loops) await detachLoop(l).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    recordLiveFact('targets', facts);
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

  /** Creates the device, checks the table round trip, returns name, dev and the parsed status. */
  async function roundTrip(table: TypedTarget[], opts: { expected?: ParsedTarget[] } = {}) {
    const name = `${prefix}${n++}`;
    let info;
    try {
      info = await createTypedDevice(dm, { name, table });
    } catch (e) {
      if (e instanceof DmError) throw new Error(`${e.message}\nkernel log: ${(e.kernelLog ?? []).join(' | ')}`);
      throw e;
    }
    const kernelTable = (await dm.table(name)).targets;
    const parsed = parseTable(kernelTable);
    expect(parsed).toEqual(opts.expected ?? normalise(table, { resolve: nodeResolver }));
    const status = (await dm.status(name)).targets.map(parseStatus);
    return { name, dev: info.dev, status, kernelTable };
  }

  const statusOf = <T extends TargetType>(s: ParsedStatus[], type: T): ParsedStatusOf<T>['status'] => {
    const x = s[0]!;
    expect(x.type).toBe(type);
    return (x as unknown as ParsedStatusOf<T>).status;
  };

  test('linear + striped + zero + error in one table; @stats_* messages', async () => {
    const { name, status } = await roundTrip([
      { start: 0, length: 1024, type: 'linear', device: d0, offsetSectors: 8 },
      { start: 1024, length: 2048, type: 'striped', chunkSizeSectors: 8, stripes: [{ device: d1, offsetSectors: 0 }, { device: d2, offsetSectors: 16 }] },
      { start: 3072, length: 100, type: 'zero' },
      { start: 3172, length: 100, type: 'error' },
    ]);
    expect(status.map((s) => s.type)).toEqual(['linear', 'striped', 'zero', 'error']);
    expect(status[0]!.status).toEqual({ extra: [] });
    expect(status[1]!.status).toMatchObject({ alive: [true, true], extra: [] });
    const created = await dm.message(name, 0, statsMessage.create('-', '/4'));
    expect(created?.trim()).toMatch(/^\d+$/);
    const id = Number(created);
    expect(await dm.message(name, 0, statsMessage.list())).toContain(`${id}: 0+3272`);
    const areas = parseStatsPrint((await dm.message(name, 0, statsMessage.print(id))) ?? '');
    expect(areas).toHaveLength(4);
    expect(areas[0]!.counters.length).toBeGreaterThanOrEqual(11);
    await dm.message(name, 0, statsMessage.delete(id));
    await dm.removeDevice(name);
  });

  test('crypt: key bytes loaded securely, redacted unless showKeys', async () => {
    const table: TypedTarget[] = [{ start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key: KEY, ivOffsetSectors: 0, device: d0, offsetSectors: 0, allowDiscards: true, sameCpuCrypt: true }];
    const { name, status, kernelTable } = await roundTrip(table);
    expect(kernelTable[0]!.params).not.toContain(keyHex);
    expect(status[0]!.status).toEqual({ extra: [] });
    const shown = parseTable((await dm.table(name, { showKeys: true })).targets, { showKeys: true });
    expect(shown).toEqual(normalise(table, { showKeys: true }));
    expect(KEY[1]).toBe(48); // the caller's key survives the wipe of the built params
    await dm.removeDevice(name);
    const sized: TypedTarget[] = [{ start: 0, length: 2048, type: 'crypt', cipher: 'capi:xts(aes)-plain64', key: KEY, ivOffsetSectors: 0, device: d0, offsetSectors: 0, sectorSizeBytes: 4096, ivLargeSectors: true, noReadWorkqueue: true, noWriteWorkqueue: true }];
    await dm.removeDevice((await roundTrip(sized)).name);
  });

  test('thin-pool + thin: create_thin, write, status, create_snap, delete, set_transaction_id', async () => {
    zero(m3);
    const pool = await roundTrip([{ start: 0, length: 131072, type: 'thin-pool', metadataDevice: m3, dataDevice: d1, blockSizeSectors: 128, lowWaterMarkBlocks: 10 }]);
    const ps = statusOf(pool.status, 'thin-pool');
    expect(ps).toMatchObject({ health: 'ok', transactionId: 0n, usedDataBlocks: 0n, totalDataBlocks: 1024n, heldMetadataRoot: null, mode: 'rw', whenNoSpace: 'queue', needsCheck: false, extra: [] });
    facts.thinPoolStatus = (await dm.status(pool.name)).targets[0]!.params;
    await dm.message(pool.name, 0, thinPoolMessage.createThin(0));
    const th = await roundTrip([{ start: 0, length: 20000, type: 'thin', poolDevice: pool.dev, deviceId: 0 }]);
    expect(statusOf(th.status, 'thin')).toEqual({ health: 'ok', mappedSectors: 0n, highestMappedSector: null, extra: [] });
    const fd = fs.openSync(`/dev/dm-${th.dev.minor}`, fs.constants.O_RDWR | fs.constants.O_SYNC);
    fs.writeSync(fd, Buffer.alloc(65536, 7), 0, 65536, 0);
    fs.closeSync(fd);
    expect(statusOf((await dm.status(th.name)).targets.map(parseStatus), 'thin')).toEqual({ health: 'ok', mappedSectors: 128n, highestMappedSector: 127n, extra: [] });
    await dm.suspend(th.name);
    await dm.message(pool.name, 0, thinPoolMessage.createSnap(1, 0));
    await dm.resume(th.name);
    await dm.removeDevice(th.name);
    const ext = await roundTrip([{ start: 0, length: 20000, type: 'thin', poolDevice: pool.dev, deviceId: 1, externalOrigin: d2 }]);
    await dm.removeDevice(ext.name);
    await dm.message(pool.name, 0, thinPoolMessage.delete(1));
    await dm.message(pool.name, 0, thinPoolMessage.delete(0));
    await dm.message(pool.name, 0, thinPoolMessage.reserveMetadataSnap());
    const held = statusOf((await dm.status(pool.name)).targets.map(parseStatus), 'thin-pool');
    expect(held.health === 'ok' && held.heldMetadataRoot).toBeGreaterThan(0n);
    await dm.message(pool.name, 0, thinPoolMessage.releaseMetadataSnap());
    await dm.message(pool.name, 0, thinPoolMessage.setTransactionId(0, 5));
    expect(statusOf((await dm.status(pool.name)).targets.map(parseStatus), 'thin-pool')).toMatchObject({ transactionId: 5n, usedDataBlocks: 0n, heldMetadataRoot: null });
    await dm.removeDevice(pool.name);
    zero(m3);
    const p2 = await roundTrip([{ start: 0, length: 131072, type: 'thin-pool', metadataDevice: m3, dataDevice: d1, blockSizeSectors: 256, lowWaterMarkBlocks: 0, skipBlockZeroing: true, noDiscardPassdown: true, errorIfNoSpace: true }]);
    expect(statusOf(p2.status, 'thin-pool')).toMatchObject({ health: 'ok', discard: 'no_discard_passdown', whenNoSpace: 'error' });
    await dm.removeDevice(p2.name);
  }, 180_000);

  test('cache: writethrough smq, policy tuning by message', async () => {
    zero(m3);
    zero(m4);
    const c = await roundTrip([{ start: 0, length: 131072, type: 'cache', metadataDevice: m3, cacheDevice: m4, originDevice: d0, blockSizeSectors: 64, ioMode: 'writethrough', policy: 'smq' }]);
    expect(statusOf(c.status, 'cache')).toMatchObject({ health: 'ok', cacheBlockSizeSectors: 64, features: ['writethrough'], coreArgs: { migration_threshold: '2048' }, policy: 'smq', metadataMode: 'rw', needsCheck: false, extra: [] });
    await dm.message(c.name, 0, cacheMessage.set('migration_threshold', 4096));
    const after = statusOf((await dm.status(c.name)).targets.map(parseStatus), 'cache');
    expect(after).toMatchObject({ coreArgs: { migration_threshold: '4096' } });
    // tuning is not part of the table
    expect(parseTable((await dm.table(c.name)).targets)).toEqual(normalise([{ start: 0, length: 131072, type: 'cache', metadataDevice: m3, cacheDevice: m4, originDevice: d0, blockSizeSectors: 64, ioMode: 'writethrough', policy: 'smq' }]));
    facts.cacheStatus = (await dm.status(c.name)).targets[0]!.params;
    await dm.removeDevice(c.name);
    zero(m3);
    zero(m4);
    const c2 = await roundTrip([{ start: 0, length: 131072, type: 'cache', metadataDevice: m3, cacheDevice: m4, originDevice: d0, blockSizeSectors: 64, metadata2: true, policy: 'smq', policyArgs: { migration_threshold: 100 } }]);
    await dm.removeDevice(c2.name);
  }, 180_000);

  test('snapshot-origin + snapshot (P, N), then snapshot-merge', async () => {
    zero(m4);
    const org = await roundTrip([{ start: 0, length: 131072, type: 'snapshot-origin', origin: d0 }]);
    const snap = await roundTrip([{ start: 0, length: 131072, type: 'snapshot', origin: d0, cow: m4, persistence: 'P', chunkSizeSectors: 8 }]);
    const s0 = statusOf(snap.status, 'snapshot');
    expect(s0).toMatchObject({ state: 'active', totalSectors: 16384n });
    const trans = await roundTrip([{ start: 0, length: 131072, type: 'snapshot', origin: d0, cow: m5, persistence: 'N', chunkSizeSectors: 16 }]);
    const fd = fs.openSync(`/dev/dm-${org.dev.minor}`, fs.constants.O_RDWR | fs.constants.O_SYNC);
    fs.writeSync(fd, Buffer.alloc(65536, 1), 0, 65536, 0);
    fs.closeSync(fd);
    const s1 = statusOf((await dm.status(snap.name)).targets.map(parseStatus), 'snapshot');
    expect(s1.state === 'active' && s0.state === 'active' && s1.allocatedSectors > s0.allocatedSectors).toBe(true);
    facts.snapshotStatus = (await dm.status(snap.name)).targets[0]!.params;
    await dm.removeDevice(trans.name);
    await dm.removeDevice(snap.name);
    await dm.removeDevice(org.name);
    const merge = await roundTrip([{ start: 0, length: 131072, type: 'snapshot-merge', origin: d0, cow: m4, persistence: 'P', chunkSizeSectors: 8 }]);
    expect(statusOf(merge.status, 'snapshot-merge')).toMatchObject({ state: 'active' });
    await dm.removeDevice(merge.name);
  }, 180_000);

  test('flakey (explicit features) and delay (three classes)', async () => {
    const f = await roundTrip([{ start: 0, length: 2048, type: 'flakey', device: d0, offsetSectors: 0, upSeconds: 5, downSeconds: 1, dropWrites: true, corruptBioByte: { byte: 32, direction: 'r', value: 1, flags: 0 } }]);
    expect(f.status[0]!.status).toEqual({ extra: [] });
    await dm.removeDevice(f.name);
    // What a featureless flakey table reads back as differs between kernels: record it.
    const bare = `${prefix}${n++}`;
    await createTypedDevice(dm, { name: bare, table: [{ start: 0, length: 2048, type: 'flakey', device: d0, offsetSectors: 0, upSeconds: 5, downSeconds: 0 }] });
    facts.flakeyBare = (await dm.table(bare)).targets[0]!.params;
    facts.flakeyVersion = (await dm.getTargetVersion('flakey')).join('.');
    expect(parseTable((await dm.table(bare)).targets)).toEqual(normalise([{ start: 0, length: 2048, type: 'flakey', device: d0, offsetSectors: 0, upSeconds: 5, downSeconds: 0 }], { kernel: dm.kernelVersion }));
    await dm.removeDevice(bare);
    const d = await roundTrip([{
      start: 0, length: 2048, type: 'delay', read: { device: d0, offsetSectors: 0, delayMs: 0 }, write: { device: d1, offsetSectors: 8, delayMs: 10 }, flush: { device: d2, offsetSectors: 16, delayMs: 20 },
    }]);
    expect(statusOf(d.status, 'delay')).toMatchObject({ readsInFlight: 0, writesInFlight: 0 });
    await dm.removeDevice(d.name);
  }, 120_000);

  test('mirror: core and disk logs', async () => {
    const m = await roundTrip([{ start: 0, length: 131072, type: 'mirror', log: { type: 'core', regionSizeSectors: 1024 }, mirrors: [{ device: d0, offsetSectors: 0 }, { device: d1, offsetSectors: 0 }], handleErrors: true }]);
    const s = statusOf(m.status, 'mirror');
    expect(s).toMatchObject({ devices: [expect.stringMatching(/^7:/), expect.stringMatching(/^7:/)], totalRegions: 128n, logType: 'core', extra: [] });
    await dm.removeDevice(m.name);
    zero(m3);
    const md = await roundTrip([{ start: 0, length: 131072, type: 'mirror', log: { type: 'disk', device: m3, regionSizeSectors: 1024, sync: 'nosync' }, mirrors: [{ device: d0, offsetSectors: 0 }, { device: d1, offsetSectors: 0 }], handleErrors: true, keepLog: true }]);
    expect(statusOf(md.status, 'mirror')).toMatchObject({ logType: 'disk', logArgs: [expect.stringMatching(/^7:/), 'A'] });
    await dm.removeDevice(md.name);
  }, 120_000);

  test('raid: raid1 with a check message, raid5_ls with metadata devices', async () => {
    const r1 = await roundTrip([{ start: 0, length: 131072, type: 'raid', raidType: 'raid1', chunkSizeSectors: 0, regionSizeSectors: 1024, devices: [{ meta: null, data: d0 }, { meta: null, data: d1 }] }]);
    expect(statusOf(r1.status, 'raid')).toMatchObject({ raidType: 'raid1', health: [expect.stringMatching(/^[Aa]$/), expect.stringMatching(/^[Aa]$/)], totalSectors: 131072n });
    // wait for the initial resync, then ask for a check
    for (let i = 0; i < 120; i++) {
      const s = statusOf((await dm.status(r1.name)).targets.map(parseStatus), 'raid');
      if (s.syncAction === 'idle' && s.syncedSectors === s.totalSectors) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await dm.message(r1.name, 0, raidMessage('check'));
    const checked = statusOf((await dm.status(r1.name)).targets.map(parseStatus), 'raid');
    expect(['check', 'idle']).toContain(checked.syncAction);
    facts.raidStatus = (await dm.status(r1.name)).targets[0]!.params;
    await dm.removeDevice(r1.name);
    for (const m of [m3, m4, m5]) zero(m);
    const r5 = await roundTrip([{ start: 0, length: 65536, type: 'raid', raidType: 'raid5_ls', chunkSizeSectors: 128, devices: [{ meta: m3, data: d0 }, { meta: m4, data: d1 }, { meta: m5, data: d2 }] }]);
    expect(statusOf(r5.status, 'raid')).toMatchObject({ raidType: 'raid5_ls', totalSectors: 32768n });
    await dm.removeDevice(r5.name);
  }, 240_000);

  test('integrity: crc32c journal, and an HMAC key loaded securely', async () => {
    zero(m5, 8 * MiB);
    const ig = await roundTrip([{ start: 0, length: 8, type: 'integrity', device: m5, offsetSectors: 0, tagSizeBytes: 4, mode: 'J', journalSectors: 176, internalHash: { algorithm: 'crc32c' } }]);
    const s = statusOf(ig.status, 'integrity');
    expect(s).toMatchObject({ mismatches: 0n, recalculatePosition: null, extra: [] });
    expect(s.providedDataSectors).toBeGreaterThan(8n);
    await dm.removeDevice(ig.name);
    zero(m5, 8 * MiB);
    const table: TypedTarget[] = [{ start: 0, length: 8, type: 'integrity', device: m5, offsetSectors: 0, tagSizeBytes: 32, mode: 'J', journalSectors: 88, internalHash: { algorithm: 'hmac(sha256)', key: KEY } }];
    const h = await roundTrip(table);
    expect(h.kernelTable[0]!.params).not.toContain(keyHex);
    expect(parseTable((await dm.table(h.name, { showKeys: true })).targets, { showKeys: true })).toEqual(normalise(table, { showKeys: true }));
    await dm.removeDevice(h.name);
  }, 120_000);

  test('writecache (ssd) with options, flush message', async () => {
    zero(m4, 8 * MiB);
    const w = await roundTrip([{ start: 0, length: 131072, type: 'writecache', mode: 's', originDevice: d0, cacheDevice: m4, blockSizeBytes: 4096, highWatermarkPercent: 60, lowWatermarkPercent: 40, writebackJobs: 100, autocommitBlocks: 64 }]);
    const s = statusOf(w.status, 'writecache');
    expect(s).toMatchObject({ error: 0, extra: [] });
    expect(s.totalBlocks).toBeGreaterThan(0n);
    await dm.message(w.name, 0, writecacheMessage.flush);
    facts.writecacheStatus = (await dm.status(w.name)).targets[0]!.params;
    await dm.removeDevice(w.name);
  }, 120_000);

  test('era: checkpoint message advances the era', async () => {
    zero(m3, 8 * MiB);
    const e = await roundTrip([{ start: 0, length: 131072, type: 'era', metadataDevice: m3, originDevice: d0, blockSizeSectors: 128 }]);
    const before = statusOf(e.status, 'era');
    await dm.message(e.name, 0, eraMessage.checkpoint);
    const after = statusOf((await dm.status(e.name)).targets.map(parseStatus), 'era');
    expect(after.currentEra).toBe(before.currentEra + 1);
    expect(after.heldMetadataRoot).toBeNull();
    await dm.removeDevice(e.name);
  }, 120_000);

  test('multipath: round-robin and two groups; fail_path / reinstate_path', async () => {
    const mp = await roundTrip([{ start: 0, length: 131072, type: 'multipath', groups: [{ selector: 'round-robin', paths: [{ device: d0, args: ['1000'] }, { device: d1, args: ['1000'] }] }] }]);
    const s = statusOf(mp.status, 'multipath');
    expect(s.groups).toHaveLength(1);
    expect(s.groups[0]!.paths.map((p) => p.active)).toEqual([true, true]);
    const p0 = s.groups[0]!.paths[0]!.device;
    await dm.message(mp.name, 0, `fail_path ${p0}`);
    const failed = statusOf((await dm.status(mp.name)).targets.map(parseStatus), 'multipath');
    expect(failed.groups[0]!.paths[0]).toMatchObject({ device: p0, active: false, failCount: 1 });
    await dm.message(mp.name, 0, `reinstate_path ${p0}`);
    await dm.removeDevice(mp.name);
    const mp2 = await roundTrip([{
      start: 0, length: 131072, type: 'multipath', features: ['queue_if_no_path'],
      groups: [{ selector: 'service-time', paths: [{ device: d0, args: ['1', '1'] }] }, { selector: 'queue-length', paths: [{ device: d1, args: ['1'] }] }],
    }]);
    expect(statusOf(mp2.status, 'multipath')).toMatchObject({ queueIo: true, groups: [{ paths: [{ selectorInfo: ['0', '1'] }] }, { paths: [{ selectorInfo: ['0'] }] }] });
    await dm.removeDevice(mp2.name);
  }, 120_000);

  test('verity: a hash tree built here verifies; status V', async () => {
    // 8 data blocks of zeros, version 1, salt aa: one hash block holds all 8 digests.
    zero(v6);
    const salt = Buffer.from('aa', 'hex');
    const leaf = createHash('sha256').update(salt).update(Buffer.alloc(4096)).digest();
    const hashBlock = Buffer.alloc(4096);
    for (let i = 0; i < 8; i++) leaf.copy(hashBlock, i * 32);
    const root = createHash('sha256').update(salt).update(hashBlock).digest();
    const fd = fs.openSync(v7, 'r+');
    fs.writeSync(fd, hashBlock, 0, 4096, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const v = await roundTrip([{
      start: 0, length: 64, type: 'verity', version: 1, dataDevice: v6, hashDevice: v7, dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096,
      dataBlocks: 8, hashStartBlocks: 0, algorithm: 'sha256', rootDigest: new Uint8Array(root), salt: new Uint8Array(salt), onCorruption: 'restart', ignoreZeroBlocks: true, checkAtMostOnce: true,
    }]);
    const rfd = fs.openSync(`/dev/dm-${v.dev.minor}`, 'r');
    const got = Buffer.alloc(32768);
    fs.readSync(rfd, got, 0, got.length, 0);
    fs.closeSync(rfd);
    expect(statusOf((await dm.status(v.name)).targets.map(parseStatus), 'verity')).toMatchObject({ corrupted: false });
    facts.verityStatus = (await dm.status(v.name)).targets[0]!.params;
    await dm.removeDevice(v.name);
  }, 120_000);
});
