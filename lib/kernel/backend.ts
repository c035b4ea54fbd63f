/**
 * What the client runs on: a control transport for commands, and a watcher (a second
 * control fd) for the shared event poller. The real backend is koffi on
 * /dev/mapper/control; `devicemapper/testing` provides a simulated kernel with the same
 * shape, so everything above this file runs unchanged on both.
 */
import type { ControlTransport } from '../../ffi/types.js';
import type { CookieHost } from '../udev/cookies.js';
import type { NodeOps } from '../udev/device-nodes.js';
import type { IntentStore } from './intent-store.js';
import type { Keyring } from '../../ffi/keyring.js';

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
  /**
   * Everything besides device-mapper's ioctls that reaches files, block devices, loop
   * devices and device nodes (backing files, BLKGETSIZE64, BLKDISCARD, LOOP_*, mknod,
   * sysfs sizes). ThinPool, FaultyDevice, discardBlocks, the loop-device functions and the
   * node functions reach it through the client, so on the simulator they touch nothing on
   * the host. The real backend's is the host's (lib/kernel/host-block-io.ts); a backend
   * without one is given the host's too.
   */
  readonly blockIo?: BlockIo;
  /**
   * Where multi-step operations keep their intent records (lib/kernel/intent-store.ts,
   * docs/crash-safety.md): files under `stateDir` (default /run/devicemapper) on the real
   * backend, memory on the simulator. Absent: no records are kept on this backend.
   */
  openIntentStore?(stateDir: string | undefined): IntentStore;

  // ---- sysfs (read-only inspection, lib/inspect/) -------------------------------------
  /**
   * Read access to sysfs for the inspection API (`inspect()`, lib/inspect/): the real
   * backend reads the host's /sys; the simulator serves the same attributes from its model.
   * Absent: the inspection API cannot be used on this backend (DmUnsupportedError).
   */
  readonly sysfs?: SysfsReader;
  // ---- end sysfs ----------------------------------------------------------------------

  /**
   * The kernel keyring (`add_key`, `keyctl`: ffi/keyring.ts), where `openVerity` loads a root
   * hash signature. Absent: the host's. The simulator's is in memory (testing/sim-keyring.ts).
   */
  readonly keyring?: Keyring;
}

/**
 * sysfs as the inspection API reads it. Paths are relative to the sysfs root
 * (`block`, `block/dm-0/dm/name`, `block/dm-0/slaves/loop0/dev`). Failures are
 * `DmSyscallError` with the errno (ENOENT for an entry that is not there, EINVAL for a dm
 * attribute of a device being removed, ENOTDIR, EACCES …).
 */
export interface SysfsReader {
  /** The entries of a directory (a symlinked directory is followed). */
  readdir(path: string): Promise<string[]>;
  /** The start of an attribute: at most `maxBytes + 1` bytes, so a caller can tell an oversized one. */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
}

/** What {@link BlockIo.attachLoop} is asked for (checked by the caller). */
export interface LoopAttachRequest {
  /** LO_FLAGS_READ_ONLY; the file is opened read-only. */
  readonly readOnly: boolean;
  /** LO_FLAGS_* besides read-only (autoclear, partscan, direct I/O). */
  readonly flags: number;
  /** Where in the file the device starts, in bytes. */
  readonly offsetBytes: bigint;
  /** Bytes used from the offset (0: to the end of the file). */
  readonly sizeLimitBytes: bigint;
  /** Logical block size in bytes (0: the driver's default; LOOP_CONFIGURE only). */
  readonly blockSizeBytes: number;
  /** Attempts when another process takes the free device first. */
  readonly retries: number;
  /**
   * Keep the attacher's fd on the loop device open (the result's `release` closes it). An
   * autoclear loop is detached at its last close: without a holder the attach's own close
   * would detach it at once. Hold it until something else (a dm table) has it open.
   */
  readonly keepOpen?: boolean;
}

