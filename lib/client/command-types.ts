/**
 * The options and results of DeviceMapper's command methods and of the operations it
 * delegates to (createDevice, removeDevice): the client's public types, kept apart from the
 * methods so that client.ts holds the methods alone.
 */
import type { DeviceId, DeviceInfo, DevNo, KernelString, Sectors, TargetLine, TargetSpecInput, RawNames } from '../../codec/index.js';
import type { Backend } from '../kernel/backend.js';
import type { DeviceIdentity } from '../operations/identity.js';
import type { OperationProgress } from '../operations/operation.js';
import type { UdevCallOptions } from '../udev/cookie-call.js';

/**
 * What every public async method of DeviceMapper takes, in its last parameter
 * (docs/conventions.md, "Cancellation, time and progress"). Both end the caller's wait: a
 * kernel call already under way runs to completion in the kernel all the same (an ioctl
 * cannot be taken back), and each method's documentation says what it does with a call that
 * lands after the caller gave up. Checked before any syscall (DmOperationError INVALID_INPUT).
 */
export interface CallOptions {
  /** Ends the wait at once with DmAbortError (an aborted signal: before any ioctl). */
  readonly signal?: AbortSignal | undefined;
  /** Ends the wait after this many ms (1…3600000) with DmOperationError TIMEOUT. */
  readonly timeoutMs?: number | undefined;
}

/** The options of a method's synchronous twin (`infoSync`, `listSync` …): the async method's, without `signal` and `timeoutMs` (a sync call cannot be stopped). */
export type SyncOptions<T> = Omit<T, keyof CallOptions>;

/** A batch's options ({@link DeviceMapper.infoMany}, {@link DeviceMapper.statusMany}): a bound on the whole batch and its progress. */
export interface BatchOptions extends CallOptions {
  /** Called as entries settle (`done` of `total` devices). Must not throw; a throw is ignored. */
  readonly onProgress?: ((progress: OperationProgress) => void) | undefined;
}

/** `removeAll()`. */
export interface RemoveAllOptions extends CallOptions {
  /** Mark open devices for removal at their last close (DM_DEFERRED_REMOVE). */
  readonly deferred?: boolean;
}

/** Options of {@link DeviceMapper.open}. */
export interface OpenOptions {
  /** Control node path (default /dev/mapper/control). */
  readonly path?: string;
  /** Run on another backend, e.g. the simulated kernel from `devicemapper/testing`. */
  readonly backend?: Backend;
  /**
   * First buffer size for commands that return a payload (default 16 KiB, like
   * libdevmapper). It doubles on DM_BUFFER_FULL_FLAG and the size that worked is kept.
   */
  readonly initialBufferBytes?: number;
  /**
   * Issue every command synchronously on the calling thread instead of koffi's async path
   * (default false). For CLI tools and scripts that serve nothing else meanwhile: it skips
   * the libuv pool hop per call, but create/load/suspend/remove then block the event loop
   * while the kernel works (remove: RCU teardown; load: target constructors doing I/O).
   * `wait()` and `events()` are unaffected: they never park a thread either way.
   */
  readonly blocking?: boolean;
  /**
   * Set DM_SKIP_BDGET_FLAG on every request but DM_VERSION (default false), as libdevmapper's
   * `dm_task_no_open_count` does for dmsetup's `--noopencount`. The kernels of the matrix
   * ignore the flag and report the open count either way (docs/dmctl.md): it exists so that a
   * trace of the ioctls (`devicemapper:ioctl`) shows the flags dmsetup sends.
   */
  readonly skipOpenCount?: boolean;
  /**
   * How calls that may sleep in the kernel (create, load, resume, remove, status, message,
   * wait) run off the event loop. `'auto'` (the default): batches (`infoMany`,
   * `statusMany`) through the process's ioctl engine, a worker thread fed through a
   * shared-memory ring (one wake-up carries many ioctls; no libuv pool thread is held),
   * single calls through koffi's async call on libuv's pool, which measured the shorter
   * round trip one call at a time (bench/README.md). `'engine'`: every async call through
   * the engine; `'pool'`: every one through the pool. Whatever the choice, DM_DEV_WAIT runs
   * on the pool: it may sleep in the kernel, and the engine runs its calls in order
   * (docs/events.md). Only the real backend uses it.
   */
  readonly asyncPath?: 'auto' | 'engine' | 'pool';
  /**
   * When the process's ioctl engine (see `asyncPath`) starts its worker thread. `'lazy'` (the
   * default): on the first call routed to it (under `'auto'`, the first batch), whose calls
   * take libuv's pool until the worker is ready. `'eager'`: in the background as `open()`
   * returns, so that loading koffi in the worker overlaps the caller's own work and a first
   * batch finds it ready; `open()` does not wait for it. Eager costs a process that never
   * batches a thread and its start (bench/README.md, "The first call in a process"); it has
   * no effect with `asyncPath: 'pool'`, `blocking: true` or a backend without an engine.
   * Once started, the engine also carries chained compound operations (createDevice) under
   * `'auto'`, as it does after a first batch.
   */
  readonly engine?: 'lazy' | 'eager';
  /**
   * Where multi-step operations keep their intent records, for `recover()` after a crash
   * (docs/crash-safety.md): records go under `<stateDir>/intents/`. Default
   * /run/devicemapper. Every process that may recover another's operations must use the
   * same directory. The simulator keeps its records in memory whatever this says.
   */
  readonly stateDir?: string;
}

