// The library's thin tools against a per-block model of the same pool: every range of the
// delta, every allocated and changed byte, exclusive and shared blocks, and the next free id
// are recomputed block by block from the pool's mappings and must agree.
import { describe, expect, test } from '@jest/globals';
import {
  allocatedByteRanges, changedByteRanges, DmAbortError, DmArgumentError, DmThinMetadataError, listThinDevices, nextFreeThinId, thinDelta,
  type ThinByteRangeBatch, type ThinDeltaRange,
} from '../../lib/index.js';
import { memoryMetadata, randomPool, type Pool } from './memory-metadata.js';

const SEEDS = Array.from({ length: 25 }, (_, i) => 7 + i * 13);

const blockMap = (pool: Pool, id: number) => new Map(pool.devices.find((d) => d.details.thinId === id)!.mappings.map((m) => [m.thinBlock, m.dataBlock]));

/** The delta block by block: each thin block's kind and data blocks. */
function modelDelta(pool: Pool, a: number, b: number): string[] {
  const l = blockMap(pool, a);
  const r = blockMap(pool, b);
  const blocks = [...new Set([...l.keys(), ...r.keys()])].sort((x, y) => (x < y ? -1 : 1));
  return blocks.map((t) => {
    const ld = l.get(t);
    const rd = r.get(t);
    const kind = ld === undefined ? 'rightOnly' : rd === undefined ? 'leftOnly' : ld === rd ? 'same' : 'different';
    return `${t}:${kind}:${ld ?? '-'}:${rd ?? '-'}`;
  });
}

function expand(ranges: readonly ThinDeltaRange[]): string[] {
  const out: string[] = [];
  for (const r of ranges) {
    for (let k = 0n; k < r.lengthBlocks; k++) {
      const ld = r.leftDataBlock === undefined ? '-' : r.leftDataBlock + k;
      const rd = r.rightDataBlock === undefined ? '-' : r.rightDataBlock + k;
      out.push(`${r.thinBlock + k}:${r.kind}:${ld}:${rd}`);
    }
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('thinDelta', () => {
  test.each(SEEDS)('seed %i: every pair, block by block, equals the model', async (seed) => {
    const pool = randomPool(seed);
    const md = memoryMetadata(pool);
    for (const a of pool.devices) {
      for (const b of pool.devices) {
        const ranges = await collect(thinDelta(md, a.details.thinId, b.details.thinId));
        expect(expand(ranges)).toEqual(modelDelta(pool, a.details.thinId, b.details.thinId));
        // Ranges never overlap and come in thin-block order.
        for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.thinBlock >= ranges[i - 1]!.thinBlock + ranges[i - 1]!.lengthBlocks).toBe(true);
        const noSame = await collect(thinDelta(md, a.details.thinId, b.details.thinId, { includeSame: false }));
        expect(noSame).toEqual(ranges.filter((r) => r.kind !== 'same'));
      }
    }
  });

  test('reads the two streams as it goes, a bounded read-ahead ahead of the ranges', async () => {
    // 5000 runs a side (every other data block), so the whole stream is far beyond the read-ahead.
    const mappings = (shift: bigint) => Array.from({ length: 5000 }, (_, i) => ({ thinBlock: BigInt(i), dataBlock: BigInt(i) * 2n + shift, time: 0 }));
    const details = (thinId: number) => ({ thinId, mappedBlocks: 5000n, transactionId: 0n, creationTime: 0, snapshottedTime: 0 });
    const pool: Pool = { time: 0, transactionId: 0n, dataBlockSizeSectors: 128, dataBlockCount: 20000n, devices: [{ details: details(1), mappings: mappings(0n) }, { details: details(2), mappings: mappings(1n) }] };
    const md = memoryMetadata(pool);
    const it = thinDelta(md, 1, 2)[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ kind: 'different', thinBlock: 0n, lengthBlocks: 1n });
    await new Promise((r) => setTimeout(r, 20));
    expect(md.calls.runsRead).toBeLessThanOrEqual(2 * (512 + 2));
    await it.return(undefined);
    const all = await collect(thinDelta(md, 1, 2));
    expect(all.length).toBe(5000);
  });

  test('a thin id the metadata lacks is THIN_METADATA_NO_DEVICE before anything is read; bad ids and options are refused', async () => {
    const pool = randomPool(5);
    const md = memoryMetadata(pool);
    const missing = Math.max(...pool.devices.map((d) => d.details.thinId)) + 1;
    await expect(collect(thinDelta(md, missing, pool.devices[0]!.details.thinId))).rejects.toMatchObject({ code: 'THIN_METADATA_NO_DEVICE' });
    await expect(collect(thinDelta(md, pool.devices[0]!.details.thinId, missing))).rejects.toBeInstanceOf(DmThinMetadataError);
    expect(md.calls.mappings).toBe(0);
    await expect(collect(thinDelta(md, -1, 0))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(thinDelta(md, 2 ** 24, 0))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(thinDelta(md, 0, 0, { timeoutMs: 0 }))).rejects.toBeInstanceOf(DmArgumentError);
  });

  test('an aborted signal stops the walk with DmAbortError', async () => {
    const pool = randomPool(9, { thinBlocks: 3000 });
    const md = memoryMetadata(pool);
    const ac = new AbortController();
    const id = pool.devices[0]!.details.thinId;
    const it = thinDelta(md, id, id, { signal: ac.signal });
    let n = 0;
    await expect((async () => {
      for await (const _ of it) if (++n === 2) ac.abort();
    })()).rejects.toBeInstanceOf(DmAbortError);
  });
});

