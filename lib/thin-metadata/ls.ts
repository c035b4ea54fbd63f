/**
 * thin_ls's view of a pool: every thin device with its mapped, exclusive and shared blocks
 * (docs/thin-tools.md). Exclusive and shared follow thin_ls: a data block is exclusive to a
 * device when exactly one mapping of all the pool's devices points at it, shared when more do.
 * The data space map's reference counts cannot answer that (a snapshot shares whole subtrees,
 * so a block's count says nothing about how many devices reach it), hence thin_ls's two passes:
 * every mapping of every device marks its data block seen once or more (2 bits per data
 * block seen), then each device counts its blocks seen once. Unlike thin_ls, each tree is
 * read once: pass 1 keeps every device's runs (16 bytes a run) for pass 2, and reads up to
 * four devices at a time.
 */
import { DmThinMetadataError } from '../errors.js';
import { checkFlag, checkMetadata, walkBounds, type WalkBounds } from './bounds.js';
import type { ThinDeviceDetails, ThinMetadata, ThinReadOptions } from './types.js';

/** Options of `listThinDevices`. */
export interface ListThinDevicesOptions extends ThinReadOptions {
  /**
   * Count exclusive and shared blocks (two passes over every mapping, 2 bits of memory per
   * data block). Default true; false reads only the device details (and, with
   * `highestMapped`, one pass).
   */
  readonly sharing?: boolean | undefined;
  /** Find each device's highest mapped block (one pass over its mappings). Default true. */
  readonly highestMapped?: boolean | undefined;
}

/** One row of `listThinDevices`: the device's details and what was counted from its mappings. */
export interface ThinDeviceUsage extends ThinDeviceDetails {
  /** The pool's data block size in sectors (what every `…Blocks` here counts in). */
  readonly dataBlockSizeSectors: number;
  /** Mapped blocks whose data block no other mapping of the pool points at (undefined without `sharing`). */
  readonly exclusiveBlocks: bigint | undefined;
  /** `mappedBlocks - exclusiveBlocks`, as thin_ls computes it (undefined without `sharing`). */
  readonly sharedBlocks: bigint | undefined;
  /** The highest mapped thin block, null when nothing is mapped (undefined without `highestMapped`). */
  readonly highestMappedBlock: bigint | null | undefined;
}

/**
 * Which data blocks the pool's mappings point at once, and which more than once: 2 bits per
 * data block, in chunks of 4096 blocks made when a block of theirs is first seen. A pool's
 * superblock bounds the blocks (its data device's count); a metadata snapshot's records no
 * space maps, so there only the chunks bound the memory: one 1 KiB chunk per mapping at
 * worst, and a mapping costs 16 bytes of the file, so the file's size justifies it.
 */
class DataBlockSeen {
  static readonly CHUNK_BLOCKS = 4096;
  readonly #chunks = new Map<number, Uint8Array>();
  readonly #limit: bigint | undefined;

  constructor(dataBlockCount: bigint) {
    this.#limit = dataBlockCount > 0n ? dataBlockCount : undefined;
  }

  #chunk(index: number, make: boolean): Uint8Array | undefined {
    let c = this.#chunks.get(index);
    if (!c && make) this.#chunks.set(index, (c = new Uint8Array(DataBlockSeen.CHUNK_BLOCKS / 4)));
    return c;
  }

  /** Marks one mapping of each block of `[dataBlock, dataBlock + lengthBlocks)`. */
  incRange(dataBlock: bigint, lengthBlocks: bigint, thinId: number): void {
    if (this.#limit !== undefined && dataBlock + lengthBlocks > this.#limit) {
      throw new DmThinMetadataError('THIN_METADATA_CORRUPT', `thin ${thinId} maps data blocks ${dataBlock}..${dataBlock + lengthBlocks - 1n}, beyond the pool's ${this.#limit} data blocks`);
    }
    this.#walk(dataBlock, lengthBlocks, true, (bits, i) => {
      const byte = i >> 2;
      const shift = (i & 3) * 2;
      const v = (bits[byte]! >> shift) & 3;
      if (v === 0) bits[byte]! |= 1 << shift;
      else if (v === 1) bits[byte]! |= 2 << shift;
    });
  }

  /** Blocks in `[dataBlock, dataBlock + lengthBlocks)` seen exactly once. */
  countOnce(dataBlock: bigint, lengthBlocks: bigint): bigint {
    let n = 0;
    this.#walk(dataBlock, lengthBlocks, false, (bits, i) => {
      if (((bits[i >> 2]! >> ((i & 3) * 2)) & 3) === 1) n++;
    });
    return BigInt(n);
  }

  /** Calls `fn` with each block's chunk and index in it, a chunk at a time. */
  #walk(dataBlock: bigint, lengthBlocks: bigint, make: boolean, fn: (bits: Uint8Array, i: number) => void): void {
    const C = BigInt(DataBlockSeen.CHUNK_BLOCKS);
    let b = dataBlock;
    const end = dataBlock + lengthBlocks;
    while (b < end) {
      const index = Number(b / C);
      const from = Number(b % C);
      const to = Number(end - b + BigInt(from) < C ? end - b + BigInt(from) : C);
      const bits = this.#chunk(index, make);
      if (bits) for (let i = from; i < to; i++) fn(bits, i);
      b += BigInt(to - from);
    }
  }
}

