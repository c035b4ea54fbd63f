/**
 * `ThinPool`: thin provisioning as container snapshotters use it (containerd's devmapper
 * snapshotter does this by running `dmsetup` and parsing its text), through the client's
 * ioctls: a pool over block devices or files (loop devices made here), thin devices,
 * snapshots that suspend an active origin themselves, deletes that discard first, resize,
 * the pool's transaction id and metadata snapshots, typed status, and pool conditions as
 * events (`conditions()`, thin-pool-events.ts).
 *
 * Every method is one operation of the operation core (lib/operations/operation.ts): it
 * takes `signal` and `timeoutMs`, undoes what it did when it fails or is stopped, and
 * rejects with the caller's frames. Files, loop devices, sizes and discards go through the
 * client's backend (BlockIo): on the simulator a pool touches nothing on the host.
 *
 * Every device made here gets a uuid (`THINPOOL-<pool>` for the pool, `THIN-<id>-<pool>` for
 * an activated thin), later steps (undo steps too) address it by that uuid, and every reply
 * that carries the device's header is checked against the first step's name, uuid and dev.
 * Kernel failures are `DmError` with the kernel's errno; what this module refuses or detects
 * itself is a `DmOperationError` (`INVALID_INPUT` before any syscall, `WRONG_TARGET`,
 * `ENXIO`, `EBUSY`, `TIMEOUT`); a reply naming another device than the first step's is
 * `DmIdentityError` (`DEVICE_REPLACED`), as everywhere in the package. Kernel facts (message
 * errnos, events, resize, discard passdown): docs/thin-and-faults.md.
 *
 * A little over 500 lines: one class whose public methods are each one operation of a few
 * steps, kept together because they share the pool's identity, its loop devices and the
 * origin locks; what a caller passes and gets back (options, results, their checks) is in
 * thin-pool-options.ts.
 */
import type { DeviceId } from '../../codec/index.js';
import type { DeviceMapper } from '../client/client.js';
import type { BlockIo } from '../kernel/backend.js';
import { blockIoFor } from '../block/block-io.js';
import { DmArgumentError, DmError, DmIdentityError, DmOperationError } from '../errors.js';
import { addressOf, identityOf, type DeviceIdentity } from './identity.js';
import type { Operation, OperationOptions } from './operation.js';
import { createStep, isGone, loadStep, removeIfThere, resumeStep, runOn, suspendStep } from './handle-steps.js';
import { optionsArg } from '../client/args.js';
import { parseStatus, parseTarget, toTargetSpecs } from '../targets/table.js';
import { thinPoolMessage, type ThinPoolParams, type ThinPoolStatus } from '../targets/thin.js';
import { poolConditions, type PoolCondition, type PoolConditionsOptions } from './thin-pool-events.js';
import {
  CALL_OPTIONS, checkU64, CREATE_OPTIONS, DEFAULT_TIMEOUT_MS, FEATURE_OPTIONS, LOOP_DEFAULTS, THIN_UUID, blockSizes, checkFileBytes, checkId,
  checkName, checkSpec, discardHelperName, featureFlags, poolParams, poolParamsOf, tableFacts, thinDeviceAddress, thinDeviceUuid, thinPoolUuid,
  uuidBytes, type ActivateOptions, type CreateThinPoolOptions, type DeactivateOptions, type DeleteThinOptions, type OpenThinPoolOptions,
  type OwnedLoop, type PoolFeatures, type PoolStatus, type ReloadOptions, type ResizeOptions, type ThinDevice, type ThinPoolCallOptions,
  type ThinPoolHealthyStatus,
} from './thin-pool-options.js';
import { ERRNO } from '../../ffi/errors.js';
import { intentDevice, slotOf } from './intent-record.js';
import { attachCleanupError } from './cleanup-error.js';
import { openThinMetadataWith, type ThinMetadataReader } from '../thin-metadata/reader.js';
import { MAX_THIN_ID, nextFreeThinId, type NextFreeThinIdOptions } from '../thin-metadata/next-id.js';
import { recordsNaming, recover } from './recover.js';
import { snapshotChained } from './snapshot-chain.js';


export type {
  ActivateOptions, CreateThinPoolOptions, DeactivateOptions, DeleteThinOptions, OpenThinPoolOptions, PoolBlockSizes, PoolDeviceSpec, PoolFeatures, PoolStatus,
  ReloadOptions, ResizeOptions, ThinDevice, ThinPoolCallOptions, ThinPoolHealthyStatus,
} from './thin-pool-options.js';
export { thinPoolUuid, thinDeviceUuid } from './thin-pool-options.js';

/**
 * A thin pool. Create one with `ThinPool.create`, or take an existing one with `ThinPool.open`.
 *
 * **Disposal** (`await using pool = await ThinPool.create(…)`): a pool owns what its
 * `create` made — the pool device, the loop devices it attached for files, and the thin
 * devices it activated through `activate` (not those activated by others). Disposing a pool
 * made by `create` removes those thin devices, the pool device and the loop devices, as a
 * test rig expects its scope to end clean; the backing files are kept (the pool's metadata
 * is on them: `create` over the same files brings the thins back). A pool from `open` owns
 * nothing, and disposing it does nothing. What is already gone is skipped, never an error;
 * a device still in use (EBUSY after the retries) is.
 */
export class ThinPool {
  readonly #dm: DeviceMapper;
  readonly #io: BlockIo;
  readonly #timeoutMs: number;
  #id: DeviceIdentity;
  #params: ThinPoolParams;
  /** Snapshots in progress per origin id (serialised, see `snapshot`). */
  readonly #originLocks = new Map<number, Promise<void>>();
  /** Loop devices this pool attached (files), detached by `destroy` and disposal. */
  readonly #loops: { data?: OwnedLoop; metadata?: OwnedLoop };
  /** Made by `create`: disposal removes the pool. */
  readonly #owned: boolean;
  /** uuids (or names) of the thin devices `activate` made here, removed at disposal. */
  readonly #activated = new Set<string>();

