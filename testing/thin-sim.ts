/**
 * Simulated `thin-pool` and `thin` targets: pool metadata (thin ids, shared block mappings,
 * transaction id, held metadata root), the pool messages with the kernel's errnos, the
 * status and table text as dm-thin.c prints them, pool modes and the table events the
 * kernel raises (low-water mark crossed, mode changes). Tests provision and unmap blocks with
 * `thinSim(kernel).write()` / `.discard()`, as bios would; bytes written to an active thin
 * through the simulator's BlockIo (sim-io.ts) land in its data blocks (`writeBytes`), and
 * reads of it give them back (`readBytes`; unmapped blocks read as zeros).
 *
 * Fidelity notes (from dm-thin.c / dm-thin-metadata.c):
 * - create_thin/create_snap of an existing id: EEXIST; of/with a missing origin and delete
 *   of a missing id: ENODATA; delete of an id a thin table holds (live or inactive): EBUSY.
 * - set_transaction_id with a wrong current id: EINVAL; reserve_metadata_snap twice: EBUSY;
 *   release without one: EINVAL. Messages in ro/fail mode: EOPNOTSUPP (95, which Node names ENOTSUP).
 * - The low-water event fires once when free data blocks ≤ the mark, re-armed at resume.
 *   A write with no free block puts the pool in out_of_data_space (event); with
 *   error_if_no_space the write fails. Resizing bigger leaves out_of_data_space (event).
 * - Pool metadata lives on the metadata device: a table reloaded over the same metadata
 *   device sees the same thins. New size, features and mode apply at resume, as in the kernel.
 * - Times (dm-thin-metadata.c): a new thin's creation and snapshotted times are the pool's
 *   time; create_snap bumps the pool's time first (`__create_snap`: `pmd->time++`) and sets
 *   the snapshot's creation and snapshotted times and its origin's snapshotted time to it;
 *   each mapping records the pool's time when it was inserted. A thin's transaction id is
 *   the pool's at its creation.
 * - The metadata device reads as a persistent-data image of this model
 *   (thin-metadata-image.ts), built when read after a change; reserve_metadata_snap freezes
 *   a copy that later changes leave alone, release drops it.
 */
import type { SimulatedKernel } from './simulator.js';
import { SimError } from './errors.js';
import { type ConstructedTarget, type SimBlockDevice, type SimTargetType, type TargetContext } from './targets.js';
import { copyState, holdMetadata, metadataImage, type HeldMetadata, type MetadataImage } from './thin-metadata-image.js';

/** A pool's mode, as its status line reports it (`rw`, `ro`, `out_of_data_space`, `fail`). */
export type SimPoolMode = 'rw' | 'ro' | 'out_of_data_space' | 'fail';

/** A pool's feature arguments, as its table line set them. */
export interface SimPoolFeatures {
  /** `skip_block_zeroing`. */
  skipBlockZeroing: boolean;
  /** `ignore_discard`. */
  ignoreDiscard: boolean;
  /** `no_discard_passdown`. */
  noDiscardPassdown: boolean;
  /** `read_only`. */
  readOnly: boolean;
  /** `error_if_no_space`: a write that finds no free block fails instead of waiting. */
  errorIfNoSpace: boolean;
}

/** One thin device inside the pool's metadata. */
export interface SimThin {
  /** Its device id (`create_thin <id>`). */
  readonly id: number;
  /** Virtual block → data block, for the blocks written. */
  readonly map: Map<number, number>;
  /** Virtual block → the pool's time when its mapping was inserted. */
  readonly times: Map<number, number>;
  /** The pool's transaction id when the thin was created. */
  readonly transactionId: bigint;
  /** The pool's time when the thin was created. */
  readonly creationTime: number;
  /** The pool's time when it was last snapshotted (or created). */
  snapshottedTime: number;
}

/** A thin with no mappings, created now in `pool` (create_thin; create_snap then copies its origin's maps). */
export function newSimThin(pool: Pick<SimPool, 'transactionId' | 'time'>, id: number): SimThin {
  return { id, map: new Map(), times: new Map(), transactionId: pool.transactionId, creationTime: pool.time, snapshottedTime: pool.time };
}

