/**
 * BLKDISCARD on a block device: the bytes are given back to whatever is under it (a thin
 * pool unmaps the blocks, a loop device punches a hole in its file). containerd's devmapper
 * snapshotter discards a thin device before deleting it so the space reaches the disk
 * under the pool too (discard passdown); this is that step without `blkdiscard`.
 *
 * ```ts
 * import { discardBlocks } from 'devicemapper';
 * await discardBlocks('/dev/mapper/thin1');                          // the whole device
 * await discardBlocks('/dev/mapper/thin1', { offset: 0n, length: 1n << 20n });
 * ```
 */
import { blockDeviceBytes, blockDiscard } from '../../ffi/block.js';
import { DmOperationError } from '../errors.js';
import { describeValue, optionsArg, valueArg } from '../client/args.js';

/** Options of {@link discardBlocks}. */
export interface DiscardOptions {
  /** First byte (default 0); a multiple of 512. */
  readonly offset?: bigint | number;
  /** Bytes to discard (default: to the end of the device); a multiple of 512. */
  readonly length?: bigint | number;
}

function bytes(v: bigint | number | undefined, field: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be an integer (number or bigint), got ${describeValue(v)}`);
  }
  const b = BigInt(v);
  if (b < 0n || b % 512n !== 0n) throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative multiple of 512, got ${b}`);
  return b;
}

/**
 * Discards `[offset, offset + length)` of a block device (BLKDISCARD); returns the bytes
 * discarded. Offsets are checked before any syscall; a range past the end is refused here
 * (the kernel would say EINVAL). A device that does not support discard gives
 * `DmSyscallError` with the kernel's EOPNOTSUPP (`code` `ENOTSUP`, as Node names errno 95).
 */
export async function discardBlocks(device: string, options: DiscardOptions = {}): Promise<bigint> {
  valueArg(device, 'device', 'string');
  optionsArg(options, 'options', { offset: 'any', length: 'any' }); // values: bytes() below (INVALID_INPUT)
  const offset = bytes(options.offset, 'offset') ?? 0n;
  const wanted = bytes(options.length, 'length');
  const size = await blockDeviceBytes(device);
  if (offset > size) throw new DmOperationError('INVALID_INPUT', `offset ${offset} is past the end of ${device} (${size} bytes)`);
  const length = wanted ?? size - offset;
  if (offset + length > size) throw new DmOperationError('INVALID_INPUT', `range ${offset}+${length} is past the end of ${device} (${size} bytes)`);
  if (length === 0n) return 0n;
  await blockDiscard(device, offset, length);
  return length;
}
