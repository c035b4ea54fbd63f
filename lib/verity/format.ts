/**
 * `formatVerity()`: veritysetup format in TypeScript. Builds the hash tree of a data device
 * on a hash device and writes the superblock after it, byte for byte what veritysetup 2.6
 * writes (cryptsetup lib/setup.c _crypt_format_verity(), lib/verity/; docs/verity.md):
 * the tree's levels top-down from the first hash block after the superblock, the bytes
 * outside them left as they were. The data is read in chunks (bounded memory) and hashed on
 * worker threads.
 *
 * ```ts
 * import { formatVerity } from 'devicemapper';
 * const { rootHashHex } = await formatVerity('data.img', 'hash.img');
 * ```
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { DmVerityError } from '../errors.js';
import { optionsArg, valueArg } from '../client/args.js';
import { runBlock } from '../block/block-io.js';
import type { BlockFile } from '../kernel/backend.js';
import { encodeVeritySuperblock, uuidBytes } from './superblock.js';
import { hashBlocksOf, toHex, treeGeometry, treeParams, TREE_KEYS, type VerityCallOptions, type VerityProgress, type VerityTreeOptions } from './params.js';
import { hashStartBlock } from './geometry.js';
import { walkTree } from './tree.js';

/** Options of {@link formatVerity}. */
export interface VerityFormatOptions extends VerityCallOptions, VerityTreeOptions {
  /** Write the superblock (default true); false: veritysetup's `--no-superblock`. */
  readonly superblock?: boolean;
  /** The superblock's UUID (default: a random one). */
  readonly uuid?: string;
  /** Threads hashing the data (default os.availableParallelism()). */
  readonly threads?: number;
  /** Data blocks hashed so far, after each chunk. */
  readonly onProgress?: (progress: VerityProgress) => void;
}

/** What {@link formatVerity} made: what veritysetup format prints. */
export interface VerityFormatResult {
  /** The root hash. */
  readonly rootHash: Uint8Array;
  /** The root hash in lower-case hex. */
  readonly rootHashHex: string;
  /** The superblock's UUID (undefined without a superblock). */
  readonly uuid: string | undefined;
  /** 1: normal; 0: Chrome OS. */
  readonly hashType: 0 | 1;
  /** The algorithm's name as given. */
  readonly hashAlgorithm: string;
  /** Data blocks covered. */
  readonly dataBlocks: bigint;
  readonly dataBlockSizeBytes: number;
  /** Hash blocks of the tree (every level). */
  readonly hashBlocks: bigint;
  readonly hashBlockSizeBytes: number;
  /** The salt used. */
  readonly salt: Uint8Array;
  readonly hashOffsetBytes: bigint;
  /** Whether a superblock was written. */
  readonly superblock: boolean;
  /** The hash device's size veritysetup reports (superblock area and tree), or undefined when the hash offset is not 0 (it does not know then). */
  readonly hashDeviceSizeBytes: bigint | undefined;
}

const FORMAT_KEYS = { ...TREE_KEYS, dm: 'object', signal: 'signal', timeoutMs: 'any', superblock: 'boolean', uuid: 'string', threads: 'uint', onProgress: 'function' } as const;

/** Opens `p` through the backend, closing it when `body` ends. */
export async function withFile<T>(open: () => Promise<BlockFile>, body: (f: BlockFile) => Promise<T>): Promise<T> {
  const f = await open();
  try {
    return await body(f);
  } finally {
    await f.close();
  }
}

/**
 * The superblock written as write_lseek_blockwise() writes it (cryptsetup lib/utils_io.c):
 * the I/O blocks it falls in are read, patched and written whole, so a hash image that ended
 * before them grows to their end (zeros). The I/O block is the smaller of the hash block and
 * 4096 bytes (a file system's block, which cryptsetup caps at the page size; a block device's
 * sector size is smaller, but a device's length does not change).
 */