/** A pool's metadata and runtime state, keyed by its metadata device. */
export interface SimPool {
  /** The metadata device (its identity keys the pool). */
  readonly metadataDevice: SimBlockDevice;
  /** The data device. */
  readonly dataDevice: SimBlockDevice;
  /** Data block size in 512-byte sectors. */
  readonly blockSizeSectors: number;
  /** Data blocks the pool has (its table's length over the block size). */
  totalDataBlocks: number;
  /** Free data blocks at or below which it raises its one low-water event. */
  lowWaterMarkBlocks: bigint;
  /** Its feature arguments. */
  features: SimPoolFeatures;
  /** The metadata transaction id (`set_transaction_id`). */
  transactionId: bigint;
  /** The thin devices in its metadata, by device id. */
  readonly thins: Map<number, SimThin>;
  /** Data block → reference count (shared by snapshots). */
  readonly refs: Map<number, number>;
  /** The held metadata root (`reserve_metadata_snap`): its superblock copy's block; null when none. */
  heldRoot: bigint | null;
  /** The bytes of the data blocks written through the data path (`writeBytes`); a block absent reads as zeros. */
  readonly data: Map<number, Uint8Array>;
  /** The held metadata snapshot's frozen blocks; null when none. */
  held: HeldMetadata | null;
  /** The pool's time (thin_dump's `time`): create_snap bumps it; mappings record it. */
  time: number;
  /** Bumped by every change of the metadata (the image is rebuilt when read after one). */
  version: number;
  /** Its mode, as the status line reports it. */
  mode: SimPoolMode;
  /** `needs_check` is set (metadata must be checked before write mode). */
  needsCheck: boolean;
  /** The low-water event was raised (once per crossing, as the kernel). */
  lowWaterTriggered: boolean;
}

interface PoolTarget extends ConstructedTarget { readonly pool: SimPool; readonly pending: { blocks: number; lowWaterMark: bigint; features: SimPoolFeatures } }
interface ThinTarget extends ConstructedTarget { readonly pool: SimPool; readonly thinId: number }

const FEATURE_WORDS: readonly [keyof SimPoolFeatures, string][] = [
  ['skipBlockZeroing', 'skip_block_zeroing'], ['ignoreDiscard', 'ignore_discard'], ['noDiscardPassdown', 'no_discard_passdown'],
  ['readOnly', 'read_only'], ['errorIfNoSpace', 'error_if_no_space'],
];

