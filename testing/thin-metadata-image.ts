/**
 * The bytes of a simulated pool's metadata device: a persistent-data image as
 * dm-thin-metadata.c lays it out (docs/thin-metadata.md), built from the pool model of
 * thin-sim.ts, so the library's reader, dmctl thin ls|dump|delta and thin-provisioning-tools
 * read a simulated pool as they read a real one. The layouts, salts and packing are
 * codec/thin-metadata-records.ts's; nothing here redeclares an offset.
 *
 * Layout (one image per pool state; the kernel's shadowing is not modelled, so no btree node
 * is shared and every metadata block has one reference):
 * - block 0: the superblock; then the metadata space map's index block and bitmaps, its
 *   (empty) reference-count btree, the data space map's bitmaps, index btree and
 *   reference-count btree (counts of 3 and more), the device-details btree and the two-level
 *   mapping btree (one bottom-level tree per thin, then the top level keyed by thin id).
 * - a held metadata snapshot (`reserve_metadata_snap`) is frozen at the top of the device:
 *   its superblock copy (space map roots zeroed, as __reserve_metadata_snap leaves them) and
 *   its own device-details and mapping trees. They stay where they are while it is held;
 *   the current image is built below them. Released, those blocks read as zeros again.
 * - a data block's reference count is the number of mapping leaves naming it; with no node
 *   shared, that is the number of thins (current and held) mapping it, which is what the
 *   simulator's `refs` counts for the current thins.
 * - btree nodes hold `3 * floor(total / 3)` entries at most (dm-btree.c calc_max_entries);
 *   the entries of a level are spread evenly, so no node but a root is under a third full
 *   (thin_check's rule).
 */
import {
  compile, viewOf, BTREE_INTERNAL_NODE, BTREE_LEAF_NODE, SM_BITMAP_OVERFLOW, SM_ENTRIES_PER_BITMAP_BLOCK, SM_MAX_METADATA_BITMAPS, THIN_METADATA_BLOCK_BYTES,
  THIN_SUPERBLOCK_MAGIC, bitmapHeader, btreeNodeHeader, deviceDetails, indexEntry, metadataIndexHeader, packBlockTime, spaceMapRoot,
  thinBlockChecksum, thinSuperblock, type ThinBlockKind,
} from '../codec/index.js';
import { SimError } from './errors.js';

const BLOCK = THIN_METADATA_BLOCK_BYTES;
const header = compile(btreeNodeHeader, { endian: 'little' });
const superCodec = compile(thinSuperblock, { endian: 'little' });
const smRootCodec = compile(spaceMapRoot, { endian: 'little' });
const detailsCodec = compile(deviceDetails, { endian: 'little' });
const indexCodec = compile(indexEntry, { endian: 'little' });
const metaIndexCodec = compile(metadataIndexHeader, { endian: 'little' });
const bitmapCodec = compile(bitmapHeader, { endian: 'little' });
/** dm-thin-metadata.c THIN_VERSION (the kernels since 4.x write 2). */
const THIN_VERSION = 2;
/** The metadata block size in 512-byte sectors. */
const METADATA_BLOCK_SECTORS = BLOCK / 512;

/** One thin as the image needs it (thin-sim.ts's SimThin satisfies it). */
export interface ImageThin {
  readonly id: number;
  /** Thin block → data block. */
  readonly map: ReadonlyMap<number, number>;
  /** Thin block → the pool time its mapping was made at. */
  readonly times: ReadonlyMap<number, number>;
  readonly transactionId: bigint;
  readonly creationTime: number;
  readonly snapshottedTime: number;
}

/** The pool state an image is built from. */
export interface ImageState {
  readonly blockSizeSectors: number;
  readonly dataBlocks: number;
  readonly transactionId: bigint;
  readonly time: number;
  readonly thins: ReadonlyMap<number, ImageThin>;
}

/** A metadata image: written blocks by number (a block absent reads as zeros). */
export interface MetadataImage {
  readonly blocks: ReadonlyMap<number, Uint8Array>;
  readonly blockCount: number;
}

/** A held metadata snapshot: its frozen blocks, the block of its superblock copy, the state it was frozen from. */
export interface HeldMetadata {
  readonly blocks: ReadonlyMap<number, Uint8Array>;
  readonly superblock: number;
  /** Its data blocks stay referenced (counted in the current data space map) while it is held. */
  readonly state: ImageState;
  /** The data blocks its thins map: not free while it is held. */
  readonly dataBlocks: ReadonlySet<number>;
}

/** The image does not fit the metadata device (the kernel would run out of metadata space): ENOSPC. */
function full(blockCount: number): SimError {
  return new SimError('ENOSPC', `thin-pool metadata does not fit its ${blockCount}-block metadata device`);
}