/**
 * One device's runs as pass 1 read them, kept for pass 2 (16 bytes a run: its first data
 * block and length), so each mapping tree is read once, not twice as thin_ls reads it.
 */
class DeviceRuns {
  #data = new Float64Array(64);
  count = 0;
  highest: bigint | null = null;

  add(dataBlock: bigint, lengthBlocks: bigint, lastThinBlock: bigint): void {
    if (this.count * 2 === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[this.count * 2] = Number(dataBlock);
    this.#data[this.count * 2 + 1] = Number(lengthBlocks);
    this.count++;
    if (this.highest === null || lastThinBlock > this.highest) this.highest = lastThinBlock;
  }

  /** Blocks of these runs `seen` saw exactly once. */
  exclusive(seen: DataBlockSeen): bigint {
    let n = 0n;
    for (let i = 0; i < this.count; i++) n += seen.countOnce(BigInt(this.#data[i * 2]!), BigInt(this.#data[i * 2 + 1]!));
    return n;
  }
}

/** Reads one device's mappings once: marks `seen` (when counting sharing) and keeps the runs. */
async function readDevice(metadata: ThinMetadata, thinId: number, seen: DataBlockSeen | undefined, bounds: WalkBounds): Promise<DeviceRuns> {
  const runs = new DeviceRuns();
  for await (const run of metadata.mappings(thinId, bounds.read())) {
    bounds.check();
    // Data blocks are at most 40 bits (a mapping's value): exact as doubles.
    if (seen) {
      seen.incRange(run.dataBlock, run.lengthBlocks, thinId);
      runs.add(run.dataBlock, run.lengthBlocks, run.thinBlock + run.lengthBlocks - 1n);
    } else if (runs.highest === null || run.thinBlock + run.lengthBlocks - 1n > runs.highest) {
      runs.highest = run.thinBlock + run.lengthBlocks - 1n;
    }
  }
  return runs;
}

/** Devices read at once: their block reads overlap (each read is a wait on the file). */
const CONCURRENT_DEVICES = 4;

/**
 * The devices of a pool with thin_ls's fields (`dmctl thin ls` prints them as thin_ls does),
 * ordered by thin id. Exclusive and shared blocks take every mapping of the pool (each tree
 * read once, its runs kept); `sharing: false` skips them.
 */
export async function listThinDevices(metadata: ThinMetadata, options: ListThinDevicesOptions = {}): Promise<ThinDeviceUsage[]> {
  checkMetadata(metadata);
  const bounds = walkBounds(options, 'listThinDevices');
  checkFlag(options.sharing, 'options.sharing');
  checkFlag(options.highestMapped, 'options.highestMapped');
  const sharing = options.sharing ?? true;
  const wantHighest = options.highestMapped ?? true;
  const sb = metadata.superblock;
  const devices = await metadata.devices(bounds.read());
  const seen = sharing ? new DataBlockSeen(sb.dataBlockCount) : undefined;
  const read: (DeviceRuns | undefined)[] = new Array(devices.length);
  if (sharing || wantHighest) {
    let next = 0;
    const worker = async () => {
      while (next < devices.length) {
        const i = next++;
        read[i] = await readDevice(metadata, devices[i]!.thinId, seen, bounds);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_DEVICES, devices.length) }, worker));
  }
  const out: ThinDeviceUsage[] = [];
  for (const [i, d] of devices.entries()) {
    bounds.check();
    const exclusiveBlocks = seen ? read[i]!.exclusive(seen) : undefined;
    out.push({
      thinId: d.thinId, mappedBlocks: d.mappedBlocks, transactionId: d.transactionId, creationTime: d.creationTime, snapshottedTime: d.snapshottedTime,
      dataBlockSizeSectors: sb.dataBlockSizeSectors,
      exclusiveBlocks,
      // thin_ls subtracts from the details' count (it never re-counts the mapped blocks).
      sharedBlocks: exclusiveBlocks === undefined ? undefined : d.mappedBlocks - exclusiveBlocks,
      highestMappedBlock: wantHighest ? read[i]!.highest : undefined,
    });
  }
  return out;
}
