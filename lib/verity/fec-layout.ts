/**
 * Where dm-verity's forward error correction reads and writes: which blocks it covers, how
 * its Reed–Solomon codewords interleave over them, and where each codeword's parity lies.
 * Pure arithmetic; the facts are cryptsetup's lib/verity/verity_fec.c and the kernel's
 * drivers/md/dm-verity-fec.c (docs/verity-fec.md).
 */
import { DmArgumentError } from '../errors.js';
import { optionsArg } from '../client/args.js';
import { RS_MAX_ROOTS, RS_MIN_ROOTS, RS_NN } from './rs.js';

/** What the FEC area covers: the data blocks, then the hash image's blocks from `hashStartBytes`. */
export interface FecLayoutInput {
  /** The data and hash block size (FEC requires them equal): a power of two, 512 to 1 MiB. */
  readonly blockSizeBytes: number;
  /** Parity bytes per codeword, 2 to 24 (`--fec-roots`). */
  readonly roots: number;
  /** Data blocks covered (veritysetup's data size in blocks). */
  readonly dataBlocks: bigint | number;
  /** Where the covered hash area starts in the hash image (the first hash tree block, past a superblock). */
  readonly hashStartBytes?: bigint | number;
  /** Hash image blocks covered from `hashStartBytes` (may be 0). */
  readonly hashBlocks: bigint | number;
}

/** The interleaving, checked and derived. */
export interface FecLayout {
  readonly blockSizeBytes: number;
  readonly roots: number;
  /** Data bytes per codeword: 255 - roots. */
  readonly rsn: number;
  readonly dataBlocks: bigint;
  readonly hashStartBytes: bigint;
  readonly hashBlocks: bigint;
  /** dataBlocks + hashBlocks: the kernel's `fec_blocks` table argument. */
  readonly coveredBlocks: bigint;
  /** ceil(coveredBlocks / rsn): the stride between the blocks of one codeword. */
  readonly rounds: bigint;
  /** rounds * blockSizeBytes * roots: the FEC area's size. */
  readonly fecBytes: bigint;
  /** fecBytes in blocks (veritysetup's "FEC blocks"): rounds * roots. */
  readonly fecBlocks: bigint;
}

const MAX_BLOCK_BYTES = 1 << 20;

function u64(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  throw new DmArgumentError(field, 'a non-negative integer below 2^64', String(v));
}

/** Checks the roots count (2..24, as veritysetup and the kernel). */
export function checkRoots(v: unknown, field = 'roots'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < RS_MIN_ROOTS || v > RS_MAX_ROOTS) {
    throw new DmArgumentError(field, `an integer from ${RS_MIN_ROOTS} to ${RS_MAX_ROOTS}`, String(v));
  }
  return v;
}

/** Checks a block size: a power of two from 512 bytes to 1 MiB. */
export function checkBlockSize(v: unknown, field = 'blockSizeBytes'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 512 || v > MAX_BLOCK_BYTES || (v & (v - 1)) !== 0) {
    throw new DmArgumentError(field, 'a power of two from 512 to 1048576', String(v));
  }
  return v;
}

/** The layout of a FEC area over the given blocks; DmArgumentError on bad input. */
export function fecLayout(input: FecLayoutInput): FecLayout {
  // Only the keys here: a misspelt one (hashStart for hashStartBytes) would silently mean 0.
  optionsArg(input, 'options', LAYOUT_KEYS, ['blockSizeBytes', 'roots', 'dataBlocks', 'hashBlocks']);
  return buildFecLayout(input);
}

const LAYOUT_KEYS = { blockSizeBytes: 'any', roots: 'any', dataBlocks: 'any', hashStartBytes: 'any', hashBlocks: 'any' } as const;
const COVERAGE_KEYS = { blockSizeBytes: 'any', dataBlocks: 'any', hashOffsetBytes: 'any', superblock: 'boolean', hashAreaEndBytes: 'any' } as const;