describe('listThinDevices', () => {
  test.each(SEEDS)('seed %i: exclusive, shared and highest mapped block equal a count over every mapping', async (seed) => {
    const pool = randomPool(seed);
    const refs = new Map<bigint, number>();
    for (const d of pool.devices) for (const m of d.mappings) refs.set(m.dataBlock, (refs.get(m.dataBlock) ?? 0) + 1);
    const rows = await listThinDevices(memoryMetadata(pool));
    expect(rows.map((r) => r.thinId)).toEqual(pool.devices.map((d) => d.details.thinId).sort((a, b) => a - b));
    for (const r of rows) {
      const d = pool.devices.find((x) => x.details.thinId === r.thinId)!;
      const exclusive = BigInt(d.mappings.filter((m) => refs.get(m.dataBlock) === 1).length);
      expect(r.exclusiveBlocks).toBe(exclusive);
      expect(r.sharedBlocks).toBe(d.details.mappedBlocks - exclusive);
      expect(r.highestMappedBlock).toBe(d.mappings.length === 0 ? null : d.mappings.reduce((m, x) => (x.thinBlock > m ? x.thinBlock : m), 0n));
      expect(r.dataBlockSizeSectors).toBe(pool.dataBlockSizeSectors);
    }
  });

  test('sharing: false reads no mapping unless the highest block is asked for', async () => {
    const md = memoryMetadata(randomPool(11));
    const rows = await listThinDevices(md, { sharing: false, highestMapped: false });
    expect(md.calls.mappings).toBe(0);
    expect(rows.every((r) => r.exclusiveBlocks === undefined && r.sharedBlocks === undefined && r.highestMappedBlock === undefined)).toBe(true);
  });

  test('a mapping beyond the pool\'s data blocks is a typed error, not a huge allocation', async () => {
    const pool = randomPool(13);
    await expect(listThinDevices(memoryMetadata({ ...pool, dataBlockCount: 1n }))).rejects.toMatchObject({ code: 'THIN_METADATA_CORRUPT' });
  });
});

describe('CSI-shaped streams', () => {
  const bytesOf = (batches: readonly ThinByteRangeBatch[], blockBytes: bigint) => {
    const blocks: bigint[] = [];
    for (const b of batches) for (const r of b.ranges) for (let o = r.offsetBytes; o < r.offsetBytes + r.sizeBytes; o += blockBytes) blocks.push(o / blockBytes);
    return blocks;
  };

  test.each(SEEDS)('seed %i: allocated ranges are the mapped blocks; changed ranges the blocks that differ, either way', async (seed) => {
    const pool = randomPool(seed);
    const md = memoryMetadata(pool);
    const bs = BigInt(pool.dataBlockSizeSectors) * 512n;
    for (const d of pool.devices) {
      const mapped = d.mappings.map((m) => m.thinBlock).sort((a, b) => (a < b ? -1 : 1));
      const batches = await collect(allocatedByteRanges(md, d.details.thinId, { maxResults: 3 }));
      expect(bytesOf(batches, bs)).toEqual(mapped);
      expect(batches.every((b) => b.ranges.length <= 3 && b.ranges.length > 0 && b.blockSizeBytes === bs)).toBe(true);
      // VARIABLE_LENGTH ranges are maximal: no two touch.
      const all = batches.flatMap((b) => b.ranges);
      for (let i = 1; i < all.length; i++) expect(all[i]!.offsetBytes > all[i - 1]!.offsetBytes + all[i - 1]!.sizeBytes).toBe(true);
      const fixed = (await collect(allocatedByteRanges(md, d.details.thinId, { blockMetadataType: 'FIXED_LENGTH' }))).flatMap((b) => b.ranges);
      expect(fixed.length).toBe(mapped.length);
      expect(fixed.every((r) => r.sizeBytes === bs)).toBe(true);
    }
    const [base, target] = [pool.devices[0]!, pool.devices[pool.devices.length - 1]!];
    const want = modelDelta(pool, base.details.thinId, target.details.thinId).filter((s) => !s.includes(':same:')).map((s) => BigInt(s.split(':')[0]!));
    const changed = await collect(changedByteRanges(md, base.details.thinId, target.details.thinId, { maxResults: 2 }));
    expect(bytesOf(changed, bs)).toEqual(want);
    // From a starting offset: the block holding it and everything after.
    if (want.length > 1) {
      const from = want[1]! * bs + 1n;
      const later = await collect(changedByteRanges(md, base.details.thinId, target.details.thinId, { startingOffsetBytes: from }));
      expect(bytesOf(later, bs)).toEqual(want.filter((b) => b >= want[1]!));
    }
  });

  test('bad options are refused before any read', async () => {
    const md = memoryMetadata(randomPool(1));
    await expect(collect(allocatedByteRanges(md, 0, { maxResults: -1 }))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(allocatedByteRanges(md, 0, { startingOffsetBytes: -1 }))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(changedByteRanges(md, 0, 0.5))).rejects.toBeInstanceOf(DmArgumentError);
    expect(md.calls.mappings).toBe(0);
  });
});

