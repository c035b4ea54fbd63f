/**
 * dm-verity's superblock (codec/verity-records.ts) decoded and encoded: cryptsetup's
 * VERITY_read_sb() and VERITY_write_sb() (lib/verity/verity.c), the same checks in the same
 * order and with the same messages, so dmctl says what veritysetup says.
 */
import { compile, viewOf } from '../../codec/layout.js';
import { VERITY_MAX_SALT_BYTES, VERITY_SIGNATURE, veritySuperblock } from '../../codec/verity-records.js';
import { DmArgumentError, DmVerityError } from '../errors.js';
import { describeValue } from '../client/args.js';
import { isVerityBlockSize } from './geometry.js';
import { verityHash } from './hashes.js';

/** Little-endian on disk, whatever the host. */
const codec = compile(veritySuperblock, { endian: 'little' });

/** sizeof(struct verity_sb). */
export const VERITY_SUPERBLOCK_SIZE_BYTES = veritySuperblock.size;

/** What a verity superblock says. */
export interface VeritySuperblock {
  /** The superblock's version (always 1). */
  readonly version: number;
  /** 1: normal; 0: the original Chrome OS format (salt after the block, digests packed). */
  readonly hashType: 0 | 1;
  /** The hash device's UUID, lower-case with hyphens. */
  readonly uuid: string;
  /** The hash algorithm's name as stored (lower case). */
  readonly hashAlgorithm: string;
  /** Data block size in bytes. */
  readonly dataBlockSizeBytes: number;
  /** Hash block size in bytes. */
  readonly hashBlockSizeBytes: number;
  /** Data blocks the tree covers. */
  readonly dataBlocks: bigint;
  /** The salt (may be empty). */
  readonly salt: Uint8Array;
}

