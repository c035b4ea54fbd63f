/**
 * `verifyVerity()`: veritysetup verify in TypeScript. Rebuilds the tree from the data in
 * memory-bounded chunks and compares every level with the hash device, bottom level first,
 * in veritysetup's order (cryptsetup lib/verity/verity_hash.c): the first block whose digest
 * differs, or the first spare area that is not zero, is the error's `positionBytes`, with
 * veritysetup's message; then the root hash.
 */
import { DmArgumentError, DmVerityError } from '../errors.js';
import { describeValue, optionsArg, valueArg } from '../client/args.js';
import { runBlock } from '../block/block-io.js';
import { decodeVeritySuperblock, VERITY_SUPERBLOCK_SIZE_BYTES, type VeritySuperblock } from './superblock.js';
import { hashBlocksOf, hexBytes, toHex, treeGeometry, treeParams, TREE_KEYS, type TreeParams, type VerityCallOptions, type VerityProgress, type VerityTreeOptions } from './params.js';
import { walkTree } from './tree.js';
import { withFile } from './format.js';
import type { BlockFile } from '../kernel/backend.js';

/** Options of {@link verifyVerity}. */
export interface VerityVerifyOptions extends VerityCallOptions, VerityTreeOptions {
  /**
   * Read the parameters from the superblock at `hashOffsetBytes` (default true). false:
   * `--no-superblock`: the tree's parameters are the other options (`salt` required).
   */
  readonly superblock?: boolean;
  /** Threads hashing the data (default os.availableParallelism()). */
  readonly threads?: number;
  /** Data blocks hashed so far, after each chunk. */
  readonly onProgress?: (progress: VerityProgress) => void;
}

/** What {@link verifyVerity} checked. */
export interface VerityVerifyResult {
  /** The root hash, lower-case hex. */
  readonly rootHashHex: string;
  /** Data blocks checked. */
  readonly dataBlocks: bigint;
  /** The tree's hash blocks (every level). */
  readonly hashBlocks: bigint;
  /** The superblock read (undefined without one). */
  readonly superblock: VeritySuperblock | undefined;
}

const VERIFY_KEYS = { ...TREE_KEYS, dm: 'object', signal: 'signal', timeoutMs: 'any', superblock: 'boolean', threads: 'uint', onProgress: 'function' } as const;

/** VERITY_read_sb() at `offsetBytes` of an open hash device. */
export async function readSuperblockAt(hash: BlockFile, offsetBytes: bigint): Promise<VeritySuperblock> {
  if (offsetBytes % 512n !== 0n) throw new DmVerityError('VERITY_PARAMETERS', 'Unsupported VERITY hash offset.');
  const bytes = new Uint8Array(VERITY_SUPERBLOCK_SIZE_BYTES);
  const n = await hash.read(offsetBytes, bytes);
  if (n < bytes.length) throw new DmVerityError('VERITY_SUPERBLOCK', 'No VERITY signature detected.');
  return decodeVeritySuperblock(bytes);
}

/**
 * Verifies `dataDevice` against the tree on `hashDevice` and `rootHash` (bytes, or hex).
 * Rejects with DmVerityError: `VERITY_CORRUPT` naming the first bad block (`device`,
 * `positionBytes`), `VERITY_ROOT_HASH` when the tree is whole but its root differs,
 * `VERITY_SUPERBLOCK` for a superblock veritysetup refuses, `VERITY_PARAMETERS` for a root
 * hash of the wrong length. A device too short for the tree is a DmSyscallError EIO.
 */
export async function verifyVerity(dataDevice: string, hashDevice: string, rootHash: Uint8Array | string, options: VerityVerifyOptions = {}): Promise<VerityVerifyResult> {
  valueArg(dataDevice, 'dataDevice', 'string');
  valueArg(hashDevice, 'hashDevice', 'string');
  if (typeof rootHash !== 'string' && !(rootHash instanceof Uint8Array)) throw new DmArgumentError('rootHash', 'a Uint8Array or a hex string', describeValue(rootHash));
  optionsArg(options, 'options', VERIFY_KEYS);
  const useSuperblock = options.superblock ?? true;
  const given = useSuperblock ? undefined : treeParams(options);
  if (given && given.salt === undefined) throw new DmArgumentError('options.salt', 'the salt (bytes or hex) when superblock is false', 'undefined');
  const offset = BigInt(options.hashOffsetBytes ?? 0);
  return runBlock(options.dm, 'verifyVerity', options, (op, io) =>
    withFile(() => op.step(`opening ${hashDevice}`, () => io.openFile(hashDevice, 'read')), async (hash) => {
      let sb: VeritySuperblock | undefined;
      let p: TreeParams;
      if (given) {
        p = given;
      } else {
        sb = await op.step(`reading the superblock of ${hashDevice}`, () => readSuperblockAt(hash, offset));
        p = treeParams({
          hashAlgorithm: sb.hashAlgorithm, hashType: sb.hashType, dataBlockSizeBytes: sb.dataBlockSizeBytes, hashBlockSizeBytes: sb.hashBlockSizeBytes,
          dataBlocks: sb.dataBlocks, hashOffsetBytes: offset, salt: sb.salt,
        });
      }
      const root = typeof rootHash === 'string' ? hexBytes(rootHash) : rootHash;
      if (!root || root.length !== p.hash.digestBytes || (typeof rootHash === 'string' && rootHash === '-')) {
        throw new DmVerityError('VERITY_PARAMETERS', 'Invalid root hash string specified.');
      }
      return withFile(() => op.step(`opening ${dataDevice}`, () => io.openFile(dataDevice, 'read')), async (data) => {
        const dataBlocks = p.dataBlocks === 0n ? (await data.sizeBytes()) / BigInt(p.dataBlockSizeBytes) : p.dataBlocks;
        const geometry = treeGeometry(p, dataBlocks, useSuperblock);
        const computed = await walkTree({
          data, hash, mode: 'verify', algorithm: p.hash.nodeName, digestBytes: p.hash.digestBytes, version: p.hashType, salt: p.salt!,
          dataBlockBytes: p.dataBlockSizeBytes, hashBlockBytes: p.hashBlockSizeBytes, dataBlocks, geometry, threads: options.threads,
          checkpoint: () => op.checkpoint(),
          progress: (done, total) => options.onProgress?.({ done, total, step: 'verifying' }),
        });
        if (toHex(computed) !== toHex(root)) throw new DmVerityError('VERITY_ROOT_HASH', 'Verification of root hash failed.');
        return { rootHashHex: toHex(computed), dataBlocks, hashBlocks: hashBlocksOf(p.hashBlockSizeBytes, p.hash.digestBytes, dataBlocks), superblock: sb };
      });
    }));
}
