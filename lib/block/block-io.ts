/**
 * Which backend's files, block devices and loop devices a standalone function reaches: the
 * client's when it is given one (`{ dm }`: the simulator's memory for a simulated client),
 * the host's otherwise.
 */
// The keys, not client.ts: reading a host file (openThinMetadata, dmctl thin) must not load the client.
import type { DeviceMapper } from '../client/client.js';
import { blockIoOf, operationHost } from '../client/internal-keys.js';
import { runOperation, type Operation, type OperationHost } from '../operations/operation.js';
import type { BlockIo } from '../kernel/backend.js';
import { hostBlockIo } from '../kernel/host-block-io.js';
import { DmArgumentError } from '../errors.js';
import { describeValue } from '../client/args.js';

/** The BlockIo of `dm`'s backend, or the host's when `dm` is undefined. */
export function blockIoFor(dm: DeviceMapper | undefined, field = 'options.dm'): BlockIo {
  if (dm === undefined) return hostBlockIo;
  const f = (dm as { [blockIoOf]?: unknown } | null)?.[blockIoOf];
  if (typeof f !== 'function') throw new DmArgumentError(field, 'a DeviceMapper', describeValue(dm));
  return dm[blockIoOf]();
}

const NEVER_CLOSING = new AbortController().signal;
const NO_UNDO_CALLS = {
  info: () => Promise.reject(new Error('internal: a block-device operation has no device-mapper undo')),
  resume: () => Promise.reject(new Error('internal: a block-device operation has no device-mapper undo')),
  clear: () => Promise.reject(new Error('internal: a block-device operation has no device-mapper undo')),
};

/**
 * Runs a standalone block-device function (attachLoop, discardBlocks, …) on the operation
 * core: on `dm`'s (counted in flight, stopped by its close()) when given, on its own
 * otherwise — stopped by `signal` and `timeoutMs` either way, with the caller's frames.
 */
export function runBlock<T>(
  dm: DeviceMapper | undefined, name: string, options: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined },
  body: (op: Operation, io: BlockIo) => Promise<T>,
): Promise<T> {
  const io = blockIoFor(dm);
  const host: OperationHost = dm ? dm[operationHost]() : { begin() {}, end() {}, closing: NEVER_CLOSING, kernel: NO_UNDO_CALLS };
  return runOperation(host, name, { signal: options.signal, timeoutMs: options.timeoutMs }, (op) => body(op, io));
}