const hex = (b: Uint8Array | readonly number[]) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** uuid_unparse(). */
export function uuidText(bytes: Uint8Array | readonly number[]): string {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** uuid_parse(): 36 characters, hyphens at 8, 13, 18 and 23, hex digits elsewhere (either case); undefined otherwise. */
export function uuidBytes(text: string): Uint8Array | undefined {
  if (text.length !== 36 || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) return undefined;
  return Uint8Array.from(text.replace(/-/g, '').match(/../g)!, (p) => parseInt(p, 16));
}

/**
 * Decodes the 512 bytes of a superblock. Throws DmVerityError `VERITY_SUPERBLOCK` where
 * veritysetup refuses it: no signature, a version other than 1, a hash type above 1, a block
 * size that is not a power of two from 512 bytes to 512 KiB, an algorithm it lacks, a salt
 * size above 256.
 */
export function decodeVeritySuperblock(bytes: Uint8Array): VeritySuperblock {
  if (!(bytes instanceof Uint8Array)) throw new DmArgumentError('bytes', 'a Uint8Array', describeValue(bytes));
  if (bytes.length < VERITY_SUPERBLOCK_SIZE_BYTES) throw new DmVerityError('VERITY_SUPERBLOCK', `A VERITY superblock is ${VERITY_SUPERBLOCK_SIZE_BYTES} bytes, got ${bytes.length}.`);
  const sb = codec.decode(viewOf(bytes), bytes, 0);
  if (!VERITY_SIGNATURE.every((b, i) => sb.signature[i] === b)) throw new DmVerityError('VERITY_SUPERBLOCK', 'No VERITY signature detected.');
  if (sb.version !== 1) throw new DmVerityError('VERITY_SUPERBLOCK', `Unsupported VERITY version ${sb.version | 0}.`);
  if (sb.hash_type > 1) throw new DmVerityError('VERITY_SUPERBLOCK', `Unsupported VERITY hash type ${sb.hash_type}.`);
  if (!isVerityBlockSize(sb.data_block_size) || !isVerityBlockSize(sb.hash_block_size)) throw new DmVerityError('VERITY_SUPERBLOCK', 'Unsupported VERITY block size.');
  // strndup(algorithm, 32): up to the first NUL.
  const end = sb.algorithm.indexOf(0);
  const algorithm = String.fromCharCode(...sb.algorithm.slice(0, end < 0 ? 32 : end));
  if (!verityHash(algorithm)) throw new DmVerityError('VERITY_SUPERBLOCK', `Hash algorithm ${algorithm} not supported.`);
  if (sb.salt_size > VERITY_MAX_SALT_BYTES) throw new DmVerityError('VERITY_SUPERBLOCK', 'VERITY header corrupted.');
  return {
    version: sb.version, hashType: sb.hash_type as 0 | 1, uuid: uuidText(sb.uuid), hashAlgorithm: algorithm,
    dataBlockSizeBytes: sb.data_block_size, hashBlockSizeBytes: sb.hash_block_size, dataBlocks: sb.data_blocks,
    salt: Uint8Array.from(sb.salt.slice(0, sb.salt_size)),
  };
}

/** What {@link encodeVeritySuperblock} writes. */
export interface VeritySuperblockInput {
  readonly hashType: 0 | 1;
  /** 16 bytes. */
  readonly uuid: Uint8Array;
  readonly hashAlgorithm: string;
  readonly dataBlockSizeBytes: number;
  readonly hashBlockSizeBytes: number;
  readonly dataBlocks: bigint;
  /** At most 256 bytes. */
  readonly salt: Uint8Array;
}

/** Every field of an encode's input, typed errors before a byte is written. */
function checkInput(v: VeritySuperblockInput): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DmArgumentError('superblock', 'an object of VeritySuperblockInput', describeValue(v));
  const bad = (field: string, expected: string, got: unknown) => new DmArgumentError(`superblock.${field}`, expected, describeValue(got));
  if (v.hashType !== 0 && v.hashType !== 1) throw bad('hashType', '0 or 1', v.hashType);
  if (!(v.uuid instanceof Uint8Array) || v.uuid.length !== 16) throw bad('uuid', 'a Uint8Array of 16 bytes', v.uuid);
  if (typeof v.hashAlgorithm !== 'string') throw bad('hashAlgorithm', 'a string', v.hashAlgorithm);
  for (const f of ['dataBlockSizeBytes', 'hashBlockSizeBytes'] as const) {
    if (!Number.isSafeInteger(v[f]) || v[f] < 0 || v[f] > 0xffffffff) throw bad(f, 'a u32', v[f]);
  }
  if (typeof v.dataBlocks !== 'bigint' || v.dataBlocks < 0n || v.dataBlocks >= 1n << 64n) throw bad('dataBlocks', 'a u64 bigint', v.dataBlocks);
  if (!(v.salt instanceof Uint8Array) || v.salt.length > VERITY_MAX_SALT_BYTES) throw bad('salt', `a Uint8Array of at most ${VERITY_MAX_SALT_BYTES} bytes`, v.salt);
}

/** The 512 bytes VERITY_write_sb() writes: the algorithm lower-cased and cut to 31 bytes, as the kernel reads it. */
export function encodeVeritySuperblock(v: VeritySuperblockInput): Uint8Array {
  checkInput(v);
  const out = new Uint8Array(VERITY_SUPERBLOCK_SIZE_BYTES);
  const algorithm = new Array<number>(32).fill(0);
  const name = new TextEncoder().encode(v.hashAlgorithm.toLowerCase());
  for (let i = 0; i < Math.min(31, name.length); i++) algorithm[i] = name[i]!;
  const salt = new Array<number>(VERITY_MAX_SALT_BYTES).fill(0);
  v.salt.forEach((b, i) => { salt[i] = b; });
  codec.encode(viewOf(out), out, 0, {
    signature: VERITY_SIGNATURE, version: 1, hash_type: v.hashType, uuid: Array.from(v.uuid), algorithm,
    data_block_size: v.dataBlockSizeBytes, hash_block_size: v.hashBlockSizeBytes, data_blocks: v.dataBlocks, salt_size: v.salt.length, salt,
  });
  return out;
}
