/**
 * Where a verity hash tree's levels lie on the hash device: cryptsetup's hash_levels() and
 * VERITY_hash_offset_block() (lib/verity/verity_hash.c, verity.c), kept to the letter so
 * the bytes written are veritysetup's (docs/verity.md, "The tree").
 */

/** The superblock's size: the tree starts at the first hash block after it. */
export const VERITY_SUPERBLOCK_BYTES = 512;

/** veritysetup's limit on levels (VERITY_MAX_LEVELS). */
const MAX_LEVELS = 63;

/** The layout of one tree. */
export interface VerityGeometry {
  /** Digests per hash block: the largest power of two that fits. */
  readonly hashPerBlock: number;
  /** log2(hashPerBlock). */
  readonly hashPerBlockBits: number;
  /** The space one digest takes in format 1: the digest rounded up to a power of two. */
  readonly digestFullBytes: number;
  /** Level count (0 when there is at most one data block: the root is that block's digest). */
  readonly levels: number;
  /** Per level (0 = the one over the data blocks), its first hash block on the hash device. */
  readonly levelStartBlocks: readonly bigint[];
  /** Per level, its hash blocks. */
  readonly levelBlocks: readonly bigint[];
  /** The hash block after the last level: the tree ends there. */
  readonly endBlock: bigint;
}

function bitsDown(u: number): number {
  let i = 0;
  while (Math.floor(u / 2 ** i) > 1) i++;
  return i;
}

function bitsUp(u: number): number {
  let i = 0;
  while (2 ** i < u) i++;
  return i;
}

/** The first hash block of the tree: after the superblock when there is one, at the offset (rounded down) otherwise. */
export function hashStartBlock(hashOffsetBytes: bigint, hashBlockBytes: number, superblock: boolean): bigint {
  const hbs = BigInt(hashBlockBytes);
  if (!superblock) return hashOffsetBytes / hbs;
  return (hashOffsetBytes + BigInt(VERITY_SUPERBLOCK_BYTES) + hbs - 1n) / hbs;
}

/**
 * hash_levels(): the levels stored top-down from `startBlock` (the top level first, the one
 * over the data last). Undefined where cryptsetup says "Hash area overflow.".
 */
export function verityGeometry(hashBlockBytes: number, digestBytes: number, dataBlocks: bigint, startBlock: bigint): VerityGeometry | undefined {
  const hashPerBlockBits = bitsDown(Math.floor(hashBlockBytes / digestBytes));
  if (hashPerBlockBits === 0) return undefined;
  const bits = BigInt(hashPerBlockBits);
  const mask64 = (1n << 64n) - 1n;
  let levels = 0;
  // (data_file_blocks - 1) in uint64_t: zero blocks wrap to 2^64 - 1, as in C.
  while (hashPerBlockBits * levels < 64 && ((dataBlocks - 1n) & mask64) >> (bits * BigInt(levels)) !== 0n) levels++;
  if (levels > MAX_LEVELS) return undefined;
  const starts: bigint[] = new Array(levels);
  const sizes: bigint[] = new Array(levels);
  let position = startBlock;
  for (let i = levels - 1; i >= 0; i--) {
    starts[i] = position;
    const shift = BigInt(i + 1) * bits;
    if (shift > 63n) return undefined;
    const s = ((dataBlocks + (1n << shift) - 1n) & mask64) >> shift;
    sizes[i] = s;
    if (((position + s) & mask64) < position) return undefined;
    position += s;
  }
  return {
    hashPerBlock: 2 ** hashPerBlockBits, hashPerBlockBits, digestFullBytes: 2 ** bitsUp(digestBytes),
    levels, levelStartBlocks: starts, levelBlocks: sizes, endBlock: position,
  };
}

/** VERITY_BLOCK_SIZE_OK: a power of two from 512 bytes to 512 KiB. */
export function isVerityBlockSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 512 && n <= 512 * 1024 && (n & (n - 1)) === 0;
}
