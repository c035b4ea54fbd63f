/**
 * persistent-data's btrees (drivers/md/persistent-data/dm-btree.c): walked leaf by leaf in
 * key order with one path of nodes in memory, and looked up by key. Each node is checked
 * before it is used: its kind, value size, counts that fit the block, keys strictly
 * increasing and inside the range its parent gives it, children in range of the file and
 * not already on the path, and the depth bounded (docs/thin-metadata.md, "Hostile metadata").
 * Within one tree these rules let no node be visited twice, so a walk ends after at most as
 * many nodes as the file holds.
 */
import { BTREE_INTERNAL_NODE, BTREE_LEAF_NODE, THIN_METADATA_BLOCK_BYTES, btreeNodeHeader } from '../../codec/thin-metadata-records.js';
import { ReadWindow, corrupt, nodeHeaderCodec, type MetadataBlocks, type ReadBounds } from './blocks.js';
import { DmThinMetadataError } from '../errors.js';

/** Deeper than any tree the kernel builds (a 4096-byte node holds at least dozens of entries). */
export const MAX_BTREE_DEPTH = 32;
const HEADER_BYTES = btreeNodeHeader.size;
const KEY_BYTES = 8;
const CHILD_BYTES = 8;

/** Which tree is walked, for checks and messages. */
export interface BtreeSpec {
  /** What the tree holds ("device details", "mappings of thin 3"). */
  readonly name: string;
  /** Bytes of one leaf value. */
  readonly valueSize: number;
}

/** One checked node: its entries' keys and values are read through these. */
export interface BtreeNode {
  readonly block: bigint;
  readonly leaf: boolean;
  readonly entries: number;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  /** Byte offset of value 0 (values follow `max_entries` keys). */
  readonly valuesOffset: number;
  readonly valueSize: number;
}

/** Byte offset of key `i` of a node (keys follow the header). */
export function keyOffset(i: number): number {
  return HEADER_BYTES + KEY_BYTES * i;
}

/** Key `i` of a node. */
export function keyAt(n: BtreeNode, i: number): bigint {
  return n.view.getBigUint64(keyOffset(i), true);
}

/** Byte offset of value `i` of a node. */
export function valueOffset(n: BtreeNode, i: number): number {
  return n.valuesOffset + n.valueSize * i;
}

/** Reads and checks the node at `block`, whose keys must lie in [lo, hi) (hi undefined: unbounded). */
async function readNode(
  blocks: MetadataBlocks, block: bigint, spec: BtreeSpec, bounds: ReadBounds, root: boolean, lo: bigint, hi: bigint | undefined, from: string,
  window?: ReadWindow,
): Promise<BtreeNode> {
  const { bytes, view } = await blocks.read(block, 'btree', bounds, from, window);
  return checkedNode(bytes, view, block, spec, root, lo, hi, window);
}

/** {@link readNode} without a promise: a walk over a host file through its window (MetadataBlocks.readSync). */
function readNodeSync(
  blocks: MetadataBlocks, block: bigint, spec: BtreeSpec, bounds: ReadBounds, root: boolean, lo: bigint, hi: bigint | undefined, from: string,
  window: ReadWindow,
): BtreeNode {
  const { bytes, view } = blocks.readSync(block, 'btree', bounds, window, from);
  return checkedNode(bytes, view, block, spec, root, lo, hi, window);
}

