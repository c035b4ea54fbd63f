/**
 * What the conformance suite needs from where it runs: a client, raw access to the
 * control node, block devices for tables, a way to hold a dm device open, and an
 * unprivileged client. Implemented for the simulator (sim-env.ts, any OS) and for the
 * real kernel (spec/live/kernel-env.ts, in the VM).
 */
import type { DeviceMapper } from '../../lib/index.js';
import type { ControlTransport } from '../../ffi/types.js';

export interface BlockDev {
  readonly path: string;
  readonly major: number;
  readonly minor: number;
  /** Size in 512-byte sectors. */
  readonly sectors: number;
  release(): Promise<void>;
}

export interface ConformanceEnv {
  readonly kind: 'simulator' | 'kernel';
  readonly label: string;
  open(options?: { initialBufferBytes?: number }): Promise<DeviceMapper>;
  /** A raw control-node transport (for byte-level checks of the interface itself). */
  transport(): Promise<ControlTransport>;
  /** A block device of at least `sectors` sectors. */
  blockDevice(sectors: number): Promise<BlockDev>;
  /** Holds the dm device open (as a mounted filesystem would) until the returned function runs. */
  holdOpen(name: string, dev: { major: number; minor: number }): Promise<() => Promise<void>>;
  /**
   * Runs `fn` as a caller without CAP_SYS_ADMIN whose control fd was opened by root.
   * Resolves with the error code the client saw (e.g. "EACCES").
   */
  unprivilegedIoctlError(): Promise<string>;
  /** The number of open file descriptors that could be ours (control nodes, pipes). */
  openFdCount(): number;
  /** Fires a target event on a device (thin-pool low-water, …) or a rename where that is impossible. */
  readonly prefix: string;
}
