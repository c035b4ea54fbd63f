/**
 * `ThinPool`: thin provisioning as container snapshotters use it (containerd's devmapper
 * snapshotter does this by running `dmsetup` and parsing its text), through the client's
 * ioctls: a pool over block devices or files (loop devices made here), thin devices,
 * snapshots that suspend an active origin themselves, deletes that discard first, resize,
 * the pool's transaction id and metadata snapshots, typed status, and pool conditions as
 * events (`conditions()`, thin-pool-events.ts).
 *
 * Every device made here gets a uuid (`THINPOOL-<pool>` for the pool, `THIN-<id>-<pool>` for
 * an activated thin), later steps address it by that uuid, and every reply that carries the
 * device's header is checked against the first step's name, uuid and dev. Kernel failures
 * are `DmError` with the kernel's errno; what this module refuses or detects itself is a
 * `DmOperationError` (`INVALID_INPUT` before any syscall, `WRONG_TARGET`, `ENXIO`,
 * `EBUSY`, `TIMEOUT`); a reply naming another device than the first step's is
 * `DmIdentityError` (`DEVICE_REPLACED`), as everywhere in the package. Kernel facts (message errnos, events, resize,
 * discard passdown): docs/thin-and-faults.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceId, TargetLine } from '../../codec/index.js';
import { operationScope, type DeviceMapper, type ScopeUndo } from '../client/client.js';
import { discardBlocks } from '../block/discard.js';
import { DmError } from '../errors.js';
import { attachCleanupError } from './cleanup-error.js';
import { attachLoop, blockDeviceSectors, detachLoop, refreshLoopCapacity } from '../block/loop-devices.js';
import { DmOperationError } from '../errors.js';
import { addressOf, bounded, checkIdentity, checkTimeout, clearQuietly, createBounded, identityOf, loadChecked, resumeChecked, type Identity } from './bounded-steps.js';
import { optionsArg, type OptionKind } from '../client/args.js';
import { parseStatus, parseTarget, toTargetSpecs } from '../targets/table.js';
import { thinPoolMessage, type ThinPoolParams, type ThinPoolStatus } from '../targets/thin.js';
import { poolConditions, type PoolCondition, type PoolConditionsOptions } from './thin-pool-events.js';
import { ERRNO } from '../../ffi/errors.js';

/** The block-device calls ThinPool makes besides dm ioctls; the simulator supplies its own. */
export interface ThinPoolIo {
  /** BLKDISCARD of a whole device. */
  discard(devicePath: string): Promise<void>;
  /** Attaches a file to a free loop device. */
  attachLoop(file: string): Promise<{
    /** The loop device's path, e.g. `/dev/loop3`. */
    readonly path: string;
  }>;
  /** Detaches a loop device made by `attachLoop`. */
  detachLoop(devicePath: string): Promise<void>;
  /** LOOP_SET_CAPACITY after its file grew. */
  refreshLoop(devicePath: string): Promise<void>;
  /** BLKGETSIZE64 / 512. */
  sectors(devicePath: string): Promise<bigint>;
  /** The node of a dm device (default `/dev/dm-<minor>`, which devtmpfs makes with or without udev). */
  nodePath(dev: { readonly major: number; readonly minor: number }): string;
  /** Creates `file` with `bytes` when missing, grows it to `bytes` when smaller. */
  ensureFile(file: string, bytes: bigint | undefined): Promise<void>;
}

/** The real kernel's block devices. */
export const realThinPoolIo: ThinPoolIo = {
  discard: async (p) => { await discardBlocks(p); },
  attachLoop: (file) => attachLoop(file),
  detachLoop: (p) => detachLoop(p),
  refreshLoop: async (p) => { await refreshLoopCapacity(p); },
  // An opened pool names its devices major:minor; without udev there is no /dev/block link, sysfs has the size.
  sectors: async (p) => (/^\d+:\d+$/.test(p) ? BigInt(fs.readFileSync(`/sys/dev/block/${p}/size`, 'utf8').trim()) : blockDeviceSectors(p)),
  nodePath: (dev) => `/dev/dm-${dev.minor}`,
  ensureFile: async (file, bytes) => {
    if (!fs.existsSync(file)) {
      if (bytes === undefined) throw new DmOperationError('INVALID_INPUT', `${file} does not exist; give bytes to create it`);
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      fs.writeFileSync(file, '', { flag: 'wx' });
    }
    if (bytes !== undefined && BigInt(fs.statSync(file).size) < bytes) fs.truncateSync(file, Number(bytes));
  },
};

/** A pool device: a block device path, or a file (attached to a loop device by the pool). */
export type PoolDeviceSpec = string | {
  /** The backing file (created when missing and `bytes` is given). */
  readonly file: string;
  /** The file's size in bytes: a smaller file is grown to it. */
  readonly bytes?: bigint | number;
};

