/**
 * BLKDISCARD on a block device: the blocks are given back to whatever is under it (a thin
 * pool unmaps them, a loop device punches a hole in its file). containerd's devmapper
 * snapshotter discards a thin device before deleting it so the space reaches the disk
 * under the pool too (discard passdown); this is that step without `blkdiscard`.
 *
 * Offsets into a device are in 512-byte sectors, as everywhere in the package. Given a
 * client (`{ dm }`) the device is that client's backend's (the simulator's memory).
 *
 * ```ts
 * import { discardBlocks } from 'devicemapper';
 * await discardBlocks('/dev/mapper/thin1', { dm });                                  // the whole device
 * await discardBlocks('/dev/mapper/thin1', { dm, offsetSectors: 0n, lengthSectors: 2048n });
 * ```
 */
import { DmOperationError } from '../errors.js';
import { describeValue, optionsArg, valueArg } from '../client/args.js';
import type { BlockCallOptions } from './loop-devices.js';
import { runBlock } from './block-io.js';

/** Options of {@link discardBlocks}. */
export interface DiscardOptions extends BlockCallOptions {
  /** First sector (default 0). */
  readonly offsetSectors?: bigint | number;
  /** Sectors to discard (default: to the end of the device). */
  readonly lengthSectors?: bigint | number;
}

/** What {@link discardBlocks} did. */
export interface DiscardResult {
  /** The sectors discarded (0 for an empty range). */
  readonly discardedSectors: bigint;
}

function sectors(v: bigint | number | undefined, field: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be an integer (number or bigint), got ${describeValue(v)}`);
  }
  const b = BigInt(v);
  if (b < 0n || b >= 1n << 55n) throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative number of sectors below 2^55, got ${b}`);
  return b;
}

/**
 * Discards sectors `[offsetSectors, offsetSectors + lengthSectors)` of a block device
 * (BLKDISCARD). Offsets are checked before any syscall; a range past the end is refused
 * here (the kernel would say EINVAL). A device that does not support discard gives
 * `DmSyscallError` with the kernel's EOPNOTSUPP (`code` `ENOTSUP`, as Node names errno 95).
 */
export async function discardBlocks(device: string, options: DiscardOptions = {}): Promise<DiscardResult> {
  valueArg(device, 'device', 'string');
  optionsArg(options, 'options', { dm: 'object', signal: 'signal', timeoutMs: 'any', offsetSectors: 'any', lengthSectors: 'any' });
  const offset = sectors(options.offsetSectors, 'offsetSectors') ?? 0n;
  const wanted = sectors(options.lengthSectors, 'lengthSectors');
  return runBlock(options.dm, 'discardBlocks', options, async (op, io) => {
    const size = (await op.step(`size of ${device}`, () => io.sizeBytes(device))) / 512n;
    if (offset > size) throw new DmOperationError('INVALID_INPUT', `offsetSectors ${offset} is past the end of ${device} (${size} sectors)`);
    const length = wanted ?? size - offset;
    if (offset + length > size) throw new DmOperationError('INVALID_INPUT', `range ${offset}+${length} sectors is past the end of ${device} (${size} sectors)`);
    if (length === 0n) return { discardedSectors: 0n };
    await op.step(`discarding ${device}`, () => io.discard(device, offset * 512n, length * 512n));
    return { discardedSectors: length };
  });
}