/** Checks a btree node's header and keys (the block itself was checked as it was read). */
function checkedNode(
  bytes: Uint8Array, view: DataView, block: bigint, spec: BtreeSpec, root: boolean, lo: bigint, hi: bigint | undefined, window: ReadWindow | undefined,
): BtreeNode {
  const h = nodeHeaderCodec.decode(view, bytes, 0);
  const leaf = h.flags === BTREE_LEAF_NODE;
  if (!leaf && h.flags !== BTREE_INTERNAL_NODE) throw corrupt(block, `${spec.name} btree node has flags ${h.flags} (neither internal nor leaf)`);
  // An internal node stays on the walk's path while the window moves on: it gets its own copy.
  if (!leaf && window !== undefined) {
    bytes = bytes.slice();
    view = new DataView(bytes.buffer);
  }
  const valueSize = leaf ? spec.valueSize : CHILD_BYTES;
  if (h.value_size !== valueSize) throw corrupt(block, `${spec.name} btree ${leaf ? 'leaf' : 'internal node'} has value_size ${h.value_size}, expected ${valueSize}`);
  const fit = Math.floor((THIN_METADATA_BLOCK_BYTES - HEADER_BYTES) / (KEY_BYTES + valueSize));
  if (h.max_entries === 0 || h.max_entries > fit) throw corrupt(block, `${spec.name} btree node has max_entries ${h.max_entries} (a block holds 1 to ${fit})`);
  if (h.nr_entries > h.max_entries) throw corrupt(block, `${spec.name} btree node has nr_entries ${h.nr_entries} above max_entries ${h.max_entries}`);
  if (h.nr_entries === 0 && (!root || !leaf)) throw corrupt(block, `${spec.name} btree ${root ? 'root' : 'node'} is empty`);
  const node: BtreeNode = { block, leaf, entries: h.nr_entries, view, bytes, valuesOffset: HEADER_BYTES + KEY_BYTES * h.max_entries, valueSize };
  // The keys compared as two 32-bit halves (numbers, not a bigint per key: a node holds
  // hundreds and every mapping leaf is checked); the messages are built only on failure.
  const loHi = Number(lo >> 32n);
  const loLo = Number(lo & 0xffffffffn);
  const bounded = hi !== undefined;
  const hiHi = bounded ? Number(hi >> 32n) : 0;
  const hiLo = bounded ? Number(hi & 0xffffffffn) : 0;
  let prevHi = 0;
  let prevLo = 0;
  for (let i = 0; i < h.nr_entries; i++) {
    const o = HEADER_BYTES + KEY_BYTES * i;
    const kLo = view.getUint32(o, true);
    const kHi = view.getUint32(o + 4, true);
    if (i > 0 && (kHi < prevHi || (kHi === prevHi && kLo <= prevLo))) {
      throw corrupt(block, `${spec.name} btree node's keys are not increasing (key ${i} is ${keyAt(node, i)} after ${keyAt(node, i - 1)})`);
    }
    if (kHi < loHi || (kHi === loHi && kLo < loLo) || (bounded && (kHi > hiHi || (kHi === hiHi && kLo >= hiLo)))) {
      throw corrupt(block, `${spec.name} btree node's key ${keyAt(node, i)} lies outside the range its parent gives (${lo} to ${hi ?? 'the end'})`);
    }
    prevHi = kHi;
    prevLo = kLo;
  }
  return node;
}

interface Frame { readonly node: BtreeNode; next: number; readonly hi: bigint | undefined }

/**
 * The path of a leaf walk (btreeLeaves, btreeLeavesSync: one set of rules for both): the
 * nodes from the root down, each with the child to visit next.
 */
class LeafPath {
  readonly #spec: BtreeSpec;
  readonly #path: Frame[];
  readonly #onPath: Set<bigint>;
  /** The next child to read: its block, key range and parent (set by {@link advance}). */
  child = 0n;
  lo = 0n;
  hi: bigint | undefined;
  parent = 0n;

  readonly #skipDamaged: boolean;

  constructor(top: BtreeNode, spec: BtreeSpec, skipDamaged = false) {
    this.#spec = spec;
    this.#skipDamaged = skipDamaged;
    this.#path = [{ node: top, next: 0, hi: undefined }];
    this.#onPath = new Set<bigint>([top.block]);
  }

