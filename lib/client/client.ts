/**
 * `DeviceMapper`: the public client. One method per control command, typed results,
 * version negotiation, buffer growth and typed errors (all in runner.ts), events through
 * one shared poller (poller.ts), and the high-level create/remove helpers users need.
 */
import type { OperationHost } from '../operations/operation.js';
import {
  DmCodecError, DM_IOCTL_SIZE, DM_MAX_DATA_SIZE, type DeviceId, type KernelString, type DeviceInfo, type DevNo, type ListedDevice, type Sectors, type TargetLine, type TargetSpecInput,
  type CommandName, type CommandTable, type RawNames, type TargetVersion, type Version,
} from '../../codec/index.js';
import { DmClosedError, ERRNO } from '../../ffi/errors.js';
import type { Backend, BlockIo, ControlTransport, KernelLog } from '../kernel/backend.js';
import { DmAbortError, DmArgumentError, DmError, DmIdentityError } from '../errors.js';
import { attachCleanupError } from '../operations/cleanup-error.js';
import { createDeviceArg, deviceArg, optionsArg, removeDeviceArg, renameToArg, targetsArg, valueArg } from './args.js';
import { addressOf, checkReply, identityOf, removeOurs, renamedIdentity, renamedInfo, sameIdentity, type DeviceIdentity } from '../operations/identity.js';
import { retryOnBusy, retryPolicy, throwIfAborted, type RetryPolicy } from '../operations/retry.js';
import { SharedPoller } from '../events/event-poller.js';
import { WakeSnapshots } from '../events/wake-snapshot.js';
import { DM_UEVENT_GENERATED_FLAG, describeParams, redactTableParams, scrubLogLines, tableCarriesKeys } from '../../codec/index.js';
import { EventStreams, type DeviceEvent, type EventsOptions } from '../events/device-events.js';
import { realBackend } from '../kernel/kernel-backend.js';
import { hostBlockIo } from '../kernel/host-block-io.js';
import { compareVersions, IoctlRunner, type CallContext } from './runner.js';
import { udevMode, udevOptionsArg, udevTransaction, UDEV_OPTION_KINDS, type UdevCallOptions } from '../udev/cookie-call.js';
import { UdevCookies } from '../udev/cookies.js';

export type { DeviceId, DeviceIdentity, DeviceInfo, DevNo, KernelString, ListedDevice, TargetLine, TargetSpecInput, TargetVersion, Version };

/** Minimum kernel versions of optional features (docs/kernel-facts.md, "Feature versions"). */
export const FEATURES = {
  /** DM_NOFLUSH_FLAG on suspend and status. */
  noflush: [4, 12, 0],
  /** DM_QUERY_INACTIVE_TABLE_FLAG: reading the inactive table. */
  inactiveTable: [4, 16, 0],
  /** DM_UUID_FLAG on rename: setting a uuid once. */
  setUuid: [4, 19, 0],
  /** DM_SECURE_DATA_FLAG: the kernel wipes its copies of the params. */
  secureData: [4, 20, 0],
  /** DM_DEFERRED_REMOVE: removal at last close. */
  deferredRemove: [4, 27, 0],
  /** DM_DEV_ARM_POLL: poll()-based events. */
  armPoll: [4, 37, 0],
  /** DM_GET_TARGET_VERSION: one target's version. */
  getTargetVersion: [4, 41, 0],
  /** DM_LIST_DEVICES with uuids and event numbers, and prefix filters. */
  listFilters: [4, 45, 0],
  /** DM_IMA_MEASUREMENT_FLAG on status. */
  ima: [4, 45, 0],
} as const satisfies Record<string, Version>;

/**
 * Package-internal (not exported from the package root): the key of
 * `DeviceMapper[operationHost]()`, what the operation core (lib/operations/operation.ts)
 * borrows from the client: the in-flight count close() waits for, the closing signal, and
 * the calls an undo may still make after close().
 */
export const operationHost: unique symbol = Symbol('devicemapper.operationHost');

/**
 * Package-internal (not exported from the package root): the key of
 * `DeviceMapper[blockIoOf]()`, the backend's files, block devices, loop devices and nodes
 * (lib/kernel/backend.ts's BlockIo) for ThinPool, FaultyDevice, discard, the loop-device
 * and node functions: the host's on the real backend, memory on the simulator.
 */
export const blockIoOf: unique symbol = Symbol('devicemapper.blockIo');

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
  readonly initialBufferSize?: number;
  /**
   * Issue every command synchronously on the calling thread instead of koffi's async path
   * (default false). For CLI tools and scripts that serve nothing else meanwhile: it skips
   * the libuv pool hop per call, but create/load/suspend/remove then block the event loop
   * while the kernel works (remove: RCU teardown; load: target constructors doing I/O).
   * `wait()` and `events()` are unaffected: they never park a thread either way.
   */
  readonly blocking?: boolean;
  /**
   * How calls that may sleep in the kernel (create, load, resume, remove, status, message,
   * wait) run off the event loop. `'auto'` (the default): batches (`infoMany`,
   * `statusMany`) and DM_DEV_WAIT through the process's ioctl engine, a worker thread fed
   * through a shared-memory ring (one wake-up carries many ioctls; no libuv pool thread is
   * held), single calls through koffi's async call on libuv's pool, which measured the
   * shorter round trip one call at a time (bench/README.md, issue 17). `'engine'`: every
   * async call through the engine; `'pool'`: every one through the pool. Only the real
   * backend uses it.
   */
  readonly asyncPath?: 'auto' | 'engine' | 'pool';
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

/** `list()`: prefix filters (4.45+ kernels filter themselves; older ones are filtered here). */
export interface ListOptions {
  /** Only devices whose name starts with this. */
  readonly namePrefix?: string;
  /** Only devices whose uuid starts with this. */
  readonly uuidPrefix?: string;
}

