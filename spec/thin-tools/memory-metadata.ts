// A test double of `ThinMetadata` (lib/thin-metadata/types.ts) over a pool described in
// thin_dump's XML, so the tools can be checked against thin_ls/thin_delta on the same pool
// (thin_restore makes their metadata file from the same XML). Runs are re-joined here as
// the interface promises: maximal, consecutive thin and data blocks with one time.
import type { ThinDeviceDetails, ThinMappingRun, ThinMetadata, ThinMetadataSuperblock } from '../../lib/index.js';

export interface PoolMapping {
  readonly thinBlock: bigint;
  readonly dataBlock: bigint;
  readonly time: number;
}

export interface PoolDevice {
  readonly details: ThinDeviceDetails;
  readonly mappings: readonly PoolMapping[];
}

export interface Pool {
  readonly time: number;
  readonly transactionId: bigint;
  readonly dataBlockSizeSectors: number;
  readonly dataBlockCount: bigint;
  readonly metadataSnapBlock?: bigint;
  readonly devices: readonly PoolDevice[];
}

/** Counts how many times each method was called (the delta's memory is checked by how it reads). */
export interface MemoryMetadata extends ThinMetadata {
  readonly calls: { devices: number; mappings: number; closed: number; runsRead: number };
}

export function memoryMetadata(pool: Pool): MemoryMetadata {
  const calls = { devices: 0, mappings: 0, closed: 0, runsRead: 0 };
  const superblock: ThinMetadataSuperblock = {
    blockNumber: 0n, uuid: new Uint8Array(16), version: 2, time: pool.time, transactionId: pool.transactionId,
    metadataSnapBlock: pool.metadataSnapBlock ?? 0n, dataBlockSizeSectors: pool.dataBlockSizeSectors, metadataBlockSizeSectors: 8,
    metadataBlockCount: 1024n, dataBlockCount: pool.dataBlockCount, flags: 0,
  };
  const byId = new Map(pool.devices.map((d) => [d.details.thinId, d]));
  return {
    calls,
    superblock,
    async devices() {
      calls.devices++;
      return [...pool.devices].sort((a, b) => a.details.thinId - b.details.thinId).map((d) => ({ ...d.details }));
    },
    async *mappings(thinId: number) {
      calls.mappings++;
      const d = byId.get(thinId);
      if (!d) throw Object.assign(new Error(`no thin ${thinId}`), { code: 'ENXIO' });
      const sorted = [...d.mappings].sort((a, b) => (a.thinBlock < b.thinBlock ? -1 : 1));
      let run: { thinBlock: bigint; dataBlock: bigint; lengthBlocks: bigint; time: number } | undefined;
      for (const m of sorted) {
        if (run && m.thinBlock === run.thinBlock + run.lengthBlocks && m.dataBlock === run.dataBlock + run.lengthBlocks && m.time === run.time) {
          run.lengthBlocks++;
          continue;
        }
        if (run) {
          calls.runsRead++;
          yield run as ThinMappingRun;
        }
        run = { thinBlock: m.thinBlock, dataBlock: m.dataBlock, lengthBlocks: 1n, time: m.time };
      }
      if (run) {
        calls.runsRead++;
        yield run as ThinMappingRun;
      }
    },
    async dataBlockReferenceCount() {
      throw new Error('not used by the tools');
    },
    async close() {
      calls.closed++;
    },
    async [Symbol.asyncDispose]() {
      calls.closed++;
    },
  };
}

/** thin_dump's XML of a pool (what thin_restore reads). */
export function poolXml(pool: Pool): string {
  const lines = [`<superblock uuid="" time="${pool.time}" transaction="${pool.transactionId}" flags="0" version="2" data_block_size="${pool.dataBlockSizeSectors}" nr_data_blocks="${pool.dataBlockCount}">`];
  for (const d of pool.devices) {
    const x = d.details;
    lines.push(`  <device dev_id="${x.thinId}" mapped_blocks="${x.mappedBlocks}" transaction="${x.transactionId}" creation_time="${x.creationTime}" snap_time="${x.snapshottedTime}">`);
    for (const m of [...d.mappings].sort((a, b) => (a.thinBlock < b.thinBlock ? -1 : 1))) {
      lines.push(`    <single_mapping origin_block="${m.thinBlock}" data_block="${m.dataBlock}" time="${m.time}"/>`);
    }
    lines.push('  </device>');
  }
  lines.push('</superblock>');
  return `${lines.join('\n')}\n`;
}

/** A small deterministic PRNG (mulberry32), so a failing seed reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random pool as a pool grows one: an origin written in runs, snapshots of it (sharing its
 * mappings), each then written over in places (new data blocks), some blocks discarded.
 */
export function randomPool(seed: number, o: { thinBlocks?: number; snapshots?: number } = {}): Pool {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const thinBlocks = o.thinBlocks ?? 40 + int(200);
  const snapshots = o.snapshots ?? 1 + int(4);
  let nextData = 0n;
  let time = 0;
  const origin = new Map<bigint, PoolMapping>();
  const write = (dev: Map<bigint, PoolMapping>, count: number) => {
    for (let i = 0; i < count; i++) {
      const start = BigInt(int(thinBlocks));
      const len = 1 + int(8);
      for (let k = 0n; k < BigInt(len) && start + k < BigInt(thinBlocks); k++) {
        // Sometimes reuse the previous data block + 1 so runs form; sometimes jump.
        if (rnd() < 0.1) nextData += BigInt(1 + int(5));
        dev.set(start + k, { thinBlock: start + k, dataBlock: nextData++, time });
      }
    }
  };
  const discard = (dev: Map<bigint, PoolMapping>) => {
    for (let i = int(3); i > 0; i--) {
      const start = BigInt(int(thinBlocks));
      for (let k = 0n; k < BigInt(1 + int(5)); k++) dev.delete(start + k);
    }
  };
  write(origin, 3 + int(10));
  const devices: { id: number; map: Map<bigint, PoolMapping>; created: number; snap: number }[] = [];
  const originId = int(5);
  devices.push({ id: originId, map: origin, created: 0, snap: 0 });
  let id = originId;
  for (let s = 0; s < snapshots; s++) {
    time++;
    id += 1 + int(3);
    const src = devices[int(devices.length)]!;
    src.snap = time;
    devices.push({ id, map: new Map(src.map), created: time, snap: time });
    write(devices[int(devices.length)]!.map, int(6));
    if (rnd() < 0.5) discard(devices[int(devices.length)]!.map);
  }
  if (rnd() < 0.3) devices.push({ id: id + 1 + int(4), map: new Map(), created: time, snap: time });
  return {
    time: time + int(2), transactionId: BigInt(int(20)), dataBlockSizeSectors: [128, 256, 1024, 64][int(4)]!, dataBlockCount: nextData + BigInt(int(50)) + 1n,
    devices: devices.map((d, k) => ({
      details: { thinId: d.id, mappedBlocks: BigInt(d.map.size), transactionId: BigInt(k), creationTime: d.created, snapshottedTime: d.snap },
      mappings: [...d.map.values()],
    })),
  };
}