/** What DEV_REMOVE reports: `deferred` = still open, removal scheduled for its last close. */
export interface RemoveResult extends RawNames {
  /** The removed (or scheduled) device's name. */
  readonly name: string;
  /** null when the device had no uuid. */
  readonly uuid: string | null;
  /** The device was open: the kernel removes it at its last close (DM_DEFERRED_REMOVE). */
  readonly deferred: boolean;
  /** The kernel sent a uevent (DM_UEVENT_GENERATED_FLAG): udev will act on the node. */
  readonly ueventGenerated: boolean;
}

/** `info()` of a device that does not exist. */
export interface Missing {
  /** Always false: no device has that name, uuid or number. */
  readonly exists: false;
}
/** What {@link DeviceMapper.info} gives: the device's state, or `{ exists: false }`. */
export type InfoResult = (DeviceInfo & {
  /** Always true: the device exists. */
  readonly exists: true;
}) | Missing;

/** What {@link DeviceMapper.table} and {@link DeviceMapper.status} give: the device and its target lines. */
export interface TableResult {
  /** The device's state at the time of the reply. */
  readonly device: DeviceInfo;
  /** One line per target, in table order (status text, or table text for `table()`). */
  readonly targets: readonly TargetLine[];
}

/** `list()`: prefix filters (4.45+ kernels filter themselves; older ones are filtered here) and the order. */
export interface ListOptions extends CallOptions {
  /** Only devices whose name starts with this. */
  readonly namePrefix?: string;
  /** Only devices whose uuid starts with this. */
  readonly uuidPrefix?: string;
  /**
   * `'name'` (the default): sorted by name bytes on every kernel. `'kernel'`: as
   * DM_LIST_DEVICES gives them, which is name order from dm 4.45 (a tree sorted by name
   * bytes) and, before 4.45 (5.10 is 4.43), the walk of the kernel's 64 name-hash buckets,
   * each bucket newest first (a rename counts as new): the order dmsetup prints.
   */
  readonly order?: ListOrder;
}

/** The order of {@link ListOptions}: sorted by name bytes, or the kernel's own. */
export type ListOrder = 'name' | 'kernel';