/** The test handle of one simulated kernel's thin pools. */
export class ThinSim {
  /** Every pool's metadata and state, by its metadata device's `major:minor`. */
  readonly pools = new Map<string, SimPool>();
  readonly #kernel: SimulatedKernel;
  constructor(kernel: SimulatedKernel) { this.#kernel = kernel; }

  /** The pool behind an active thin device's live thin table. */
  poolOfThin(deviceName: string): SimPool {
    return this.#thin(deviceName).pool;
  }

  /** The pool behind a device's live thin-pool table. */
  pool(deviceName: string): SimPool {
    const t = this.#liveTarget(deviceName);
    if (!t || !isPool(t)) throw new SimError('EINVAL', `${deviceName} has no live thin-pool table`);
    return t.pool;
  }

  /**
   * Writes `lengthSectors` sectors at `startSectors` of an active thin device, as a bio would: unmapped
   * or shared blocks get a new data block. Returns false when the pool ran out of space
   * (the write fails with error_if_no_space; it would queue otherwise).
   */
  write(deviceName: string, startSectors: bigint | number, lengthSectors: bigint | number): boolean {
    const t = this.#thin(deviceName);
    const pool = t.pool;
    if (pool.mode === 'fail') return false;
    const thin = pool.thins.get(t.thinId)!;
    const bs = BigInt(pool.blockSizeSectors);
    const first = Number(BigInt(startSectors) / bs);
    const last = Number((BigInt(startSectors) + BigInt(lengthSectors) - 1n) / bs);
    if (pool.mode === 'ro') {
      // process_bio_read_only: a block mapped to this thin alone is written in place; one
      // that needs a new block (unmapped, or shared) cannot be served (BLK_STS_IOERR).
      for (let v = first; v <= last; v++) {
        const cur = thin.map.get(v);
        if (cur === undefined || pool.refs.get(cur) !== 1) return false;
      }
      return true;
    }
    for (let v = first; v <= last; v++) {
      const cur = thin.map.get(v);
      if (cur !== undefined && pool.refs.get(cur) === 1) continue; // already exclusively mapped
      const fresh = this.#allocate(pool);
      if (fresh === undefined) return false;
      if (cur !== undefined) this.#unref(pool, cur);
      thin.map.set(v, fresh);
      thin.times.set(v, pool.time);
    }
    return true;
  }

  /**
   * Writes `bytes` at `offsetBytes` of an active thin device, as a bio would: each block
   * touched is provisioned as by {@link write} (a shared block gets a copy of its bytes
   * first, dm-thin's break_sharing). Returns false when the pool ran out of space.
   */
  writeBytes(deviceName: string, offsetBytes: bigint | number, bytes: Uint8Array): boolean {
    const t = this.#thin(deviceName);
    const pool = t.pool;
    const thin = pool.thins.get(t.thinId)!;
    const blockBytes = pool.blockSizeSectors * 512;
    const at = Number(offsetBytes);
    for (let done = 0; done < bytes.length;) {
      const v = Math.floor((at + done) / blockBytes);
      const within = (at + done) % blockBytes;
      const n = Math.min(blockBytes - within, bytes.length - done);
      const before = thin.map.get(v);
      if (!this.write(deviceName, BigInt(v) * BigInt(pool.blockSizeSectors), pool.blockSizeSectors)) return false;
      const b = thin.map.get(v)!;
      let data = pool.data.get(b);
      // A block provisioned by this write (new, or a copy of a shared one) starts from its
      // origin's bytes or zeros, never from what a freed block held before (block zeroing).
      if (!data || b !== before) {
        const old = before === undefined ? undefined : pool.data.get(before);
        data = old ? Uint8Array.from(old) : new Uint8Array(blockBytes);
        pool.data.set(b, data);
      }
      data.set(bytes.subarray(done, done + n), within);
      done += n;
    }
    return true;
  }

  /** Reads `into.length` bytes at `offsetBytes` of an active thin device (unmapped blocks are zeros). */
  readBytes(deviceName: string, offsetBytes: bigint | number, into: Uint8Array): void {
    const t = this.#thin(deviceName);
    const pool = t.pool;
    const thin = pool.thins.get(t.thinId)!;
    const blockBytes = pool.blockSizeSectors * 512;
    const at = Number(offsetBytes);
    into.fill(0);
    for (let done = 0; done < into.length;) {
      const v = Math.floor((at + done) / blockBytes);
      const within = (at + done) % blockBytes;
      const n = Math.min(blockBytes - within, into.length - done);
      const b = thin.map.get(v);
      const data = b === undefined ? undefined : pool.data.get(b);
      if (data) into.set(data.subarray(within, within + n), done);
      done += n;
    }
  }

  /** Discards whole blocks inside [startSectors, startSectors + lengthSectors) of an active thin device (BLKDISCARD); to its end without a length. */
  discard(deviceName: string, startSectors: bigint | number = 0n, lengthSectors?: bigint | number): void {
    const t = this.#thin(deviceName);
    const pool = t.pool;
    if (pool.features.ignoreDiscard) return;
    const thin = pool.thins.get(t.thinId)!;
    const bs = BigInt(pool.blockSizeSectors);
    const start = BigInt(startSectors);
    const end = lengthSectors === undefined ? BigInt(Number.MAX_SAFE_INTEGER) : start + BigInt(lengthSectors);
    for (const [v, b] of [...thin.map]) {
      if (BigInt(v) * bs >= start && BigInt(v + 1) * bs <= end) { thin.map.delete(v); thin.times.delete(v); this.#unref(pool, b); }
    }
  }

  /**
   * Provisions data blocks owned by no thin, as other writers filling the pool would, until
   * `freeBlocks` (default: the pool's low-water mark) are free or the pool is full; the
   * low-water and out-of-space events fire as for writes. Returns a function that frees them.
   */
  consume(deviceName: string, freeBlocks?: number): () => void {
    const pool = this.pool(deviceName);
    const target = BigInt(freeBlocks ?? pool.lowWaterMarkBlocks);
    const taken: number[] = [];
    while (BigInt(pool.totalDataBlocks - pool.refs.size) > target) {
      const b = this.#allocate(pool);
      if (b === undefined) break;
      taken.push(b);
    }
    return () => { for (const b of taken.splice(0)) this.#unref(pool, b); };
  }

  /** Metadata damage as the kernel finds it: needs_check set, pool read-only, a table event. */
  setNeedsCheck(deviceName: string): void {
    const pool = this.pool(deviceName);
    pool.needsCheck = true;
    this.setMode(pool, 'ro');
  }

  /** set_pool_mode(): a mode change raises a table event on the pool device. */
  setMode(pool: SimPool, mode: SimPoolMode): void {
    if (pool.mode === mode) return;
    pool.mode = mode;
    this.event(pool);
  }

  /** dm_table_event() on the device whose live table holds the pool. */
  event(pool: SimPool): void {
    for (const d of this.#kernel.devices.values()) {
      if (d.live?.lines.some((l) => isPool(l.target) && l.target.pool === pool)) this.#kernel.triggerEvent(d.name);
    }
  }

  /** Whether any table (live or inactive) holds thin `id` of `pool` open. */
  isOpen(pool: SimPool, id: number): boolean {
    for (const d of this.#kernel.devices.values()) {
      for (const table of [d.live, d.inactive]) {
        if (table?.lines.some((l) => isThin(l.target) && l.target.pool === pool && l.target.thinId === id)) return true;
      }
    }
    return false;
  }

  /** The pool of a dm device given as a table argument, when its live table is a thin-pool. */
  poolOfBlock(b: SimBlockDevice): SimPool | undefined {
    if (b.major !== this.#kernel.major) return undefined;
    const d = [...this.#kernel.devices.values()].find((x) => x.minor === b.minor);
    const line = d?.live?.lines[0];
    return line && isPool(line.target) ? line.target.pool : undefined;
  }

  #liveTarget(deviceName: string): ConstructedTarget | undefined {
    return this.#kernel.devices.get(deviceName)?.live?.lines[0]?.target;
  }

  #thin(deviceName: string): ThinTarget {
    const t = this.#liveTarget(deviceName);
    if (!t || !isThin(t)) throw new SimError('EINVAL', `${deviceName} has no live thin table`);
    return t;
  }

  #allocate(pool: SimPool): number | undefined {
    for (let b = 0; b < pool.totalDataBlocks; b++) {
      // A block a held metadata snapshot still maps is not free (its leaves hold a reference).
      if (!pool.refs.has(b) && pool.held?.dataBlocks.has(b) !== true) {
        pool.version++;
        pool.refs.set(b, 1);
        const free = BigInt(pool.totalDataBlocks - pool.refs.size);
        if (free <= pool.lowWaterMarkBlocks && !pool.lowWaterTriggered) {
          pool.lowWaterTriggered = true;
          this.event(pool);
        }
        return b;
      }
    }
    this.setMode(pool, 'out_of_data_space');
    return undefined;
  }

  #unref(pool: SimPool, b: number): void {
    pool.version++;
    const n = pool.refs.get(b) ?? 0;
    if (n <= 1) {
      pool.refs.delete(b);
      // Freed: its bytes go (a block provisioned again reads as zeros, as with block zeroing).
      if (pool.held?.dataBlocks.has(b) !== true) pool.data.delete(b);
    } else pool.refs.set(b, n - 1);
  }

  /** The pool whose metadata device is `major:minor`, if any. */
  poolOfMetadata(major: number, minor: number): SimPool | undefined {
    return this.pools.get(`${major}:${minor}`);
  }

  /**
   * The bytes the pool's metadata device holds now: the image of the model (with the held
   * snapshot frozen in it), rebuilt after a change. A model too big for the device gives
   * an image of block 0 zeroed (the kernel would have failed the pool: out of metadata space).
   */
  metadataImage(pool: SimPool): MetadataImage {
    const cached = images.get(pool);
    if (cached?.version === pool.version) return cached.image;
    let image: MetadataImage;
    const blockCount = metadataBlockCount(pool);
    try {
      image = metadataImage(imageStateOf(pool), blockCount, pool.held ?? undefined);
    } catch (e) {
      if (!(e instanceof SimError && e.code === 'ENOSPC')) throw e;
      image = { blocks: new Map(), blockCount };
    }
    images.set(pool, { version: pool.version, image });
    return image;
  }
}

const images = new WeakMap<SimPool, { version: number; image: MetadataImage }>();

/** The metadata device's size in 4096-byte blocks. */
function metadataBlockCount(pool: SimPool): number {
  return Number(pool.metadataDevice.sizeSectors / 8n);
}

/** The model as the image builder takes it. */
function imageStateOf(pool: SimPool) {
  return { blockSizeSectors: pool.blockSizeSectors, dataBlocks: pool.totalDataBlocks, transactionId: pool.transactionId, time: pool.time, thins: pool.thins };
}

function isPool(t: ConstructedTarget): t is PoolTarget { return 'pending' in t; }
function isThin(t: ConstructedTarget): t is ThinTarget { return 'thinId' in t; }

const sims = new WeakMap<SimulatedKernel, ThinSim>();

/** The thin-pool test handle of a simulated kernel. */
export function thinSim(kernel: SimulatedKernel): ThinSim {
  let s = sims.get(kernel);
  if (!s) { s = new ThinSim(kernel); sims.set(kernel, s); }
  return s;
}

function dev(ctx: TargetContext, arg: string | undefined, what: string): SimBlockDevice {
  const d = arg === undefined ? undefined : ctx.lookup(arg);
  if (!d) throw new SimError(ctx.lookupErrno, `${what}: Device lookup failed`);
  return d;
}

const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d{1,10}$/.test(s) ? Number(s) : undefined);

