/**
 * The parameters of one verity tree, checked as cryptsetup's _crypt_format_verity() checks
 * them (lib/setup.c), with its messages: shared by format, verify without a superblock and
 * the superblock reader.
 */
import { DmArgumentError, DmVerityError } from '../errors.js';
import { describeValue } from '../client/args.js';
import { hashStartBlock, isVerityBlockSize, verityGeometry, type VerityGeometry } from './geometry.js';
import { verityHash, type VerityHash } from './hashes.js';

/** The progress of a long verity call: data blocks hashed of the total (`step` names the level). */
export interface VerityProgress {
  readonly done: number;
  readonly total: number;
  readonly step: string;
}

/** The options every verity call takes. */
export interface VerityCallOptions {
  /** The client whose backend's files and devices are read (the simulator's on the simulator); default: the host's. */
  readonly dm?: import('../client/client.js').DeviceMapper;
  /** Stops the call (DmAbortError) between chunks. */
  readonly signal?: AbortSignal;
  /** The call's bound in ms. */
  readonly timeoutMs?: number;
}

/** A tree's parameters as given (what a superblock holds, or what `--no-superblock` takes from the command line). */
export interface VerityTreeOptions {
  /** Hash algorithm (default `sha256`; any case; docs/verity.md lists them). */
  readonly hashAlgorithm?: string;
  /** 1 (default): normal; 0: the original Chrome OS format. */
  readonly hashType?: 0 | 1;
  /** Data block size in bytes (default 4096; a power of two, 512 B…512 KiB). */
  readonly dataBlockSizeBytes?: number;
  /** Hash block size in bytes (default 4096; a power of two, 512 B…512 KiB). */
  readonly hashBlockSizeBytes?: number;
  /** Data blocks covered (default or 0: the whole data device). */
  readonly dataBlocks?: bigint | number;
  /** Where on the hash device the superblock (or, without one, the tree) starts, in bytes (default 0; a multiple of 512). */
  readonly hashOffsetBytes?: bigint | number;
  /** The salt: bytes, or hex (`''` or `'-'`: none). Default for format: 32 random bytes. */
  readonly salt?: Uint8Array | string;
}

/** Parameters checked and resolved. */
export interface TreeParams {
  readonly hashName: string;
  readonly hash: VerityHash;
  readonly hashType: 0 | 1;
  readonly dataBlockSizeBytes: number;
  readonly hashBlockSizeBytes: number;
  /** 0n: the data device's size decides. */
  readonly dataBlocks: bigint;
  readonly hashOffsetBytes: bigint;
  readonly salt: Uint8Array | undefined;
}

const TREE_KEYS = { hashAlgorithm: 'string', hashType: 'uint', dataBlockSizeBytes: 'uint', hashBlockSizeBytes: 'uint', dataBlocks: 'u64', hashOffsetBytes: 'u64', salt: 'any' } as const;
export { TREE_KEYS };

/** crypt_hex_to_bytes(): an even number of hex digits; undefined otherwise. `-` is no salt (veritysetup's `--salt -`). */
export function hexBytes(text: string): Uint8Array | undefined {
  if (text === '-') return new Uint8Array(0);
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Uint8Array.from(text.match(/../g) ?? [], (p) => parseInt(p, 16));
}

/** Checks a tree's parameters (VERITY_PARAMETERS with veritysetup's message). */
export function treeParams(o: VerityTreeOptions): TreeParams {
  const hashType = o.hashType ?? 1;
  if (hashType !== 0 && hashType !== 1) throw new DmVerityError('VERITY_PARAMETERS', `Unsupported VERITY hash type ${hashType as number}.`);
  const dataBlockSizeBytes = o.dataBlockSizeBytes ?? 4096;
  const hashBlockSizeBytes = o.hashBlockSizeBytes ?? 4096;
  if (!isVerityBlockSize(dataBlockSizeBytes) || !isVerityBlockSize(hashBlockSizeBytes)) throw new DmVerityError('VERITY_PARAMETERS', 'Unsupported VERITY block size.');
  const hashOffsetBytes = BigInt(o.hashOffsetBytes ?? 0);
  if (hashOffsetBytes % 512n !== 0n) throw new DmVerityError('VERITY_PARAMETERS', 'Unsupported VERITY hash offset.');
  const hashName = o.hashAlgorithm ?? 'sha256';
  const hash = verityHash(hashName);
  if (!hash) throw new DmVerityError('VERITY_PARAMETERS', `Hash algorithm ${hashName} not supported.`);
  let salt: Uint8Array | undefined;
  if (typeof o.salt === 'string') {
    salt = hexBytes(o.salt === '' ? '-' : o.salt);
    if (!salt) throw new DmVerityError('VERITY_PARAMETERS', 'Invalid salt string specified.');
  } else if (o.salt instanceof Uint8Array) {
    salt = o.salt.slice();
  } else if (o.salt !== undefined) {
    throw new DmArgumentError('options.salt', 'a Uint8Array or a hex string', describeValue(o.salt));
  }
  if (salt && salt.length > 256) throw new DmVerityError('VERITY_PARAMETERS', `A VERITY salt holds at most 256 bytes, got ${salt.length}.`);
  const dataBlocks = BigInt(o.dataBlocks ?? 0);
  if (dataBlocks >= 1n << 64n) throw new DmVerityError('VERITY_PARAMETERS', 'Device offset overflow.');
  return { hashName, hash, hashType, dataBlockSizeBytes, hashBlockSizeBytes, dataBlocks, hashOffsetBytes, salt };
}

/** The tree's levels for `dataBlocks`; "Hash area overflow." where there is none. */
export function treeGeometry(p: TreeParams, dataBlocks: bigint, superblock: boolean): VerityGeometry {
  const g = verityGeometry(p.hashBlockSizeBytes, p.hash.digestBytes, dataBlocks, hashStartBlock(p.hashOffsetBytes, p.hashBlockSizeBytes, superblock));
  if (!g) throw new DmVerityError('VERITY_PARAMETERS', 'Hash area overflow.');
  return g;
}

/** VERITY_hash_blocks(): the hash blocks of every level (0 where the geometry overflows). */
export function hashBlocksOf(hashBlockSizeBytes: number, digestBytes: number, dataBlocks: bigint): bigint {
  return verityGeometry(hashBlockSizeBytes, digestBytes, dataBlocks, 0n)?.endBlock ?? 0n;
}

export const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