/** `create()`: a device without a table. */
export interface CreateOptions extends CallOptions {
  /** The new device's name (at most 127 bytes, no '/'). */
  readonly name: KernelString;
  /** Its uuid (at most 128 bytes); it can be set once later with `rename(…, { newUuid })`. */
  readonly uuid?: KernelString;
  /** Persistent minor (DM_PERSISTENT_DEV_FLAG). */
  readonly minor?: number;
}

/** What {@link DeviceMapper.depsWithInfo} gives: the device's state and the devices its table uses. */
export interface DepsWithInfo {
  /** The device's state. */
  device: DeviceInfo;
  /** The devices its table uses. */
  deps: DevNo[];
}

/** `rename()`: the new name, or a uuid for a device that has none. */
export type RenameTarget = {
  /** The new name. */
  readonly newName: KernelString;
} | {
  /** The uuid to set (only on a device without one). */
  readonly newUuid: KernelString;
};

/** `suspend()` and `resume()`. */
export interface SuspendOptions extends CallOptions {
  /** Do not flush queued I/O (DM_NOFLUSH_FLAG). */
  readonly noflush?: boolean;
  /** Do not freeze the filesystem (DM_SKIP_LOCKFS_FLAG). */
  readonly skipLockfs?: boolean;
}

/** `info()` and `deps()`: read the inactive table's view (DM_QUERY_INACTIVE_TABLE_FLAG). */
export interface InfoOptions extends CallOptions {
  /** Report on the inactive table (dm 4.16+). */
  readonly inactive?: boolean;
}
/** `deps()`: as `info()`. */
export type DepsOptions = InfoOptions;

/** `status()`. */
export interface StatusOptions extends CallOptions {
  /** The inactive table's status (dm 4.16+). */
  readonly inactive?: boolean;
  /** Do not flush before reading status (DM_NOFLUSH_FLAG). */
  readonly noflush?: boolean;
  /** Each target's IMA measurement text instead of its status (DM_IMA_MEASUREMENT_FLAG, dm 4.45+; `dmsetup measure`). */
  readonly ima?: boolean;
}

/** `table()`. */
export interface TableOptions extends CallOptions {
  /** The inactive table (dm 4.16+). */
  readonly inactive?: boolean;
  /** Keep crypt/integrity keys instead of redacting them as dmsetup does. */
  readonly showKeys?: boolean;
}

/** `load()`. */
export interface LoadOptions extends CallOptions {
  /** Load the table read-only (DM_READONLY_FLAG). */
  readonly readOnly?: boolean;
  /** The params hold secrets: DM_SECURE_DATA_FLAG, and every buffer wiped afterwards. */
  readonly secure?: boolean;
}

/** `setGeometry()`: the values the kernel reports for HDIO_GETGEO. */
export interface Geometry {
  /** Cylinders. */
  readonly cylinders: number;
  /** Heads per cylinder. */
  readonly heads: number;
  /** Sectors per track (a count of sectors in each track, not a quantity of storage). */
  readonly sectorsPerTrack: number;
  /** Where the device starts, in sectors (HDIO_GETGEO's `start`). */
  readonly startSectors: Sectors;
}

/** Options of {@link DeviceMapper.remove}. */
export interface RemoveOptions extends UdevCallOptions, CallOptions {
  /** Remove when last closed if the device is open (DM_DEFERRED_REMOVE). */
  readonly deferred?: boolean;
  /** Ends the caller's wait, for the ioctl or for udev (lib/udev/cookie-call.ts); the removal itself is not undone. */
  readonly signal?: AbortSignal | undefined;
}

/** resume()'s options: suspend()'s flags plus udev sync; `signal` cancels the wait for udev (the resume itself is not undone). */
export interface ResumeOptions extends UdevCallOptions, CallOptions {
  /** As in {@link SuspendOptions}: DM_NOFLUSH_FLAG. */
  readonly noflush?: boolean;
  /** As in {@link SuspendOptions}: DM_SKIP_LOCKFS_FLAG. */
  readonly skipLockfs?: boolean;
  /** Ends the caller's wait, for the ioctl or for udev (the resume itself is not undone). */
  readonly signal?: AbortSignal | undefined;
}