function poolType(kernel: SimulatedKernel): SimTargetType {
  const sim = thinSim(kernel);
  return {
    name: 'thin-pool', version: [1, 22, 0],
    construct(argv, length, ctx): PoolTarget {
      if (argv.length < 4) throw new SimError('EINVAL', 'thin-pool: Invalid argument count');
      const bs = num(argv[2]);
      if (bs === undefined || bs < 128 || bs > 2097152 || bs % 128 !== 0) throw new SimError('EINVAL', 'thin-pool: Invalid block size');
      if (!/^\d{1,20}$/.test(argv[3]!)) throw new SimError('EINVAL', 'thin-pool: Invalid low water mark');
      const features: SimPoolFeatures = { skipBlockZeroing: false, ignoreDiscard: false, noDiscardPassdown: false, readOnly: false, errorIfNoSpace: false };
      if (argv.length > 4) {
        const n = num(argv[4]);
        if (n === undefined || argv.length !== 5 + n) throw new SimError('EINVAL', 'thin-pool: Invalid number of pool feature arguments');
        for (const w of argv.slice(5)) {
          const f = FEATURE_WORDS.find(([, word]) => word === w);
          if (!f) throw new SimError('EINVAL', 'thin-pool: Unrecognised pool feature requested');
          features[f[0]] = true;
        }
      }
      const meta = dev(ctx, argv[0], 'thin-pool');
      const data = dev(ctx, argv[1], 'thin-pool');
      if (length > data.sizeSectors) throw new SimError('EINVAL', 'thin-pool: data device too small for target');
      const key = `${meta.major}:${meta.minor}`;
      let pool = sim.pools.get(key);
      if (pool && pool.blockSizeSectors !== bs) throw new SimError('EINVAL', 'thin-pool: Pool data block size mismatch');
      const blocks = Number(length / BigInt(bs));
      const lowWaterMark = BigInt(argv[3]!);
      if (!pool) {
        pool = {
          metadataDevice: meta, dataDevice: data, blockSizeSectors: bs, totalDataBlocks: blocks, lowWaterMarkBlocks: lowWaterMark, features, transactionId: 0n,
          thins: new Map(), refs: new Map(), data: new Map(), heldRoot: null, held: null, time: 0, version: 0, mode: features.readOnly ? 'ro' : 'rw', needsCheck: false, lowWaterTriggered: false,
        };
        sim.pools.set(key, pool);
      }
      const p = pool;
      const words = FEATURE_WORDS.filter(([k]) => features[k]).map(([, w]) => `${w} `);
      const table = `${meta.major}:${meta.minor} ${data.major}:${data.minor} ${bs} ${lowWaterMark} ${words.length} ${words.join('')}`;
      return {
        pool: p,
        pending: { blocks, lowWaterMark, features },
        table,
        deps: [meta, data], // pool_ctr(): the metadata device, then the data device
        // pool_postsuspend() and __pool_destroy() commit the metadata (a superblock write and a flush).
        writesOnRemove: [meta],
        status() {
          if (p.mode === 'fail') return 'Fail';
          const totalMeta = meta.sizeSectors / 8n;
          const usedMeta = 10n + BigInt(p.thins.size) + BigInt(p.refs.size) / 64n;
          const mode = p.mode === 'out_of_data_space' ? 'out_of_data_space' : p.mode === 'ro' ? 'ro' : 'rw';
          const discard = p.features.ignoreDiscard ? 'ignore_discard' : p.features.noDiscardPassdown ? 'no_discard_passdown' : 'discard_passdown';
          const threshold = totalMeta / 4n < 4096n ? totalMeta / 4n : 4096n; // calc_metadata_threshold()
          return `${p.transactionId} ${usedMeta}/${totalMeta} ${p.refs.size}/${p.totalDataBlocks} ${p.heldRoot ?? '-'} ${mode} ${discard} `
            + `${p.features.errorIfNoSpace ? 'error_if_no_space' : 'queue_if_no_space'} ${p.needsCheck ? 'needs_check' : '-'} ${threshold} `;
        },
        resume() {
          // pool_preresume()/pool_resume(): new size, features and mode take effect.
          if (this.pending.blocks < p.totalDataBlocks) return; // the kernel refuses to shrink (resume fails); kept as is
          const grew = this.pending.blocks > p.totalDataBlocks;
          if (grew) p.version++;
          p.totalDataBlocks = this.pending.blocks;
          p.lowWaterMarkBlocks = this.pending.lowWaterMark;
          p.features = this.pending.features;
          p.lowWaterTriggered = false;
          if (p.needsCheck || p.features.readOnly) sim.setMode(p, 'ro');
          else if (p.mode === 'ro' || (p.mode === 'out_of_data_space' && grew)) sim.setMode(p, 'rw');
        },
        message(args) {
          const r = poolMessage(sim, p, args);
          p.version++;
          return r;
        },
      };
    },
  };
}