  /** Moves to the next child to read (false when the walk has ended); throws on a cycle or a path too deep. */
  advance(): boolean {
    const path = this.#path;
    for (;;) {
      const f = path[path.length - 1];
      if (f === undefined) return false;
      if (f.next >= f.node.entries) {
        path.pop();
        this.#onPath.delete(f.node.block);
        continue;
      }
      const i = f.next++;
      this.lo = keyAt(f.node, i);
      this.hi = i + 1 < f.node.entries ? keyAt(f.node, i + 1) : f.hi;
      this.child = f.node.view.getBigUint64(valueOffset(f.node, i), true);
      this.parent = f.node.block;
      const cycle = this.#onPath.has(this.child);
      const deep = path.length >= MAX_BTREE_DEPTH;
      if ((cycle || deep) && this.#skipDamaged) continue; // a pointer that cannot be followed: its subtree left out
      if (cycle) throw corrupt(f.node.block, `${this.#spec.name} btree node points back to block ${this.child} on its own path (a cycle)`);
      if (deep) throw corrupt(f.node.block, `${this.#spec.name} btree is deeper than ${MAX_BTREE_DEPTH} levels`);
      return true;
    }
  }

  /** An internal node just read for the current child: the walk goes down into it. */
  descend(node: BtreeNode): void {
    this.#path.push({ node, next: 0, hi: this.hi });
    this.#onPath.add(this.child);
  }

  /** Who points at the current child, for read errors. */
  from(): string {
    return `${this.#spec.name} btree node ${this.parent}`;
  }
}

/**
 * The leaves of the tree at `root`, in key order. The node yielded is valid until the next
 * step. Memory: the path from the root to the current leaf.
 */
export async function* btreeLeaves(blocks: MetadataBlocks, root: bigint, spec: BtreeSpec, bounds: ReadBounds): AsyncGenerator<BtreeNode> {
  // The walk's own read window: a leaf is valid until the next step, as this generator promises.
  const window = new ReadWindow();
  const top = await damageTolerant(bounds, () => readNode(blocks, root, spec, bounds, true, 0n, undefined, `the ${spec.name} root`, window));
  if (top === undefined) return;
  if (top.leaf) {
    yield top;
    return;
  }
  const path = new LeafPath(top, spec, bounds.skipDamaged === true);
  while (path.advance()) {
    const node = await damageTolerant(bounds, () => readNode(blocks, path.child, spec, bounds, false, path.lo, path.hi, path.from(), window));
    if (node === undefined) continue;
    if (node.leaf) yield node;
    else path.descend(node);
  }
}

/**
 * A node read, or — when the walk leaves damage out (`bounds.skipDamaged`: thin_dump
 * --repair) — undefined for a node that fails its checks: its whole subtree is left out, as
 * thin_dump's damage visitor leaves out the key range it covers. Other errors (I/O, abort,
 * timeout, a closed file) still throw.
 */
async function damageTolerant(bounds: ReadBounds, read: () => Promise<BtreeNode>): Promise<BtreeNode | undefined> {
  if (bounds.skipDamaged !== true) return read();
  try {
    return await read();
  } catch (e) {
    if (e instanceof DmThinMetadataError && e.code === 'THIN_METADATA_CORRUPT') return undefined;
    throw e;
  }
}

/**
 * {@link btreeLeaves} without a promise per node, for metadata read synchronously (a host
 * file: MetadataBlocks.synchronous): the same checks in the same order. It never yields the
 * event loop a turn; its consumer must (thinDelta's merge does, every few leaves).
 */
export function* btreeLeavesSync(blocks: MetadataBlocks, root: bigint, spec: BtreeSpec, bounds: ReadBounds): Generator<BtreeNode, void, undefined> {
  const window = new ReadWindow();
  const top = readNodeSync(blocks, root, spec, bounds, true, 0n, undefined, `the ${spec.name} root`, window);
  if (top.leaf) {
    yield top;
    return;
  }
  const path = new LeafPath(top, spec);
  while (path.advance()) {
    const node = readNodeSync(blocks, path.child, spec, bounds, false, path.lo, path.hi, path.from(), window);
    if (node.leaf) yield node;
    else path.descend(node);
  }
}

/**
 * The largest key of the tree at `root` (undefined when it is empty): the rightmost path,
 * each node checked as a walk checks it, so a walk of the same bytes meets no larger key.
 */
export async function btreeLastKey(blocks: MetadataBlocks, root: bigint, spec: BtreeSpec, bounds: ReadBounds): Promise<bigint | undefined> {
  let node = await readNode(blocks, root, spec, bounds, true, 0n, undefined, `the ${spec.name} root`);
  const seen = new Set<bigint>([root]);
  while (!node.leaf) {
    const at = node.entries - 1;
    const child = node.view.getBigUint64(valueOffset(node, at), true);
    if (seen.has(child)) throw corrupt(node.block, `${spec.name} btree node points back to block ${child} on its own path (a cycle)`);
    if (seen.size >= MAX_BTREE_DEPTH) throw corrupt(node.block, `${spec.name} btree is deeper than ${MAX_BTREE_DEPTH} levels`);
    seen.add(child);
    // The last child's keys have no upper bound but its parent's (none on the rightmost path).
    node = await readNode(blocks, child, spec, bounds, false, keyAt(node, at), undefined, `${spec.name} btree node ${node.block}`);
  }
  return node.entries === 0 ? undefined : keyAt(node, node.entries - 1);
}

/** The offset of `key`'s value in its leaf, or undefined when the tree does not hold `key`. */
export async function btreeLookup(
  blocks: MetadataBlocks, root: bigint, spec: BtreeSpec, key: bigint, bounds: ReadBounds,
): Promise<{ node: BtreeNode; offset: number } | undefined> {
  let node = await readNode(blocks, root, spec, bounds, true, 0n, undefined, `the ${spec.name} root`);
  let hi: bigint | undefined;
  const seen = new Set<bigint>([root]);
  for (;;) {
    // The last key <= `key` (binary search: keys were checked to increase).
    let a = 0;
    let b = node.entries - 1;
    let at = -1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (keyAt(node, m) <= key) { at = m; a = m + 1; } else b = m - 1;
    }
    if (node.leaf) return at >= 0 && keyAt(node, at) === key ? { node, offset: valueOffset(node, at) } : undefined;
    if (at < 0) return undefined;
    const child = node.view.getBigUint64(valueOffset(node, at), true);
    if (seen.has(child)) throw corrupt(node.block, `${spec.name} btree node points back to block ${child} on its own path (a cycle)`);
    if (seen.size >= MAX_BTREE_DEPTH) throw corrupt(node.block, `${spec.name} btree is deeper than ${MAX_BTREE_DEPTH} levels`);
    seen.add(child);
    const lo = keyAt(node, at);
    hi = at + 1 < node.entries ? keyAt(node, at + 1) : hi;
    node = await readNode(blocks, child, spec, bounds, false, lo, hi, `${spec.name} btree node ${node.block}`);
  }
}
