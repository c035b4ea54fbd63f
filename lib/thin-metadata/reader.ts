/**
 * `openThinMetadata()`: a thin pool's metadata read from a metadata file or device through
 * the backend's BlockIo (the host's, or the simulator's files for a simulated client):
 * the superblock (or a held metadata snapshot's copy), the device-details btree, the
 * two-level mapping btree and the data space map's reference counts. Everything is walked
 * lazily with one path of nodes and a small block cache (docs/thin-metadata.md).
 */
import type { DeviceMapper } from '../client/client.js';
import { optionsArg, valueArg, describeValue } from '../client/args.js';
import { callOptionsArg } from '../client/call-bounds.js';
import { runBlock } from '../block/block-io.js';
import { compile } from '../../codec/layout.js';
import {
  SM_BITMAP_OVERFLOW, SM_ENTRIES_PER_BITMAP_BLOCK, THIN_MAPPING_TIME_BITS, THIN_SUPERBLOCK_LOCATION, bitmapEntry, deviceDetails, indexEntry,
} from '../../codec/thin-metadata-records.js';
import { DmArgumentError, DmBaseError, DmThinMetadataError } from '../errors.js';
import { MetadataBlocks, boundsOf, corrupt, type ReadBounds } from './blocks.js';
import { btreeLastKey, btreeLeaves, btreeLeavesSync, btreeLookup, keyAt, keyOffset, valueOffset, type BtreeNode, type BtreeSpec } from './btree.js';
import { SAFE_BLOCK_LIMIT, runChunkSources, type RunChunk, type RunChunks } from './run-chunks.js';
import { readSuperblock, type SpaceMapRoot, type SuperblockRoots } from './superblock.js';
import type { ThinDeviceDetails, ThinMappingRun, ThinMetadata, ThinMetadataSuperblock, ThinReadOptions } from './types.js';

/** Options of {@link openThinMetadata}. */
export interface OpenThinMetadataOptions extends ThinReadOptions {
  /** Whose files: a client's backend (the simulator's for a simulated one); the host's when absent. */
  readonly dm?: DeviceMapper | undefined;
  /**
   * Read the held metadata snapshot instead of the live superblock (thin_dump `-m`): `true`
   * for the one block 0 names; a block number must be that one (thin_dump's check).
   * DmThinMetadataError THIN_METADATA_NO_SNAPSHOT when none is held.
   */
  readonly metadataSnap?: boolean | bigint | number | undefined;
}

const detailsCodec = compile(deviceDetails, { endian: 'little' });
const indexEntryCodec = compile(indexEntry, { endian: 'little' });
const DETAILS: BtreeSpec = { name: 'device details', valueSize: deviceDetails.size };
const TOP: BtreeSpec = { name: 'mapping top level', valueSize: 8 };
const INDEX: BtreeSpec = { name: 'data space map index', valueSize: indexEntry.size };
const REF_COUNTS: BtreeSpec = { name: 'data space map reference counts', valueSize: 4 };
/** A mapping value's low word modulo this is its time. */
const TIME_MODULUS = 2 ** THIN_MAPPING_TIME_BITS;
/** 2^21: a u64 whose high word is below this is a safe integer as a number. */
const SAFE_HIGH = 0x200000;

/** The ThinMetadata a metadata file gives. */
export class ThinMetadataReader implements ThinMetadata {
  /** The superblock read (block 0, or the held metadata snapshot's). */
  readonly superblock: ThinMetadataSuperblock;
  readonly #blocks: MetadataBlocks;
  readonly #roots: SuperblockRoots;
  readonly #onClose: (() => Promise<void>) | undefined;
  #closing: Promise<void> | undefined;