function thinId(s: string | undefined): number {
  const n = num(s);
  if (n === undefined || n > 0xffffff) throw new SimError('EINVAL', `thin-pool: Invalid device id: ${s}`);
  return n;
}

function poolMessage(sim: ThinSim, p: SimPool, args: string[]): undefined {
  const [cmd, a, b] = args;
  const need = (n: number) => { if (args.length !== n) throw new SimError('EINVAL', `thin-pool: Incorrect number of arguments for ${cmd}`); };
  if (p.mode === 'ro' || p.mode === 'fail') throw new SimError('ENOTSUP', 'thin-pool: unable to service pool target messages in READ_ONLY or FAIL mode');
  switch (cmd) {
    case 'create_thin': {
      need(2);
      const id = thinId(a);
      if (p.thins.has(id)) throw new SimError('EEXIST', `thin: Creation of new thinly-provisioned device with id ${a} failed.`);
      p.thins.set(id, newSimThin(p, id));
      return undefined;
    }
    case 'create_snap': {
      need(3);
      const id = thinId(a);
      const origin = p.thins.get(thinId(b));
      if (p.thins.has(id)) throw new SimError('EEXIST', `thin: Creation of new snapshot ${a} of device ${b} failed.`);
      if (!origin) throw new SimError('ENODATA', `thin: Creation of new snapshot ${a} of device ${b} failed.`);
      // __create_snap: the pool's time moves on first; both the snapshot and its origin are
      // snapshotted at the new time (__set_snapshot_details).
      p.time++;
      const snap = newSimThin(p, id);
      for (const [v, blk] of origin.map) snap.map.set(v, blk);
      for (const [v, t] of origin.times) snap.times.set(v, t);
      origin.snapshottedTime = p.time;
      p.thins.set(id, snap);
      for (const blk of origin.map.values()) p.refs.set(blk, (p.refs.get(blk) ?? 0) + 1);
      return undefined;
    }
    case 'delete': {
      need(2);
      const id = thinId(a);
      const t = p.thins.get(id);
      if (!t) throw new SimError('ENODATA', `thin: Deletion of thin device ${a} failed.`);
      if (sim.isOpen(p, id)) throw new SimError('EBUSY', `thin: Deletion of thin device ${a} failed.`);
      for (const blk of t.map.values()) {
        const n = p.refs.get(blk) ?? 0;
        if (n <= 1) {
          p.refs.delete(blk);
          if (p.held?.dataBlocks.has(blk) !== true) p.data.delete(blk);
        } else p.refs.set(blk, n - 1);
      }
      p.thins.delete(id);
      return undefined;
    }
    case 'set_transaction_id': {
      need(3);
      if (!/^\d{1,20}$/.test(a ?? '') || !/^\d{1,20}$/.test(b ?? '')) throw new SimError('EINVAL', `thin: set_transaction_id message: Unrecognised id ${a}.`);
      if (BigInt(a!) !== p.transactionId) throw new SimError('EINVAL', `thin: Failed to change transaction id from ${a} to ${b}.`);
      p.transactionId = BigInt(b!);
      return undefined;
    }
    case 'reserve_metadata_snap': {
      need(1);
      if (p.heldRoot !== null) throw new SimError('EBUSY', 'thin: reserve_metadata_snap message failed.');
      // __reserve_metadata_snap: a copy of the superblock and of the trees it reaches, which
      // later changes (shadowed elsewhere) leave as they are.
      try {
        p.held = holdMetadata(copyState(imageStateOf(p)), Number(p.metadataDevice.sizeSectors / 8n));
      } catch (e) {
        if (e instanceof SimError && e.code === 'ENOSPC') throw new SimError('ENOSPC', 'thin: reserve_metadata_snap message failed.');
        throw e;
      }
      p.heldRoot = BigInt(p.held.superblock);
      return undefined;
    }
    case 'release_metadata_snap': {
      need(1);
      if (p.heldRoot === null) throw new SimError('EINVAL', 'thin: release_metadata_snap message failed.');
      p.heldRoot = null;
      p.held = null;
      // The bytes of blocks freed while the snapshot held them go now (a block provisioned again reads as zeros).
      for (const blk of [...p.data.keys()]) if (!p.refs.has(blk)) p.data.delete(blk);
      return undefined;
    }
    default:
      throw new SimError('EINVAL', `thin: Unrecognised thin pool target message received: ${cmd}`);
  }
}