/** A loop device as {@link BlockIo.attachLoop} made it. */
export interface AttachedLoop {
  /** `/dev/loopN`. */
  readonly path: string;
  /** N of `/dev/loopN`. */
  readonly number: number;
  /** Major number (7). */
  readonly major: number;
  /** Minor number. */
  readonly minor: number;
  /** The backing file, resolved to an absolute path. */
  readonly file: string;
  /** The device's size in bytes (BLKGETSIZE64). */
  readonly sizeBytes: bigint;
  /**
   * With `keepOpen`: closes the attacher's fd on the device (a close like any other: the
   * last one detaches an autoclear loop). Closing twice is harmless.
   */
  readonly release?: () => Promise<void>;
}

/** LOOP_GET_STATUS64 of an attached loop device. */
export interface LoopStatus {
  /** The backing file's device number (st_dev). */
  readonly device: bigint;
  /** The backing file's inode. */
  readonly inode: bigint;
  /** The backing file's rdev. */
  readonly rdevice: bigint;
  /** Where in the file the device starts, in bytes. */
  readonly offsetBytes: bigint;
  /** Bytes used from the offset (0: to the end of the file). */
  readonly sizeLimitBytes: bigint;
  /** N of `/dev/loopN`. */
  readonly number: number;
  /** LO_FLAGS_*. */
  readonly flags: number;
  /** The backing file's name as the kernel keeps it (63 bytes at most). */
  readonly fileName: string;
}

/**
 * A backend's files, block devices, loop devices and device nodes. Paths name host paths
 * on the real backend and names in the simulator's memory on the simulated one. Failures
 * are `DmSyscallError` with the errno (ENOENT for a device or file that is not there,
 * ENXIO for a loop device with nothing attached).
 */
export interface BlockIo {
  /** A block device's size in bytes: BLKGETSIZE64 of a path, or sysfs's size of a `major:minor`. */
  sizeBytes(device: string): Promise<bigint>;
  /** BLKDISCARD of `[offsetBytes, offsetBytes + lengthBytes)` (both multiples of 512, checked by the caller). */
  discard(device: string, offsetBytes: bigint, lengthBytes: bigint): Promise<void>;
  /** Attaches `file` to a free loop device. */
  attachLoop(file: string, request: LoopAttachRequest): Promise<AttachedLoop>;
  /** LOOP_CLR_FD (ENXIO when nothing is attached; a device still open is detached at its last close). */
  detachLoop(devicePath: string): Promise<void>;
  /** LOOP_GET_STATUS64, or undefined when nothing is attached. */
  loopStatus(devicePath: string): Promise<LoopStatus | undefined>;
  /** LOOP_SET_CAPACITY after the backing file grew. */
  refreshLoop(devicePath: string): Promise<void>;
  /**
   * Makes `file` at least `sizeBytes` long: created when missing (its directory too), grown
   * when smaller, never shrunk. Without `sizeBytes` a missing file is ENOENT. Says what it did,
   * so an operation that fails later can take back a file it created.
   */
  ensureFile(file: string, sizeBytes: bigint | undefined): Promise<'created' | 'grown' | 'kept'>;
  /** Removes a file (an undo of `ensureFile`'s `created`); a missing file is not an error. */
  removeFile(file: string): Promise<void>;
  /** The device-node operations of lib/udev/device-nodes.ts (`/dev/mapper/<name>`). */
  readonly nodes: NodeOps;
  /**
   * Opens a file or block device for positional reads (and writes unless `mode` is
   * `read`). `create` makes a missing file first (mode 0600, as veritysetup makes its hash
   * image); a missing path is ENOENT otherwise. The simulator serves its own files and
   * devices; a path it does not know is ENOENT, never the host's file.
   */
  openFile(path: string, mode: 'read' | 'write' | 'create'): Promise<BlockFile>;
  /**
   * Opens a regular file read-only for FS_IOC_FIEMAP (dm-stats file maps, lib/stats/fiemap.ts).
   * The simulator serves the extents tests give its files (`SimBlockIo.mapFile`), never the
   * host's. Absent: this backend cannot map files (DmUnsupportedError).
   */
  openFileMap?(path: string): Promise<FileMapHandle>;
}