/** `create()`: a device without a table. */
export interface CreateOptions {
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
export interface SuspendOptions {
  /** Do not flush queued I/O (DM_NOFLUSH_FLAG). */
  readonly noflush?: boolean;
  /** Do not freeze the filesystem (DM_SKIP_LOCKFS_FLAG). */
  readonly skipLockfs?: boolean;
}

/** `info()` and `deps()`: read the inactive table's view (DM_QUERY_INACTIVE_TABLE_FLAG). */
export interface InfoOptions {
  /** Report on the inactive table (dm 4.16+). */
  readonly inactive?: boolean;
}
/** `deps()`: as `info()`. */
export type DepsOptions = InfoOptions;

/** `status()`. */
export interface StatusOptions {
  /** The inactive table's status (dm 4.16+). */
  readonly inactive?: boolean;
  /** Do not flush before reading status (DM_NOFLUSH_FLAG). */
  readonly noflush?: boolean;
}

/** `table()`. */
export interface TableOptions {
  /** The inactive table (dm 4.16+). */
  readonly inactive?: boolean;
  /** Keep crypt/integrity keys instead of redacting them as dmsetup does. */
  readonly showKeys?: boolean;
}

/** `load()`. */
export interface LoadOptions {
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
  /** Sectors per track. */
  readonly sectors: number;
  /** The start sector. */
  readonly start: Sectors;
}

/** Options of {@link DeviceMapper.remove}. */
export interface RemoveOptions extends UdevCallOptions {
  /** Remove when last closed if the device is open (DM_DEFERRED_REMOVE). */
  readonly deferred?: boolean;
  /** Cancels the wait for udev (lib/udev/cookie-call.ts); the removal itself is not undone. */
  readonly signal?: AbortSignal;
}

/** resume()'s options: suspend()'s flags plus udev sync; `signal` cancels the wait for udev (the resume itself is not undone). */
export interface ResumeOptions extends UdevCallOptions {
  /** As in {@link SuspendOptions}: DM_NOFLUSH_FLAG. */
  readonly noflush?: boolean;
  /** As in {@link SuspendOptions}: DM_SKIP_LOCKFS_FLAG. */
  readonly skipLockfs?: boolean;
  /** Cancels the wait for udev (the resume itself is not undone). */
  readonly signal?: AbortSignal;
}

/** rename()'s udev options; `signal` cancels the wait for udev (the rename itself is not undone). */
export interface RenameOptions extends UdevCallOptions {
  /** Cancels the wait for udev (the rename itself is not undone). */
  readonly signal?: AbortSignal;
}

/** Options of {@link DeviceMapper.wait}. */
export interface WaitOptions {
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
  readonly signal?: AbortSignal;
}

/** Options of {@link DeviceMapper.createDevice}; the udev ones apply to its resume (a udev timeout or abort rolls the device back). */
export interface CreateDeviceOptions extends UdevCallOptions {
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
   * Stops the operation at its next step; the device is rolled back all the same (the
   * rollback itself is not cancelled by the signal).
   */
  readonly signal?: AbortSignal;
  /** The EBUSY retry policy of the rollback's remove (defaults as removeDevice: 25 attempts, 200 ms). */
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
  /** Honoured before the first ioctl, between attempts and during the delay. */
  readonly signal?: AbortSignal;
  /**
   * Remove only this device (e.g. the DeviceInfo createDevice returned): a device of
   * another identity under the address gives DmIdentityError and is not touched.
   */
  readonly expect?: DeviceIdentity;
}

/** One entry of a batch's result: its value, or the error of that entry alone. */
export type Settled<T> =
  | {
    /** This entry succeeded. */
    readonly ok: true;
    /** What the single call (`info()`, `status()`) would have returned for this device. */
    readonly value: T;
  }
  | {
    /** This entry failed; the other entries are unaffected. */
    readonly ok: false;
    /** What the single call would have thrown for this device (a typed error of this package). */
    readonly error: unknown;
  };

/** The device list of a batch, every entry checked and copied before anything is sent. */
function manyArg(devices: readonly (DeviceId | string)[]): DeviceId[] {
  if (!Array.isArray(devices)) throw new DmArgumentError('devices', 'an array of devices', typeof devices);
  const ids: DeviceId[] = [];
  for (let i = 0; i < devices.length; i++) {
    if (!(i in devices)) throw new DmArgumentError(`devices[${i}]`, 'a device', 'a hole');
    ids.push(deviceArg(devices[i] as DeviceId | string, `devices[${i}]`));
  }
  return ids;
}

/**
 * Calls in flight at once in a batch: enough to keep the engine's ring full (64 slots) and
 * the next window encoded, few enough that a 10,000-device batch does not hold 10,000
 * request buffers at once.
 */
const BATCH_WINDOW = 128;

async function settleAll<I, T>(items: readonly I[], run: (item: I) => Promise<T>): Promise<Settled<T>[]> {
  const out: Settled<T>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await run(items[i]!) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_WINDOW, items.length) }, lane));
  return out;
}

/**
 * A copy of a (possibly shared) DeviceInfo that shares no object with it: wait()'s reply is
 * shared by the waiters woken together, and one caller mutating its `dev`, `flags` or raw
 * name bytes must not change what another sees.
 */
function ownDevice(d: DeviceInfo): DeviceInfo {
  // Literals, not Object.assign: ≈ 0.85 µs per copy on the host with Object.assign
  // (bench/wake-path.bench.ts profile), a fixed shape is several times cheaper. The fields
  // are DeviceInfo's and ReplyFlags' (codec/commands.ts deviceInfo, replyFlags).
  const f = d.flags;
  const o: { -readonly [K in keyof DeviceInfo]: DeviceInfo[K] } = {
    name: d.name,
    uuid: d.uuid,
    dev: { major: d.dev.major, minor: d.dev.minor, raw: d.dev.raw },
    openCount: d.openCount,
    eventNr: d.eventNr,
    targetCount: d.targetCount,
    flags: {
      readOnly: f.readOnly, suspended: f.suspended, activePresent: f.activePresent, inactivePresent: f.inactivePresent,
      bufferFull: f.bufferFull, ueventGenerated: f.ueventGenerated, dataOut: f.dataOut, deferredRemove: f.deferredRemove,
      internalSuspend: f.internalSuspend,
    },
    rawFlags: d.rawFlags,
  };
  if (d.nameBytes) o.nameBytes = d.nameBytes.slice();
  if (d.uuidBytes) o.uuidBytes = d.uuidBytes.slice();
  return o;
}

/** Fresh target lines (see ownDevice), keys redacted when `redact`. */
function ownTargets(ts: readonly TargetLine[], redact: boolean): TargetLine[] {
  const out: TargetLine[] = new Array(ts.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    out[i] = { start: t.start, length: t.length, type: t.type, params: redact ? redactTableParams(t.type, t.params) : t.params };
  }
  return out;
}