describe('nextFreeThinId', () => {
  const poolWith = (ids: number[]): Pool => ({
    time: 0, transactionId: 0n, dataBlockSizeSectors: 128, dataBlockCount: 10n,
    devices: ids.map((thinId) => ({ details: { thinId, mappedBlocks: 0n, transactionId: 0n, creationTime: 0, snapshottedTime: 0 }, mappings: [] })),
  });

  test('never an id the metadata holds, active or not', async () => {
    const md = memoryMetadata(poolWith([0, 1, 2, 4, 9]));
    expect(await nextFreeThinId(md)).toBe(3);
    expect(await nextFreeThinId(md, { from: 4 })).toBe(5);
    expect(await nextFreeThinId(md, { policy: 'aboveHighest' })).toBe(10);
    expect(await nextFreeThinId(md, { policy: 'aboveHighest', from: 20 })).toBe(20);
    expect(await nextFreeThinId(memoryMetadata(poolWith([])))).toBe(0);
  });

  test('a random pool: the answer is free and every smaller id is taken', async () => {
    for (const seed of SEEDS) {
      const pool = randomPool(seed);
      const held = new Set(pool.devices.map((d) => d.details.thinId));
      const id = await nextFreeThinId(memoryMetadata(pool));
      expect(held.has(id)).toBe(false);
      for (let k = 0; k < id; k++) expect(held.has(k)).toBe(true);
    }
  });

  test('a full id space is POOL_STATE; bad options are refused', async () => {
    await expect(nextFreeThinId(memoryMetadata(poolWith([0xffffff])), { policy: 'aboveHighest' })).rejects.toMatchObject({ code: 'POOL_STATE' });
    await expect(nextFreeThinId(memoryMetadata(poolWith([0xfffffe, 0xffffff])), { from: 0xfffffe })).rejects.toMatchObject({ code: 'POOL_STATE' });
    await expect(nextFreeThinId(memoryMetadata(poolWith([])), { from: -1 })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(nextFreeThinId(memoryMetadata(poolWith([])), { policy: 'x' as 'lowest' })).rejects.toBeInstanceOf(DmArgumentError);
  });
});

describe('hostile arguments: typed errors before any read', () => {
  test.each([null, undefined, 5, 'x', {}, { devices: () => [], mappings: () => [] }])('metadata %p', async (bad) => {
    const m = bad as never;
    await expect(listThinDevices(m)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(nextFreeThinId(m)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(thinDelta(m, 0, 1))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(allocatedByteRanges(m, 0))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(changedByteRanges(m, 0, 1))).rejects.toBeInstanceOf(DmArgumentError);
  });

  test('options of the wrong type', async () => {
    const md = memoryMetadata(randomPool(2));
    await expect(listThinDevices(md, { sharing: 'yes' as never })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(listThinDevices(md, { signal: 'x' as never })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(collect(thinDelta(md, 0, 0, { includeSame: 1 as never }))).rejects.toBeInstanceOf(DmArgumentError);
    await expect(nextFreeThinId(md, { timeoutMs: -5 })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(listThinDevices(md, null as never)).rejects.toBeInstanceOf(DmArgumentError);
    expect(md.calls.devices + md.calls.mappings).toBe(0);
  });
});