function thinType(kernel: SimulatedKernel): SimTargetType {
  const sim = thinSim(kernel);
  return {
    name: 'thin', version: [1, 22, 0],
    construct(argv, _length, ctx): ThinTarget {
      if (argv.length !== 2 && argv.length !== 3) throw new SimError('EINVAL', 'thin: Invalid argument count');
      const poolDev = dev(ctx, argv[0], 'thin');
      const id = thinId(argv[1]);
      const origin = argv[2] === undefined ? undefined : dev(ctx, argv[2], 'thin');
      const pool = sim.poolOfBlock(poolDev);
      if (!pool) throw new SimError('EINVAL', "thin: Couldn't find pool object for pool device");
      if (!pool.thins.has(id)) throw new SimError('ENODATA', "thin: Couldn't open thin internal device");
      return {
        pool, thinId: id,
        table: `${poolDev.major}:${poolDev.minor} ${id}${origin ? ` ${origin.major}:${origin.minor}` : ''}`,
        // thin_ctr() opens the external origin before the pool device.
        deps: origin ? [origin, poolDev] : [poolDev],
        status() {
          if (pool.mode === 'fail') return 'Fail';
          const t = pool.thins.get(id);
          if (!t) return '-';
          const bs = BigInt(pool.blockSizeSectors);
          const mapped = BigInt(t.map.size) * bs;
          if (t.map.size === 0) return `${mapped} -`;
          const highest = BigInt(Math.max(...t.map.keys()));
          return `${mapped} ${(highest + 1n) * bs - 1n}`;
        },
      };
    },
  };
}

/** thin-pool and thin for one simulated kernel (registered by its constructor). */
export function thinTargets(kernel: SimulatedKernel): SimTargetType[] {
  return [poolType(kernel), thinType(kernel)];
}