  private constructor(dm: DeviceMapper, timeoutMs: number, id: DeviceIdentity, params: ThinPoolParams, loops: { data?: OwnedLoop; metadata?: OwnedLoop }, owned: boolean) {
    this.#dm = dm;
    this.#io = blockIoFor(dm);
    this.#timeoutMs = timeoutMs;
    this.#id = id;
    this.#params = params;
    this.#loops = loops;
    this.#owned = owned;
  }

  /** The pool device's name. */
  get name(): string { return this.#id.name; }
  /** The pool device's uuid (`THINPOOL-<name>` when created here). */
  get uuid(): string | null { return this.#id.uuid; }
  /** The pool device's number. */
  get dev(): {
    /** Major number. */
    readonly major: number;
    /** Minor number. */
    readonly minor: number;
  } { return { major: this.#id.dev.major, minor: this.#id.dev.minor }; }
  /** The pool's table as loaded (devices as `major:minor` for an opened pool). */
  get params(): ThinPoolParams { return this.#params; }
  /** The data block size in 512-byte sectors (the unit of the pool's block counts). */
  get blockSizeSectors(): bigint { return tableFacts(this.#params).blockSizeSectors; }
  /** The low-water mark in data blocks of {@link ThinPool.blockSizeSectors}. */
  get lowWaterMarkBlocks(): bigint { return tableFacts(this.#params).lowWaterMarkBlocks; }

  /**
   * Creates the pool device: files are created or grown to `sizeBytes` and attached to loop
   * devices, the table is built from the data device's size (rounded down to whole
   * blocks), and the device is created with uuid `THINPOOL-<name>`. On failure (a step, the
   * signal, `timeoutMs`) every loop device attached here is detached again and every file
   * created here removed. `timeoutMs` bounds this call and is the default bound of every
   * later call on the pool (default 30000).
   */
  static async create(dm: DeviceMapper, options: CreateThinPoolOptions): Promise<ThinPool> {
    optionsArg(options, 'options', CREATE_OPTIONS, ['name', 'data', 'metadata']);
    const name = checkName(options.name, 'name');
    const uuid = thinPoolUuid(name);
    if (uuidBytes(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `name is too long for the pool uuid ${JSON.stringify(uuid)} (128 bytes at most)`);
    const blockSizeSectors = checkU64(options.blockSizeSectors ?? 128, 'blockSizeSectors');
    if (blockSizeSectors < 128n || blockSizeSectors > 2097152n || blockSizeSectors % 128n !== 0n) {
      throw new DmOperationError('INVALID_INPUT', `blockSizeSectors must be a multiple of 128 in 128…2097152, got ${String(options.blockSizeSectors)}`);
    }
    const lowWaterMarkBlocks = checkU64(options.lowWaterMarkBlocks ?? 0, 'lowWaterMarkBlocks');
    const specs = { data: checkSpec(options.data, 'data'), metadata: checkSpec(options.metadata, 'metadata') };
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const io = blockIoFor(dm, 'dm');
    return runOn(dm, 'ThinPool.create', { signal: options.signal, timeoutMs }, async (op) => {
      const loops: { data?: OwnedLoop; metadata?: OwnedLoop } = {};
      const devices = { data: '', metadata: '' };
      for (const k of ['metadata', 'data'] as const) {
        const s = specs[k];
        if (typeof s === 'string') { devices[k] = s; continue; }
        const did = await op.step(`preparing ${s.file}`, () => io.ensureFile(s.file, s.sizeBytes === undefined ? undefined : BigInt(s.sizeBytes)), {
          onLate: (late) => { if (late === 'created') void io.removeFile(s.file).catch(() => {}); },
        });
        if (did === 'created') op.undo(`remove ${s.file}`, () => io.removeFile(s.file));
        const loop = await op.step(`attaching ${s.file}`, () => io.attachLoop(s.file, LOOP_DEFAULTS), {
          onLate: (late) => { void io.detachLoop(late.path).catch(() => {}); },
        });
        op.undo(`detach ${loop.path}`, () => io.detachLoop(loop.path).catch((e: unknown) => { if (!isGone(e)) throw e; }));
        loops[k] = { path: loop.path, file: s.file };
        devices[k] = loop.path;
      }
      const sectors = (await op.step(`size of ${devices.data}`, () => io.sizeBytes(devices.data))) / 512n;
      const length = sectors - (sectors % blockSizeSectors);
      if (length === 0n) throw new DmOperationError('INVALID_INPUT', `the data device ${devices.data} is smaller than one block (${blockSizeSectors} sectors)`);
      const params = poolParams(devices, blockSizeSectors, lowWaterMarkBlocks, featureFlags(options));
      const id = await createStep(op, dm, { name, uuid, table: toTargetSpecs([{ start: 0, length, type: 'thin-pool', ...params }]) }, `creating pool ${name}`);
      return new ThinPool(dm, timeoutMs, id, params, loops, true);
    });
  }

  /**
   * Takes an existing pool device (made here or by anyone else) by name or id; its table
   * must be a single thin-pool line. `timeoutMs` bounds this call and is the default bound
   * of every later call on the pool (default 30000). The pool owns nothing: disposing it
   * leaves the device as it is. Before it returns, what operations of dead processes left
   * half-done on this pool (a suspended origin, an unreported thin id, a discard helper:
   * their intent records, docs/crash-safety.md) is recovered, as `dm.recover()` would.
   */
  static async open(dm: DeviceMapper, device: string | DeviceId, options: OpenThinPoolOptions = {}): Promise<ThinPool> {
    optionsArg(options, 'options', CALL_OPTIONS);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    blockIoFor(dm, 'dm');
    return runOn(dm, 'ThinPool.open', { signal: options.signal, timeoutMs }, async (op) => {
      const t = await op.step('table', () => dm.table(device));
      const params = poolParamsOf(t.targets, t.device.name);
      const pool = identityOf(t.device);
      // The pool's own devices: itself, its thins (THIN-<id>-<pool>) and its discard helpers.
      const thinOfPool = (uuid: string) => uuid.startsWith('THIN-') && uuid.endsWith(`-${pool.name}`) && /^\d+$/.test(uuid.slice(5, -pool.name.length - 1));
      await op.step('recovering', () => recover(dm, { signal: op.signal }, recordsNaming((d) => (pool.uuid !== null && d.uuid === pool.uuid) || d.name === pool.name
        || (d.uuid !== null && thinOfPool(d.uuid)))));
      return new ThinPool(dm, timeoutMs, pool, params, {}, false);
    });
  }

  /** Runs one call of this pool on the operation core, bounded by its `timeoutMs` or the pool's. */
  #run<T>(name: string, options: ThinPoolCallOptions & { onProgress?: OperationOptions['onProgress']; retries?: number }, body: (op: Operation) => Promise<T>): Promise<T> {
    return runOn(this.#dm, `ThinPool.${name}`, {
      signal: options.signal, timeoutMs: options.timeoutMs ?? this.#timeoutMs, onProgress: options.onProgress, retries: options.retries,
    }, body);
  }

  // ------------------------------------------------------------------ status ---

  /** The pool's status, typed (`health: 'fail' | 'error'` when the pool has failed), with the block sizes its counts are in. */
  async status(options: ThinPoolCallOptions & { noflush?: boolean } = {}): Promise<PoolStatus> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, noflush: 'boolean' });
    return this.#run('status', options, (op) => this.#status(op, options.noflush));
  }

  async #status(op: Operation, noflush?: boolean): Promise<PoolStatus> {
    const label = `status of pool ${this.name}`;
    const r = await op.step(label, () => this.#dm.status(addressOf(this.#id), noflush === undefined ? {} : { noflush }));
    op.check('status', this.#id, r.device, label);
    const line = r.targets[0];
    if (r.targets.length !== 1 || !line || line.type !== 'thin-pool') throw new DmOperationError('WRONG_TARGET', `${this.name} no longer has a thin-pool table`);
    const s = parseStatus(line);
    return { ...(s as { status: ThinPoolStatus }).status, ...blockSizes(this.#params) };
  }

  async #healthy(op: Operation): Promise<ThinPoolHealthyStatus> {
    const s = await this.#status(op);
    if (s.health !== 'ok') throw new DmOperationError('POOL_STATE', `pool ${this.name} reports ${s.health === 'fail' ? 'Fail' : 'Error'}`);
    return s as ThinPoolHealthyStatus;
  }

  /** The status, or DmOperationError POOL_STATE when the pool has failed. */
  async healthyStatus(options: ThinPoolCallOptions = {}): Promise<ThinPoolHealthyStatus> {
    optionsArg(options, 'options', CALL_OPTIONS);
    return this.#run('healthyStatus', options, (op) => this.#healthy(op));
  }

  /** The pool's transaction id (what `setTransactionId` last stored; 0 in a new pool). */
  async transactionId(options: ThinPoolCallOptions = {}): Promise<bigint> {
    optionsArg(options, 'options', CALL_OPTIONS);
    return this.#run('transactionId', options, async (op) => (await this.#healthy(op)).transactionId);
  }

  /**
   * `set_transaction_id <current> <next>`: callers tie pool changes to their own metadata
   * (containerd-style stores) by bumping it with each change. `current` defaults to the
   * pool's; give it to make the change conditional (EINVAL from the kernel if it moved).
   */
  async setTransactionId(next: bigint | number, options: ThinPoolCallOptions & { current?: bigint | number } = {}): Promise<void> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, current: 'any' });
    const n = checkU64(next, 'next');
    const given = options.current === undefined ? undefined : checkU64(options.current, 'current');
    await this.#run('setTransactionId', options, async (op) => {
      const cur = given ?? (await this.#healthy(op)).transactionId;
      await this.#message(op, thinPoolMessage.setTransactionId(cur, n), 'set_transaction_id');
    });
  }

  /** `reserve_metadata_snap`: a consistent metadata root for thin_dump/thin_delta; returns its block (a metadata block number). */
  async reserveMetadataSnap(options: ThinPoolCallOptions = {}): Promise<bigint> {
    optionsArg(options, 'options', CALL_OPTIONS);
    return this.#run('reserveMetadataSnap', options, async (op) => {
      await this.#message(op, thinPoolMessage.reserveMetadataSnap(), 'reserve_metadata_snap');
      const held = (await this.#healthy(op)).heldMetadataRoot;
      if (held === null) throw new DmOperationError('POOL_STATE', `pool ${this.name} reports no held metadata root after reserve_metadata_snap`);
      return held;
    });
  }

  /** `release_metadata_snap`. */
  async releaseMetadataSnap(options: ThinPoolCallOptions = {}): Promise<void> {
    optionsArg(options, 'options', CALL_OPTIONS);
    await this.#run('releaseMetadataSnap', options, (op) => this.#message(op, thinPoolMessage.releaseMetadataSnap(), 'release_metadata_snap'));
  }

  /**
   * The pool's metadata as a consistent snapshot, readable while the pool runs: reserves the
   * metadata snapshot (`reserve_metadata_snap`), opens the metadata device on the snapshot's
   * superblock (its cached pages dropped first: docs/thin-metadata.md), and releases the
   * snapshot when the reader is closed (`await using`), or at once when opening fails or is
   * aborted. `metadataPath` names the metadata device when the table's `major:minor` is not
   * reachable as `/dev/block/<major>:<minor>`.
   */
  async openMetadata(options: ThinPoolCallOptions & { readonly metadataPath?: string } = {}): Promise<ThinMetadataReader> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, metadataPath: 'string' });
    const path = options.metadataPath ?? this.#metadataPath();
    const held = await this.reserveMetadataSnap({ signal: options.signal, timeoutMs: options.timeoutMs });
    // Not bound to the caller's signal: the reservation is released whatever stopped the read.
    const release = () => this.releaseMetadataSnap();
    try {
      return await openThinMetadataWith(path, { dm: this.#dm, metadataSnap: held, signal: options.signal, timeoutMs: options.timeoutMs }, release);
    } catch (e) {
      await release().catch((cleanup: unknown) => attachCleanupError(e, cleanup));
      throw e;
    }
  }

  /**
   * The next thin id no thin of this pool holds, active or not, read from the pool's
   * metadata (a metadata snapshot reserved and released around the read: `openMetadata`).
   * Choosing ids by scanning active tables can give the id of an inactive thin; this cannot.
   * Another process may still take the id before `createThin` sends it (EEXIST then).
   */
  async nextFreeThinId(options: ThinPoolCallOptions & NextFreeThinIdOptions & { readonly metadataPath?: string } = {}): Promise<number> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, metadataPath: 'string', policy: 'string', from: 'uint' });
    const { policy, from, metadataPath, signal, timeoutMs } = options;
    // Checked before the metadata snapshot is reserved: a bad option costs no message.
    if (policy !== undefined && policy !== 'lowest' && policy !== 'aboveHighest') throw new DmArgumentError('options.policy', "'lowest' or 'aboveHighest'", String(policy));
    if (from !== undefined && from > MAX_THIN_ID) throw new DmArgumentError('options.from', `a thin id (0 to ${MAX_THIN_ID})`, String(from));
    const metadata = await this.openMetadata({ signal, timeoutMs, ...(metadataPath === undefined ? {} : { metadataPath }) });
    try {
      return await nextFreeThinId(metadata, { signal, timeoutMs, policy, from });
    } finally {
      // Releases the metadata snapshot, whatever the read did.
      await metadata.close();
    }
  }

  /** The metadata device's path: the loop this pool attached, or the table's device (`major:minor` through /dev/block). */
  #metadataPath(): string {
    const dev = this.#loops.metadata?.path ?? this.#params.metadataDevice;
    return /^\d+:\d+$/.test(dev) ? `/dev/block/${dev}` : dev;
  }

  // ------------------------------------------------------------------- thins ---

  /** `create_thin <id>`: a new, empty thin device (EEXIST when the id is taken). */
  async createThin(id: number, options: ThinPoolCallOptions = {}): Promise<void> {
    checkId(id, 'id');
    optionsArg(options, 'options', CALL_OPTIONS);
    await this.#run('createThin', options, async (op) => this.#createId(op, id, thinPoolMessage.createThin(id), 'create_thin', await this.#probeId(op, id)));
  }

  /**
   * `create_snap <newId> <originId>`. When the origin is active (`activeOrigin`, a device
   * with its `THIN-<id>-<pool>` uuid, or else the one device whose live table maps it — more
   * than one is refused with EBUSY), it is suspended first (its filesystem is
   * frozen and I/O flushed, so the snapshot is consistent) and resumed afterwards, by its
   * uuid — also when the message fails, the signal aborts, `timeoutMs` passes or the client
   * is closed (a suspend that finishes late is resumed then). An origin someone else had
   * suspended is left suspended.
   */
  async snapshot(newId: number, originId: number, options: ThinPoolCallOptions & { activeOrigin?: DeviceId | string } = {}): Promise<void> {
    checkId(newId, 'newId');
    checkId(originId, 'originId');
    optionsArg(options, 'options', { ...CALL_OPTIONS, activeOrigin: 'any' });
    // One snapshot of an origin at a time through this pool: a second caller would see the
    // origin suspended by the first, skip its own suspend/resume, and could send create_snap
    // after the first resumed it (a snapshot of a running filesystem).
    const previous = this.#originLocks.get(originId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const chained = previous.then(() => mine);
    this.#originLocks.set(originId, chained);
    try {
      await this.#run('snapshot', options, async (op) => {
        // The wait is a step of the operation: the caller's signal and timeoutMs end it. Our
        // link releases at once then, and the next snapshot still waits for `previous` (chained).
        await op.step(`waiting for another snapshot of thin ${originId}`, () => previous);
        return this.#snapshot(op, newId, originId, options.activeOrigin);
      });
    } finally {
      release();
      if (this.#originLocks.get(originId) === chained) this.#originLocks.delete(originId);
    }
  }

  async #snapshot(op: Operation, newId: number, originId: number, activeOrigin: DeviceId | string | undefined): Promise<void> {
    // Probed before the origin is suspended: the origin's I/O waits for no more than the snapshot itself.
    const probe = await this.#probeId(op, newId);
    const createSnap = () => this.#createId(op, newId, thinPoolMessage.createSnap(newId, originId), 'create_snap', probe);
    const origin = activeOrigin ?? await this.#activeThin(op, originId) ?? await this.#foreignOrigin(op, originId);
    if (origin === undefined) return createSnap();
    let before = await op.step('origin info', () => this.#dm.info(origin));
    if (before.exists && before.flags.suspended) {
      // Suspended: by its user, or by an operation whose process died (its record says so).
      // The dead one's suspend is taken back first, so this snapshot does not leave it so.
      const o = identityOf(before);
      const report = await op.step('recovering', () => recover(this.#dm, { signal: op.signal }, recordsNaming((d) => (o.uuid !== null && d.uuid === o.uuid) || (o.uuid === null && d.name === o.name))));
      if (report.operations.length) before = await op.step('origin info', () => this.#dm.info(origin));
    }
    if (!before.exists || before.flags.suspended) return createSnap();
    const id = identityOf(before);
    // On the engine, suspend → create_snap → resume go as one chain (lib/operations/snapshot-chain.ts).
    if (await this.#snapshotChained(op, id, newId, thinPoolMessage.createSnap(newId, originId), probe)) {
      op.commit();
      return;
    }
    await suspendStep(op, this.#dm, id, {}, `suspending ${id.name}`, false, before);
    await createSnap();
    await resumeStep(op, this.#dm, id, {}, `resuming ${id.name}`);
    op.commit();
  }

  /**
   * `delete <id>`. With `discard`, the thin's blocks are discarded first (BLKDISCARD through
   * a short-lived activation sized to its highest mapped block), so a pool with discard
   * passdown gives the space back to the disk under it (skipped on an `ignoreDiscard` pool,
   * which refuses discards); `onProgress` reports each step. A thin that is active (its
   * `THIN-<id>-<pool>` device exists; with `discard`, also when any device's live or inactive
   * table has a thin line over this pool for `id`: dmsetup's, another tool's) is refused with
   * EBUSY, naming that device, before anything is discarded.
   * A discard of a large thin can take long: give `timeoutMs` to match.
   */
  async delete(id: number, options: DeleteThinOptions = {}): Promise<void> {
    checkId(id, 'id');
    optionsArg(options, 'options', { ...CALL_OPTIONS, discard: 'boolean', onProgress: 'function' });
    await this.#run('delete', options, async (op) => {
      const active = await this.#activeThin(op, id);
      if (active) throw new DmOperationError('EBUSY', `thin ${id} of pool ${this.name} is active as ${active.uuid}; deactivate it first`);
      // A discard needs proof nobody else maps the thin (no THIN-<id>-<pool> uuid: dmsetup's,
      // another tool's): discarding through our helper would destroy the data that device
      // serves, and the kernel would then refuse the delete anyway. A plain delete is left to
      // the kernel's own EBUSY (reading every device's table would cost one call per device).
      const [mapper] = options.discard === true ? await this.#mappersOf(op, id, { staged: true, first: true }) : [];
      if (mapper) {
        const by = `${mapper.identity.name}${mapper.inactive ? ' (its inactive table)' : ''}`;
        throw new DmOperationError('EBUSY', `thin ${id} of pool ${this.name} is mapped by ${by}; remove that device first`);
      }
      // A pool with ignore_discard refuses discards (EOPNOTSUPP) and has nothing to pass down.
      const discard = options.discard === true && !this.#params.ignoreDiscard;
      const total = discard ? 4 : 1;
      if (discard) await this.#discardThin(op, id, total);
      await this.#message(op, thinPoolMessage.delete(id), 'delete');
      op.progress(`deleted thin ${id}`, total, total);
    });
  }

  /**
   * Activates thin `id` as a device (`thin` target over this pool) named `name` with uuid
   * `THIN-<id>-<pool>`. ENODATA from the kernel when the pool has no such thin.
   */
  async activate(id: number, options: ActivateOptions): Promise<ThinDevice> {
    checkId(id, 'id');
    optionsArg(options, 'options', { ...CALL_OPTIONS, name: 'any', sizeSectors: 'any', externalOrigin: 'string', readOnly: 'boolean' }, ['name', 'sizeSectors']);
    const name = checkName(options.name, 'name');
    const sizeSectors = checkU64(options.sizeSectors, 'sizeSectors');
    if (sizeSectors === 0n) throw new DmOperationError('INVALID_INPUT', 'sizeSectors must be at least 1');
    const uuid = this.#thinUuid(id);
    const table = toTargetSpecs([{
      start: 0, length: sizeSectors, type: 'thin', poolDevice: `${this.#id.dev.major}:${this.#id.dev.minor}`, deviceId: id,
      ...(options.externalOrigin === undefined ? {} : { externalOrigin: options.externalOrigin }),
    }]);
    const made = await this.#run('activate', options, (op) => createStep(op, this.#dm, { name, uuid, table, readOnly: options.readOnly }, `activating thin ${id}`));
    this.#activated.add(made.uuid ?? made.name);
    return { id, name: made.name, uuid: made.uuid, dev: { major: made.dev.major, minor: made.dev.minor }, path: `/dev/dm-${made.dev.minor}`, sizeSectors };
  }

  /** Removes an activated thin device (by its ThinDevice, id or name). The thin stays in the pool. */
  async deactivate(device: ThinDevice | number | string, options: DeactivateOptions = {}): Promise<void> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, deferred: 'boolean', retries: 'any', force: 'boolean' });
    const given: DeviceId = typeof device === 'number' ? { uuid: this.#thinUuid(checkId(device, 'id')) }
      : typeof device === 'string' ? { name: checkName(device, 'device') } : thinDeviceAddress(device);
    await this.#run('deactivate', options, async (op) => {
      // By name or object the caller may name any device: only a thin of this pool is removed.
      // The thin found so is removed only while it is still that device (uuid and dev; identity.ts removeOurs).
      const own = typeof device === 'number' ? undefined : await this.#ownThin(op, given);
      const address = own ? addressOf(own) : given;
      // Without a uuid, a stranger made under the name at the freed minor has our very identity
      // (name, no uuid, dev): only its table tells it apart. So the table is read again right
      // before the remove (verify-then-remove, the window between the two calls remaining as
      // docs/identity.md says), and a device that is no longer this pool's thin is left alone.
      if (own && !own.uuid) await this.#stillOwnThin(op, own);
      try {
        await op.step('remove', () => this.#dm.removeDevice(address, { deferred: options.deferred, retries: options.retries, signal: op.signal, expect: own }));
      } catch (e) {
        if (!options.force || !(e instanceof DmError) || e.errno !== ERRNO.EBUSY) throw e;
        // dmsetup remove --force: an error table in place of the thin, then remove (deferred if still open).
        const t = await op.step('table', () => this.#dm.table(address));
        if (own) op.check('table', own, t.device, 'force: table');
        const length = t.targets.reduce((s, l) => s + BigInt(l.length), 0n);
        const id = identityOf(t.device);
        // The error table is loaded and made live; if the resume fails the journal drops it and the thin stays as it was.
        await loadStep(op, this.#dm, id, [{ start: 0, length, type: 'error', params: '' }], `force: loading an error table into ${id.name}`);
        await resumeStep(op, this.#dm, id, {}, `force: resuming ${id.name}`);
        op.commit();
        await op.step('remove', () => this.#dm.removeDevice(addressOf(id), { deferred: true, retries: 1, expect: id }));
      }
      this.#forget(address);
    });
  }

  /** The active thin devices of this pool (by their `THIN-<id>-<pool>` uuids). */
  async activeThins(options: ThinPoolCallOptions = {}): Promise<{
    /** The thin's device id in the pool. */
    id: number;
    /** The mapped device's name. */
    name: string;
    /** Its `THIN-<id>-<pool>` uuid. */
    uuid: string;
    /** Its device number. */
    dev: {
      /** Major number. */
      major: number;
      /** Minor number. */
      minor: number;
    };
  }[]> {
    optionsArg(options, 'options', CALL_OPTIONS);
    return this.#run('activeThins', options, async (op) => {
      const out: { id: number; name: string; uuid: string; dev: { major: number; minor: number } }[] = [];
      for (const d of await op.step('list', () => this.#dm.list())) {
        const uuid = d.uuid === undefined ? await this.#uuidOf(op, d.name) : d.uuid;
        const m = uuid ? THIN_UUID.exec(uuid) : null;
        if (m && m[2] === this.#thinUuidPool()) out.push({ id: Number(m[1]), name: d.name, uuid: uuid!, dev: { major: d.dev.major, minor: d.dev.minor } });
      }
      return out;
    });
  }

  // ------------------------------------------------------------------ resize ---

  /**
   * Reloads the pool bigger: file-backed devices are grown to the given bytes and their loop
   * devices told (LOOP_SET_CAPACITY); the table is reloaded with the data device's new size
   * (whole blocks) and resumed; the kernel grows the metadata space at resume when the
   * metadata device grew. Thin devices stay active. Returns the new status. A file grown
   * here stays grown if a later step fails (a file is never shrunk under a pool).
   */
  async resize(options: ResizeOptions = {}): Promise<ThinPoolHealthyStatus> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, dataBytes: 'any', metadataBytes: 'any' });
    const grow: { k: 'data' | 'metadata'; bytes: bigint; loop: OwnedLoop }[] = [];
    for (const k of ['data', 'metadata'] as const) {
      const given = k === 'data' ? options.dataBytes : options.metadataBytes;
      if (given === undefined) continue;
      const bytes = checkFileBytes(given, `${k}Bytes`);
      const loop = this.#loops[k];
      if (!loop) throw new DmOperationError('INVALID_INPUT', `the ${k} device is not a file this pool attached; grow the block device, then call resize() without ${k}Bytes`);
      grow.push({ k, bytes, loop });
    }
    return this.#run('resize', options, async (op) => {
      for (const g of grow) {
        await op.step(`growing ${g.loop.file}`, () => this.#io.ensureFile(g.loop.file, g.bytes));
        await op.step(`refreshing ${g.loop.path}`, () => this.#io.refreshLoop(g.loop.path));
      }
      return this.#reload(op, {});
    });
  }

  /**
   * Loads the pool's table again with changed features or low-water mark (and the data
   * device's current size), then resumes it: the table swap is where the kernel applies
   * them. `readOnly: true` puts the pool in `ro` mode, `false` back to `rw`. If the resume
   * fails the loaded table is dropped and the pool is as it was.
   */
  async reload(changes: ReloadOptions = {}): Promise<ThinPoolHealthyStatus> {
    optionsArg(changes, 'changes', { ...FEATURE_OPTIONS, ...CALL_OPTIONS, lowWaterMarkBlocks: 'any' });
    if (changes.lowWaterMarkBlocks !== undefined) checkU64(changes.lowWaterMarkBlocks, 'lowWaterMarkBlocks');
    return this.#run('reload', changes, (op) => this.#reload(op, changes));
  }

  async #reload(op: Operation, changes: PoolFeatures & { lowWaterMarkBlocks?: bigint | number }): Promise<ThinPoolHealthyStatus> {
    const current = this.#params;
    const facts = tableFacts(current);
    const lowWaterMarkBlocks = changes.lowWaterMarkBlocks === undefined ? facts.lowWaterMarkBlocks : checkU64(changes.lowWaterMarkBlocks, 'lowWaterMarkBlocks');
    const features = featureFlags({
      skipBlockZeroing: changes.skipBlockZeroing ?? current.skipBlockZeroing, ignoreDiscard: changes.ignoreDiscard ?? current.ignoreDiscard,
      noDiscardPassdown: changes.noDiscardPassdown ?? current.noDiscardPassdown, errorIfNoSpace: changes.errorIfNoSpace ?? current.errorIfNoSpace,
      readOnly: changes.readOnly ?? current.readOnly,
    });
    const params = poolParams({ metadata: current.metadataDevice, data: current.dataDevice }, facts.blockSizeSectors, lowWaterMarkBlocks, features);
    const dataDevice = this.#loops.data?.path ?? current.dataDevice;
    const sectors = (await op.step(`size of ${dataDevice}`, () => this.#io.sizeBytes(dataDevice))) / 512n;
    const length = sectors - (sectors % facts.blockSizeSectors);
    // Our resume would make someone else's suspension of the pool end under them (and our load
    // take their inactive slot): refused, as FaultyDevice.setMode refuses (docs/thin-and-faults.md).
    const held = (i: { readonly flags: { readonly suspended: boolean } }) => {
      if (i.flags.suspended) throw new DmOperationError('EBUSY', `pool ${this.name} is suspended by someone else; not reloaded (resuming it would end their suspension)`);
    };
    const before = await op.step(`info of pool ${this.name}`, () => this.#dm.info(addressOf(this.#id)));
    if (before.exists) { op.check('info', this.#id, before); held(before); }
    held(await loadStep(op, this.#dm, this.#id, toTargetSpecs([{ start: 0, length, type: 'thin-pool', ...params }]), `loading pool ${this.name}`));
    await resumeStep(op, this.#dm, this.#id, {}, `resuming pool ${this.name}`);
    op.commit();
    this.#params = params;
    return this.#healthy(op);
  }

  // ------------------------------------------------------------------ health ---

  /** Pool conditions as they change (low water, out of data space, read-only, needs_check, failed). */
  conditions(options: PoolConditionsOptions = {}): AsyncIterableIterator<PoolCondition> {
    optionsArg(options, 'options', { signal: 'signal', timeoutMs: 'any', initial: 'boolean' });
    return poolConditions(this.#dm, { name: this.name, uuid: this.uuid, dev: this.dev }, options);
  }

  // ---------------------------------------------------------------- lifetime ---

  /**
   * Removes the pool device and detaches the loop devices it attached. Active thins make
   * the kernel refuse (EBUSY); deactivate them first. The pool's metadata stays on its
   * metadata device (files are kept): `create` over the same files brings the thins back.
   */
  async destroy(options: ThinPoolCallOptions & { retries?: number } = {}): Promise<void> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, retries: 'any' });
    await this.#run('destroy', options, async (op) => {
      await op.step(`removing pool ${this.name}`, () => this.#dm.removeDevice(addressOf(this.#id), { retries: options.retries, signal: op.signal, expect: this.#id }));
      await this.#detachLoops(op);
    });
  }

  /**
   * Releases what this pool owns (see the class's doc): for a pool made by `create`, the
   * thin devices it activated, the pool device and its loop devices; nothing for one from
   * `open`. What is already gone is skipped.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#owned) return;
    await this.#run('dispose', {}, async (op) => {
      for (const key of [...this.#activated]) {
        const at: DeviceId = key.startsWith('THIN-') ? { uuid: key } : { name: key };
        await op.step(`removing ${key}`, () => removeIfThere(this.#dm, at, { signal: op.signal }));
        this.#activated.delete(key);
      }
      await op.step(`removing pool ${this.name}`, () => removeIfThere(this.#dm, addressOf(this.#id), { signal: op.signal, expect: this.#id }));
      await this.#detachLoops(op);
    });
  }

  async #detachLoops(op: Operation): Promise<void> {
    for (const k of ['data', 'metadata'] as const) {
      const l = this.#loops[k];
      if (!l) continue;
      await op.step(`detaching ${l.path}`, () => this.#io.detachLoop(l.path).catch((e: unknown) => { if (!isGone(e)) throw e; }));
      delete this.#loops[k];
    }
  }

  // ----------------------------------------------------------------- private ---

  async #message(op: Operation, text: string, what: string): Promise<void> {
    await op.step(`${what} on pool ${this.name}`, () => this.#dm.message(addressOf(this.#id), 0, text));
  }

  /**
   * A message that creates thin `id` (create_thin, create_snap), in the operation's intent
   * record: a process that dies before its caller learned of the id leaves recover() to
   * delete it, and only once its create was confirmed ('created'): a create whose reply was
   * never seen may have lost to another process's create of the same id, so recovery reports
   * that id and never deletes it. The probe (`create_snap <id> <id>` changes nothing and
   * answers EEXIST when the id exists, ENODATA when it does not: dm-thin-metadata.c
   * __create_snap looks the new id up first) keeps an id that exists out of the record.
   */
  async #createId(op: Operation, id: number, text: string, what: string, probe: 'exists' | 'absent' | 'unknown'): Promise<void> {
    if (probe === 'exists') return this.#message(op, text, what); // the kernel's own EEXIST follows
    const absentBefore = probe === 'absent';
    const slot = `thin-id:${id}`;
    const pool = intentDevice(this.#id);
    op.intent(slot, { kind: 'thin-id', pool, id, phase: 'sending', absentBefore });
    try {
      await this.#message(op, text, what);
    } catch (e) {
      if (!op.signal.aborted) op.settle(slot); // refused by the kernel: nothing was made (one that may still land stays recorded)
      throw e;
    }
    op.intent(slot, { kind: 'thin-id', pool, id, phase: 'created', absentBefore });
  }

  /** The snapshot of an active origin as one engine chain, with #createId's intent record; false when it could not be sent. */
  #snapshotChained(op: Operation, origin: DeviceIdentity, id: number, text: string, probe: 'exists' | 'absent' | 'unknown'): Promise<boolean> {
    const slot = `thin-id:${id}`;
    const pool = intentDevice(this.#id);
    const absentBefore = probe === 'absent';
    const recorded = probe !== 'exists'; // an id that exists is not recorded: the kernel's own EEXIST follows
    return snapshotChained(op, this.#dm, {
      origin, pool: addressOf(this.#id), message: text,
      thinIntent: recorded ? (phase) => op.intent(slot, { kind: 'thin-id', pool, id, phase, absentBefore }) : undefined,
      settleThin: recorded ? () => op.settle(slot) : undefined,
    });
  }

  /** Whether thin `id` exists, asked without changing anything (see #createId). */
  async #probeId(op: Operation, id: number): Promise<'exists' | 'absent' | 'unknown'> {
    try {
      await op.step(`probing thin id ${id}`, () => this.#dm.message(addressOf(this.#id), 0, thinPoolMessage.createSnap(id, id)));
    } catch (e) {
      if (e instanceof DmError && e.errno === ERRNO.EEXIST) return 'exists';
      if (e instanceof DmError && e.errno === ERRNO.ENODATA) return 'absent';
      if (op.signal.aborted) throw e;
      return 'unknown';
    }
    return 'unknown'; // cannot happen (an id cannot be its own origin): never taken as absent
  }

  #forget(address: DeviceId): void {
    if ('uuid' in address && typeof address.uuid === 'string') this.#activated.delete(address.uuid);
    if ('name' in address && typeof address.name === 'string') this.#activated.delete(address.name);
  }

  #thinUuidPool(): string { return this.#id.name; }

  #thinUuid(id: number): string {
    const uuid = thinDeviceUuid(this.#thinUuidPool(), id);
    if (uuidBytes(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `the pool name is too long for the thin uuid ${JSON.stringify(uuid)} (128 bytes at most)`);
    return uuid;
  }

  /** The identity of `device` if its table is one thin line over this pool; WRONG_TARGET otherwise. */
  async #ownThin(op: Operation, device: DeviceId): Promise<DeviceIdentity> {
    const t = await op.step(`table of ${JSON.stringify(device)}`, () => this.#dm.table(device));
    const line = t.targets[0];
    const p = t.targets.length === 1 && line && line.type === 'thin' ? parseTarget(line) : undefined;
    const pool = `${this.#id.dev.major}:${this.#id.dev.minor}`;
    if (!p || p.type !== 'thin' || p.poolDevice !== pool) {
      throw new DmOperationError('WRONG_TARGET', `${t.device.name} is not a thin device of pool ${this.name} (its table is ${t.targets.map((l) => l.type).join(', ') || 'empty'})`);
    }
    return identityOf(t.device);
  }

  /** DmIdentityError unless the device at `own`'s address is still `own` with one thin line over this pool. */
  async #stillOwnThin(op: Operation, own: DeviceIdentity): Promise<void> {
    const t = await op.step(`table of ${own.name} before its removal`, async () => {
      try {
        return await this.#dm.table(addressOf(own));
      } catch (e) {
        if (isGone(e)) return undefined;
        throw e;
      }
    });
    if (t === undefined) return; // gone: the removal finds nothing (ENXIO), as before
    op.check('table', own, t.device, 'deactivate: table');
    const line = t.targets[0];
    const p = t.targets.length === 1 && line && line.type === 'thin' ? parseTarget(line) : undefined;
    if (!p || p.type !== 'thin' || p.poolDevice !== `${this.#id.dev.major}:${this.#id.dev.minor}`) {
      throw new DmIdentityError('deactivate: table', own, identityOf(t.device), false);
    }
  }

  /**
   * The devices whose live (or, with `staged`, inactive) table has a thin line over this pool
   * for thin `id`: every device is read, whoever activated it under whatever name. With
   * `first`, stops at the first one found.
   */
  async #mappersOf(op: Operation, id: number, o: { staged: boolean; first: boolean }): Promise<{ identity: DeviceIdentity; inactive: boolean }[]> {
    const pool = `${this.#id.dev.major}:${this.#id.dev.minor}`;
    const maps = (targets: readonly Parameters<typeof parseTarget>[0][]) => targets.some((l) => {
      if (l.type !== 'thin') return false;
      const p = parseTarget(l);
      return p.type === 'thin' && p.poolDevice === pool && p.deviceId === id;
    });
    const out: { identity: DeviceIdentity; inactive: boolean }[] = [];
    for (const d of await op.step('list', () => this.#dm.list())) {
      if (d.dev.major === this.#id.dev.major && d.dev.minor === this.#id.dev.minor) continue;
      const at: DeviceId = { dev: { major: d.dev.major, minor: d.dev.minor } };
      const read = (inactive: boolean) => op.step(`${inactive ? 'inactive ' : ''}table of ${d.name}`, async () => {
        try {
          return await this.#dm.table(at, { inactive });
        } catch (e) {
          if (isGone(e)) return undefined; // removed since the list: maps nothing
          throw e;
        }
      });
      const live = await read(false);
      if (live === undefined) continue;
      if (maps(live.targets)) out.push({ identity: identityOf(live.device), inactive: false });
      else if (o.staged && live.device.flags.inactivePresent) {
        const staged = await read(true);
        if (staged && maps(staged.targets)) out.push({ identity: identityOf(staged.device), inactive: true });
      }
      if (o.first && out.length > 0) break;
    }
    return out;
  }

  /**
   * The origin activated by someone else (no `THIN-<id>-<pool>` uuid), to be suspended as our
   * own would be: a snapshot of a thin that is written through an unsuspended table is not
   * consistent. Several such devices cannot be suspended as one: EBUSY, naming them.
   */
  async #foreignOrigin(op: Operation, originId: number): Promise<DeviceId | undefined> {
    const live = await this.#mappersOf(op, originId, { staged: false, first: false });
    if (live.length > 1) {
      throw new DmOperationError('EBUSY', `thin ${originId} of pool ${this.name} is mapped by ${live.map((m) => m.identity.name).join(', ')}; suspend them yourself, or pass activeOrigin for the one that is written`);
    }
    return live[0] ? addressOf(live[0].identity) : undefined;
  }

  async #uuidOf(op: Operation, name: string): Promise<string | null> {
    const i = await op.step(`info of ${name}`, () => this.#dm.info(name));
    return i.exists ? i.uuid || null : null;
  }

  async #activeThin(op: Operation, id: number): Promise<{ uuid: string } | undefined> {
    const uuid = this.#thinUuid(id);
    const i = await op.step(`info of thin ${id}`, () => this.#dm.info({ uuid }));
    return i.exists ? { uuid } : undefined;
  }

  /**
   * Activates the thin briefly (one block, then sized to its highest mapped block) and
   * discards it. The helper device is removed on every path: by the journal when a step
   * fails (its removal failing is attached as cleanupError), explicitly when all went well.
   */
  async #discardThin(op: Operation, id: number, total: number): Promise<void> {
    const name = discardHelperName(this.name, id);
    const uuid = this.#thinUuid(id);
    const bs = tableFacts(this.#params).blockSizeSectors;
    const table = (length: bigint) => toTargetSpecs([{ start: 0, length, type: 'thin', poolDevice: `${this.#id.dev.major}:${this.#id.dev.minor}`, deviceId: id }]);
    // Recorded first: a process that dies with the helper active leaves recover() to remove it.
    const temporary = slotOf('temporary', { name, uuid });
    op.intent(temporary, { kind: 'temporary', device: intentDevice({ name, uuid }) });
    const tid = await createStep(op, this.#dm, { name, uuid, table: table(bs) }, `activating thin ${id} to discard it`);
    op.intent(temporary, { kind: 'temporary', device: intentDevice(tid) });
    op.progress(`activated ${name}`, 1, total);
    const at = addressOf(tid);
    const st = await op.step(`status of ${name}`, () => this.#dm.status(at));
    op.check('status', tid, st.device, 'discard: status');
    const line = st.targets[0];
    const parsed = line ? parseStatus(line) : undefined;
    const highest = parsed && parsed.type === 'thin' && parsed.status.health === 'ok' ? parsed.status.highestMappedSector : null;
    if (highest !== null) {
      const length = ((highest + 1n + bs - 1n) / bs) * bs;
      await loadStep(op, this.#dm, tid, table(length), `discard: loading ${name}`);
      await resumeStep(op, this.#dm, tid, {}, `discard: resuming ${name}`);
      const node = `/dev/dm-${tid.dev.minor}`;
      // From the discard on the thin's data is going: a process that dies now leaves recover() to finish the delete.
      op.intent(`thin-id:${id}`, { kind: 'thin-id', pool: intentDevice(this.#id), id, phase: 'deleting', absentBefore: false });
      const bytes = await op.step(`size of ${node}`, () => this.#io.sizeBytes(node));
      await op.step(`discarding ${node}`, () => this.#io.discard(node, 0n, bytes));
    }
    op.progress(`discarded thin ${id}`, 2, total);
    await op.step(`removing ${name}`, () => removeIfThere(this.#dm, at, { expect: tid }));
    op.settle(temporary);
    op.commit();
    op.progress(`removed ${name}`, 3, total);
  }
}