/**
 * info()'s result for a device that exists: `{ exists: true }` followed by the device's own
 * properties, as `Object.assign({ exists: true }, device)` gives (same keys, same order;
 * spec/lib/info-result.spec.ts compares them). One literal, because Object.assign onto a
 * fresh object cost ≈ 0.35 µs per call on Node 20 (a spread ≈ 1 µs), a tenth of an infoSync
 * (bench/call-path.bench.ts). nameBytes/uuidBytes are added only when the device has them.
 */
function present(d: DeviceInfo): InfoResult {
  const out: { -readonly [K in keyof DeviceInfo]: DeviceInfo[K] } & { readonly exists: true } = {
    exists: true, name: d.name, uuid: d.uuid, dev: d.dev, openCount: d.openCount, eventNr: d.eventNr,
    targetCount: d.targetCount, flags: d.flags, rawFlags: d.rawFlags,
  };
  if (d.nameBytes !== undefined) out.nameBytes = d.nameBytes;
  if (d.uuidBytes !== undefined) out.uuidBytes = d.uuidBytes;
  return out;
}
/** Compiles only while present() copies every key of DeviceInfo: a new key must be added there. */
const presentCopiesEveryKey: [Exclude<keyof DeviceInfo, 'name' | 'uuid' | 'dev' | 'openCount' | 'eventNr' | 'targetCount' | 'flags' | 'rawFlags' | 'nameBytes' | 'uuidBytes'>] extends [never] ? true : never = true;
void presentCopiesEveryKey;

/** info()'s rule for a failed DM_DEV_STATUS: a missing device (ENXIO) is `{ exists: false }`; anything else is thrown. */
function missingOrThrow(e: unknown): Missing {
  if (e instanceof DmError && e.errno === ERRNO.ENXIO) return { exists: false };
  throw e;
}

/** The device argument of every method, checked (lib/client/args.ts) and copied. */
function idOf(device: DeviceId | string): DeviceId {
  return deviceArg(device);
}

/** The first lines of a failed load for its error message; params through codec/secrets.ts's rule. */
/** A load's call context: its buffers wiped, its error text and kernel lines free of key material. */
function loadContext(device: DeviceId, targets: readonly TargetSpecInput[], secure: boolean): CallContext {
  return {
    device,
    wipe: true,
    hint: () => linesHint(targets, secure),
    scrubLog: (lines) => scrubLogLines(lines, targets, secure),
  };
}

function linesHint(targets: readonly TargetSpecInput[], secure: boolean): string {
  const shown = targets.slice(0, 3).map((t) => `"${String(t.start)} ${String(t.length)} ${String(t.type)} ${describeParams(t.type, t.params, secure)}"`);
  return `table ${shown.join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''}`;
}

/**
 * A device-mapper client. Devices are addressed by name (a string), or by exactly one of
 * `{ name }`, `{ uuid }`, `{ dev: { major, minor } }`.
 *
 * ```ts
 * await using dm = await DeviceMapper.open();
 * await dm.createDevice({ name: 'z', table: [{ start: 0, length: 2048, type: 'zero', params: '' }] });
 * console.log(await dm.info('z'));
 * await dm.removeDevice('z');
 * ```
 */
export class DeviceMapper implements Disposable, AsyncDisposable {
  readonly #transport: ControlTransport;
  readonly #runner: IoctlRunner;
  readonly #poller: SharedPoller;
  readonly #kmsg: KernelLog | undefined;
  readonly #events: EventStreams;
  readonly #wakes = new WakeSnapshots();
  #closed = false;
  /** Multi-step operations in flight (their rollback included). */
  #ops = 0;
  /** Aborted by close(): wakes removeDevice from its delay so it stops at once. */
  readonly #closing = new AbortController();
  readonly #idle: (() => void)[] = [];
  readonly #backend: Backend;
  #cookies: Promise<UdevCookies | undefined> | undefined;

  private constructor(transport: ControlTransport, backend: Backend, initialBufferSize: number | undefined, blocking: boolean) {
    this.#transport = transport;
    this.#backend = backend;
    this.#kmsg = backend.openKernelLog?.();
    this.#runner = new IoctlRunner(transport, this.#kmsg, initialBufferSize, blocking, backend.requestFill);
    this.#poller = new SharedPoller(backend);
    this.#events = new EventStreams({ poller: this.#poller, openWatcher: () => backend.openWatcher(), list: (gen) => (gen === undefined ? this.listSync() : this.#wakes.list(gen, () => this.listSync())) });
  }

  /**
   * Opens the control node and learns the kernel's device-mapper version (one DM_VERSION).
   * Rejects with DmUnavailableError, DmPermissionError, DmPlatformError, or DmError EACCES.
   */
  static async open(options: OpenOptions = {}): Promise<DeviceMapper> {
    optionsArg(options, 'options', { path: 'string', backend: 'object', initialBufferSize: 'uint', blocking: 'boolean', asyncPath: 'string' });
    if (options.asyncPath !== undefined && options.asyncPath !== 'auto' && options.asyncPath !== 'engine' && options.asyncPath !== 'pool') {
      throw new DmArgumentError('options.asyncPath', "'auto', 'engine' or 'pool'", JSON.stringify(options.asyncPath));
    }
    if (options.backend !== undefined) valueArg(options.backend.openControl, 'options.backend.openControl', 'function');
    const size = options.initialBufferSize;
    if (size !== undefined && (!Number.isInteger(size) || size < DM_IOCTL_SIZE || size > DM_MAX_DATA_SIZE)) {
      throw new DmCodecError('DATA_SIZE_OUT_OF_RANGE', `initialBufferSize must be an integer in ${DM_IOCTL_SIZE}…${DM_MAX_DATA_SIZE}, got ${size}`, 'initialBufferSize');
    }
    const backend = options.backend ?? realBackend(options.path, options.asyncPath);
    const transport = await backend.openControl();
    const dm = new DeviceMapper(transport, backend, size, options.blocking === true);
    try {
      dm.versionSync();
    } catch (e) {
      dm.close();
      throw e;
    }
    return dm;
  }

  /** The kernel's device-mapper interface version, e.g. [4, 47, 0]. */
  get kernelVersion(): Version {
    return this.#runner.kernel ?? [4, 0, 0];
  }

  /** ioctls issued so far, per command (buffer growth shows up here). */
  get ioctlCounts(): ReadonlyMap<string, number> {
    return this.#runner.calls;
  }

  /** Whether the shared event poller currently holds a libuv pool thread. */
  get pollerActive(): boolean {
    return this.#poller.active;
  }

  // ------------------------------------------------------------------ commands ---