/** rename()'s udev options; `signal` and `timeoutMs` end the caller's wait (the rename itself is not undone). */
export interface RenameOptions extends UdevCallOptions, CallOptions {
  /** Ends the caller's wait, for the ioctl or for udev (the rename itself is not undone). */
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link DeviceMapper.wait}. */
export interface WaitOptions extends CallOptions {
  /** The last event number seen; returns as soon as the device's differs. Default: its current one. */
  readonly eventNr?: number;
  /**
   * Return the table text instead of status (DM_STATUS_TABLE_FLAG). Read like `table()`:
   * with DM_SECURE_DATA_FLAG, buffers wiped, crypt/integrity keys redacted unless `showKeys`.
   */
  readonly table?: boolean;
  /** With `table`: keep crypt/integrity keys (as `table(…, { showKeys: true })`). */
  readonly showKeys?: boolean;
  /** Read the inactive table's status or table (dm 4.16+). */
  readonly inactive?: boolean;
  /** Do not flush before reading status (DM_NOFLUSH_FLAG). */
  readonly noflush?: boolean;
  /** Stops waiting (rejects with DmAbortError). */
  readonly signal?: AbortSignal | undefined;
  /** Stops waiting after this many ms (rejects with DmOperationError TIMEOUT). */
  readonly timeoutMs?: number | undefined;
}

/** Options of {@link DeviceMapper.createDevice}; the udev ones apply to its resume (a udev timeout or abort rolls the device back). */
export interface CreateDeviceOptions extends UdevCallOptions, CallOptions {
  /** The new device's name. */
  readonly name: string;
  /** Its uuid, if any. */
  readonly uuid?: string;
  /** The table loaded before the resume (at least one line). */
  readonly table: readonly TargetSpecInput[];
  /** Load the table read-only (DM_READONLY_FLAG). */
  readonly readOnly?: boolean;
  /** The params hold secrets (DM_SECURE_DATA_FLAG; buffers wiped). */
  readonly secure?: boolean;
  /** Persistent minor (DM_PERSISTENT_DEV_FLAG). */
  readonly minor?: number;
  /**
   * Stops the operation at its next step (a step under way is not waited for); the device
   * is rolled back all the same (the rollback itself is not cancelled by the signal), and a
   * create that lands after the operation gave up is removed then.
   */
  readonly signal?: AbortSignal | undefined;
  /** The whole operation's bound in ms (1…3600000): past it the device is rolled back and it rejects with DmOperationError TIMEOUT. */
  readonly timeoutMs?: number | undefined;
  /** The EBUSY retry policy of the rollback's remove (defaults as removeDevice's: 25 attempts, `delayMs` 200 apart). */
  readonly rollback?: {
    /** Attempts on EBUSY (default 25). */
    readonly retries?: number;
    /** Delay between attempts in ms (default 200). */
    readonly delayMs?: number;
  };
}

/** Options of {@link DeviceMapper.removeDevice}. */
export interface RemoveDeviceOptions extends RemoveOptions {
  /** Attempts on EBUSY (default 25, as libdevmapper; 0 and 1 both mean one). A finite non-negative integer. */
  readonly retries?: number;
  /** Delay between attempts in ms (default 200). A finite non-negative integer. */
  readonly delayMs?: number;
  /** Honoured before the first ioctl, between attempts, during the delay and while an attempt is under way (it finishes in the kernel). */
  readonly signal?: AbortSignal | undefined;
  /** The whole removal's bound in ms, EBUSY retries included (DmOperationError TIMEOUT). */
  readonly timeoutMs?: number | undefined;
  /**
   * Remove only this device (e.g. the DeviceInfo createDevice returned): a device of
   * another identity under the address gives DmIdentityError and is not touched.
   */
  readonly expect?: DeviceIdentity;
}
