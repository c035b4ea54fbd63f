/**
 * ThinPool's options, results and table facts: what a caller passes and gets back, checked
 * before any syscall, and the few facts of the thin-pool table the pool reads (its block
 * size and low-water mark, in their units). The pool itself is thin-pool.ts.
 */
import type { DeviceId, TargetLine } from '../../codec/index.js';
import { DmOperationError } from '../errors.js';
import type { OperationOptions } from './operation.js';
import { optionsArg, type OptionKind } from '../client/args.js';
import { parseTarget } from '../targets/table.js';
import { type ThinPoolParams, type ThinPoolStatus } from '../targets/thin.js';


/** What every ThinPool method takes (docs/conventions.md, "Cancellation, time and progress"). */
export interface ThinPoolCallOptions {
  /** Stops the call at its next step; what it did is undone and it rejects with DmAbortError. */
  readonly signal?: AbortSignal;
  /** The call's bound in ms (1…3600000); default: the pool's (`timeoutMs` of create/open, 30000). */
  readonly timeoutMs?: number;
}

/** A pool device: a block device path, or a file (attached to a loop device by the pool). */
export type PoolDeviceSpec = string | {
  /** The backing file (created when missing and `sizeBytes` is given). */
  readonly file: string;
  /** The file's size in bytes (a positive multiple of 512): a smaller file is grown to it. */
  readonly sizeBytes?: bigint | number;
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
export interface CreateThinPoolOptions extends PoolFeatures, ThinPoolCallOptions {
  /** The pool device's name. */
  readonly name: string;
  /** The data device (path, or a file to back with a loop device). */
  readonly data: PoolDeviceSpec;
  /** The metadata device (as `data`); its first block is zeroed, as a new pool needs. */
  readonly metadata: PoolDeviceSpec;
  /** Data block size in sectors: 128 (64 KiB, the default) … 2097152, a multiple of 128. */
  readonly blockSizeSectors?: bigint | number;
  /** Free data blocks (of `blockSizeSectors`) at or below which the pool raises a low-water event (default 0). */
  readonly lowWaterMarkBlocks?: bigint | number;
}

/** Options of {@link ThinPool.open}. */
export type OpenThinPoolOptions = ThinPoolCallOptions;

/** Options of {@link ThinPool.activate}. */
export interface ActivateOptions extends ThinPoolCallOptions {
  /** The device's name. */
  readonly name: string;
  /** Virtual size in 512-byte sectors. */
  readonly sizeSectors: bigint | number;
  /** A read-only block device outside the pool read where the thin has no block (the `thin` target's external origin). */
  readonly externalOrigin?: string;
  /** Activate read-only (DM_READONLY_FLAG). */
  readonly readOnly?: boolean;
}

/** Options of {@link ThinPool.deactivate}. */
export interface DeactivateOptions extends ThinPoolCallOptions {
  /** Remove when last closed if it is open (DM_DEFERRED_REMOVE). */
  readonly deferred?: boolean;
  /** EBUSY attempts (default 25, `delayMs` 200 apart, as removeDevice). */
  readonly retries?: number;
  /** Still open after the retries: replace its table with `error` (all I/O fails) and remove it (dmsetup --force). */
  readonly force?: boolean;
}

/** Options of {@link ThinPool.delete}. */
export interface DeleteThinOptions extends ThinPoolCallOptions {
  /** Discard the thin's blocks first, so a pool with discard passdown gives the space back to the disk under it. */
  readonly discard?: boolean;
  /** Called as the delete advances (activation for the discard, the discard, the delete message). */
  readonly onProgress?: OperationOptions['onProgress'];
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
  /** Its virtual size in 512-byte sectors. */
  readonly sizeSectors: bigint;
}

/** Options of {@link ThinPool.resize}. */
export interface ResizeOptions extends ThinPoolCallOptions {
  /** New size of a file-backed data device in bytes (grown, never shrunk). A block device: grow it first, then call resize. */
  readonly dataBytes?: bigint | number;
  /** New size of a file-backed metadata device in bytes. */
  readonly metadataBytes?: bigint | number;
}

/** Changes of {@link ThinPool.reload}. */
export interface ReloadOptions extends PoolFeatures, ThinPoolCallOptions {
  /** A new low-water mark, in data blocks of the pool's `blockSizeSectors`. */
  readonly lowWaterMarkBlocks?: bigint | number;
}

/** What makes the block counts of a pool's status usable: the sizes of its blocks. */
export interface PoolBlockSizes {
  /** The data block size in 512-byte sectors (the unit of `usedDataBlocks`, `totalDataBlocks`, the low-water mark). */
  readonly blockSizeSectors: bigint;
  /** The same in bytes (to size a backing file: `totalDataBlocks * blockSizeBytes`). */
  readonly blockSizeBytes: bigint;
  /** The metadata block size in sectors (dm-thin's is always 4 KiB: 8). */
  readonly metadataBlockSizeSectors: bigint;
}

/** A pool's status: the thin-pool target's, with the block sizes its counts are in. */
export type PoolStatus = ThinPoolStatus & PoolBlockSizes;

/** The ok variant of {@link PoolStatus}. */
export type ThinPoolHealthyStatus = Extract<ThinPoolStatus, { health: 'ok' }> & PoolBlockSizes;

/** dm-thin's metadata block: THIN_METADATA_BLOCK_SIZE, 4096 bytes. */
const METADATA_BLOCK_SECTORS = 8n;

/**
 * The fields of a thin-pool table the pool reads, in its own units. The one place that
 * knows ThinPoolParams' field names (the target's typed fields).
 */
export function tableFacts(p: ThinPoolParams): { blockSizeSectors: bigint; lowWaterMarkBlocks: bigint } {
  return { blockSizeSectors: BigInt(p.blockSizeSectors), lowWaterMarkBlocks: BigInt(p.lowWaterMarkBlocks) };
}

export function poolParams(devices: { metadata: string; data: string }, blockSizeSectors: bigint, lowWaterMarkBlocks: bigint, features: ReturnType<typeof featureFlags>): ThinPoolParams {
  return { metadataDevice: devices.metadata, dataDevice: devices.data, blockSizeSectors: Number(blockSizeSectors), lowWaterMarkBlocks, ...features };
}

export function blockSizes(p: ThinPoolParams): PoolBlockSizes {
  const { blockSizeSectors } = tableFacts(p);
  return { blockSizeSectors, blockSizeBytes: blockSizeSectors * 512n, metadataBlockSizeSectors: METADATA_BLOCK_SECTORS };
}

// The options each public method takes: a misspelt option (`{ discrad: true }`) would be
// ignored and a null one a TypeError from deep inside; optionsArg refuses both before any
// syscall. Values are checked where they are used ('any'), with their own messages.
export const CALL_OPTIONS = { signal: 'signal', timeoutMs: 'any' } as const satisfies Record<string, OptionKind>;
export const FEATURE_OPTIONS = { skipBlockZeroing: 'boolean', ignoreDiscard: 'boolean', noDiscardPassdown: 'boolean', errorIfNoSpace: 'boolean', readOnly: 'boolean' } as const satisfies Record<string, OptionKind>;
export const CREATE_OPTIONS = {
  ...FEATURE_OPTIONS, ...CALL_OPTIONS, name: 'any', data: 'any', metadata: 'any', blockSizeSectors: 'any', lowWaterMarkBlocks: 'any',
} as const satisfies Record<string, OptionKind>;

/** The pool's default bound of each call. */
export const DEFAULT_TIMEOUT_MS = 30_000;

const POOL_UUID_PREFIX = 'THINPOOL-';
export const THIN_UUID = /^THIN-(\d{1,8})-(.*)$/s;
const MAX_THIN_ID = 0xffffff;

export function checkId(id: unknown, field: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_THIN_ID) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be an integer in 0…${MAX_THIN_ID} (24 bits), got ${String(id)}`);
  }
  return id;
}

export function checkU64(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative integer below 2^64, got ${String(v)}`);
}

