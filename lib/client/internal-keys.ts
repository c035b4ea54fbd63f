/**
 * Package-internal keys of DeviceMapper (not exported from the package root), in a module of
 * their own so that the operations (lib/operations/) and the client can both import them
 * without a load-order cycle; and what `DeviceMapper[clientParts]()` lends an operation.
 */
import type { TargetSpecInput } from '../../codec/index.js';
import type { UdevContext } from '../udev/cookie-call.js';
import type { IoctlRunner } from './runner.js';

/**
 * The key of `DeviceMapper[operationHost]()`, what the operation core
 * (lib/operations/operation.ts) borrows from the client: the in-flight count close() waits
 * for, the closing signal, and the calls an undo may still make after close().
 */
export const operationHost: unique symbol = Symbol('devicemapper.operationHost');

/**
 * The key of `DeviceMapper[clientParts]()`: what the client's own operations
 * (lib/operations/create-device.ts, remove-device.ts, rename-device.ts) use below the
 * command methods — the runner (for call contexts: after-close rollback, wiping) and the
 * udev context.
 */
export const clientParts: unique symbol = Symbol('devicemapper.clientParts');

/** What {@link clientParts} lends. */
export interface ClientParts {
  /** The client's ioctl runner. */
  readonly runner: IoctlRunner;
  /** The udev context of one call whose wait `signal` may end (joined with close()). */
  udev(signal: AbortSignal | undefined): UdevContext;
  /** `secure` as asked, or set for key-carrying tables on kernels that have the flag. */
  secureFor(targets: readonly TargetSpecInput[], secure: boolean | undefined): boolean;
}

/**
 * Package-internal (not exported from the package root): the key of
 * `DeviceMapper[blockIoOf]()`, the backend's files, block devices, loop devices and nodes
 * (lib/kernel/backend.ts's BlockIo) for ThinPool, FaultyDevice, discard, the loop-device
 * and node functions: the host's on the real backend, memory on the simulator.
 */
export const blockIoOf: unique symbol = Symbol('devicemapper.blockIo');

/**
 * Package-internal: the key of `DeviceMapper[keyringOf]()`, the backend's kernel keyring
 * (lib/verity/open.ts loads a root hash signature there): the host's on the real backend,
 * memory on the simulator.
 */
export const keyringOf: unique symbol = Symbol('devicemapper.keyring');