/** Blocks handed out upward from `next` (or downward from `next`), never into `taken`. */
class Allocator {
  readonly blocks = new Map<number, Uint8Array>();
  #next: number;
  readonly #step: 1 | -1;
  readonly #limit: number;
  readonly #taken: ReadonlyMap<number, Uint8Array>;
  constructor(start: number, step: 1 | -1, limit: number, taken: ReadonlyMap<number, Uint8Array> = new Map()) {
    this.#next = start;
    this.#step = step;
    this.#limit = limit;
    this.#taken = taken;
  }
  alloc(): number {
    while (this.#taken.has(this.#next)) this.#next += this.#step;
    const b = this.#next;
    if (b < 1 || b >= this.#limit) throw full(this.#limit);
    this.#next += this.#step;
    return b;
  }
}

/** Seals a block: its block number and checksum (covering all after the csum field). */
function seal(bytes: Uint8Array, kind: ThinBlockKind): void {
  viewOf(bytes).setUint32(0, thinBlockChecksum(bytes, 4, BLOCK, kind), true);
}

/** dm-btree.c calc_max_entries. */
function maxEntries(valueSize: number): number {
  return 3 * Math.floor(Math.floor((BLOCK - btreeNodeHeader.size) / (8 + valueSize)) / 3);
}

/**
 * A btree of `count` entries (keys ascending), built bottom-up; returns its root. An empty
 * tree is one empty leaf (dm_btree_empty).
 */
function buildBtree(a: Allocator, count: number, keyOf: (i: number) => number, valueSize: number, writeValue: (view: DataView, bytes: Uint8Array, at: number, i: number) => void): number {
  let level: { key: number; block: number }[] = [];
  const node = (leaf: boolean, entries: number, keys: (j: number) => number, put: (view: DataView, bytes: Uint8Array, at: number, j: number) => void): number => {
    const block = a.alloc();
    const bytes = new Uint8Array(BLOCK);
    const view = viewOf(bytes);
    const vs = leaf ? valueSize : 8;
    const max = maxEntries(vs);
    header.encode(view, bytes, 0, { csum: 0, flags: leaf ? BTREE_LEAF_NODE : BTREE_INTERNAL_NODE, blocknr: BigInt(block), nr_entries: entries, max_entries: max, value_size: vs, padding: 0 });
    const values = btreeNodeHeader.size + 8 * max;
    for (let j = 0; j < entries; j++) {
      view.setBigUint64(btreeNodeHeader.size + 8 * j, BigInt(keys(j)), true);
      put(view, bytes, values + vs * j, j);
    }
    seal(bytes, 'btree');
    a.blocks.set(block, bytes);
    return block;
  };
  const spread = (n: number, max: number): number[] => {
    const k = Math.max(1, Math.ceil(n / max));
    return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
  };
  let first = 0;
  for (const size of spread(count, maxEntries(valueSize))) {
    const base = first;
    level.push({ key: count === 0 ? 0 : keyOf(base), block: node(true, size, (j) => keyOf(base + j), (v, b, at, j) => writeValue(v, b, at, base + j)) });
    first += size;
  }
  while (level.length > 1) {
    const children = level;
    level = [];
    first = 0;
    for (const size of spread(children.length, maxEntries(8))) {
      const base = first;
      level.push({ key: children[base]!.key, block: node(false, size, (j) => children[base + j]!.key, (v, _b, at, j) => v.setBigUint64(at, BigInt(children[base + j]!.block), true)) });
      first += size;
    }
  }
  return level[0]!.block;
}

/** The device-details tree and the two-level mapping tree of `state`; returns their roots. */
function buildTrees(a: Allocator, state: ImageState): { details: number; mapping: number } {
  const thins = [...state.thins.values()].sort((x, y) => x.id - y.id);
  const roots = thins.map((t) => {
    const keys = [...t.map.keys()].sort((x, y) => x - y);
    return buildBtree(a, keys.length, (i) => keys[i]!, 8, (v, _b, at, i) => {
      v.setBigUint64(at, packBlockTime(BigInt(t.map.get(keys[i]!)!), t.times.get(keys[i]!) ?? 0), true);
    });
  });
  const mapping = buildBtree(a, thins.length, (i) => thins[i]!.id, 8, (v, _b, at, i) => v.setBigUint64(at, BigInt(roots[i]!), true));
  const details = buildBtree(a, thins.length, (i) => thins[i]!.id, deviceDetails.size, (v, b, at, i) => {
    const t = thins[i]!;
    detailsCodec.encode(v, b, at, { mapped_blocks: BigInt(t.map.size), transaction_id: t.transactionId, creation_time: t.creationTime, snapshotted_time: t.snapshottedTime });
  });
  return { details, mapping };
}

/** A superblock (block `at`) of `state`; space map roots are written by the caller. */
function superblock(at: number, state: ImageState, metadataBlocks: number, trees: { details: number; mapping: number }, heldRoot: number): Uint8Array {
  const bytes = new Uint8Array(BLOCK);
  superCodec.encode(viewOf(bytes), bytes, 0, {
    csum: 0, flags: 0, blocknr: BigInt(at), uuid: new Array<number>(16).fill(0), magic: THIN_SUPERBLOCK_MAGIC, version: THIN_VERSION, time: state.time,
    trans_id: state.transactionId, held_root: BigInt(heldRoot), data_space_map_root: new Array<number>(128).fill(0), metadata_space_map_root: new Array<number>(128).fill(0),
    data_mapping_root: BigInt(trees.mapping), device_details_root: BigInt(trees.details), data_block_size: state.blockSizeSectors,
    metadata_block_size: METADATA_BLOCK_SECTORS, metadata_nr_blocks: BigInt(metadataBlocks), compat_flags: 0, compat_ro_flags: 0, incompat_flags: 0,
  });
  return bytes;
}

/** Sets entry `i` of a bitmap block to `count` (3 for 3 and more): bitmapEntry()'s inverse. */
function setBitmapEntry(bytes: Uint8Array, i: number, count: number): void {
  const c = Math.min(count, SM_BITMAP_OVERFLOW);
  const at = bitmapHeader.size + (i >>> 2);
  const bit = (i & 3) << 1;
  bytes[at] = (bytes[at]! & ~(3 << bit)) | (((c >>> 1) & 1) << bit) | ((c & 1) << (bit + 1));
}

/** Bitmap blocks for `counts` over `nrBlocks` entries, at the blocks given; returns their index entries. */
function bitmaps(a: Allocator, at: readonly number[], nrBlocks: number, counts: ReadonlyMap<number, number>): { blocknr: number; nr_free: number; none_free_before: number }[] {
  return at.map((block, k) => {
    const bytes = new Uint8Array(BLOCK);
    bitmapCodec.encode(viewOf(bytes), bytes, 0, { csum: 0, not_used: 0, blocknr: BigInt(block) });
    const base = k * SM_ENTRIES_PER_BITMAP_BLOCK;
    let used = 0;
    let firstFree = -1;
    for (let i = 0; i < SM_ENTRIES_PER_BITMAP_BLOCK; i++) {
      const c = base + i < nrBlocks ? counts.get(base + i) ?? 0 : 0;
      if (c > 0) { setBitmapEntry(bytes, i, c); used++; } else if (firstFree < 0) firstFree = i;
    }
    seal(bytes, 'bitmap');
    a.blocks.set(block, bytes);
    // sm_ll_extend starts each bitmap with every entry free; allocations take them one by one.
    return { blocknr: block, nr_free: SM_ENTRIES_PER_BITMAP_BLOCK - used, none_free_before: firstFree < 0 ? SM_ENTRIES_PER_BITMAP_BLOCK : firstFree };
  });
}

/** The reference-count btree of the counts of 3 and more; returns its root. */
function overflowTree(a: Allocator, counts: ReadonlyMap<number, number>): number {
  const over = [...counts].filter(([, c]) => c >= SM_BITMAP_OVERFLOW).sort((x, y) => x[0] - y[0]);
  return buildBtree(a, over.length, (i) => over[i]![0], 4, (v, _b, at, i) => v.setUint32(at, over[i]![1], true));
}

/** Freezes a metadata snapshot of `state` (a copy of the pool's: copyState) at the top of a `metadataBlocks`-block device (reserve_metadata_snap). */
export function holdMetadata(state: ImageState, metadataBlocks: number): HeldMetadata {
  const a = new Allocator(metadataBlocks - 1, -1, metadataBlocks);
  const sb = a.alloc();
  const trees = buildTrees(a, state);
  const bytes = superblock(sb, state, metadataBlocks, trees, 0);
  seal(bytes, 'superblock');
  a.blocks.set(sb, bytes);
  return { blocks: a.blocks, superblock: sb, state, dataBlocks: new Set(countMappings(state).keys()) };
}

/** The image of `state` on a `metadataBlocks`-block metadata device, with `held` frozen in it when given. */
export function metadataImage(state: ImageState, metadataBlocks: number, held?: HeldMetadata): MetadataImage {
  const nrMeta = Math.min(metadataBlocks, SM_MAX_METADATA_BITMAPS * SM_ENTRIES_PER_BITMAP_BLOCK);
  const a = new Allocator(1, 1, nrMeta, held?.blocks);
  const metaIndex = a.alloc();
  const metaBitmaps = Array.from({ length: Math.ceil(nrMeta / SM_ENTRIES_PER_BITMAP_BLOCK) }, () => a.alloc());
  // The metadata space map's reference-count tree: empty, as no metadata block is shared.
  const metaOverflow = overflowTree(a, new Map());
  // Data reference counts: the current thins' mappings of each block, as the simulator's
  // `refs` counts them. A held snapshot's trees share the kernel's leaves until the pool
  // shadows them, so they add nothing but keep the blocks only they still map allocated
  // (counted by their own mappings); thin_check accepts either.
  const dataCounts = countMappings(state);
  if (held) for (const [b, n] of countMappings(held.state)) if (!dataCounts.has(b)) dataCounts.set(b, n);
  const dataBitmaps = Array.from({ length: Math.ceil(state.dataBlocks / SM_ENTRIES_PER_BITMAP_BLOCK) }, () => a.alloc());
  const entries = bitmaps(a, dataBitmaps, state.dataBlocks, dataCounts);
  const dataIndex = buildBtree(a, entries.length, (i) => i, indexEntry.size, (v, b, at, i) => indexCodec.encode(v, b, at, entries[i]!));
  const dataOverflow = overflowTree(a, dataCounts);
  const trees = buildTrees(a, state);
  // Every block written has one reference: block 0, the blocks allocated, the held ones.
  const metaCounts = new Map<number, number>([[0, 1]]);
  for (const b of a.blocks.keys()) metaCounts.set(b, 1);
  for (const b of metaBitmaps) metaCounts.set(b, 1);
  metaCounts.set(metaIndex, 1);
  for (const b of held?.blocks.keys() ?? []) metaCounts.set(b, 1);
  const metaEntries = bitmaps(a, metaBitmaps, nrMeta, metaCounts);
  const index = new Uint8Array(BLOCK);
  const iv = viewOf(index);
  metaIndexCodec.encode(iv, index, 0, { csum: 0, padding: 0, blocknr: BigInt(metaIndex) });
  metaEntries.forEach((e, k) => indexCodec.encode(iv, index, metadataIndexHeader.size + indexEntry.size * k, e));
  seal(index, 'index');
  a.blocks.set(metaIndex, index);
  const sb = superblock(0, state, nrMeta, trees, held?.superblock ?? 0);
  const sv = viewOf(sb);
  smRootCodec.encode(sv, sb, thinSuperblock.offsetOf.data_space_map_root, {
    nr_blocks: BigInt(state.dataBlocks), nr_allocated: BigInt([...dataCounts.keys()].filter((b) => b < state.dataBlocks).length), bitmap_root: BigInt(dataIndex), ref_count_root: BigInt(dataOverflow),
  });
  smRootCodec.encode(sv, sb, thinSuperblock.offsetOf.metadata_space_map_root, {
    nr_blocks: BigInt(nrMeta), nr_allocated: BigInt(metaCounts.size), bitmap_root: BigInt(metaIndex), ref_count_root: BigInt(metaOverflow),
  });
  seal(sb, 'superblock');
  const blocks = new Map<number, Uint8Array>(held?.blocks ?? []);
  for (const [b, bytes] of a.blocks) blocks.set(b, bytes);
  blocks.set(0, sb);
  return { blocks, blockCount: metadataBlocks };
}

/** Data block → the number of mappings of `state`'s thins naming it. */
function countMappings(state: ImageState): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of state.thins.values()) for (const b of t.map.values()) counts.set(b, (counts.get(b) ?? 0) + 1);
  return counts;
}

/** A deep copy of a pool state (the frozen state of a held snapshot). */
export function copyState(s: ImageState): ImageState {
  const thins = new Map<number, ImageThin>();
  for (const [id, t] of s.thins) thins.set(id, { ...t, map: new Map(t.map), times: new Map(t.times) });
  return { blockSizeSectors: s.blockSizeSectors, dataBlocks: s.dataBlocks, transactionId: s.transactionId, time: s.time, thins };
}

/** `[at, at + into.length)` of an image into `into` (zeros where no block is written). */
export function readImage(image: MetadataImage, at: number, into: Uint8Array): void {
  into.fill(0);
  for (let done = 0; done < into.length;) {
    const b = Math.floor((at + done) / BLOCK);
    const within = (at + done) % BLOCK;
    const n = Math.min(BLOCK - within, into.length - done);
    const bytes = image.blocks.get(b);
    if (bytes) into.set(bytes.subarray(within, within + n), done);
    done += n;
  }
}

/** The whole image as one buffer (for writing to a host file in a spec). */
export function imageBytes(image: MetadataImage): Uint8Array {
  const out = new Uint8Array(image.blockCount * BLOCK);
  for (const [b, bytes] of image.blocks) out.set(bytes, b * BLOCK);
  return out;
}