export function checkName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new DmOperationError('INVALID_INPUT', `${field} must be a non-empty string`);
  return name;
}

/**
 * A backing file's size, at create and at resize alike: whole sectors (a loop device drops a
 * partial one), above 0, and within what a file offset holds (2^63 - 1; Node's truncate
 * takes a safe integer).
 */
export function checkFileBytes(v: unknown, field: string): bigint {
  const b = checkU64(v, field);
  if (b === 0n || b % 512n !== 0n || b > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be a positive multiple of 512 up to ${Number.MAX_SAFE_INTEGER}, got ${b}`);
  }
  return b;
}

export function uuidBytes(s: string): number { return Buffer.byteLength(s); }

/** The uuid ThinPool gives the pool device. */
export function thinPoolUuid(poolName: string): string { return `${POOL_UUID_PREFIX}${poolName}`; }
/** The uuid ThinPool gives an activated thin device. */
export function thinDeviceUuid(poolName: string, id: number): string { return `THIN-${id}-${poolName}`; }


/** A loop device the pool attached for one of its files. */
export interface OwnedLoop { readonly path: string; readonly file: string }

/** How ThinPool attaches its files: read-write, the whole file, the driver's block size. */
export const LOOP_DEFAULTS = { readOnly: false, flags: 0, offsetBytes: 0n, sizeLimitBytes: 0n, blockSizeBytes: 0, retries: 16 } as const;

/** `<pool>-discard-<id>`, the pool name cut (by whole characters) so the name fits the kernel's 127 bytes. */
export function discardHelperName(pool: string, id: number): string {
  const suffix = `-discard-${id}`;
  let prefix = pool;
  while (Buffer.byteLength(prefix + suffix) > 127) prefix = [...prefix].slice(0, -1).join('');
  return prefix + suffix;
}

/** The address of a ThinDevice given back to `deactivate` (checked: a JavaScript caller may pass anything). */
export function thinDeviceAddress(device: unknown): DeviceId {
  const d = device !== null && typeof device === 'object' ? device as { uuid?: unknown; name?: unknown } : undefined;
  if (d && typeof d.uuid === 'string' && d.uuid.length > 0) return { uuid: d.uuid };
  if (d && d.uuid === null && typeof d.name === 'string' && d.name.length > 0) return { name: d.name };
  throw new DmOperationError('INVALID_INPUT', 'device must be a ThinDevice (from activate), a thin id or a device name');
}

export function checkSpec(s: unknown, field: string): PoolDeviceSpec {
  if (typeof s === 'string' && s.length > 0) return s;
  if (s && typeof s === 'object' && typeof (s as { file?: unknown }).file === 'string' && (s as { file: string }).file.length > 0) {
    optionsArg(s, field, { file: 'string', sizeBytes: 'any' });
    const bytes = (s as { sizeBytes?: unknown }).sizeBytes;
    if (bytes !== undefined) {
      const b = checkFileBytes(bytes, `${field}.sizeBytes`);
      return { file: (s as { file: string }).file, sizeBytes: b };
    }
    return { file: (s as { file: string }).file };
  }
  throw new DmOperationError('INVALID_INPUT', `${field} must be a block device path or { file, sizeBytes? }`);
}

export function featureFlags(f: PoolFeatures): Pick<ThinPoolParams, 'skipBlockZeroing' | 'ignoreDiscard' | 'noDiscardPassdown' | 'readOnly' | 'errorIfNoSpace'> {
  return {
    ...(f.skipBlockZeroing ? { skipBlockZeroing: true as const } : {}),
    ...(f.ignoreDiscard ? { ignoreDiscard: true as const } : {}),
    ...(f.noDiscardPassdown ? { noDiscardPassdown: true as const } : {}),
    ...(f.readOnly ? { readOnly: true as const } : {}),
    ...(f.errorIfNoSpace ? { errorIfNoSpace: true as const } : {}),
  };
}


export function poolParamsOf(targets: readonly TargetLine[], name: string): ThinPoolParams {
  const line = targets[0];
  if (targets.length !== 1 || !line || line.type !== 'thin-pool') {
    throw new DmOperationError('WRONG_TARGET', `${name} is not a thin pool (its table is ${targets.map((t) => t.type).join(', ') || 'empty'})`);
  }
  const p = parseTarget(line);
  if (p.type !== 'thin-pool') throw new DmOperationError('WRONG_TARGET', `${name} is not a thin pool`);
  const { start: _s, length: _l, type: _t, ...params } = p;
  return params;
}