/** The pool's feature arguments (dm-thin's `skip_block_zeroing`, `error_if_no_space`, …). */
export interface PoolFeatures {
  /** Do not zero newly provisioned blocks (containerd sets this). */
  readonly skipBlockZeroing?: boolean;
  /** Ignore discards (`ignore_discard`). */
  readonly ignoreDiscard?: boolean;
  /** Do not pass discards down to the data device (`no_discard_passdown`). */
  readonly noDiscardPassdown?: boolean;
  /** Fail writes at once when the pool is full instead of queueing them (60 s by default). */
  readonly errorIfNoSpace?: boolean;
  /** The pool refuses changes to its metadata (mode `ro`). */
  readonly readOnly?: boolean;
}

/** Options of {@link ThinPool.create}. */
export interface CreateThinPoolOptions extends PoolFeatures {
  /** The pool device's name. */
  readonly name: string;
  /** The data device (path, or a file to back with a loop device). */
  readonly data: PoolDeviceSpec;
  /** The metadata device (as `data`); its first block is zeroed, as a new pool needs. */
  readonly metadata: PoolDeviceSpec;
  /** Data block size in sectors: 128 (64 KiB, the default) … 2097152, a multiple of 128. */
  readonly blockSize?: number;
  /** Free data blocks at or below which the pool raises a low-water event (default 0). */
  readonly lowWaterMark?: bigint | number;
  /** Bound on each kernel step in ms (default 30000). */
  readonly timeoutMs?: number;
  /** The block-device calls (default: this host's; the simulator's from `simThinPoolIo`). */
  readonly io?: ThinPoolIo;
}

/** Options of {@link ThinPool.open}. */
export interface OpenThinPoolOptions {
  /** Bound on each kernel step in ms (default 30000). */
  readonly timeoutMs?: number;
  /** The block-device calls, as for `create`. */
  readonly io?: ThinPoolIo;
}

/** Options of {@link ThinPool.activate}. */
export interface ActivateOptions {
  /** The device's name. */
  readonly name: string;
  /** Virtual size in 512-byte sectors. */
  readonly size: bigint | number;
  /** A read-only block device outside the pool read where the thin has no block (the `thin` target's external origin). */
  readonly externalOrigin?: string;
  /** Activate read-only (DM_READONLY_FLAG). */
  readonly readOnly?: boolean;
}

/** Options of {@link ThinPool.deactivate}. */
export interface DeactivateOptions {
  /** Remove when last closed if it is open (DM_DEFERRED_REMOVE). */
  readonly deferred?: boolean;
  /** EBUSY attempts (default 25, 200 ms apart). */
  readonly retries?: number;
  /** Still open after the retries: replace its table with `error` (all I/O fails) and remove it (dmsetup --force). */
  readonly force?: boolean;
}

/** A thin device activated by `ThinPool.activate`. */
export interface ThinDevice {
  /** The thin's device id inside the pool. */
  readonly id: number;
  /** The mapped device's name. */
  readonly name: string;
  /** null when the thin device has no uuid. */
  readonly uuid: string | null;
  /** The mapped device's number. */
  readonly dev: {
    /** Major number. */
    readonly major: number;
    /** Minor number. */
    readonly minor: number;
  };
  /** `/dev/dm-<minor>`. */
  readonly path: string;
  /** Its virtual size in sectors. */
  readonly sectors: bigint;
}

/** Options of {@link ThinPool.resize}. */
export interface ResizeOptions {
  /** New size of a file-backed data device in bytes (grown, never shrunk). A block device: grow it first, then call resize. */
  readonly dataBytes?: bigint | number;
  /** New size of a file-backed metadata device in bytes. */
  readonly metadataBytes?: bigint | number;
}

/** The ok variant of ThinPoolStatus. */
export type ThinPoolHealthyStatus = Extract<ThinPoolStatus, { health: 'ok' }>;

// The options each public method takes: a misspelt option (`{ discrad: true }`) would be
// ignored and a null one a TypeError from deep inside; optionsArg refuses both before any
// syscall. Values are checked where they are used ('any'), with their own messages.
const FEATURE_OPTIONS = { skipBlockZeroing: 'boolean', ignoreDiscard: 'boolean', noDiscardPassdown: 'boolean', errorIfNoSpace: 'boolean', readOnly: 'boolean' } as const satisfies Record<string, OptionKind>;
const CREATE_OPTIONS = { ...FEATURE_OPTIONS, name: 'any', data: 'any', metadata: 'any', blockSize: 'any', lowWaterMark: 'any', timeoutMs: 'any', io: 'object' } as const satisfies Record<string, OptionKind>;