  /** DM_VERSION: the kernel's interface version. */
  async version(): Promise<Version> { return this.versionSync(); }
  /** Synchronous {@link DeviceMapper.version}. */
  versionSync(): Version { return this.#runner.runSync('version', {}).version; }

  /** DM_REMOVE_ALL: removes every device that is not open (deferred: marks open ones). */
  async removeAll(options: { readonly deferred?: boolean } = {}): Promise<void> {
    optionsArg(options, 'options', { deferred: 'boolean' });
    if (options.deferred) this.#runner.require('deferred remove', FEATURES.deferredRemove);
    await this.#runner.runAsync('removeAll', { deferred: options.deferred });
  }

  /**
   * DM_LIST_DEVICES: every device with its dev, event number (4.37+) and uuid (4.45+;
   * `undefined` = the kernel does not say), in name order (UTF-8 bytes) on every kernel:
   * kernels before 4.45 list in hash order and are sorted here. Prefix filters run in the
   * kernel on 4.45+; a name prefix is applied here on older kernels.
   */
  async list(options: ListOptions = {}): Promise<ListedDevice[]> {
    return this.listSync(options);
  }
  /** Synchronous {@link DeviceMapper.list}. */
  listSync(options: ListOptions = {}): ListedDevice[] {
    optionsArg(options, 'options', { namePrefix: 'kernelString', uuidPrefix: 'kernelString' });
    const filtered = options.namePrefix !== undefined || options.uuidPrefix !== undefined;
    const kernelFilters = !this.#runner.kernel || this.#versionAtLeast(FEATURES.listFilters);
    if (options.uuidPrefix !== undefined) this.#runner.require('listing by uuid prefix', FEATURES.listFilters);
    const reply = this.#runner.runSync('listDevices', {
      withUuid: true,
      ...(filtered && kernelFilters ? { namePrefix: options.namePrefix, uuidPrefix: options.uuidPrefix } : {}),
    });
    // The decoder built this array for this call alone (the runner keeps no reply): it is the
    // caller's without a copy, sorted in place below when the kernel did not sort it.
    const devices = reply.devices as ListedDevice[];
    if (!kernelFilters) {
      // Before 4.45 the kernel walks its name hash (hash order, measured on 5.10); 4.45+
      // walks a tree sorted by name bytes (docs/kernel-facts.md). list() gives name order everywhere.
      devices.sort(byNameBytes);
      if (options.namePrefix !== undefined) return devices.filter((d) => d.name.startsWith(options.namePrefix!));
    }
    return devices;
  }

  /** DM_DEV_CREATE: a new device without a table (not flagged suspended: docs/kernel-facts.md, "A new device is not suspended"). */
  async create(options: CreateOptions): Promise<DeviceInfo> {
    optionsArg(options, 'options', { name: 'kernelString', uuid: 'kernelString', minor: 'uint' }, ['name']);
    const r = await this.#runner.runAsync('create', options, { device: { name: options.name } });
    return r.device;
  }

  /** DM_DEV_REMOVE. EBUSY when open, unless `deferred` (then the result's `deferred` is true and the device goes at its last close). */
  async remove(device: DeviceId | string, options: RemoveOptions = {}): Promise<RemoveResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { deferred: 'boolean', signal: 'signal', ...UDEV_OPTION_KINDS });
    udevOptionsArg(options);
    if (options.deferred) this.#runner.require('deferred remove', FEATURES.deferredRemove);
    return removeResult(await udevTransaction(this.#udev(options.signal), options,
      (cookie) => this.#runner.runAsync('remove', { id, deferred: options.deferred, cookie }, { device: id }), (r) => r.ueventGenerated));
  }

  /** Cancels a deferred remove (the `@cancel_deferred_remove` message). */
  async cancelDeferredRemove(device: DeviceId | string): Promise<void> {
    idOf(device);
    this.#runner.require('deferred remove', FEATURES.deferredRemove);
    await this.message(device, 0, '@cancel_deferred_remove');
  }

  /**
   * DM_DEV_RENAME: a new name, or a uuid for a device that has none. The kernel finds
   * the device by name only (docs/identity.md), so a device given by uuid or dev is
   * resolved to its identity first, renamed by name, and checked afterwards: the reply's
   * dev and the device now found under the new name (or uuid) must be the one resolved,
   * otherwise DmIdentityError (`acted: true`: someone replaced the name between the two
   * ioctls, and the rename reached their device — the window the kernel leaves open).
   * Resolves with the device as it is now: its new name (or uuid).
   */
  async rename(device: DeviceId | string, to: RenameTarget, options: RenameOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    renameToArg(to);
    optionsArg(options, 'options', { signal: 'signal', ...UDEV_OPTION_KINDS });
    udevOptionsArg(options);
    if ('newUuid' in to) this.#runner.require('setting a uuid', FEATURES.setUuid);
    const udev = this.#udev(options.signal);
    if (id.name !== undefined) {
      // DEV_RENAME echoes the request's name and uuid (here: the old name, no uuid); the
      // device as it now is comes from one info under its new name or uuid, kept only when
      // it is the device the reply's dev names (else the reply with the new name or uuid).
      const r = await udevTransaction(udev, options, async (cookie) => (await this.#runner.runAsync('rename', { name: id.name!, ...to, cookie }, { device: id })).device, (d) => d.flags.ueventGenerated);
      const now = this.#infoQuiet('newName' in to ? { name: to.newName } : { uuid: to.newUuid });
      return now && now.dev.major === r.dev.major && now.dev.minor === r.dev.minor ? withUeventOf(now, r) : renamedInfo(r, to);
    }
    this.#begin();
    try {
      const ours = identityOf(this.#runner.runSync('info', { id }, { device: id }).device);
      this.#boundary();
      const r = await udevTransaction(udev, options, (cookie) => this.#runner.runAsync('rename', { name: ours.nameBytes ?? ours.name, ...to, cookie }, { device: id }), (x) => x.device.flags.ueventGenerated);
      checkReply('rename', ours, r.device, true);
      // The reply's dev cannot tell a stranger that took our freed minor: look the device up
      // by what it is now called, which only our device can be unless it was replaced.
      const renamed = renamedIdentity(ours, to);
      let now: DeviceInfo | undefined;
      try {
        now = this.#runner.runSync('info', { id: 'newName' in to ? { name: to.newName } : { uuid: to.newUuid } }, { device: id }).device;
      } catch (e) {
        if (!(e instanceof DmError && e.errno === ERRNO.ENXIO)) throw e;
      }
      if (!now || !sameIdentity(renamed, now)) {
        throw new DmIdentityError('rename', renamed, now ? identityOf(now) : {}, true);
      }
      return withUeventOf(now, r.device); // the device under its new name (or uuid), checked to be ours
    } finally {
      this.#end();
    }
  }

  /** DM_DEV_STATUS that gives undefined for any failure (a best-effort read-back). */
  #infoQuiet(id: DeviceId): DeviceInfo | undefined {
    try { return this.#runner.runSync('info', { id }, { device: id }).device; } catch { return undefined; }
  }

  /** DM_DEV_SUSPEND with DM_SUSPEND_FLAG. Idempotent. */
  async suspend(device: DeviceId | string, options: SuspendOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    optionsArg(options, 'options', { noflush: 'boolean', skipLockfs: 'boolean' });
    if (options.noflush) this.#runner.require('noflush', FEATURES.noflush);
    return (await this.#runner.runAsync('suspend', { id, action: 'suspend', ...options }, { device: id })).device;
  }

  /** DM_DEV_SUSPEND without DM_SUSPEND_FLAG: resumes, swapping in the inactive table. Idempotent. */
  async resume(device: DeviceId | string, options: ResumeOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    optionsArg(options, 'options', { noflush: 'boolean', skipLockfs: 'boolean', signal: 'signal', ...UDEV_OPTION_KINDS });
    udevOptionsArg(options);
    const { noflush, skipLockfs } = options;
    return udevTransaction(this.#udev(options.signal), options,
      async (cookie) => (await this.#runner.runAsync('suspend', { id, action: 'resume', noflush, skipLockfs, cookie }, { device: id })).device, (d) => d.flags.ueventGenerated);
  }

  /**
   * DM_DEV_STATUS of many devices in few engine round trips (the ioctls of a window are
   * submitted together; see `asyncPath`). One result per device, in order: `{ ok: true,
   * value }` (a missing device is `{ exists: false }`, as with `info()`) or `{ ok: false,
   * error }` for that device alone. Every device argument is checked before any ioctl.
   */
  async infoMany(devices: readonly (DeviceId | string)[], options: InfoOptions = {}): Promise<Settled<InfoResult>[]> {
    const ids = manyArg(devices);
    optionsArg(options, 'options', { inactive: 'boolean' });
    this.#requireInactive(options.inactive);
    return settleAll(ids, async (id) => {
      try {
        return present((await this.#runner.runAsync('info', { id, inactive: options.inactive }, { device: id, batch: true })).device);
      } catch (e) {
        return missingOrThrow(e);
      }
    });
  }

  /**
   * DM_TABLE_STATUS of many devices in few engine round trips: one `{ ok, value | error }`
   * per device, in order (a device that fails, e.g. removed since a list, fails alone).
   * Every device argument is checked before any ioctl.
   */
  async statusMany(devices: readonly (DeviceId | string)[], options: StatusOptions = {}): Promise<Settled<TableResult>[]> {
    const ids = manyArg(devices);
    optionsArg(options, 'options', { inactive: 'boolean', noflush: 'boolean' });
    this.#requireInactive(options.inactive);
    return settleAll(ids, async (id) => {
      const r = await this.#runner.runAsync('status', { id, inactive: options.inactive, noflush: options.noflush }, { device: id, batch: true });
      return { device: r.device, targets: r.targets };
    });
  }

  /** `inactive` needs DM_QUERY_INACTIVE_TABLE_FLAG (4.16): refused with a typed error before any ioctl on older kernels. */
  #requireInactive(inactive: boolean | undefined): void {
    if (inactive) this.#runner.require('inactive-table query', FEATURES.inactiveTable);
  }

  /** DM_DEV_STATUS. A missing device gives `{ exists: false }`, not an error. */
  async info(device: DeviceId | string, options: InfoOptions = {}): Promise<InfoResult> {
    return this.infoSync(device, options);
  }
  /** Synchronous {@link DeviceMapper.info}. */
  infoSync(device: DeviceId | string, options: InfoOptions = {}): InfoResult {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    this.#requireInactive(options.inactive);
    try {
      return present(this.#runner.runSync('info', { id, inactive: options.inactive }, { device: id }).device);
    } catch (e) {
      return missingOrThrow(e);
    }
  }

  /**
   * DM_DEV_WAIT semantics without blocking a thread: resolves as soon as the device's
   * event number differs from `eventNr`, with its status (or table) — at once if it
   * already does. All waits of a client share one poller on its own control fd.
   */
  async wait(device: DeviceId | string, options: WaitOptions = {}): Promise<TableResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { eventNr: 'uint', table: 'boolean', showKeys: 'boolean', inactive: 'boolean', noflush: 'boolean', signal: 'signal' });
    this.#runner.require('waiting for events (DM_DEV_ARM_POLL)', FEATURES.armPoll);
    const signal = options.signal;
    if (signal?.aborted) throw new DmAbortError(signal.reason);
    // Like the kernel's wait, which sleeps on the device itself, the device is looked up
    // now, before anything is awaited, and followed by its number from then on: a rename
    // (itself an event) right after this call must not lose it.
    const since = this.#wakes.ticket();
    const first = this.#runner.runSync('info', { id }, { device: id }).device;
    const target: DeviceId = { dev: { major: first.dev.major, minor: first.dev.minor } };
    const eventNr = options.eventNr ?? first.eventNr;
    // Waiters of one device woken together share one check and one reply (wake-snapshot.ts),
    // found by number keys: a string built per waiter is hashed again at every Map lookup.
    const table = options.table === true;
    const devKey = first.dev.major * 0x100000 + first.dev.minor; // major < 2^12, minor < 2^20
    const replyKey = devKey * 8 + (table ? 4 : 0) + (options.inactive === true ? 2 : 0) + (options.noflush === true ? 1 : 0);
    const lookup = () => this.#runner.runSync('info', { id: target }, { device: id }).device;
    this.#poller.acquire();
    try {
      // The signal also cuts the wait for the poller's first arm short.
      let gen = await this.#poller.ready(signal);
      for (;;) {
        if (signal?.aborted) throw new DmAbortError(signal.reason);
        const info = this.#wakes.check(devKey, gen, since, lookup);
        if (info.eventNr !== eventNr) {
          // DEV_WAIT returns at once now: the event number already differs.
          const r = await this.#wakes.reply(replyKey, () => this.#runner.runAsync('wait', {
            id: target, eventNr, table, inactive: options.inactive, noflush: options.noflush, secure: table,
          }, { device: id, wipe: table }));
          // The reply may be shared with other waiters: each gets objects of its own.
          return { device: ownDevice(r.device), targets: ownTargets(r.targets, table && !options.showKeys) };
        }
        // next() resolves once the poller has re-armed after an event, with that arm's
        // generation: the check above runs after it, as after ready().
        gen = await this.#poller.next(gen, signal);
      }
    } finally {
      this.#poller.release();
    }
  }

  /**
   * DM_TABLE_LOAD into the inactive slot (resume makes it live). `readOnly` belongs to the
   * table. `secure` sets DM_SECURE_DATA_FLAG (the kernel wipes its copy of the params); it
   * defaults to true for a table with a crypt or integrity line, as cryptsetup loads them
   * (on kernels before dm 4.20, which lack the flag, such a table loads without it, as with
   * libdevmapper). Every buffer the library made that held the params is zero-filled when
   * the call ends, secure or not; error text never quotes a key (codec/secrets.ts). Pass
   * key material as Uint8Array: strings cannot be wiped.
   */
  async load(device: DeviceId | string, targets: readonly TargetSpecInput[], options: LoadOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    const specs = targetsArg(targets);
    optionsArg(options, 'options', { readOnly: 'boolean', secure: 'boolean' });
    if (options.secure) this.#runner.require('secure data', FEATURES.secureData);
    const secure = this.#secureFor(specs, options.secure);
    return (await this.#runner.runAsync('load', { id, targets: specs, readOnly: options.readOnly, secure }, loadContext(id, specs, secure))).device;
  }

  /** DM_TABLE_CLEAR: drops the inactive table. */
  async clear(device: DeviceId | string): Promise<DeviceInfo> {
    const id = idOf(device);
    return (await this.#runner.runAsync('clear', { id }, { device: id })).device;
  }

  /** DM_TABLE_DEPS: the devices the table uses. */
  async deps(device: DeviceId | string, options: DepsOptions = {}): Promise<DevNo[]> {
    return this.depsSync(device, options);
  }
  /** Synchronous {@link DeviceMapper.deps}. */
  depsSync(device: DeviceId | string, options: DepsOptions = {}): DevNo[] {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    this.#requireInactive(options.inactive);
    return [...this.#runner.runSync('deps', { id, inactive: options.inactive }, { device: id }).deps];
  }

  /**
   * DM_TABLE_DEPS with the device's state from the same reply (name, uuid, dev, open count,
   * flags): one ioctl, so the state and the dependencies describe the same device at the
   * same moment (what libdevmapper's deptree reads for each node; `DeviceTree` uses it).
   */
  async depsWithInfo(device: DeviceId | string, options: { inactive?: boolean } = {}): Promise<DepsWithInfo> {
    return this.depsWithInfoSync(device, options);
  }
  /** {@link DeviceMapper.depsWithInfo} on the calling thread (DM_TABLE_DEPS never sleeps in the kernel). */
  depsWithInfoSync(device: DeviceId | string, options: { inactive?: boolean } = {}): DepsWithInfo {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    this.#requireInactive(options.inactive);
    const r = this.#runner.runSync('deps', { id, inactive: options.inactive }, { device: id });
    return { device: r.device, deps: [...r.deps] };
  }

  /** DM_TABLE_STATUS: each target's status text. May commit thin/cache metadata unless `noflush`. */
  async status(device: DeviceId | string, options: StatusOptions = {}): Promise<TableResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', noflush: 'boolean' });
    this.#requireInactive(options.inactive);
    const r = await this.#runner.runAsync('status', { id, ...options }, { device: id });
    return { device: r.device, targets: r.targets };
  }

  /**
   * DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG: the table as the kernel prints it (devices as
   * major:minor). Crypt and integrity keys are redacted (zeros, as dmsetup does) unless
   * `showKeys`; the call uses DM_SECURE_DATA_FLAG and wipes its buffer either way.
   */
  async table(device: DeviceId | string, options: TableOptions = {}): Promise<TableResult> {
    return this.tableSync(device, options);
  }
  /** Synchronous {@link DeviceMapper.table}. */
  tableSync(device: DeviceId | string, options: TableOptions = {}): TableResult {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', showKeys: 'boolean' });
    this.#requireInactive(options.inactive);
    const r = this.#runner.runSync('status', { id, table: true, inactive: options.inactive, secure: true }, { device: id, wipe: true });
    const targets = options.showKeys
      ? r.targets
      : r.targets.map((t) => ({ start: t.start, length: t.length, type: t.type, params: redactTableParams(t.type, t.params) }));
    return { device: r.device, targets };
  }

  /** DM_LIST_VERSIONS: the loaded target types. */
  async listVersions(): Promise<TargetVersion[]> { return this.listVersionsSync(); }
  /** Synchronous {@link DeviceMapper.listVersions}. */
  listVersionsSync(): TargetVersion[] { return [...this.#runner.runSync('listVersions', {}).targets]; }

  /** DM_TARGET_MSG: returns the target's output when it produced one (DM_DATA_OUT_FLAG). */
  async message(device: DeviceId | string, sector: Sectors, message: string): Promise<string | undefined> {
    const id = idOf(device);
    valueArg(sector, 'sector', 'sectors');
    valueArg(message, 'message', 'string');
    // Messages may carry keys (dm-crypt's `key set <hex>`): their buffers are wiped, and a
    // kernel log line that repeats a word of the message has it masked (like a secure load's).
    const scrubLog = (lines: string[]) => scrubLogLines(lines, [{ params: message }], true);
    return (await this.#runner.runAsync('message', { id, sector, message }, { device: id, wipe: true, scrubLog })).output;
  }

  /** DM_DEV_SET_GEOMETRY. */
  async setGeometry(device: DeviceId | string, geometry: Geometry): Promise<void> {
    const id = idOf(device);
    optionsArg(geometry, 'geometry', { cylinders: 'uint', heads: 'uint', sectors: 'uint', start: 'sectors' }, ['cylinders', 'heads', 'sectors', 'start']);
    await this.#runner.runAsync('setGeometry', { id, ...geometry }, { device: id });
  }

  /** DM_DEV_ARM_POLL on this client's fd (the shared poller uses its own fd and is not affected). */
  async armPoll(): Promise<void> { this.armPollSync(); }
  /** Synchronous {@link DeviceMapper.armPoll}. */
  armPollSync(): void {
    this.#runner.require('DM_DEV_ARM_POLL', FEATURES.armPoll);
    this.#runner.runSync('armPoll', {});
  }

  /** The control fd, to poll() for global events after armPoll(). */
  get fd(): number { return this.#transport.fd; }

  /**
   * DM_GET_TARGET_VERSION: a target's version; the kernel loads its module if needed
   * (`request_module`). The sync variant therefore may block for as long as modprobe takes
   * (docs/kernel-facts.md, "Which commands may sleep").
   */
  async getTargetVersion(target: string): Promise<Version> { return this.getTargetVersionSync(target); }
  /** Synchronous {@link DeviceMapper.getTargetVersion}. */
  getTargetVersionSync(target: string): Version {
    valueArg(target, 'target', 'string');
    this.#runner.require('DM_GET_TARGET_VERSION', FEATURES.getTargetVersion);
    const r = this.#runner.runSync('getTargetVersion', { target });
    const v = r.targets[0];
    if (!v) throw new DmError({ command: 'getTargetVersion', errno: ERRNO.EINVAL, hint: `no version returned for ${target}` });
    return v.version;
  }

  // ------------------------------------------------------------------- events ---

  /**
   * Device events as an async iterator: `added`, `removed`, `renamed` (same dev, new name
   * or uuid) and `changed` (event_nr moved by `delta`), coalesced per device between polls.
   * `break` / `return()` end it (a pending `next()` resolves `{ done: true }`), so does the
   * client's `close()`; the signal ends it with a DmAbortError (rejecting a pending `next()`,
   * or the next one). Each of these gives back its watcher at once; an already aborted signal
   * ends it before anything is opened. On a closed client it throws DmClosedError.
   *
   * ```ts
   * for await (const e of dm.events({ filter: { namePrefix: 'pool' } })) console.log(e.kind, e.name, e.delta);
   * ```
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<DeviceEvent> {
    this.#runner.require('device events (DM_DEV_ARM_POLL)', FEATURES.armPoll);
    return this.#events.open(options);
  }

  // ---------------------------------------------------------------- high level ---

  /**
   * create → load → resume, each step after the first addressed by uuid when there is one
   * and checked against the device the create returned (lib/operations/identity.ts). If any step
   * fails, the device is removed again — only ours: by uuid, or verified just before the
   * remove when it has no uuid — with removeDevice's EBUSY retries, and the step's error is
   * thrown (a failed rollback is attached as `cleanupError`). Give the device a uuid and no
   * step can reach another process's device (docs/identity.md). The whole request (name,
   * uuid, minor, table) is validated before the first ioctl.
   */
  async createDevice(options: CreateDeviceOptions): Promise<DeviceInfo> {
    createDeviceArg(options);
    udevOptionsArg(options);
    this.#validateCreate(options);
    const rollback = retryPolicy(options.rollback ?? {}, 'rollback');
    const signal = retryPolicy({ signal: options.signal }).signal;
    if (options.secure) this.#runner.require('secure data', FEATURES.secureData);
    // Decided before DM_DEV_CREATE: an impossible 'sync' fails with nothing made.
    const udevOptions = { ...options, udev: await udevMode(this.#udev(signal), options) };
    throwIfAborted(signal);
    this.#begin();
    try {
      const created = (await this.#runner.runAsync('create', { name: options.name, uuid: options.uuid, minor: options.minor }, { device: { name: options.name } })).device;
      // DEV_CREATE echoes the name and uuid we sent; only its dev is the kernel's word.
      const ours = identityOf({ name: options.name, uuid: options.uuid ?? null, dev: created.dev });
      const at = addressOf(ours);
      try {
        this.#boundary(signal);
        const secure = this.#secureFor(options.table, options.secure);
        const loaded = await this.#runner.runAsync('load', { id: at, targets: options.table, readOnly: options.readOnly, secure }, loadContext(at, options.table, secure));
        checkReply('load', ours, loaded.device, true);
        this.#boundary(signal);
        const resumed = await udevTransaction(this.#udev(signal), udevOptions, async (cookie) => {
          const r = (await this.#runner.runAsync('suspend', { id: at, action: 'resume', cookie }, { device: at })).device;
          checkReply('resume', ours, r, true); // a stranger's resume: thrown before waiting on udev for it
          return r;
        }, (d) => d.flags.ueventGenerated);
        return resumed;
      } catch (e) {
        await this.#rollback(ours, e, rollback);
        throw e;
      }
    } finally {
      this.#end();
    }
  }

  /** Encodes every request of createDevice without sending it: bad input fails before DM_DEV_CREATE. */
  #validateCreate(o: CreateDeviceOptions): void {
    const at: DeviceId = o.uuid ? { uuid: o.uuid } : { name: o.name };
    this.#runner.check('create', { name: o.name, uuid: o.uuid, minor: o.minor });
    this.#runner.check('load', { id: at, targets: o.table, readOnly: o.readOnly, secure: o.secure }); // may hold key bytes: wiped
    this.#runner.check('suspend', { id: at, action: 'resume' });
  }

  /** Removes our half-made device; never anything else, never by dev. Runs even after close(). */
  async #rollback(ours: DeviceIdentity, error: unknown, policy: RetryPolicy): Promise<void> {
    try {
      await removeOurs(this.#runner, ours, { policy, ctx: { device: addressOf(ours), afterClose: true }, verifyFirst: true });
    } catch (cleanup) {
      if (cleanup instanceof DmError && cleanup.errno === ERRNO.ENXIO) return; // already gone: nothing left behind
      attachCleanupError(error, cleanup);
    }
  }

  /**
   * DM_DEV_REMOVE, retried on EBUSY (udev or blkid often hold a new device briefly):
   * `retries` attempts (default 25) `delayMs` apart (default 200), like libdevmapper.
   * Every retry reaches the same device: a device given by name or dev is identified
   * first (one DM_DEV_STATUS) and then addressed by its uuid, or — without one — verified
   * before each attempt; a different device under the name gives DmIdentityError and is
   * not touched. A single attempt (`retries` 0 or 1) is one ioctl, as addressed.
   */
  async removeDevice(device: DeviceId | string, options: RemoveDeviceOptions = {}): Promise<RemoveResult> {
    removeDeviceArg(device, options);
    udevOptionsArg(options);
    const policy = retryPolicy(options);
    if (options.deferred) this.#runner.require('deferred remove', FEATURES.deferredRemove);
    const id = idOf(device);
    const expected = options.expect === undefined ? undefined : identityOf(options.expect);
    throwIfAborted(policy.signal);
    this.#begin();
    try {
      const deferred = options.deferred;
      // One cookie for all attempts, as libdevmapper retries one task: EBUSY sends no uevent.
      const udev = this.#udev(policy.signal);
      if (!expected && (id.uuid !== undefined || policy.attempts === 1)) {
        // A uuid reaches only its device at every attempt; a single attempt has nothing to compare.
        return removeResult(await udevTransaction(udev, options, (cookie) => retryOnBusy(policy, (n) => {
          if (n > 1) this.#boundary();
          return this.#runner.runAsync('remove', { id, deferred, cookie }, { device: id });
        }, this.#closing.signal), (r) => r.ueventGenerated));
      }
      const ours = expected ?? identityOf(this.#runner.runSync('info', { id }, { device: id }).device);
      return removeResult(await udevTransaction(udev, options, (cookie) => removeOurs(this.#runner, ours, {
        policy, deferred, cookie, ctx: { device: id }, verifyFirst: expected !== undefined, boundary: () => this.#boundary(), wake: this.#closing.signal,
      }), (r) => r.ueventGenerated));
    } finally {
      this.#end();
    }
  }

  /**
   * Package-internal (see {@link blockIoOf}): this client's backend's host I/O; a backend
   * without one (a custom backend) is given the host's.
   *
   * @internal
   */
  [blockIoOf](): BlockIo {
    return this.#backend.blockIo ?? hostBlockIo;
  }

  /**
   * Package-internal (see {@link operationHost}): what an operation of the operation core
   * borrows from this client.
   *
   * @internal
   */
  [operationHost](): OperationHost {
    return {
      begin: () => this.#begin(),
      end: () => this.#end(),
      closing: this.#closing.signal,
      kernel: {
        resume: async (id, o = {}) => (await this.#runner.runAsync('suspend', { id, action: 'resume', noflush: o.noflush, skipLockfs: o.skipLockfs }, { device: id, afterClose: true })).device,
        clear: async (id) => (await this.#runner.runAsync('clear', { id }, { device: id, afterClose: true })).device,
      },
    };
  }

  // ----------------------------------------------------------------- lifetime ---

  /**
   * Closes the client. Idempotent and synchronous: from now on every call fails with
   * DmClosedError; the poller's fd, pipe and thread go at once. Multi-step operations in
   * flight (createDevice, removeDevice, rename by uuid/dev) stop at their next step with
   * DmClosedError but still finish their rollback, so nothing is left half-made; the
   * control fd is closed once they have settled (and, in the transport, once no async
   * ioctl uses it: a number freed under a pool thread could be reused by another open).
   * `await using` (Symbol.asyncDispose) waits for that.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.closeAll(); // live events() iterators end ({ done: true }) and give back their watchers
    this.#runner.closed = true;
    this.#closing.abort();
    this.#poller.close();
    if (this.#ops === 0) this.#release();
  }

  /** Closes the client (`using`); see {@link DeviceMapper.close}. */
  [Symbol.dispose](): void { this.close(); }
  /** Closes the client and waits until operations in flight have settled (`await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    if (this.#ops > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #release(): void {
    this.#transport.close();
    this.#kmsg?.close();
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** A multi-step operation starts: refused after close(), counted until it settles. */
  #begin(): void {
    if (this.#closed) throw new DmClosedError('the device-mapper client');
    this.#ops++;
  }

  #end(): void {
    if (--this.#ops === 0 && this.#closed) this.#release();
  }

  /** The udev context of one call: this backend's cookie host (opened once), the kernel version, the call's signal. */
  #udev(signal: AbortSignal | undefined): { cookies: () => Promise<UdevCookies | undefined>; kernel: Version; signal: AbortSignal | undefined } {
    return {
      cookies: () => (this.#cookies ??= this.#backend.openCookieHost ? this.#backend.openCookieHost().then((h) => new UdevCookies(h)) : Promise.resolve(undefined)),
      kernel: this.kernelVersion,
      // close() ends a udev wait at once (the semaphore removed; createDevice rolls back).
      signal: signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal,
    };
  }

  /** Between two steps of an operation: stop if the client was closed or the signal aborted. */
  #boundary(signal?: AbortSignal): void {
    if (this.#closed) throw new DmClosedError('the device-mapper client');
    throwIfAborted(signal);
  }

  /** `secure` as asked, or — when not said — set for key-carrying tables on kernels that have the flag. */
  #secureFor(targets: readonly TargetSpecInput[], secure: boolean | undefined): boolean {
    return secure ?? (tableCarriesKeys(targets) && (!this.#runner.kernel || this.#versionAtLeast(FEATURES.secureData)));
  }

  #versionAtLeast(v: Version): boolean {
    const k = this.#runner.kernel;
    return !!k && compareVersions(k, v) >= 0;
  }
}

/** What DEV_REMOVE's reply says, with the kernel's bytes of a name or uuid that is not UTF-8. */
function removeResult(r: RemoveResult): RemoveResult {
  const out: { -readonly [K in keyof RemoveResult]: RemoveResult[K] } = { name: r.name, uuid: r.uuid, deferred: r.deferred, ueventGenerated: r.ueventGenerated };
  if (r.nameBytes) out.nameBytes = r.nameBytes;
  if (r.uuidBytes) out.uuidBytes = r.uuidBytes;
  return out;
}

/** The order of the kernel's name tree (4.45+): names compared as UTF-8 bytes. */
function byNameBytes(a: ListedDevice, b: ListedDevice): number {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

// Every row of the command table names a method of DeviceMapper: a row whose `client`
// method is missing fails to compile here, naming it.
type CommandMethod = CommandTable[CommandName]['client'];
type MissingCommandMethods = Exclude<CommandMethod, keyof DeviceMapper>;
true satisfies ([MissingCommandMethods] extends [never] ? true : MissingCommandMethods);

/**
 * The device as it is after a rename, read back by info, with the rename reply's
 * DM_UEVENT_GENERATED_FLAG: only DEV_RENAME's reply says whether the kernel sent the uevent,
 * and node handling (`renameNode`) and udev sync decide on it.
 */
function withUeventOf(now: DeviceInfo, reply: DeviceInfo): DeviceInfo {
  const generated = reply.flags.ueventGenerated;
  if (now.flags.ueventGenerated === generated) return now;
  return {
    ...now,
    flags: { ...now.flags, ueventGenerated: generated },
    rawFlags: generated ? now.rawFlags | DM_UEVENT_GENERATED_FLAG : now.rawFlags & ~DM_UEVENT_GENERATED_FLAG,
  };
}
