/**
 * Changed-block tracking in the shape of the CSI SnapshotMetadata service (its
 * `GetMetadataAllocated` and `GetMetadataDelta` responses): byte ranges of a thin device, in
 * batches of at most `maxResults`, from a starting byte offset (docs/thin-tools.md). CSI
 * calls the fields `byte_offset` and `size_bytes`; here they are `offsetBytes` and `sizeBytes`
 * (the package names every quantity with its unit first).
 */
import { DmArgumentError } from '../errors.js';
import { checkMetadata, checkThinId, walkBounds } from './bounds.js';
import { thinDelta } from './delta.js';
import type { ThinMetadata, ThinReadOptions } from './types.js';

/** One range of a device's bytes (CSI's `BlockMetadata`). */
export interface ThinByteRange {
  /** CSI's `byte_offset`: where the range starts on the device. */
  readonly offsetBytes: bigint;
  /** CSI's `size_bytes`. */
  readonly sizeBytes: bigint;
}

/** One response of the stream (CSI's `GetMetadataAllocatedResponse` / `GetMetadataDeltaResponse`). */
export interface ThinByteRangeBatch {
  /**
   * CSI's `block_metadata_type`: `FIXED_LENGTH` (every range is one data block) or
   * `VARIABLE_LENGTH` (adjacent blocks joined).
   */
  readonly blockMetadataType: 'FIXED_LENGTH' | 'VARIABLE_LENGTH';
  /** The pool's data block size in bytes: every range starts and ends on a multiple of it. */
  readonly blockSizeBytes: bigint;
  /** At most `maxResults` ranges, in offset order. */
  readonly ranges: readonly ThinByteRange[];
}

/** Options of the CSI-shaped streams. */
export interface ThinByteRangeOptions extends ThinReadOptions {
  /** CSI's `starting_offset`: ranges before it are left out; the block holding it is the first one reported. Default 0. */
  readonly startingOffsetBytes?: bigint | number | undefined;
  /** CSI's `max_results`: ranges per batch (0 or absent: 1024). */
  readonly maxResults?: number | undefined;
  /** `FIXED_LENGTH` reports one range per data block. Default `VARIABLE_LENGTH`. */
  readonly blockMetadataType?: 'FIXED_LENGTH' | 'VARIABLE_LENGTH' | undefined;
}

const DEFAULT_MAX_RESULTS = 1024;

interface Plan {
  readonly blockSizeBytes: bigint;
  readonly startBlock: bigint;
  readonly maxResults: number;
  readonly type: 'FIXED_LENGTH' | 'VARIABLE_LENGTH';
}

function plan(metadata: ThinMetadata, options: ThinByteRangeOptions): Plan {
  const start = options.startingOffsetBytes ?? 0;
  if (!((typeof start === 'number' && Number.isSafeInteger(start) && start >= 0) || (typeof start === 'bigint' && start >= 0n))) {
    throw new DmArgumentError('options.startingOffsetBytes', 'a non-negative integer', String(start));
  }
  const maxResults = options.maxResults ?? 0;
  if (!Number.isSafeInteger(maxResults) || maxResults < 0) throw new DmArgumentError('options.maxResults', 'a non-negative integer', String(maxResults));
  const type = options.blockMetadataType ?? 'VARIABLE_LENGTH';
  if (type !== 'FIXED_LENGTH' && type !== 'VARIABLE_LENGTH') throw new DmArgumentError('options.blockMetadataType', "'FIXED_LENGTH' or 'VARIABLE_LENGTH'", String(type));
  const blockSizeBytes = BigInt(metadata.superblock.dataBlockSizeSectors) * 512n;
  return { blockSizeBytes, startBlock: BigInt(start) / blockSizeBytes, maxResults: maxResults === 0 ? DEFAULT_MAX_RESULTS : maxResults, type };
}

/** Block ranges `[first, first + count)` from `startBlock` on, adjacent ones merged into one. */
async function* merged(startBlock: bigint, blocks: AsyncIterable<{ first: bigint; count: bigint }>): AsyncGenerator<{ first: bigint; count: bigint }, void, undefined> {
  let open: { first: bigint; count: bigint } | undefined;
  for await (const b of blocks) {
    let { first, count } = b;
    if (first + count <= startBlock) continue;
    if (first < startBlock) {
      count -= startBlock - first;
      first = startBlock;
    }
    if (open && open.first + open.count === first) {
      open.count += count;
      continue;
    }
    if (open) yield open;
    open = { first, count };
  }
  if (open) yield open;
}

/** Batches block ranges `[first, first + count)` into byte ranges as `plan` says. */
async function* batches(p: Plan, blocks: AsyncIterable<{ first: bigint; count: bigint }>): AsyncGenerator<ThinByteRangeBatch, void, undefined> {
  let ranges: ThinByteRange[] = [];
  const emit = function* (r: { first: bigint; count: bigint }): Generator<ThinByteRange> {
    if (p.type === 'VARIABLE_LENGTH') yield { offsetBytes: r.first * p.blockSizeBytes, sizeBytes: r.count * p.blockSizeBytes };
    else for (let b = r.first; b < r.first + r.count; b++) yield { offsetBytes: b * p.blockSizeBytes, sizeBytes: p.blockSizeBytes };
  };
  const batch = (): ThinByteRangeBatch => ({ blockMetadataType: p.type, blockSizeBytes: p.blockSizeBytes, ranges });
  for await (const r of merged(p.startBlock, blocks)) {
    for (const range of emit(r)) {
      ranges.push(range);
      if (ranges.length === p.maxResults) {
        yield batch();
        ranges = [];
      }
    }
  }
  if (ranges.length > 0) yield batch();
}

/**
 * CSI `GetMetadataAllocated` over a thin device: its mapped byte ranges in batches. Adjacent
 * mapped blocks form one range (`VARIABLE_LENGTH`) whatever data blocks they sit on.
 */
export async function* allocatedByteRanges(metadata: ThinMetadata, thinId: number, options: ThinByteRangeOptions = {}): AsyncGenerator<ThinByteRangeBatch, void, undefined> {
  checkMetadata(metadata);
  const bounds = walkBounds(options, 'allocatedByteRanges');
  checkThinId(thinId, 'thinId');
  const p = plan(metadata, options);
  async function* blocks() {
    for await (const run of metadata.mappings(thinId, bounds.read())) {
      bounds.check();
      yield { first: run.thinBlock, count: run.lengthBlocks };
    }
  }
  yield* batches(p, blocks());
}

/**
 * CSI `GetMetadataDelta` between two thin devices (a base snapshot and a later target, of the
 * same origin): the byte ranges a copy of the base needs from the target to become the
 * target. That is every block thin_delta reports as different or right-only, and the
 * left-only blocks too (mapped in the base, unmapped in the target: the target reads zeros
 * there, which the copy must get). A thin id the metadata lacks is `THIN_METADATA_NO_DEVICE`.
 */
export async function* changedByteRanges(metadata: ThinMetadata, baseThinId: number, targetThinId: number, options: ThinByteRangeOptions = {}): AsyncGenerator<ThinByteRangeBatch, void, undefined> {
  checkMetadata(metadata);
  const bounds = walkBounds(options, 'changedByteRanges');
  checkThinId(baseThinId, 'baseThinId');
  checkThinId(targetThinId, 'targetThinId');
  const p = plan(metadata, options);
  async function* blocks() {
    for await (const r of thinDelta(metadata, baseThinId, targetThinId, { ...bounds.read(), includeSame: false })) {
      yield { first: r.thinBlock, count: r.lengthBlocks };
    }
  }
  yield* batches(p, blocks());
}