async function writeSuperblock(hash: BlockFile, offsetBytes: bigint, hashBlockBytes: number, sb: Uint8Array): Promise<void> {
  const io = BigInt(Math.min(4096, hashBlockBytes));
  const start = offsetBytes - (offsetBytes % io);
  const end = ((offsetBytes + BigInt(sb.length) + io - 1n) / io) * io;
  const block = new Uint8Array(Number(end - start));
  await hash.read(start, block);
  block.set(sb, Number(offsetBytes - start));
  await hash.write(start, block);
}

/**
 * Formats `hashDevice` for `dataDevice` (paths on the client's backend: files or block
 * devices; the hash image is created, mode 0600, when missing). Every parameter is checked
 * before a byte is read (DmVerityError `VERITY_PARAMETERS` with veritysetup's message); a
 * data device shorter than the blocks asked for is a DmSyscallError EIO.
 */
export async function formatVerity(dataDevice: string, hashDevice: string, options: VerityFormatOptions = {}): Promise<VerityFormatResult> {
  valueArg(dataDevice, 'dataDevice', 'string');
  valueArg(hashDevice, 'hashDevice', 'string');
  optionsArg(options, 'options', FORMAT_KEYS);
  const p = treeParams(options);
  const superblock = options.superblock ?? true;
  const uuid = superblock ? options.uuid ?? randomUUID() : undefined;
  const uuidRaw = uuid === undefined ? undefined : uuidBytes(uuid);
  if (uuid !== undefined && !uuidRaw) throw new DmVerityError('VERITY_PARAMETERS', `Wrong VERITY UUID format provided on device ${hashDevice}.`);
  const salt = p.salt ?? new Uint8Array(randomBytes(32));
  return runBlock(options.dm, 'formatVerity', options, async (op, io) => {
    return withFile(() => op.step(`opening ${dataDevice}`, () => io.openFile(dataDevice, 'read')), async (data) => {
      let dataBlocks = p.dataBlocks;
      if (dataBlocks === 0n) dataBlocks = (await data.sizeBytes()) / BigInt(p.dataBlockSizeBytes);
      if (path.resolve(dataDevice) === path.resolve(hashDevice) && dataBlocks * BigInt(p.dataBlockSizeBytes) > p.hashOffsetBytes) {
        throw new DmVerityError('VERITY_PARAMETERS', 'Data area overlaps with hash area.');
      }
      const geometry = treeGeometry(p, dataBlocks, superblock);
      return withFile(() => op.step(`opening ${hashDevice}`, () => io.openFile(hashDevice, 'create')), async (hash) => {
        const rootHash = await walkTree({
          data, hash, mode: 'create', algorithm: p.hash.nodeName, digestBytes: p.hash.digestBytes, version: p.hashType, salt,
          dataBlockBytes: p.dataBlockSizeBytes, hashBlockBytes: p.hashBlockSizeBytes, dataBlocks, geometry, threads: options.threads,
          checkpoint: () => op.checkpoint(),
          progress: (done, total) => options.onProgress?.({ done, total, step: 'hashing' }),
        });
        if (superblock) {
          await writeSuperblock(hash, p.hashOffsetBytes, p.hashBlockSizeBytes, encodeVeritySuperblock({
            hashType: p.hashType, uuid: uuidRaw!, hashAlgorithm: p.hashName, dataBlockSizeBytes: p.dataBlockSizeBytes,
            hashBlockSizeBytes: p.hashBlockSizeBytes, dataBlocks, salt,
          }));
        }
        const hashBlocks = hashBlocksOf(p.hashBlockSizeBytes, p.hash.digestBytes, dataBlocks);
        const startBlock = hashStartBlock(p.hashOffsetBytes, p.hashBlockSizeBytes, superblock);
        return {
          rootHash, rootHashHex: toHex(rootHash), uuid, hashType: p.hashType, hashAlgorithm: p.hashName, dataBlocks, dataBlockSizeBytes: p.dataBlockSizeBytes,
          hashBlocks, hashBlockSizeBytes: p.hashBlockSizeBytes, salt, hashOffsetBytes: p.hashOffsetBytes, superblock,
          hashDeviceSizeBytes: p.hashOffsetBytes === 0n ? (startBlock + hashBlocks) * BigInt(p.hashBlockSizeBytes) : undefined,
        };
      });
    });
  });
}