/** {@link fecLayout} over an options object that may carry other keys (the FEC passes' options). */
export function buildFecLayout(input: FecLayoutInput): FecLayout {
  if (input === null || typeof input !== 'object') throw new DmArgumentError('options', 'an object', String(input));
  const blockSizeBytes = checkBlockSize(input.blockSizeBytes, 'blockSizeBytes');
  const roots = checkRoots(input.roots, 'roots');
  const dataBlocks = u64(input.dataBlocks, 'dataBlocks');
  const hashStartBytes = input.hashStartBytes === undefined ? 0n : u64(input.hashStartBytes, 'hashStartBytes');
  const hashBlocks = u64(input.hashBlocks, 'hashBlocks');
  if (dataBlocks === 0n) throw new DmArgumentError('dataBlocks', 'at least 1 (veritysetup: "Invalid FEC segment length")', '0');
  const rsn = RS_NN - roots;
  const coveredBlocks = dataBlocks + hashBlocks;
  const rounds = (coveredBlocks + BigInt(rsn) - 1n) / BigInt(rsn);
  const fecBlocks = rounds * BigInt(roots);
  return { blockSizeBytes, roots, rsn, dataBlocks, hashStartBytes, hashBlocks, coveredBlocks, rounds, fecBlocks, fecBytes: fecBlocks * BigInt(blockSizeBytes) };
}

/** How veritysetup places a hash area, for {@link veritysetupFecCoverage}. */
export interface VeritysetupFecCoverageInput {
  readonly blockSizeBytes: number;
  readonly dataBlocks: bigint | number;
  /** `--hash-offset`: where the superblock (or, without one, the tree) starts in the hash image. */
  readonly hashOffsetBytes?: bigint | number;
  /** False with `--no-superblock`. A superblock is 512 bytes, and the tree starts at the next block boundary. */
  readonly superblock: boolean;
  /**
   * The end of what FEC covers in the hash image: the image's size when the FEC area is in
   * another file, `--fec-offset` when the hash and FEC share one.
   */
  readonly hashAreaEndBytes: bigint | number;
}

/**
 * What `veritysetup format --fec-device` covers (VERITY_FEC_blocks, VERITY_hash_offset_block):
 * the data blocks, then the hash image from the first tree block to `hashAreaEndBytes`
 * (whole blocks), so trailing space in a hash file is covered too. The superblock is not.
 */
export function veritysetupFecCoverage(input: VeritysetupFecCoverageInput): { hashStartBytes: bigint; hashBlocks: bigint } {
  optionsArg(input, 'options', COVERAGE_KEYS, ['blockSizeBytes', 'dataBlocks', 'superblock', 'hashAreaEndBytes']);
  const bs = BigInt(checkBlockSize(input.blockSizeBytes));
  u64(input.dataBlocks, 'dataBlocks');
  const offset = input.hashOffsetBytes === undefined ? 0n : u64(input.hashOffsetBytes, 'hashOffsetBytes');
  const end = u64(input.hashAreaEndBytes, 'hashAreaEndBytes');
  const startBlock = input.superblock ? (offset + 512n + bs - 1n) / bs : offset / bs;
  const endBlock = end / bs;
  // cryptsetup subtracts only from a non-zero end and never below zero in practice.
  const hashBlocks = endBlock > startBlock ? endBlock - startBlock : 0n;
  return { hashStartBytes: startBlock * bs, hashBlocks };
}

/** Where covered block `index` lives: its area and its byte offset in that area's image. */
export function coveredBlock(layout: FecLayout, index: bigint): { area: 'data' | 'hash'; blockIndex: bigint; offsetBytes: bigint } {
  const bs = BigInt(layout.blockSizeBytes);
  if (index < layout.dataBlocks) return { area: 'data', blockIndex: index, offsetBytes: index * bs };
  const h = index - layout.dataBlocks;
  return { area: 'hash', blockIndex: h, offsetBytes: layout.hashStartBytes + h * bs };
}

/**
 * The covered block holding position `i` (0..rsn-1) of the codewords of round `n`: block
 * i * rounds + n; at or past coveredBlocks it is an implicit block of zeros. (The kernel's
 * fec_interleave: RS offset o maps to byte o / rsn + (o % rsn) * rounds * blockSize.)
 */
export function blockOfPosition(layout: FecLayout, round: bigint, i: number): bigint {
  return BigInt(i) * layout.rounds + round;
}

/** The round and the position in it of covered block `index` (the inverse of {@link blockOfPosition}). */
export function positionOfBlock(layout: FecLayout, index: bigint): { round: bigint; position: number } {
  return { round: index % layout.rounds, position: Number(index / layout.rounds) };
}

/** Where the parity of codeword (round, byte) starts in the FEC area: (round * blockSize + byte) * roots. */
export function parityOffset(layout: FecLayout, round: bigint, byteIndex: number): bigint {
  return (round * BigInt(layout.blockSizeBytes) + BigInt(byteIndex)) * BigInt(layout.roots);
}
