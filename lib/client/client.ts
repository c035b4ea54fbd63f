/**
 * `DeviceMapper`: the public client. One method per control command of the command table
 * (codec/command-table.ts), each a few lines: check the arguments, issue the command through
 * the runner (runner.ts: version negotiation, buffer growth, typed errors), shape the reply
 * (results.ts). Around them: open/close and the getters. What is built on the commands lives
 * elsewhere and is reached through one-line delegations: createDevice, removeDevice and
 * rename by uuid or dev (lib/operations/), batches (batch.ts), events (lib/events/), the udev
 * context (lib/udev/udev-context.ts).
 *
 * Every async method takes `signal` and `timeoutMs` (CallOptions) in its last parameter,
 * checked before any syscall; see each method for what happens to a call that lands after
 * the caller gave up.
 *
 * Longer than 500 lines because it is the public surface: some thirty command methods and
 * their sync twins, each a few lines under the documentation users read in their editor.
 * Nothing else is left to move out without splitting one command across two files.
 */
import {
  DmCodecError, DM_IOCTL_SIZE, DM_MAX_DATA_SIZE, redactTableParams, scrubLogLines, tableCarriesKeys, type DeviceId, type DeviceInfo, type DevNo, type KernelString,
  type ListedDevice, type Sectors, type TargetLine, type TargetSpecInput, type CommandName, type CommandTable, type TargetVersion, type Version,
} from '../../codec/index.js';
import { DmClosedError, ERRNO } from '../../ffi/errors.js';
import type { EngineStarter } from '../../ffi/types.js';
import type { Backend, BlockIo, ControlTransport, KernelLog } from '../kernel/backend.js';
import type { IntentStore } from '../kernel/intent-store.js';
import { recover, type RecoverOptions, type RecoveryReport } from '../operations/recover.js';
import { hostBlockIo } from '../kernel/host-block-io.js';
import { DmAbortError, DmArgumentError, DmError, DmIdentityError } from '../errors.js';
import { deviceArg, optionsArg, targetsArg, valueArg } from './args.js';
import { checkReply, clearOurs, identityOf, resumeOurs, type DeviceIdentity } from '../operations/identity.js';
import type { OperationHost } from '../operations/operation.js';
import { IntentJournal } from '../operations/intent-record.js';
import { withCallerStack } from '../operations/operation.js';
import { DmOperationError } from '../errors.js';
import { createDevice, removeRolledBack } from '../operations/create-device.js';
import { removeDevice } from '../operations/remove-device.js';
import { createMany, removeMany, type CreateManyOptions, type CreateManySpec, type RemoveManyEntry, type RemoveManyOptions } from '../operations/many.js';
import { retryPolicy } from '../operations/retry.js';
import { renameDevice } from '../operations/rename-device.js';
import { SharedPoller } from '../events/event-poller.js';
import { linkedSignal, untilAborted } from '../events/abort-fanout.js';
import { WakeSnapshots } from '../events/wake-snapshot.js';
import { EventStreams, type DeviceEvent, type EventsOptions } from '../events/device-events.js';
import { realBackend } from '../kernel/kernel-backend.js';
import { compareVersions, IoctlRunner } from './runner.js';
import { udevOptionsArg, udevTransaction, UDEV_OPTION_KINDS } from '../udev/cookie-call.js';
import { ClientUdev } from '../udev/udev-context.js';
import { cookieJournal } from '../operations/cookie-journal.js';
import { FEATURES } from './features.js';
import { blockIoOf, clientParts, keyringOf, operationHost, type ClientParts } from './internal-keys.js';
import { openKeyring, type Keyring } from '../../ffi/keyring.js';
import type { UndoCalls } from '../operations/operation.js';
import { manyArg, settleAll, type Settled } from './batch.js';
import { boundedCall, callOptionsArg, CALL_OPTION_KINDS } from './call-bounds.js';
import { loadContext } from './call-context.js';
import { byNameBytes, missingOrThrow, ownDevice, ownTargets, present, removeResult } from './results.js';
import type {
  BatchOptions, CallOptions, CreateDeviceOptions, CreateOptions, DepsOptions, DepsWithInfo, Geometry, InfoOptions, InfoResult, ListOptions, LoadOptions, OpenOptions,
  RemoveAllOptions, RemoveDeviceOptions, RemoveOptions, RemoveResult, RenameOptions, RenameTarget, ResumeOptions, StatusOptions, SuspendOptions, SyncOptions, TableOptions,
  TableResult, WaitOptions,
} from './command-types.js';

export type { DeviceId, DeviceIdentity, DeviceInfo, DevNo, KernelString, ListedDevice, TargetLine, TargetSpecInput, TargetVersion, Version, Settled };
export type * from './command-types.js';
export { FEATURES, operationHost, clientParts, blockIoOf };

/** `signal` and `timeoutMs` alone: the options of a command that takes no other. */
function callArg(options: CallOptions | undefined): CallOptions {
  optionsArg(options, 'options', CALL_OPTION_KINDS);
  callOptionsArg(options);
  return options ?? {};
}

