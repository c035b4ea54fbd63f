/**
 * `readVeritySuperblock()`: what `veritysetup dump` shows of a hash device: its superblock
 * and the tree size it implies (cryptsetup lib/verity/verity.c VERITY_read_sb(), VERITY_dump()).
 */
import { optionsArg, valueArg } from '../client/args.js';
import { runBlock } from '../block/block-io.js';
import type { VeritySuperblock } from './superblock.js';
import { hashBlocksOf, type VerityCallOptions } from './params.js';
import { hashStartBlock } from './geometry.js';
import { verityHash } from './hashes.js';
import { readSuperblockAt } from './verify.js';
import { withFile } from './format.js';

/** Options of {@link readVeritySuperblock}. */
export interface VeritySuperblockOptions extends VerityCallOptions {
  /** Where the superblock is, in bytes (default 0; a multiple of 512). */
  readonly hashOffsetBytes?: bigint | number;
}

/** A superblock with what dump derives from it. */
export interface VerityHeader extends VeritySuperblock {
  /** Where it was read. */
  readonly hashOffsetBytes: bigint;
  /** The tree's hash blocks (every level). */
  readonly hashBlocks: bigint;
  /** Superblock area and tree, in bytes, when the offset is 0 (veritysetup prints it only then). */
  readonly hashDeviceSizeBytes: bigint | undefined;
}

/**
 * Reads and checks the superblock of `hashDevice` (DmVerityError `VERITY_SUPERBLOCK` with
 * veritysetup's message where it refuses one; `No VERITY signature detected.` for a device
 * that holds none).
 */
export async function readVeritySuperblock(hashDevice: string, options: VeritySuperblockOptions = {}): Promise<VerityHeader> {
  valueArg(hashDevice, 'hashDevice', 'string');
  optionsArg(options, 'options', { dm: 'object', signal: 'signal', timeoutMs: 'any', hashOffsetBytes: 'u64' });
  const offset = BigInt(options.hashOffsetBytes ?? 0);
  return runBlock(options.dm, 'readVeritySuperblock', options, (op, io) =>
    withFile(() => op.step(`opening ${hashDevice}`, () => io.openFile(hashDevice, 'read')), async (hash) => {
      const sb = await op.step(`reading the superblock of ${hashDevice}`, () => readSuperblockAt(hash, offset));
      const hashBlocks = hashBlocksOf(sb.hashBlockSizeBytes, verityHash(sb.hashAlgorithm)!.digestBytes, sb.dataBlocks);
      const start = hashStartBlock(offset, sb.hashBlockSizeBytes, true);
      return { ...sb, hashOffsetBytes: offset, hashBlocks, hashDeviceSizeBytes: offset === 0n ? (start + hashBlocks) * BigInt(sb.hashBlockSizeBytes) : undefined };
    }));
}