/** A file opened by {@link BlockIo.openFileMap}. */
export interface FileMapHandle {
  /** The path it was opened with. */
  readonly path: string;
  /** The device holding the file (fstat's st_dev). */
  readonly device: { readonly major: number; readonly minor: number };
  /** A regular file (S_ISREG). */
  readonly regular: boolean;
  /** The filesystem's magic number (statfs's f_type). */
  readonly filesystemType: number;
  /** fstat's st_blocks now, in 512-byte sectors: a change means the allocation may have changed. */
  allocatedSectors(): Promise<bigint>;
  /**
   * FS_IOC_FIEMAP on `buffer`, in place: a `struct fiemap` (codec/syscall-records.ts) and
   * room for its `fm_extent_count` extents, encoded and decoded by the caller.
   */
  fiemap(buffer: Uint8Array): Promise<void>;
  /** Releases it; closing twice is harmless. */
  close(): Promise<void>;
}

/**
 * One call's bounds on a {@link BlockFile} (docs/conventions.md, "Cancellation, time and
 * progress"): `signal` and `timeoutMs` end the caller's wait; the I/O already under way
 * finishes in the thread pool. What the handle `openBlockFile` returns does with a call cut
 * short is there (a read's late bytes never reach the caller's buffer; a late write is
 * ordered before later calls and a late failure reported by the next one).
 */
export interface BlockFileCallOptions {
  /** Rejects with DmAbortError (`ABORT_ERR`); an aborted signal rejects before any I/O. */
  readonly signal?: AbortSignal | undefined;
  /** Rejects with DmOperationError `TIMEOUT` after this many milliseconds. */
  readonly timeoutMs?: number | undefined;
}

/**
 * A file or block device opened by {@link BlockIo.openFile}: positional I/O, nothing
 * buffered. The per-call `options` are honoured by the handle `openBlockFile` returns for
 * every backend (lib/block/bounded-file.ts bounds each call once, in one place); a
 * backend's own implementation may take them or leave them out.
 */
export interface BlockFile {
  /** The path it was opened with. */
  readonly path: string;
  /** Its size in bytes (a file's length, a block device's BLKGETSIZE64). */
  sizeBytes(options?: BlockFileCallOptions): Promise<bigint>;
  /**
   * Reads up to `into.length` bytes at `offsetBytes` into `into`; resolves to the count read
   * (fewer only at the end of the file or device).
   */
  read(offsetBytes: bigint | number, into: Uint8Array, options?: BlockFileCallOptions): Promise<number>;
  /**
   * `read` done synchronously (one pread on the calling thread), for readers of many small
   * blocks of a file the page cache holds, where a trip through the thread pool per block
   * costs more than the read (the thin metadata reader). Optional: a backend without it
   * (the simulator) is read through `read`. It never waits, so it takes no bounds and is not
   * ordered after a write cut short.
   */
  readSync?(offsetBytes: bigint | number, into: Uint8Array): number;
  /** Writes all of `bytes` at `offsetBytes` (a file grows as needed). */
  write(offsetBytes: bigint | number, bytes: Uint8Array, options?: BlockFileCallOptions): Promise<void>;
  /**
   * Drops what the page cache holds of a block device, so later reads see what the kernel
   * wrote past it (a thin pool's metadata: docs/thin-metadata.md). A regular file's cache is
   * coherent and needs nothing; a backend without a page cache leaves this out.
   */
  dropCachedPages?(options?: BlockFileCallOptions): Promise<void>;
  /**
   * Releases it; further calls fail. Closing twice is harmless. It takes no bounds: a
   * release cut short would leave the fd open (docs/conventions.md, "Handles").
   */
  close(): Promise<void>;
}

/** The kernel log as a backend provides it (lib/kernel/kmsg-reader.ts reads /dev/kmsg; the simulator its own log). */
export interface KernelLog {
  /** device-mapper lines logged since the previous take (or since open). */
  take(): string[];
  /** Stops reading the log (closes /dev/kmsg); `take()` is not called afterwards. */
  close(): void;
}
