/**
 * What the client runs on: a control transport for commands, and a watcher (a second
 * control fd) for the shared event poller. The real backend is koffi on
 * /dev/mapper/control; `devicemapper/testing` provides a simulated kernel with the same
 * shape, so everything above this file runs unchanged on both.
 */
import type { ControlTransport } from '../../ffi/types.js';
import type { CookieHost } from '../udev/cookies.js';

export type { AsyncCallKind, ControlTransport, IoctlResult } from '../../ffi/types.js';

/**
 * Waits for device-mapper's global events on its own control fd: `arm()` issues
 * DM_DEV_ARM_POLL (remembering the current global event number on that fd), `wait()`
 * resolves once an event happened after the last arm, or once `cancel()` is called.
 * At most one `wait()` is ever pending, and it holds at most one libuv pool thread.
 */
export interface Watcher {
  /** Arms it (`DM_DEV_ARM_POLL`): the next global event wakes `wait()`. */
  arm(): void;
  /** Non-blocking: whether an event happened since the last arm (poll with timeout 0). */
  check(): boolean;
  /** Waits for a global event since the last `arm()`, without blocking the event loop. */
  wait(): Promise<'event' | 'cancelled'>;
  /** Makes a pending `wait()` resolve with `cancelled`. */
  cancel(): void;
  /** Releases its fd and thread; it cannot be used afterwards. */
  close(): void;
}

/** Where a client's ioctls go: the real control node, or a simulated kernel (`devicemapper/testing`). */
export interface Backend {
  /** A human-readable description, e.g. "/dev/mapper/control" or "simulated kernel". */
  readonly description: string;
  /** Opens a control transport (one fd of `/dev/mapper/control`). */
  openControl(): Promise<ControlTransport>;
  /** Opens the event watcher the shared poller waits on. */
  openWatcher(): Promise<Watcher>;
  /** A cursor on the kernel log (undefined when unreadable), opened with the client. */
  openKernelLog?(): KernelLog | undefined;
  /**
   * SysV semaphores and udev's state for udev cookies (lib/udev/cookies.ts). The real
   * backend's is the host's; the simulator's is in memory, completed by its own "udev".
   * Absent: no udev synchronisation on this backend.
   */
  openCookieHost?(): Promise<CookieHost>;
}

/** The kernel log as a backend provides it (lib/kernel/kmsg-reader.ts reads /dev/kmsg; the simulator its own log). */
export interface KernelLog {
  /** device-mapper lines logged since the previous take (or since open). */
  take(): string[];
  /** Stops reading the log (closes /dev/kmsg); `take()` is not called afterwards. */
  close(): void;
}