/** list()'s order: one of the two it knows, checked before any ioctl. */
function listOrderArg(options: SyncOptions<ListOptions>): void {
  const order: unknown = options.order;
  if (order !== undefined && order !== 'name' && order !== 'kernel') {
    throw new DmArgumentError('options.order', "'name' or 'kernel'", typeof order === 'string' ? JSON.stringify(order) : typeof order);
  }
}

/** The device argument of every method, checked (lib/client/args.ts) and copied. */
const idOf = (device: DeviceId | string): DeviceId => deviceArg(device);

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
  readonly #blockIo: BlockIo;
  readonly #keyring: Keyring | undefined;
  readonly #events: EventStreams;
  readonly #wakes = new WakeSnapshots();
  #closed = false;
  /** Multi-step operations in flight (their rollback included). */
  #ops = 0;
  /** Aborted by close(): stops the operations in flight at their next step and ends udev waits. */
  readonly #closing = new AbortController();
  readonly #idle: (() => void)[] = [];
  readonly #udev: ClientUdev;
  readonly #intents: IntentStore | undefined;

  private constructor(transport: ControlTransport, backend: Backend, initialBufferBytes: number | undefined, blocking: boolean, stateDir?: string, skipOpenCount = false) {
    this.#transport = transport;
    this.#intents = backend.openIntentStore?.(stateDir);
    this.#kmsg = backend.openKernelLog?.();
    // A backend without host I/O of its own (a custom one) is given the host's.
    this.#blockIo = backend.blockIo ?? hostBlockIo;
    this.#keyring = backend.keyring;
    this.#runner = new IoctlRunner(transport, this.#kmsg, initialBufferBytes, blocking, skipOpenCount);
    this.#poller = new SharedPoller(backend);
    this.#events = new EventStreams({ poller: this.#poller, openWatcher: () => backend.openWatcher(), list: (gen) => (gen === undefined ? this.listSync() : this.#wakes.list(gen, () => this.listSync())) });
    this.#udev = new ClientUdev(backend, () => this.kernelVersion, this.#closing.signal, this.#intents ? () => cookieJournal(this.#intents!) : undefined);
  }

  /**
   * Opens the control node and learns the kernel's device-mapper version (one DM_VERSION).
   * Rejects with DmUnavailableError, DmPermissionError, DmPlatformError, or DmError EACCES.
   */
  static async open(options: OpenOptions = {}): Promise<DeviceMapper> {
    optionsArg(options, 'options', { path: 'string', backend: 'object', initialBufferBytes: 'uint', blocking: 'boolean', asyncPath: 'string', engine: 'string', stateDir: 'string', skipOpenCount: 'boolean' });
    if (options.stateDir !== undefined && options.stateDir.length === 0) throw new DmArgumentError('options.stateDir', 'a directory path', '""');
    if (options.asyncPath !== undefined && options.asyncPath !== 'auto' && options.asyncPath !== 'engine' && options.asyncPath !== 'pool') {
      throw new DmArgumentError('options.asyncPath', "'auto', 'engine' or 'pool'", JSON.stringify(options.asyncPath));
    }
    if (options.engine !== undefined && options.engine !== 'lazy' && options.engine !== 'eager') {
      throw new DmArgumentError('options.engine', "'lazy' or 'eager'", JSON.stringify(options.engine));
    }
    if (options.backend !== undefined) valueArg(options.backend.openControl, 'options.backend.openControl', 'function');
    const size = options.initialBufferBytes;
    if (size !== undefined && (!Number.isInteger(size) || size < DM_IOCTL_SIZE || size > DM_MAX_DATA_SIZE)) {
      throw new DmCodecError('DATA_SIZE_OUT_OF_RANGE', `initialBufferBytes must be an integer in ${DM_IOCTL_SIZE}…${DM_MAX_DATA_SIZE}, got ${size}`, 'initialBufferBytes');
    }
    const backend = options.backend ?? realBackend(options.path, options.asyncPath);
    const transport = await backend.openControl();
    const dm = new DeviceMapper(transport, backend, size, options.blocking === true, options.stateDir, options.skipOpenCount === true);
    try {
      dm.versionSync();
    } catch (e) {
      dm.close();
      throw e;
    }
    // After the version check: a node that is not device-mapper's starts no thread. A blocking
    // client never calls off its thread, so it has no engine to start.
    if (options.engine === 'eager' && options.blocking !== true) (transport as Partial<EngineStarter>).startEngine?.();
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

  /** The control fd, to poll() for global events after armPoll(). */
  get fd(): number { return this.#transport.fd; }

  // ------------------------------------------------------------------ commands ---
  // The async methods that call their sync twin issue the ioctl on the calling thread
  // (it never sleeps in the kernel): `signal` is checked before it, and it is over before
  // `timeoutMs` could end the wait.

  /** DM_VERSION: the kernel's interface version. */
  async version(options?: CallOptions): Promise<Version> { return boundedCall('version', callArg(options), async () => this.versionSync()); }
  /** Synchronous {@link DeviceMapper.version}. */
  versionSync(): Version { return this.#runner.runSync('version', {}).version; }

  /** DM_REMOVE_ALL: removes every device that is not open (deferred: marks open ones). A call that lands after the caller gave up is not undone. */
  async removeAll(options: RemoveAllOptions = {}): Promise<void> {
    optionsArg(options, 'options', { deferred: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    if (options.deferred) this.#runner.require('deferred remove', FEATURES.deferredRemove);
    await boundedCall('removeAll', options, (stop) => this.#runner.runAsync('removeAll', { deferred: options.deferred }, { stop }));
  }

  /**
   * DM_LIST_DEVICES: every device with its dev, event number (4.37+) and uuid (4.45+;
   * `undefined` = the kernel does not say). By default in name order (UTF-8 bytes) on every
   * kernel: kernels before 4.45 list in the order of their name hash, and are sorted here.
   * `order: 'kernel'` keeps the kernel's order as it comes (what dmsetup prints; the same
   * as name order from 4.45). Prefix filters run in the kernel on 4.45+; a name prefix is
   * applied here on older kernels, keeping the order.
   */
  async list(options: ListOptions = {}): Promise<ListedDevice[]> {
    optionsArg(options, 'options', { namePrefix: 'kernelString', uuidPrefix: 'kernelString', order: 'string', ...CALL_OPTION_KINDS });
    listOrderArg(options);
    callOptionsArg(options);
    return boundedCall('list', options, async () => this.#list(options));
  }
  /** Synchronous {@link DeviceMapper.list}. */
  listSync(options: SyncOptions<ListOptions> = {}): ListedDevice[] {
    optionsArg(options, 'options', { namePrefix: 'kernelString', uuidPrefix: 'kernelString', order: 'string' });
    listOrderArg(options);
    return this.#list(options);
  }

  #list(options: SyncOptions<ListOptions>): ListedDevice[] {
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
      // Before 4.45 the kernel walks its name hash; 4.45+ walks a tree sorted by name bytes
      // (docs/kernel-facts.md). list() gives name order everywhere unless asked for the
      // kernel's (dmctl prints what dmsetup prints).
      if (options.order !== 'kernel') devices.sort(byNameBytes);
      if (options.namePrefix !== undefined) return devices.filter((d) => d.name.startsWith(options.namePrefix!));
    }
    return devices;
  }

  /**
   * DM_DEV_CREATE: a new device without a table (not flagged suspended: docs/kernel-facts.md,
   * "A new device is not suspended"). A create that lands after the caller gave up (signal,
   * timeoutMs) is removed again: nobody would own it.
   */
  async create(options: CreateOptions): Promise<DeviceInfo> {
    optionsArg(options, 'options', { name: 'kernelString', uuid: 'kernelString', minor: 'uint', ...CALL_OPTION_KINDS }, ['name']);
    callOptionsArg(options);
    const { name, uuid, minor } = options;
    const r = await boundedCall('create', options, (stop) => this.#runner.runAsync('create', { name, uuid, minor }, { device: { name }, stop }),
      // Only the device this create made (its reply's dev), verified right before the remove (identity.ts removeOurs).
      (late) => removeRolledBack(this[clientParts](), identityOf(late.device), retryPolicy({ retries: 1 })), this.#lateHold);
    return r.device;
  }

  /**
   * DM_DEV_REMOVE. EBUSY when open, unless `deferred` (then the result's `deferred` is true and
   * the device goes at its last close). `signal` and `timeoutMs` end the wait for the ioctl and
   * for udev; the removal itself is not undone.
   */
  async remove(device: DeviceId | string, options: RemoveOptions = {}): Promise<RemoveResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { deferred: 'boolean', ...CALL_OPTION_KINDS, ...UDEV_OPTION_KINDS });
    udevOptionsArg(options);
    callOptionsArg(options);
    if (options.deferred) this.#runner.require('deferred remove', FEATURES.deferredRemove);
    return boundedCall('remove', options, async (gaveUp) => removeResult(await udevTransaction(this.#udev.context(gaveUp), options,
      (cookie) => this.#runner.runAsync('remove', { id, deferred: options.deferred, cookie }, { device: id, stop: gaveUp }), (r) => r.ueventGenerated)));
  }

  /** Cancels a deferred remove (the `@cancel_deferred_remove` message). Not undone when it lands after the caller gave up. */
  async cancelDeferredRemove(device: DeviceId | string, options?: CallOptions): Promise<void> {
    idOf(device);
    callArg(options);
    this.#runner.require('deferred remove', FEATURES.deferredRemove);
    await this.message(device, 0, '@cancel_deferred_remove', options);
  }

  /**
   * DM_DEV_RENAME: a new name, or a uuid for a device that has none. The kernel finds
   * the device by name only (docs/identity.md), so a device given by uuid or dev is
   * resolved to its identity first, renamed by name, and checked afterwards: the reply's
   * dev and the device now found under the new name (or uuid) must be the one resolved,
   * otherwise DmIdentityError (`acted: true`: someone replaced the name between the two
   * ioctls, and the rename reached their device — the window the kernel leaves open).
   * Resolves with the device as it is now: its new name (or uuid). `signal` and `timeoutMs`
   * end the caller's wait; a rename that has happened is not undone
   * (lib/operations/rename-device.ts).
   */
  async rename(device: DeviceId | string, to: RenameTarget, options: RenameOptions = {}): Promise<DeviceInfo> {
    return renameDevice(this, device, to, options);
  }

  /**
   * DM_DEV_SUSPEND with DM_SUSPEND_FLAG. Idempotent. A suspend that lands after the caller
   * gave up (signal, timeoutMs) is resumed again, so a call that failed never leaves the device
   * suspended by it (a suspended device hangs every writer).
   */
  async suspend(device: DeviceId | string, options: SuspendOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    optionsArg(options, 'options', { noflush: 'boolean', skipLockfs: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    if (options.noflush) this.#runner.require('noflush', FEATURES.noflush);
    const { noflush, skipLockfs } = options;
    return (await boundedCall('suspend', options, (stop) => this.#runner.runAsync('suspend', { id, action: 'suspend', noflush, skipLockfs }, { device: id, stop }),
      // Only the device the late reply names, verified right before the resume (by uuid, or by name and dev: identity.ts resumeOurs).
      (late) => resumeOurs(this.#undoCalls(), identityOf(late.device)), this.#lateHold)).device;
  }

  /**
   * DM_DEV_SUSPEND without DM_SUSPEND_FLAG: resumes, swapping in the inactive table.
   * Idempotent. `signal` and `timeoutMs` end the wait for the ioctl and for udev; the resume
   * itself is not undone (suspending again could deadlock a flush).
   */
  async resume(device: DeviceId | string, options: ResumeOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    optionsArg(options, 'options', { noflush: 'boolean', skipLockfs: 'boolean', ...CALL_OPTION_KINDS, ...UDEV_OPTION_KINDS });
    udevOptionsArg(options);
    callOptionsArg(options);
    const { noflush, skipLockfs } = options;
    return boundedCall('resume', options, (gaveUp) => udevTransaction(this.#udev.context(gaveUp), options,
      async (cookie) => (await this.#runner.runAsync('suspend', { id, action: 'resume', noflush, skipLockfs, cookie }, { device: id, stop: gaveUp })).device, (d) => d.flags.ueventGenerated));
  }

  /**
   * DM_DEV_STATUS of many devices in few engine round trips (the ioctls of a window are
   * submitted together; see `asyncPath`). One result per device, in order: `{ ok: true,
   * value }` (a missing device is `{ exists: false }`, as with `info()`) or `{ ok: false,
   * error }` for that device alone. Every device argument is checked before any ioctl.
   * `signal` and `timeoutMs` stop the batch (no further device is asked; the calls under way
   * finish in the kernel); `onProgress` reports the devices done.
   */
  async infoMany(devices: readonly (DeviceId | string)[], options: InfoOptions & BatchOptions = {}): Promise<Settled<InfoResult>[]> {
    const ids = manyArg(devices);
    optionsArg(options, 'options', { inactive: 'boolean', onProgress: 'function', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    this.#requireInactive(options.inactive);
    return this.#batch('infoMany', ids, options, async (id) => {
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
   * Every device argument is checked before any ioctl. `signal`, `timeoutMs` and
   * `onProgress` as with {@link DeviceMapper.infoMany}.
   */
  async statusMany(devices: readonly (DeviceId | string)[], options: StatusOptions & BatchOptions = {}): Promise<Settled<TableResult>[]> {
    const ids = manyArg(devices);
    optionsArg(options, 'options', { inactive: 'boolean', noflush: 'boolean', onProgress: 'function', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    this.#requireInactive(options.inactive);
    return this.#batch('statusMany', ids, options, async (id) => {
      const r = await this.#runner.runAsync('status', { id, inactive: options.inactive, noflush: options.noflush }, { device: id, batch: true });
      return { device: r.device, targets: r.targets };
    });
  }

  /** A batch (batch.ts) bounded by the caller's signal and timeout, with progress. */
  #batch<T>(name: string, ids: DeviceId[], options: BatchOptions, run: (id: DeviceId) => Promise<T>): Promise<Settled<T>[]> {
    const stop = new AbortController();
    const onProgress = options.onProgress;
    const progress = onProgress && ((done: number, total: number) => {
      try { onProgress({ operation: name, step: `${done} of ${total}`, done, total }); } catch { /* a progress callback cannot break the batch */ }
    });
    return boundedCall(name, options, () => settleAll(ids, run, { stop: stop.signal, progress }).finally(() => stop.abort()), undefined)
      .finally(() => stop.abort());
  }

  /** `inactive` needs DM_QUERY_INACTIVE_TABLE_FLAG (4.16): refused with a typed error before any ioctl on older kernels. */
  #requireInactive(inactive: boolean | undefined): void {
    if (inactive) this.#runner.require('inactive-table query', FEATURES.inactiveTable);
  }

  /** DM_DEV_STATUS. A missing device gives `{ exists: false }`, not an error. */
  async info(device: DeviceId | string, options: InfoOptions = {}): Promise<InfoResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    return boundedCall('info', options, async () => this.#info(id, options.inactive));
  }
  /** Synchronous {@link DeviceMapper.info}. */
  infoSync(device: DeviceId | string, options: SyncOptions<InfoOptions> = {}): InfoResult {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    return this.#info(id, options.inactive);
  }

  #info(id: DeviceId, inactive: boolean | undefined): InfoResult {
    this.#requireInactive(inactive);
    try {
      return present(this.#runner.runSync('info', { id, inactive }, { device: id }).device);
    } catch (e) {
      return missingOrThrow(e);
    }
  }

  /**
   * DM_DEV_WAIT semantics without blocking a thread: resolves as soon as the device's
   * event number differs from `eventNr`, with its status (or table) — at once if it
   * already does. All waits of a client share one poller on its own control fd. `signal`
   * (DmAbortError) and `timeoutMs` (DmOperationError TIMEOUT) end the wait and give the
   * poller back. The device is followed by its number (through renames); one found
   * replaced there (another uuid, or an event number lower than one already seen) rejects
   * the wait with DmIdentityError rather than returning the other device's status.
   */
  async wait(device: DeviceId | string, options: WaitOptions = {}): Promise<TableResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { eventNr: 'uint', table: 'boolean', showKeys: 'boolean', inactive: 'boolean', noflush: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    if (options.timeoutMs === undefined) return this.#wait(id, options, options.signal);
    const site = new Error();
    Error.captureStackTrace(site, this.wait);
    const timeout = new DmOperationError('TIMEOUT', `wait did not finish within ${options.timeoutMs} ms`);
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(timeout), options.timeoutMs);
    // Not AbortSignal.any(): it leaves a reference per call on the caller's signal for as long
    // as that lives (lib/events/abort-fanout.ts). The link is let go when the wait ends.
    const link = linkedSignal([options.signal], timer);
    try {
      return await this.#wait(id, options, link.signal);
    } catch (e) {
      throw withCallerStack(e instanceof DmAbortError && timer.signal.reason === timeout && !options.signal?.aborted ? timeout : e, site);
    } finally {
      clearTimeout(t);
      link.release();
    }
  }

  async #wait(id: DeviceId, options: WaitOptions, signal: AbortSignal | undefined): Promise<TableResult> {
    this.#runner.require('waiting for events (DM_DEV_ARM_POLL)', FEATURES.armPoll);
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
    // Followed by number, and minors are handed out again at once: a device removed and
    // another made meanwhile would sit at the same number. Where ours has a uuid, another
    // uuid there is another device; with or without one, an event number lower than one
    // already seen is (a device's event number only grows, a new device's starts at 0).
    // The event numbers are compared between device checks only: each is made after the
    // previous one, while a DEV_WAIT reply shared with other waiters may predate this one's check.
    const expected = identityOf(first);
    let seenEventNr = first.eventNr;
    const ours = (d: DeviceInfo, step: string, ordered: boolean): void => {
      if (expected.uuid) checkReply('info', expected, d, false, step);
      if (!ordered) return;
      if (d.eventNr < seenEventNr) throw new DmIdentityError(step, expected, { name: d.name, uuid: d.uuid, dev: { major: d.dev.major, minor: d.dev.minor } }, false);
      seenEventNr = d.eventNr;
    };
    this.#poller.acquire();
    try {
      // The signal also cuts the wait for the poller's first arm short.
      let gen = await this.#poller.ready(signal);
      for (;;) {
        if (signal?.aborted) throw new DmAbortError(signal.reason);
        const check = this.#wakes.check(devKey, gen, since, lookup);
        ours(check.result, 'wait (device check)', true);
        if (check.result.eventNr !== eventNr) {
          // DEV_WAIT returns at once now: the event number already differs. Another waiter's
          // reply is taken only if it was issued after this check (docs/events.md).
          const r = await untilAborted(this.#wakes.reply(replyKey, check.ticket, () => this.#runner.runAsync('wait', {
            id: target, eventNr, table, inactive: options.inactive, noflush: options.noflush, secure: table,
          }, { device: id, wipe: table })), signal);
          ours(r.device, 'wait', false);
          // Never the number this waiter waits to see change (a device replaced on its number
          // between the check and the reply): wait for its next event instead.
          if (r.device.eventNr !== eventNr) {
            // The reply may be shared with other waiters: each gets objects of its own.
            return { device: ownDevice(r.device), targets: ownTargets(r.targets, table && !options.showKeys) };
          }
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
   * A load that lands after the caller gave up (signal, timeoutMs) has its table cleared again:
   * a table left in the inactive slot would go live at the next resume, anyone's.
   */
  async load(device: DeviceId | string, targets: readonly TargetSpecInput[], options: LoadOptions = {}): Promise<DeviceInfo> {
    const id = idOf(device);
    const specs = targetsArg(targets);
    optionsArg(options, 'options', { readOnly: 'boolean', secure: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    if (options.secure) this.#runner.require('secure data', FEATURES.secureData);
    const secure = this.#secureFor(specs, options.secure);
    return (await boundedCall('load', options, (stop) => this.#runner.runAsync('load', { id, targets: specs, readOnly: options.readOnly, secure }, { ...loadContext(id, specs, secure), stop }),
      // Only the device the late reply names, verified right before the clear (identity.ts clearOurs).
      (late) => clearOurs(this.#undoCalls(), identityOf(late.device)), this.#lateHold)).device;
  }

  /** DM_TABLE_CLEAR: drops the inactive table. Not undone when it lands after the caller gave up (the table is gone). */
  async clear(device: DeviceId | string, options?: CallOptions): Promise<DeviceInfo> {
    const id = idOf(device);
    return (await boundedCall('clear', callArg(options), (stop) => this.#runner.runAsync('clear', { id }, { device: id, stop }))).device;
  }

  /** DM_TABLE_DEPS: the devices the table uses. */
  async deps(device: DeviceId | string, options: DepsOptions = {}): Promise<DevNo[]> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    return boundedCall('deps', options, async () => this.#deps(id, options.inactive).deps);
  }
  /** Synchronous {@link DeviceMapper.deps}. */
  depsSync(device: DeviceId | string, options: SyncOptions<DepsOptions> = {}): DevNo[] {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    return this.#deps(id, options.inactive).deps;
  }

  /**
   * DM_TABLE_DEPS with the device's state from the same reply (name, uuid, dev, open count,
   * flags): one ioctl, so the state and the dependencies describe the same device at the
   * same moment (what libdevmapper's deptree reads for each node; `DeviceTree` uses it).
   */
  async depsWithInfo(device: DeviceId | string, options: { inactive?: boolean } & CallOptions = {}): Promise<DepsWithInfo> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    return boundedCall('depsWithInfo', options, async () => this.#deps(id, options.inactive));
  }
  /** {@link DeviceMapper.depsWithInfo} on the calling thread (DM_TABLE_DEPS never sleeps in the kernel). */
  depsWithInfoSync(device: DeviceId | string, options: { inactive?: boolean } = {}): DepsWithInfo {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean' });
    return this.#deps(id, options.inactive);
  }

  #deps(id: DeviceId, inactive: boolean | undefined): DepsWithInfo {
    this.#requireInactive(inactive);
    const r = this.#runner.runSync('deps', { id, inactive }, { device: id });
    return { device: r.device, deps: [...r.deps] };
  }

  /** DM_TABLE_STATUS: each target's status text. May commit thin/cache metadata unless `noflush`. */
  async status(device: DeviceId | string, options: StatusOptions = {}): Promise<TableResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', noflush: 'boolean', ima: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    this.#requireInactive(options.inactive);
    if (options.ima) this.#runner.require('DM_IMA_MEASUREMENT_FLAG', FEATURES.ima);
    const r = await boundedCall('status', options, (stop) => this.#runner.runAsync('status', { id, inactive: options.inactive, noflush: options.noflush, ima: options.ima }, { device: id, stop }));
    return { device: r.device, targets: r.targets };
  }

  /**
   * DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG: the table as the kernel prints it (devices as
   * major:minor). Crypt and integrity keys are redacted (zeros, as dmsetup does) unless
   * `showKeys`; the call uses DM_SECURE_DATA_FLAG and wipes its buffer either way.
   */
  async table(device: DeviceId | string, options: TableOptions = {}): Promise<TableResult> {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', showKeys: 'boolean', ...CALL_OPTION_KINDS });
    callOptionsArg(options);
    return boundedCall('table', options, async () => this.#table(id, options));
  }
  /** Synchronous {@link DeviceMapper.table}. */
  tableSync(device: DeviceId | string, options: SyncOptions<TableOptions> = {}): TableResult {
    const id = idOf(device);
    optionsArg(options, 'options', { inactive: 'boolean', showKeys: 'boolean' });
    return this.#table(id, options);
  }

  #table(id: DeviceId, options: SyncOptions<TableOptions>): TableResult {
    this.#requireInactive(options.inactive);
    const r = this.#runner.runSync('status', { id, table: true, inactive: options.inactive, secure: true }, { device: id, wipe: true });
    const targets = options.showKeys
      ? r.targets
      : r.targets.map((t) => ({ start: t.start, length: t.length, type: t.type, params: redactTableParams(t.type, t.params) }));
    return { device: r.device, targets };
  }

  /** DM_LIST_VERSIONS: the loaded target types. */
  async listVersions(options?: CallOptions): Promise<TargetVersion[]> { return boundedCall('listVersions', callArg(options), async () => this.listVersionsSync()); }
  /** Synchronous {@link DeviceMapper.listVersions}. */
  listVersionsSync(): TargetVersion[] { return [...this.#runner.runSync('listVersions', {}).targets]; }

  /** DM_TARGET_MSG: returns the target's output when it produced one (DM_DATA_OUT_FLAG). A message that lands after the caller gave up is not undone. */
  async message(device: DeviceId | string, sector: Sectors, message: string, options?: CallOptions): Promise<string | undefined> {
    const id = idOf(device);
    valueArg(sector, 'sector', 'sectors');
    valueArg(message, 'message', 'string');
    callArg(options);
    // Messages may carry keys (dm-crypt's `key set <hex>`): their buffers are wiped, and a
    // kernel log line that repeats a word of the message has it masked (like a secure load's).
    const scrubLog = (lines: string[]) => scrubLogLines(lines, [{ params: message }], true);
    return (await boundedCall('message', options, (stop) => this.#runner.runAsync('message', { id, sector, message }, { device: id, wipe: true, scrubLog, message, stop }))).output;
  }

  /** DM_DEV_SET_GEOMETRY. Not undone when it lands after the caller gave up. */
  async setGeometry(device: DeviceId | string, geometry: Geometry, options?: CallOptions): Promise<void> {
    const id = idOf(device);
    optionsArg(geometry, 'geometry', { cylinders: 'uint', heads: 'uint', sectorsPerTrack: 'uint', startSectors: 'sectors' }, ['cylinders', 'heads', 'sectorsPerTrack', 'startSectors']);
    callArg(options);
    const { cylinders, heads, sectorsPerTrack, startSectors } = geometry;
    // The codec's request keeps the kernel's words ("cyl heads sectors start").
    await boundedCall('setGeometry', options, (stop) => this.#runner.runAsync('setGeometry', { id, cylinders, heads, sectorsPerTrack, startSectors }, { device: id, stop }));
  }

  /** DM_DEV_ARM_POLL on this client's fd (the shared poller uses its own fd and is not affected). */
  async armPoll(options?: CallOptions): Promise<void> { return boundedCall('armPoll', callArg(options), async () => this.armPollSync()); }
  /** Synchronous {@link DeviceMapper.armPoll}. */
  armPollSync(): void {
    this.#runner.require('DM_DEV_ARM_POLL', FEATURES.armPoll);
    this.#runner.runSync('armPoll', {});
  }

  /**
   * DM_GET_TARGET_VERSION: a target's version; the kernel loads its module if needed
   * (`request_module`). The sync variant therefore may block for as long as modprobe takes
   * (docs/kernel-facts.md, "Which commands may sleep").
   */
  async getTargetVersion(target: string, options?: CallOptions): Promise<Version> {
    valueArg(target, 'target', 'string');
    return boundedCall('getTargetVersion', callArg(options), async () => this.getTargetVersionSync(target));
  }
  /** Synchronous {@link DeviceMapper.getTargetVersion}. */
  getTargetVersionSync(target: string): Version {
    valueArg(target, 'target', 'string');
    this.#runner.require('DM_GET_TARGET_VERSION', FEATURES.getTargetVersion);
    const v = this.#runner.runSync('getTargetVersion', { target }).targets[0];
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
   * `timeoutMs` ends it that long after this call: the pending `next()` (or the next one)
   * rejects with DmOperationError TIMEOUT, as every timeout of the package does.
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<DeviceEvent> {
    this.#runner.require('device events (DM_DEV_ARM_POLL)', FEATURES.armPoll);
    if (options !== null && typeof options === 'object' && options.timeoutMs !== undefined) callOptionsArg({ timeoutMs: options.timeoutMs });
    return this.#events.open(options);
  }

  // ------------------------------------------------------------ operations ---

  /**
   * create → load → resume as one operation (lib/operations/create-device.ts): each step after
   * the first addressed by uuid when there is one and checked against the device the create
   * returned (lib/operations/identity.ts). If any step fails, the signal aborts, `timeoutMs`
   * passes or the client closes, the device is removed again — only ours: by uuid, or
   * verified just before the remove when it has no uuid — with removeDevice's EBUSY retries,
   * and the error is thrown (a failed rollback is attached as `cleanupError`); a create that
   * lands after the operation gave up is removed then. Give the device a uuid and no step can
   * reach another process's device (docs/identity.md). The whole request (name, uuid, minor,
   * table) is validated before the first ioctl.
   */
  async createDevice(options: CreateDeviceOptions): Promise<DeviceInfo> { return createDevice(this, options); }

  /**
   * DM_DEV_REMOVE, retried on EBUSY (udev or blkid often hold a new device briefly):
   * `retries` attempts (default 25) `delayMs` apart (default 200), like libdevmapper
   * (lib/operations/remove-device.ts). Every retry reaches the same device: a device given
   * by name or dev is identified first (one DM_DEV_STATUS) and then addressed by its uuid,
   * or — without one — verified before each attempt; a different device under the name
   * gives DmIdentityError and is not touched. A single attempt (`retries` 0 or 1) is one
   * ioctl, as addressed. `signal` and `timeoutMs` bound the whole removal; a removal that
   * has happened cannot be undone.
   */
  async removeDevice(device: DeviceId | string, options: RemoveDeviceOptions = {}): Promise<RemoveResult> { return removeDevice(this, device, options); }

  /**
   * Removes many devices, each by removeDevice's identity-checked steps (EBUSY retries; a
   * device given as `{ name, uuid, dev }` — e.g. what createMany returned — is removed only if
   * it is still that device, otherwise DmIdentityError `DEVICE_REPLACED` and it is not
   * touched), with up to `concurrency` devices in flight (default 32) so that the kernel's
   * grace-period waits overlap (lib/operations/many.ts, docs/scale.md). One settled result
   * per device, in order; a failure is that device's alone unless `stopOnError`. Every entry
   * and option is checked before the first ioctl. `signal` and `timeoutMs` stop the batch: no
   * further device starts, the removals under way finish in the kernel, and it rejects once
   * every started device has settled, with the results attached (`results`); close() stops
   * it the same way. `onProgress` reports each device as it settles.
   */
  async removeMany(devices: readonly RemoveManyEntry[], options: RemoveManyOptions = {}): Promise<Settled<RemoveResult>[]> { return removeMany(this, devices, options); }

  /**
   * Creates many devices, each by createDevice's create → load → resume with its identity
   * checks and rollback, with up to `concurrency` devices in flight (default 32) so that the
   * kernel's grace-period waits overlap. One settled result per device, in order (the
   * DeviceInfo createDevice returns, or that device's error: a device that failed half-way is
   * rolled back, removed by its own identity). Every spec is checked as createDevice checks it
   * (table lines, udev options, rollback) before the first ioctl. `signal` and `timeoutMs` stop the batch: no further device starts, each one under
   * way is rolled back at its next step (a create that lands later is removed then; close()
   * waits for that), and it rejects with the results attached (`results`). `onProgress`
   * reports each device as it settles.
   */
  async createMany(specs: readonly CreateManySpec[], options: CreateManyOptions = {}): Promise<Settled<DeviceInfo>[]> { return createMany(this, specs, options); }

  /**
   * Finishes or takes back what multi-step operations of processes that died left half-done
   * (lib/operations/recover.ts, docs/crash-safety.md): for each intent record of a process
   * that is gone (pid and start time), claimed atomically, a device it suspended is resumed,
   * a table it staged cleared, a temporary or half-made device removed, a thin id it made
   * and never reported deleted, a removeTree completed, a udev semaphore of its own removed —
   * each only when the device is still the one recorded (uuid, name, dev). Records of live
   * processes are never touched. A step that fails leaves its record, with a note, for a
   * later call. `dryRun` reports what would be done and changes nothing.
   */
  async recover(options: RecoverOptions = {}): Promise<RecoveryReport> { return recover(this, options); }

  /**
   * Package-internal (see {@link blockIoOf}): the backend's files, block devices, loop devices
   * and nodes: the host's on the real backend, memory on the simulator.
   *
   * @internal
   */
  [blockIoOf](): BlockIo {
    return this.#blockIo;
  }

  /**
   * Package-internal (see {@link keyringOf}): the backend's kernel keyring, the host's when
   * the backend has none (the simulator's is in memory).
   *
   * @internal
   */
  [keyringOf](): Promise<Keyring> {
    return this.#keyring ? Promise.resolve(this.#keyring) : openKeyring();
  }

  /**
   * Package-internal (see {@link operationHost}): what an operation of the operation core
   * borrows from this client.
   *
   * @internal
   */
  [operationHost](): OperationHost {
    return { begin: () => this.#begin(), end: () => this.#end(), closing: this.#closing.signal, kernel: this.#undoCalls(), intents: this.#intents };
  }

  /**
   * Package-internal (see {@link clientParts}): the runner and udev context the client's own
   * operations use below the command methods.
   *
   * @internal
   */
  [clientParts](): ClientParts {
    return { runner: this.#runner, udev: (signal) => this.#udev.context(signal), secureFor: (t, s) => this.#secureFor(t, s) };
  }

  /** The calls an undo may make after close(): info, resume and clear, let through the closed gate. */
  #undoCalls(): UndoCalls {
    return {
      info: async (id) => (await this.#runner.runAsync('info', { id }, { device: id, afterClose: true })).device,
      resume: async (id, o = {}) => (await this.#runner.runAsync('suspend', { id, action: 'resume', noflush: o.noflush, skipLockfs: o.skipLockfs }, { device: id, afterClose: true })).device,
      clear: async (id) => (await this.#runner.runAsync('clear', { id }, { device: id, afterClose: true })).device,
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
  /** A call whose late result is undone counts in flight until that undo is done (boundedCall). */
  readonly #lateHold = { begin: () => this.#begin(), end: () => this.#end() };

  #begin(): void {
    if (this.#closed) throw new DmClosedError('the device-mapper client');
    this.#ops++;
  }

  #end(): void {
    if (--this.#ops === 0 && this.#closed) this.#release();
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

// Every row of the command table names a method of DeviceMapper: a row whose `client`
// method is missing fails to compile here, naming it.
type CommandMethod = CommandTable[CommandName]['client'];
type MissingCommandMethods = Exclude<CommandMethod, keyof DeviceMapper>;
true satisfies ([MissingCommandMethods] extends [never] ? true : MissingCommandMethods);