  /** @internal Made by {@link openThinMetadata}. */
  constructor(blocks: MetadataBlocks, roots: SuperblockRoots, onClose?: () => Promise<void>) {
    this.#blocks = blocks;
    this.#roots = roots;
    this.superblock = roots.superblock;
    this.#onClose = onClose;
    // The delta hands its reads' options (bounds.ts walkBounds.read): made into bounds here, so
    // the walk's reads keep its deadline and the caller's TIMEOUT.
    runChunkSources.set(this, (thinId, options) => this.#runChunkSource(thinId, boundsOf(options)));
  }

  /** True when blocks are read synchronously (a host file): reading ahead would overlap nothing. */
  get readsSynchronously(): boolean { return this.#blocks.synchronous; }

  /** Blocks read from the file so far (the cache's misses). */
  get blocksRead(): number { return this.#blocks.reads; }

  /** Read calls made on the file so far (a window of adjacent blocks is one). */
  get fileReads(): number { return this.#blocks.fileReads; }

  /** Every thin device of the device-details tree, ordered by thin id. */
  async devices(options: ThinReadOptions = {}): Promise<ThinDeviceDetails[]> {
    callOptionsArg(options);
    const bounds = boundsOf(options);
    const out: ThinDeviceDetails[] = [];
    for await (const node of btreeLeaves(this.#blocks, this.#roots.deviceDetailsRoot, DETAILS, bounds)) {
      for (let i = 0; i < node.entries; i++) {
        const id = keyAt(node, i);
        if (id > 0xffffffn) throw corrupt(node.block, `device details btree holds thin id ${id} (above 24 bits)`);
        const d = detailsCodec.decode(node.view, node.bytes, valueOffset(node, i));
        out.push({ thinId: Number(id), mappedBlocks: d.mapped_blocks, transactionId: d.transaction_id, creationTime: d.creation_time, snapshottedTime: d.snapshotted_time });
      }
    }
    return out;
  }

  /**
   * The thin ids the mapping tree's top level holds, each with its mapping btree's root, in
   * id order (thin_dump walks this level; a device without details there is an error).
   */
  async *mappingRoots(options: ThinReadOptions = {}): AsyncGenerator<{ thinId: number; root: bigint }> {
    callOptionsArg(options);
    const bounds = boundsOf(options);
    for await (const node of btreeLeaves(this.#blocks, this.#roots.dataMappingRoot, TOP, bounds)) {
      for (let i = 0; i < node.entries; i++) {
        const id = keyAt(node, i);
        if (id > 0xffffffn) throw corrupt(node.block, `mapping btree holds thin id ${id} (above 24 bits)`);
        yield { thinId: Number(id), root: node.view.getBigUint64(valueOffset(node, i), true) };
      }
    }
  }

  /**
   * Thin `thinId`'s mappings in thin-block order as maximal runs (one path of nodes in
   * memory); DmThinMetadataError THIN_METADATA_NO_DEVICE when the mapping tree lacks the id.
   */
  async *mappings(thinId: number, options: ThinReadOptions = {}): AsyncGenerator<ThinMappingRun> {
    valueArg(thinId, 'thinId', 'uint');
    if (thinId > 0xffffff) throw new DmArgumentError('thinId', 'a thin id (0 to 2^24-1)', describeValue(thinId));
    callOptionsArg(options);
    const bounds = boundsOf(options);
    yield* this.#runs(thinId, await this.#mappingRoot(thinId, bounds), bounds);
  }

  /** The root of thin `thinId`'s mapping btree; THIN_METADATA_NO_DEVICE when the top level lacks it. */
  async #mappingRoot(thinId: number, bounds: ReadBounds): Promise<bigint> {
    const found = await btreeLookup(this.#blocks, this.#roots.dataMappingRoot, TOP, BigInt(thinId), bounds);
    if (found === undefined) throw new DmThinMetadataError('THIN_METADATA_NO_DEVICE', `the metadata holds no mappings for thin id ${thinId}`);
    return found.node.view.getBigUint64(found.offset, true);
  }

  /** Thin `thinId`'s runs in chunks of numbers (run-chunks.ts), or undefined when a block number could exceed 2^53. */
  async #runChunkSource(thinId: number, bounds: ReadBounds): Promise<RunChunks | undefined> {
    const root = await this.#mappingRoot(thinId, bounds);
    const spec: BtreeSpec = { name: `thin ${thinId} mappings`, valueSize: 8 };
    // The last key is the largest (the walk checks keys increase across the whole tree).
    const last = await btreeLastKey(this.#blocks, root, spec, bounds);
    if (last !== undefined && last >= SAFE_BLOCK_LIMIT) return undefined;
    return this.#runChunks(root, spec, bounds);
  }

  /**
   * {@link #runs} in chunks of numbers, one a leaf (valid until the next), times ignored: the
   * delta joins runs across them. A host file's walk is synchronous (no promise per node or
   * leaf: the merge gives the event loop its turns); any other file's is async.
   */
  #runChunks(root: bigint, spec: BtreeSpec, bounds: ReadBounds): RunChunks {
    return this.#blocks.synchronous
      ? chunksOf(btreeLeavesSync(this.#blocks, root, spec, bounds), spec)
      : chunksOfAsync(btreeLeaves(this.#blocks, root, spec, bounds), spec);
  }

  /** The runs of the mapping btree at `root` (thin `thinId`'s, as {@link mappingRoots} gives it). */
  async *mappingsAt(thinId: number, root: bigint, options: ThinReadOptions = {}): AsyncGenerator<ThinMappingRun> {
    callOptionsArg(options);
    yield* this.#runs(thinId, root, boundsOf(options));
  }

  async *#runs(thinId: number, root: bigint, bounds: ReadBounds): AsyncGenerator<ThinMappingRun> {
    const spec: BtreeSpec = { name: `thin ${thinId} mappings`, valueSize: 8 };
    // The run being built, in numbers while its blocks are safe integers (the common case:
    // a bigint per mapping would dominate the walk); a block past 2^53 ends runs at once.
    let inRun = false;
    let originStart = 0;
    let dataStart = 0;
    let time = 0;
    let len = 0;
    const run = (): ThinMappingRun => ({ thinBlock: BigInt(originStart), dataBlock: BigInt(dataStart), lengthBlocks: BigInt(len), time });
    for await (const node of btreeLeaves(this.#blocks, root, spec, bounds)) {
      const v = node.view;
      for (let i = 0; i < node.entries; i++) {
        const ko = keyOffset(i);
        const klo = v.getUint32(ko, true);
        const khi = v.getUint32(ko + 4, true);
        const vo = valueOffset(node, i);
        const vlo = v.getUint32(vo, true);
        const vhi = v.getUint32(vo + 4, true);
        const t = vlo % TIME_MODULUS;
        if (khi >= SAFE_HIGH) {
          if (inRun) { yield run(); inRun = false; }
          const key = keyAt(node, i);
          const value = v.getBigUint64(vo, true);
          yield { thinBlock: key, dataBlock: value >> BigInt(THIN_MAPPING_TIME_BITS), lengthBlocks: 1n, time: t };
          continue;
        }
        const origin = khi * 0x100000000 + klo;
        const data = vhi * 256 + (vlo >>> THIN_MAPPING_TIME_BITS);
        if (inRun && origin === originStart + len && data === dataStart + len && t === time) {
          len++;
          continue;
        }
        if (inRun) yield run();
        inRun = true;
        originStart = origin;
        dataStart = data;
        time = t;
        len = 1;
      }
    }
    if (inRun) yield run();
  }

  /** The data space map's reference count of `dataBlock` (0: free; 3 and more from the overflow btree). */
  async dataBlockReferenceCount(dataBlock: bigint, options: ThinReadOptions = {}): Promise<number> {
    valueArg(dataBlock, 'dataBlock', 'u64');
    callOptionsArg(options);
    const sm: SpaceMapRoot = this.#roots.dataSpaceMap;
    if (sm.nrBlocks === 0n && this.superblock.blockNumber !== THIN_SUPERBLOCK_LOCATION) {
      throw new DmThinMetadataError('THIN_METADATA_NO_SPACE_MAP', 'a metadata snapshot records no space maps: reference counts are read from the live superblock');
    }
    const b = BigInt(dataBlock);
    if (b >= sm.nrBlocks) throw new DmArgumentError('dataBlock', `a data block below ${sm.nrBlocks}`, describeValue(dataBlock));
    const bounds = boundsOf(options);
    const index = b / BigInt(SM_ENTRIES_PER_BITMAP_BLOCK);
    const found = await btreeLookup(this.#blocks, sm.bitmapRoot, INDEX, index, bounds);
    if (found === undefined) throw corrupt(sm.bitmapRoot, `data space map index holds no bitmap ${index} (for data block ${b})`);
    const entry = indexEntryCodec.decode(found.node.view, found.node.bytes, found.offset);
    const bitmap = await this.#blocks.read(entry.blocknr, 'bitmap', bounds, `data space map index entry ${index}`);
    const count = bitmapEntry(bitmap.bytes, Number(b % BigInt(SM_ENTRIES_PER_BITMAP_BLOCK)));
    if (count < SM_BITMAP_OVERFLOW) return count;
    const over = await btreeLookup(this.#blocks, sm.refCountRoot, REF_COUNTS, b, bounds);
    if (over === undefined) throw corrupt(entry.blocknr, `bitmap says data block ${b} has 3 or more references, but the reference-count btree holds none`);
    return over.node.view.getUint32(over.offset, true);
  }

  /** Closes the file and runs the close callback (a ThinPool's snapshot release) once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#blocks.close();
      } finally {
        await this.#onClose?.();
      }
    })();
    return this.#closing;
  }

  /** `await using`: {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens a thin pool's metadata: a metadata file (thin_restore's output, a copy of a metadata
 * device) or a metadata block device, read-only, through `options.dm`'s backend (the host's
 * when absent). The superblock is read and checked at once; the trees when asked. Use with
 * `await using`, or close it.
 */
export async function openThinMetadata(path: string, options: OpenThinMetadataOptions = {}): Promise<ThinMetadataReader> {
  return openThinMetadataWith(path, options);
}

/** {@link openThinMetadata} with a callback run once by close() (ThinPool's release of its metadata snapshot). */
export async function openThinMetadataWith(path: string, options: OpenThinMetadataOptions, onClose?: () => Promise<void>): Promise<ThinMetadataReader> {
  valueArg(path, 'path', 'string');
  optionsArg(options, 'options', { dm: 'object', signal: 'signal', timeoutMs: 'any', metadataSnap: 'any' });
  const snap = options.metadataSnap;
  if (snap !== undefined && typeof snap !== 'boolean') valueArg(snap, 'options.metadataSnap', 'u64');
  return runBlock(options.dm, 'openThinMetadata', options, async (op, io) => {
    const file = await op.step(`opening ${path}`, () => io.openFile(path, 'read'));
    try {
      // The kernel writes metadata past the page cache (dm-bufio): what an earlier read cached
      // of a block device may be stale. thin_dump reads with O_DIRECT; dropping the cache once
      // is as good here, since what a held snapshot reaches is not written while it is held.
      // Without the privilege (EACCES, EPERM) the read goes on through the cache.
      await op.step(`dropping cached pages of ${path}`, async () => {
        try {
          await file.dropCachedPages?.();
        } catch (e) {
          if (!(e instanceof DmBaseError && (e.code === 'EACCES' || e.code === 'EPERM'))) throw e;
        }
      });
      const blocks = new MetadataBlocks(file, await op.step(`the size of ${path}`, () => file.sizeBytes()));
      const bounds: ReadBounds = { signal: op.signal };
      let roots = await readSuperblock(blocks, THIN_SUPERBLOCK_LOCATION, bounds);
      if (snap !== undefined && snap !== false) {
        const held = roots.superblock.metadataSnapBlock;
        if (held === 0n) throw new DmThinMetadataError('THIN_METADATA_NO_SNAPSHOT', 'no current metadata snap');
        if (snap !== true && BigInt(snap) !== held) {
          throw new DmThinMetadataError('THIN_METADATA_NO_SNAPSHOT', 'metadata snapshot does not match that in superblock');
        }
        roots = await readSuperblock(blocks, held, bounds);
      }
      return new ThinMetadataReader(blocks, roots, onClose);
    } catch (e) {
      await file.close();
      throw e;
    }
  });
}

/** A leaf at a time into a reused RunChunk (reader's #runChunks): runs joined while thin and data blocks stay consecutive. */
class ChunkBuilder {
  // A leaf holds at most 254 mappings of 8 bytes, and one run may carry over from the leaf before.
  readonly chunk: RunChunk = { n: 0, thinBlock: new Float64Array(512), dataBlock: new Float64Array(512), lengthBlocks: new Float64Array(512) };
  readonly #spec: BtreeSpec;
  #inRun = false;
  #originStart = 0;
  #dataStart = 0;
  #len = 0;

  constructor(spec: BtreeSpec) { this.#spec = spec; }

  /** Takes one leaf's mappings; true when the chunk holds runs to hand out. */
  leaf(node: BtreeNode): boolean {
    const v = node.view;
    const chunk = this.chunk;
    chunk.n = 0;
    let inRun = this.#inRun;
    let originStart = this.#originStart;
    let dataStart = this.#dataStart;
    let len = this.#len;
    for (let i = 0; i < node.entries; i++) {
      const ko = keyOffset(i);
      const klo = v.getUint32(ko, true);
      const khi = v.getUint32(ko + 4, true);
      // The last key was checked below 2^53 before the walk: only a file changed under the
      // walk gets here.
      if (khi >= SAFE_HIGH) throw corrupt(node.block, `${this.#spec.name} btree key ${keyAt(node, i)} lies past the tree's last key (the file changed while read)`);
      const vo = valueOffset(node, i);
      const origin = khi * 0x100000000 + klo;
      const data = v.getUint32(vo + 4, true) * 256 + (v.getUint32(vo, true) >>> THIN_MAPPING_TIME_BITS);
      if (inRun && origin === originStart + len && data === dataStart + len) {
        len++;
        continue;
      }
      if (inRun) {
        const k = chunk.n++;
        chunk.thinBlock[k] = originStart;
        chunk.dataBlock[k] = dataStart;
        chunk.lengthBlocks[k] = len;
      }
      inRun = true;
      originStart = origin;
      dataStart = data;
      len = 1;
    }
    this.#inRun = inRun;
    this.#originStart = originStart;
    this.#dataStart = dataStart;
    this.#len = len;
    return chunk.n > 0;
  }

  /** The run still open at the end of the walk; true when there is one. */
  finish(): boolean {
    if (!this.#inRun) return false;
    const chunk = this.chunk;
    chunk.n = 1;
    chunk.thinBlock[0] = this.#originStart;
    chunk.dataBlock[0] = this.#dataStart;
    chunk.lengthBlocks[0] = this.#len;
    return true;
  }
}

/**
 * A synchronous leaf walk's runs in chunks: one a leaf, empty when the leaf only lengthens
 * the run in progress, so the merge counts leaves (its event-loop turns, its bounds checks)
 * even while one run spans thousands of them (a device written sequentially).
 */
function* chunksOf(leaves: Generator<BtreeNode, void, undefined>, spec: BtreeSpec): Generator<RunChunk, void, undefined> {
  const b = new ChunkBuilder(spec);
  for (const node of leaves) {
    b.leaf(node);
    yield b.chunk;
  }
  if (b.finish()) yield b.chunk;
}

/** An async leaf walk's runs in chunks (one a leaf, as {@link chunksOf}). */
async function* chunksOfAsync(leaves: AsyncGenerator<BtreeNode>, spec: BtreeSpec): AsyncGenerator<RunChunk, void, undefined> {
  const b = new ChunkBuilder(spec);
  for await (const node of leaves) {
    b.leaf(node);
    yield b.chunk;
  }
  if (b.finish()) yield b.chunk;
}