const POOL_UUID_PREFIX = 'THINPOOL-';
const THIN_UUID = /^THIN-(\d{1,8})-(.*)$/s;
const MAX_THIN_ID = 0xffffff;

function checkId(id: unknown, field: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_THIN_ID) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be an integer in 0…${MAX_THIN_ID} (24 bits), got ${String(id)}`);
  }
  return id;
}

function checkU64(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative integer below 2^64, got ${String(v)}`);
}

function checkName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new DmOperationError('INVALID_INPUT', `${field} must be a non-empty string`);
  return name;
}

/**
 * A backing file's size, at create and at resize alike: whole sectors (a loop device drops a
 * partial one), above 0, and within what a file offset holds (2^63 - 1; Node's truncate
 * takes a safe integer).
 */
function checkFileBytes(v: unknown, field: string): bigint {
  const b = checkU64(v, field);
  if (b === 0n || b % 512n !== 0n || b > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be a positive multiple of 512 up to ${Number.MAX_SAFE_INTEGER}, got ${b}`);
  }
  return b;
}

function uuidBytes(s: string): number { return Buffer.byteLength(s); }

/** The uuid ThinPool gives the pool device. */
export function thinPoolUuid(poolName: string): string { return `${POOL_UUID_PREFIX}${poolName}`; }
/** The uuid ThinPool gives an activated thin device. */
export function thinDeviceUuid(poolName: string, id: number): string { return `THIN-${id}-${poolName}`; }

interface OwnedLoop { readonly path: string; readonly file: string }

/** A thin pool. Create one with `ThinPool.create`, or take an existing one with `ThinPool.open`. */
export class ThinPool {
  readonly #dm: DeviceMapper;
  readonly #io: ThinPoolIo;
  readonly #timeout: number;
  #id: Identity;
  #params: ThinPoolParams;
  /** Snapshots in progress per origin id (serialised, see `snapshot`). */
  readonly #originLocks = new Map<number, Promise<void>>();
  /** Loop devices this pool attached (files), detached by `destroy`. */
  readonly #loops: { data?: OwnedLoop; metadata?: OwnedLoop };

  private constructor(dm: DeviceMapper, io: ThinPoolIo, timeout: number, id: Identity, params: ThinPoolParams, loops: { data?: OwnedLoop; metadata?: OwnedLoop }) {
    this.#dm = dm;
    this.#io = io;
    this.#timeout = timeout;
    this.#id = id;
    this.#params = params;
    this.#loops = loops;
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

  /**
   * Creates the pool device: files are created or grown to `bytes` and attached to loop
   * devices, the table is built from the data device's size (rounded down to whole
   * blocks), and the device is created with uuid `THINPOOL-<name>`. On failure every loop
   * device attached here is detached again.
   */
  static async create(dm: DeviceMapper, options: CreateThinPoolOptions): Promise<ThinPool> {
    optionsArg(options, 'options', CREATE_OPTIONS, ['name', 'data', 'metadata']);
    const name = checkName(options.name, 'name');
    const uuid = thinPoolUuid(name);
    if (uuidBytes(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `name is too long for the pool uuid ${JSON.stringify(uuid)} (128 bytes at most)`);
    const blockSize = options.blockSize ?? 128;
    if (!Number.isInteger(blockSize) || blockSize < 128 || blockSize > 2097152 || blockSize % 128 !== 0) {
      throw new DmOperationError('INVALID_INPUT', `blockSize must be a multiple of 128 in 128…2097152 sectors, got ${String(options.blockSize)}`);
    }
    const lowWaterMark = checkU64(options.lowWaterMark ?? 0, 'lowWaterMark');
    const timeout = checkTimeout(options.timeoutMs, 30_000);
    const io = options.io ?? realThinPoolIo;
    const specs = { data: checkSpec(options.data, 'data'), metadata: checkSpec(options.metadata, 'metadata') };
    const loops: { data?: OwnedLoop; metadata?: OwnedLoop } = {};
    try {
      const devices: Record<'data' | 'metadata', string> = { data: '', metadata: '' };
      for (const k of ['metadata', 'data'] as const) {
        const s = specs[k];
        if (typeof s === 'string') { devices[k] = s; continue; }
        await io.ensureFile(s.file, s.bytes === undefined ? undefined : BigInt(s.bytes));
        const loop = await io.attachLoop(s.file);
        loops[k] = { path: loop.path, file: s.file };
        devices[k] = loop.path;
      }
      const sectors = await io.sectors(devices.data);
      const length = sectors - (sectors % BigInt(blockSize));
      if (length === 0n) throw new DmOperationError('INVALID_INPUT', `the data device ${devices.data} is smaller than one block (${blockSize} sectors)`);
      const params: ThinPoolParams = {
        metadataDevice: devices.metadata, dataDevice: devices.data, blockSize, lowWaterMark,
        ...featureFlags(options),
      };
      const info = await createBounded(dm, { name, uuid, table: toTargetSpecs([{ start: 0, length, type: 'thin-pool', ...params }]) }, timeout, `creating pool ${name}`);
      return new ThinPool(dm, io, timeout, identityOf(info), params, loops);
    } catch (e) {
      for (const l of Object.values(loops)) await io.detachLoop(l.path).catch(() => {});
      throw e;
    }
  }

  /** Takes an existing pool device (made here or by anyone else) by name or id; its table must be a single thin-pool line. */
  static async open(dm: DeviceMapper, device: string | DeviceId, options: OpenThinPoolOptions = {}): Promise<ThinPool> {
    optionsArg(options, 'options', { timeoutMs: 'any', io: 'object' });
    const timeout = checkTimeout(options.timeoutMs, 30_000);
    const t = await dm.table(device);
    const params = poolParamsOf(t.targets, t.device.name);
    return new ThinPool(dm, options.io ?? realThinPoolIo, timeout, identityOf(t.device), params, {});
  }

  // ------------------------------------------------------------------ status ---

  /** The pool's status, typed (`health: 'fail' | 'error'` when the pool has failed). */
  async status(options: { noflush?: boolean } = {}): Promise<ThinPoolStatus> {
    optionsArg(options, 'options', { noflush: 'boolean' });
    const r = await bounded(this.#dm.status(addressOf(this.#id), options), this.#timeout, `status of pool ${this.name}`);
    checkIdentity(this.#id, r.device, 'status', `status of pool ${this.name}`);
    const line = r.targets[0];
    if (r.targets.length !== 1 || !line || line.type !== 'thin-pool') throw new DmOperationError('WRONG_TARGET', `${this.name} no longer has a thin-pool table`);
    const s = parseStatus(line);
    return (s as { status: ThinPoolStatus }).status;
  }

  /** The status, or DmOperationError POOL_STATE when the pool has failed. */
  async healthyStatus(): Promise<ThinPoolHealthyStatus> {
    const s = await this.status();
    if (s.health !== 'ok') throw new DmOperationError('POOL_STATE', `pool ${this.name} reports ${s.health === 'fail' ? 'Fail' : 'Error'}`);
    return s;
  }

  /** The pool's transaction id (what `setTransactionId` last stored; 0 in a new pool). */
  async transactionId(): Promise<bigint> {
    return (await this.healthyStatus()).transactionId;
  }

  /**
   * `set_transaction_id <current> <next>`: callers tie pool changes to their own metadata
   * (containerd-style stores) by bumping it with each change. `current` defaults to the
   * pool's; give it to make the change conditional (EINVAL from the kernel if it moved).
   */
  async setTransactionId(next: bigint | number, options: { current?: bigint | number } = {}): Promise<void> {
    optionsArg(options, 'options', { current: 'any' });
    const n = checkU64(next, 'next');
    const cur = options.current === undefined ? await this.transactionId() : checkU64(options.current, 'current');
    await this.#message(thinPoolMessage.setTransactionId(cur, n), 'set_transaction_id');
  }

  /** `reserve_metadata_snap`: a consistent metadata root for thin_dump/thin_delta; returns its block. */
  async reserveMetadataSnap(): Promise<bigint> {
    await this.#message(thinPoolMessage.reserveMetadataSnap(), 'reserve_metadata_snap');
    const held = (await this.healthyStatus()).heldMetadataRoot;
    if (held === null) throw new DmOperationError('POOL_STATE', `pool ${this.name} reports no held metadata root after reserve_metadata_snap`);
    return held;
  }

  /** `release_metadata_snap`. */
  async releaseMetadataSnap(): Promise<void> {
    await this.#message(thinPoolMessage.releaseMetadataSnap(), 'release_metadata_snap');
  }

  // ------------------------------------------------------------------- thins ---

  /** `create_thin <id>`: a new, empty thin device (EEXIST when the id is taken). */
  async createThin(id: number): Promise<void> {
    await this.#message(thinPoolMessage.createThin(checkId(id, 'id')), 'create_thin');
  }

  /**
   * `create_snap <newId> <originId>`. When the origin is active (a device with its
   * `THIN-<id>-<pool>` uuid, or `activeOrigin`), it is suspended first (its filesystem is
   * frozen and I/O flushed, so the snapshot is consistent) and resumed afterwards — also
   * when the message fails or a step times out (a suspend that finishes late is resumed
   * then). An origin someone else had suspended is left suspended.
   */
  async snapshot(newId: number, originId: number, options: { activeOrigin?: DeviceId | string } = {}): Promise<void> {
    checkId(newId, 'newId');
    checkId(originId, 'originId');
    optionsArg(options, 'options', { activeOrigin: 'any' });
    // One snapshot of an origin at a time through this pool: a second caller would see the
    // origin suspended by the first, skip its own suspend/resume, and could send create_snap
    // after the first resumed it (a snapshot of a running filesystem).
    const previous = this.#originLocks.get(originId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const chained = previous.then(() => mine);
    this.#originLocks.set(originId, chained);
    await previous;
    try {
      // An operation in flight for close(): the origin is resumed even if the client is closed mid-way.
      await this.#dm[operationScope]((undo) => this.#snapshot(newId, originId, options, undo));
    } finally {
      release();
      if (this.#originLocks.get(originId) === chained) this.#originLocks.delete(originId);
    }
  }

  async #snapshot(newId: number, originId: number, options: { activeOrigin?: DeviceId | string }, undo: ScopeUndo): Promise<void> {
    const origin = options.activeOrigin ?? await this.#activeThin(originId);
    if (origin === undefined) {
      await this.#message(thinPoolMessage.createSnap(newId, originId), 'create_snap');
      return;
    }
    const before = await this.#dm.info(origin);
    if (!before.exists) {
      await this.#message(thinPoolMessage.createSnap(newId, originId), 'create_snap');
      return;
    }
    const id = identityOf(before);
    const address = addressOf(id);
    if (before.flags.suspended) {
      await this.#message(thinPoolMessage.createSnap(newId, originId), 'create_snap');
      return;
    }
    const resume = () => resumeChecked(this.#dm, id, address, this.#timeout, `resuming ${id.name}`, 'resume origin', undefined, undo);
    let suspended = false;
    try {
      const s = await bounded(this.#dm.suspend(address), this.#timeout, `suspending ${id.name}`, () => { void resume().catch(() => {}); });
      suspended = true;
      checkIdentity(id, s, 'suspend', 'suspend origin');
      await this.#message(thinPoolMessage.createSnap(newId, originId), 'create_snap');
    } catch (e) {
      if (suspended) {
        try { await resume(); } catch (cleanup) { attachCleanupError(e, cleanup); }
      }
      throw e;
    }
    await resume();
  }

  /**
   * `delete <id>`. With `discard`, the thin's blocks are discarded first (BLKDISCARD through
   * a short-lived activation sized to its highest mapped block), so a pool with discard
   * passdown gives the space back to the disk under it (skipped on an `ignoreDiscard` pool,
   * which refuses discards). A thin that is active (its
   * `THIN-<id>-<pool>` device exists) is refused with BUSY before anything is discarded.
   */
  async delete(id: number, options: { discard?: boolean } = {}): Promise<void> {
    checkId(id, 'id');
    optionsArg(options, 'options', { discard: 'boolean' });
    const active = await this.#activeThin(id);
    if (active) throw new DmOperationError('EBUSY', `thin ${id} of pool ${this.name} is active as ${active.uuid}; deactivate it first`);
    // A pool with ignore_discard refuses discards (EOPNOTSUPP) and has nothing to pass down.
    if (options.discard && !this.#params.ignoreDiscard) await this.#discardThin(id);
    await this.#message(thinPoolMessage.delete(id), 'delete');
  }

  /**
   * Activates thin `id` as a device (`thin` target over this pool) named `name` with uuid
   * `THIN-<id>-<pool>`. ENODATA from the kernel when the pool has no such thin.
   */
  async activate(id: number, options: ActivateOptions): Promise<ThinDevice> {
    checkId(id, 'id');
    optionsArg(options, 'options', { name: 'any', size: 'any', externalOrigin: 'string', readOnly: 'boolean' }, ['name', 'size']);
    const name = checkName(options.name, 'name');
    const size = checkU64(options.size, 'size');
    if (size === 0n) throw new DmOperationError('INVALID_INPUT', 'size must be at least 1 sector');
    const uuid = this.#thinUuid(id);
    const table = toTargetSpecs([{
      start: 0, length: size, type: 'thin', poolDevice: `${this.#id.dev.major}:${this.#id.dev.minor}`, deviceId: id,
      ...(options.externalOrigin === undefined ? {} : { externalOrigin: options.externalOrigin }),
    }]);
    const info = await createBounded(this.#dm, { name, uuid, table, readOnly: options.readOnly }, this.#timeout, `activating thin ${id}`);
    return { id, name: info.name, uuid: info.uuid, dev: { major: info.dev.major, minor: info.dev.minor }, path: this.#io.nodePath(info.dev), sectors: size };
  }

  /** Removes an activated thin device (by its ThinDevice, id or name). The thin stays in the pool. */
  async deactivate(device: ThinDevice | number | string, options: DeactivateOptions = {}): Promise<void> {
    optionsArg(options, 'options', { deferred: 'boolean', retries: 'any', force: 'boolean' });
    const given: DeviceId = typeof device === 'number' ? { uuid: this.#thinUuid(checkId(device, 'id')) }
      : typeof device === 'string' ? { name: checkName(device, 'device') } : thinDeviceAddress(device);
    // By name or object the caller may name any device: only a thin of this pool is removed.
    const address = typeof device === 'number' ? given : await this.#ownThin(given);
    try {
      await this.#dm.removeDevice(address, { deferred: options.deferred, retries: options.retries });
    } catch (e) {
      if (!options.force || !(e instanceof DmError) || e.errno !== ERRNO.EBUSY) throw e;
      // dmsetup remove --force: an error table in place of the thin, then remove (deferred if still open).
      const t = await bounded(this.#dm.table(address), this.#timeout, `table of ${JSON.stringify(address)}`);
      const length = t.targets.reduce((s, l) => s + BigInt(l.length), 0n);
      const id = identityOf(t.device);
      const at = addressOf(id);
      await loadChecked(this.#dm, id, at, [{ start: 0, length, type: 'error', params: '' }], this.#timeout, `force: loading an error table into ${id.name}`);
      try {
        await resumeChecked(this.#dm, id, at, this.#timeout, `resuming ${id.name}`, 'force: resume');
      } catch (e2) {
        // The error table never went live: drop it, the thin stays as it was.
        await clearQuietly(this.#dm, at);
        throw e2;
      }
      await this.#dm.removeDevice(at, { deferred: true, retries: 1 });
    }
  }

  /** The active thin devices of this pool (by their `THIN-<id>-<pool>` uuids). */
  async activeThins(): Promise<{
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
    const out: { id: number; name: string; uuid: string; dev: { major: number; minor: number } }[] = [];
    for (const d of await this.#dm.list()) {
      const uuid = d.uuid === undefined ? await this.#uuidOf(d.name) : d.uuid;
      const m = uuid ? THIN_UUID.exec(uuid) : null;
      if (m && m[2] === this.#thinUuidPool()) out.push({ id: Number(m[1]), name: d.name, uuid: uuid!, dev: { major: d.dev.major, minor: d.dev.minor } });
    }
    return out;
  }

  // ------------------------------------------------------------------ resize ---

  /**
   * Reloads the pool bigger: file-backed devices are grown to the given bytes and their loop
   * devices told (LOOP_SET_CAPACITY); the table is reloaded with the data device's new size
   * (whole blocks) and resumed; the kernel grows the metadata space at resume when the
   * metadata device grew. Thin devices stay active. Returns the new status.
   */
  async resize(options: ResizeOptions = {}): Promise<ThinPoolHealthyStatus> {
    optionsArg(options, 'options', { dataBytes: 'any', metadataBytes: 'any' });
    const grow = { data: options.dataBytes, metadata: options.metadataBytes };
    for (const k of ['data', 'metadata'] as const) {
      const bytes = grow[k];
      if (bytes === undefined) continue;
      const b = checkFileBytes(bytes, `${k}Bytes`);
      const loop = this.#loops[k];
      if (!loop) throw new DmOperationError('INVALID_INPUT', `the ${k} device is not a file this pool attached; grow the block device, then call resize() without ${k}Bytes`);
      await this.#io.ensureFile(loop.file, b);
      await this.#io.refreshLoop(loop.path);
    }
    return this.reload({});
  }

  /**
   * Loads the pool's table again with changed features or low-water mark (and the data
   * device's current size), then resumes it: the table swap is where the kernel applies
   * them. `readOnly: true` puts the pool in `ro` mode, `false` back to `rw`.
   */
  async reload(changes: PoolFeatures & { lowWaterMark?: bigint | number } = {}): Promise<ThinPoolHealthyStatus> {
    optionsArg(changes, 'changes', { ...FEATURE_OPTIONS, lowWaterMark: 'any' });
    const lowWaterMark = changes.lowWaterMark === undefined ? this.#params.lowWaterMark : checkU64(changes.lowWaterMark, 'lowWaterMark');
    const current = this.#params;
    const features = featureFlags({
      skipBlockZeroing: changes.skipBlockZeroing ?? current.skipBlockZeroing, ignoreDiscard: changes.ignoreDiscard ?? current.ignoreDiscard,
      noDiscardPassdown: changes.noDiscardPassdown ?? current.noDiscardPassdown, errorIfNoSpace: changes.errorIfNoSpace ?? current.errorIfNoSpace,
      readOnly: changes.readOnly ?? current.readOnly,
    });
    const params: ThinPoolParams = { metadataDevice: current.metadataDevice, dataDevice: current.dataDevice, blockSize: current.blockSize, lowWaterMark, ...features };
    const sectors = await this.#io.sectors(this.#loops.data?.path ?? current.dataDevice);
    const length = sectors - (sectors % BigInt(current.blockSize));
    const address = addressOf(this.#id);
    await this.#dm[operationScope](async (undo) => {
      await loadChecked(this.#dm, this.#id, address, toTargetSpecs([{ start: 0, length, type: 'thin-pool', ...params }]), this.#timeout, `loading pool ${this.name}`);
      try {
        await resumeChecked(this.#dm, this.#id, address, this.#timeout, `resuming pool ${this.name}`, 'reload: resume', undefined, undo);
      } catch (e) {
        // The live table stays; drop the loaded one so the pool is as it was.
        await clearQuietly(this.#dm, address, undo);
        throw e;
      }
    });
    this.#params = params;
    return this.healthyStatus();
  }

  // ------------------------------------------------------------------ health ---

  /** Pool conditions as they change (low water, out of data space, read-only, needs_check, failed). */
  conditions(options: PoolConditionsOptions = {}): AsyncIterableIterator<PoolCondition> {
    optionsArg(options, 'options', { signal: 'signal', initial: 'boolean' });
    return poolConditions(this.#dm, { name: this.name, uuid: this.uuid, dev: this.dev }, options);
  }

  // ---------------------------------------------------------------- lifetime ---

  /**
   * Removes the pool device and detaches the loop devices it attached. Active thins make
   * the kernel refuse (EBUSY); deactivate them first. The pool's metadata stays on its
   * metadata device (files are kept): `create` over the same files brings the thins back.
   */
  async destroy(options: { retries?: number } = {}): Promise<void> {
    optionsArg(options, 'options', { retries: 'any' });
    await this.#dm.removeDevice(addressOf(this.#id), { retries: options.retries });
    for (const k of ['data', 'metadata'] as const) {
      const l = this.#loops[k];
      if (l) { await this.#io.detachLoop(l.path); delete this.#loops[k]; }
    }
  }

  // ----------------------------------------------------------------- private ---

  async #message(text: string, what: string): Promise<void> {
    await bounded(this.#dm.message(addressOf(this.#id), 0, text), this.#timeout, `${what} on pool ${this.name}`);
  }

  #thinUuidPool(): string { return this.#id.name; }

  #thinUuid(id: number): string {
    const uuid = thinDeviceUuid(this.#thinUuidPool(), id);
    if (uuidBytes(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `the pool name is too long for the thin uuid ${JSON.stringify(uuid)} (128 bytes at most)`);
    return uuid;
  }

  /** The address (by uuid when it has one) of `device` if its table is one thin line over this pool; WRONG_TARGET otherwise. */
  async #ownThin(device: DeviceId): Promise<DeviceId> {
    const t = await bounded(this.#dm.table(device), this.#timeout, `table of ${JSON.stringify(device)}`);
    const line = t.targets[0];
    const p = t.targets.length === 1 && line && line.type === 'thin' ? parseTarget(line) : undefined;
    const pool = `${this.#id.dev.major}:${this.#id.dev.minor}`;
    if (!p || p.type !== 'thin' || p.poolDevice !== pool) {
      throw new DmOperationError('WRONG_TARGET', `${t.device.name} is not a thin device of pool ${this.name} (its table is ${t.targets.map((l) => l.type).join(', ') || 'empty'})`);
    }
    return addressOf(identityOf(t.device));
  }

  async #uuidOf(name: string): Promise<string | null> {
    const i = await this.#dm.info(name);
    return i.exists ? i.uuid || null : null;
  }

  async #activeThin(id: number): Promise<{ uuid: string } | undefined> {
    const uuid = this.#thinUuid(id);
    const i = await this.#dm.info({ uuid });
    return i.exists ? { uuid } : undefined;
  }

  /** Activates the thin briefly (one block, then sized to its highest mapped block) and discards it. */
  async #discardThin(id: number): Promise<void> {
    const name = discardHelperName(this.name, id);
    const uuid = this.#thinUuid(id);
    const bs = BigInt(this.#params.blockSize);
    const table = (length: bigint) => toTargetSpecs([{ start: 0, length, type: 'thin', poolDevice: `${this.#id.dev.major}:${this.#id.dev.minor}`, deviceId: id }]);
    const info = await createBounded(this.#dm, { name, uuid, table: table(bs) }, this.#timeout, `activating thin ${id} to discard it`);
    const tid = identityOf(info);
    const at = addressOf(tid);
    let failure: { error: unknown } | undefined;
    try {
      const st = await bounded(this.#dm.status(at), this.#timeout, `status of ${name}`);
      checkIdentity(tid, st.device, 'status', 'discard: status');
      const line = st.targets[0];
      const parsed = line ? parseStatus(line) : undefined;
      const highest = parsed && parsed.type === 'thin' && parsed.status.health === 'ok' ? parsed.status.highestMappedSector : null;
      if (highest === null) return;
      const length = ((highest + 1n + bs - 1n) / bs) * bs;
      await loadChecked(this.#dm, tid, at, table(length), this.#timeout, `discard: loading ${name}`);
      await resumeChecked(this.#dm, tid, at, this.#timeout, `resuming ${name}`, 'discard: resume');
      await this.#io.discard(this.#io.nodePath(info.dev));
    } catch (e) {
      failure = { error: e };
      throw e;
    } finally {
      // The helper device must go on every path, and its removal must not hide why the
      // discard failed: a failed remove is tried once more, then attached as cleanupError.
      await removeHelper(this.#dm, at).catch((cleanup: unknown) => {
        if (failure) attachCleanupError(failure.error, cleanup);
        else throw cleanup;
      });
    }
  }
}

/** Removes a short-lived helper device: one more attempt after a failure that is not ENXIO (gone). */
async function removeHelper(dm: DeviceMapper, at: DeviceId): Promise<void> {
  try {
    await dm.removeDevice(at);
  } catch (e) {
    if (e instanceof DmError && e.errno === ERRNO.ENXIO) return;
    await dm.removeDevice(at);
  }
}

/** `<pool>-discard-<id>`, the pool name cut (by whole characters) so the name fits the kernel's 127 bytes. */
function discardHelperName(pool: string, id: number): string {
  const suffix = `-discard-${id}`;
  let prefix = pool;
  while (Buffer.byteLength(prefix + suffix) > 127) prefix = [...prefix].slice(0, -1).join('');
  return prefix + suffix;
}

/** The address of a ThinDevice given back to `deactivate` (checked: a JavaScript caller may pass anything). */
function thinDeviceAddress(device: unknown): DeviceId {
  const d = device !== null && typeof device === 'object' ? device as { uuid?: unknown; name?: unknown } : undefined;
  if (d && typeof d.uuid === 'string' && d.uuid.length > 0) return { uuid: d.uuid };
  if (d && d.uuid === null && typeof d.name === 'string' && d.name.length > 0) return { name: d.name };
  throw new DmOperationError('INVALID_INPUT', 'device must be a ThinDevice (from activate), a thin id or a device name');
}

function checkSpec(s: unknown, field: string): PoolDeviceSpec {
  if (typeof s === 'string' && s.length > 0) return s;
  if (s && typeof s === 'object' && typeof (s as { file?: unknown }).file === 'string' && (s as { file: string }).file.length > 0) {
    const bytes = (s as { bytes?: unknown }).bytes;
    if (bytes !== undefined) {
      const b = checkFileBytes(bytes, `${field}.bytes`);
      return { file: (s as { file: string }).file, bytes: b };
    }
    return { file: (s as { file: string }).file };
  }
  throw new DmOperationError('INVALID_INPUT', `${field} must be a block device path or { file, bytes? }`);
}

function featureFlags(f: PoolFeatures): Pick<ThinPoolParams, 'skipBlockZeroing' | 'ignoreDiscard' | 'noDiscardPassdown' | 'readOnly' | 'errorIfNoSpace'> {
  return {
    ...(f.skipBlockZeroing ? { skipBlockZeroing: true as const } : {}),
    ...(f.ignoreDiscard ? { ignoreDiscard: true as const } : {}),
    ...(f.noDiscardPassdown ? { noDiscardPassdown: true as const } : {}),
    ...(f.readOnly ? { readOnly: true as const } : {}),
    ...(f.errorIfNoSpace ? { errorIfNoSpace: true as const } : {}),
  };
}


function poolParamsOf(targets: readonly TargetLine[], name: string): ThinPoolParams {
  const line = targets[0];
  if (targets.length !== 1 || !line || line.type !== 'thin-pool') {
    throw new DmOperationError('WRONG_TARGET', `${name} is not a thin pool (its table is ${targets.map((t) => t.type).join(', ') || 'empty'})`);
  }
  const p = parseTarget(line);
  if (p.type !== 'thin-pool') throw new DmOperationError('WRONG_TARGET', `${name} is not a thin pool`);
  const { start: _s, length: _l, type: _t, ...params } = p;
  return params;
}

