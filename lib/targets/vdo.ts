/**
 * vdo (vdo.rst; parse_device_config(), vdo_status(), vdo_message() in
 * dm-vdo/dm-vdo-target.c). Only the V4 table line is built and parsed (the kernel's
 * TABLE_VERSION; V0–V3 are accepted by the kernel for old tools only). The kernel keeps the
 * constructor's words and prints them back verbatim: the storage device comes back as it was
 * given, so build with `major:minor` (or `{ major, minor }`) for a table that reads back equal
 * to `normalise()`; a path is printed back as that path.
 */
import { z } from 'zod';
import { type Cursor } from './common.js';
import { checked, deviceSchema, u64Schema } from './schemas.js';
import { type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The `vdo` target's parameters (a V4 table line). */
export interface VdoParams {
  /** The storage device as the table names it (the kernel echoes the constructor's word). */
  readonly storageDevice: string;
  /** The storage device's size in 4096-byte blocks; must match the volume's. */
  readonly storageSizeBlocks: bigint;
  /** The smallest I/O the volume accepts, in bytes: 512 or 4096. */
  readonly minimumIoSizeBytes: 512 | 4096;
  /** The block map cache, in 4096-byte blocks (at least 4096 per logical thread). */
  readonly blockMapCacheSizeBlocks: number;
  /** The block map era length: how long a modified block map page may wait to be written, in recovery journal blocks (1…16380). */
  readonly blockMapEraLengthBlocks: number;
  /** `maxDiscard`: the largest discard accepted, in 4096-byte blocks. */
  readonly maxDiscardBlocks?: number;
  /** `ack`: threads completing bios. */
  readonly ackThreads?: number;
  /** `bio`: threads submitting bios to the storage. */
  readonly bioThreads?: number;
  /** `bioRotationInterval`: bios queued on one bio thread before the next (1…1024). */
  readonly bioRotationCount?: number;
  /** `cpu`: threads hashing and compressing. */
  readonly cpuThreads?: number;
  /** `hash`: hash zone threads (0, or all of hash/logical/physical non-zero). */
  readonly hashZoneThreads?: number;
  /** `logical`: logical zone threads (at most 60). */
  readonly logicalThreads?: number;
  /** `physical`: physical zone threads (at most 16). */
  readonly physicalThreads?: number;
  /** `compression on|off` (the kernel's default off). */
  readonly compression?: boolean;
  /** `deduplication on|off` (the kernel's default on). */
  readonly deduplication?: boolean;
}

/** The `vdo` target's status line. */
export interface VdoStatus {
  /** The storage device's node, e.g. `/dev/loop0` (the kernel prints `/dev/%pg`). */
  readonly device: string;
  /** `normal`, `recovering` (repairing its metadata) or `read-only` (an error forced it). */
  readonly operatingMode: 'normal' | 'recovering' | 'read-only';
  /** Whether the volume is in recovery mode (`recovering`; `-` when not). */
  readonly inRecovery: boolean;
  /** The deduplication index's state. */
  readonly indexState: 'closed' | 'closing' | 'error' | 'offline' | 'online' | 'opening' | 'unknown';
  /** Whether compression is running. */
  readonly compressionState: 'online' | 'offline';
  /** Physical (4096-byte) blocks in use: data and metadata. */
  readonly usedPhysicalBlocks: bigint;
  /** Physical blocks the volume may use. */
  readonly totalPhysicalBlocks: bigint;
  readonly extra: readonly string[];
}

/**
 * The `vdo` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`;
 * the line's length, the logical size, must be a multiple of 8 sectors and match the volume's).
 * Numbers may be `number` (a safe integer) or `bigint` where noted; the device a path,
 * `major:minor` or numbers.
 */
export interface VdoInput {
  /** The storage device holding the formatted volume: a path, `major:minor` or `{ major, minor }`. */
  readonly storageDevice: DeviceRef;
  /** The storage device's size in 4096-byte blocks; must match the volume's. */
  readonly storageSizeBlocks: number | bigint;
  /** The smallest I/O the volume accepts, in bytes: 512 or 4096 (4096 recommended). */
  readonly minimumIoSizeBytes: 512 | 4096;
  /** The block map cache, in 4096-byte blocks (32768 recommended; at least 4096 per logical thread). */
  readonly blockMapCacheSizeBlocks: number;
  /** The block map era length: how long a modified block map page may wait to be written, in recovery journal blocks (1…16380; 16380 recommended). */
  readonly blockMapEraLengthBlocks: number;
  /** `maxDiscard`: the largest discard accepted, in 4096-byte blocks (1…1048575). */
  readonly maxDiscardBlocks?: number;
  /** `ack`: threads completing bios (the kernel's default 1). */
  readonly ackThreads?: number;
  /** `bio`: threads submitting bios to the storage (at least 1; the kernel's default 4). */
  readonly bioThreads?: number;
  /** `bioRotationInterval`: bios queued on one bio thread before the next (1…1024; default 64). */
  readonly bioRotationCount?: number;
  /** `cpu`: threads hashing and compressing (at least 1; default 1). */
  readonly cpuThreads?: number;
  /** `hash`: hash zone threads (0, or all of hash/logical/physical non-zero). */
  readonly hashZoneThreads?: number;
  /** `logical`: logical zone threads (at most 60). */
  readonly logicalThreads?: number;
  /** `physical`: physical zone threads (at most 16). */
  readonly physicalThreads?: number;
  /** `compression on|off` (the kernel's default off). */
  readonly compression?: boolean;
  /** `deduplication on|off` (the kernel's default on). */
  readonly deduplication?: boolean;
}
/** One `vdo` table line as a builder takes it: the line head and {@link VdoInput}. */
export interface VdoTarget extends LineHead<'vdo'>, VdoInput {}

// MAXIMUM_VDO_THREADS (100) for ack/bio/cpu/hash; MAX_VDO_LOGICAL_ZONES 60, MAX_VDO_PHYSICAL_ZONES 16.
const threads = (min: number, max: number) => z.number().int().min(min).max(max).optional();
/** The optional pairs in LVM2's order (the order of its vdo table lines), key → field. */
const NUMERIC = [
  ['maxDiscard', 'maxDiscardBlocks'],
  ['ack', 'ackThreads'],
  ['bio', 'bioThreads'],
  ['bioRotationInterval', 'bioRotationCount'],
  ['cpu', 'cpuThreads'],
  ['hash', 'hashZoneThreads'],
  ['logical', 'logicalThreads'],
  ['physical', 'physicalThreads'],
] as const;
const BOOLEAN = [['compression', 'compression'], ['deduplication', 'deduplication']] as const;

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link VdoInput} agree. */
export const vdoUnit = defineTarget({
  type: 'vdo',
  shape: {
    storageDevice: deviceSchema,
    storageSizeBlocks: u64Schema,
    minimumIoSizeBytes: z.union([z.literal(512), z.literal(4096)]),
    blockMapCacheSizeBlocks: z.number().int().min(1).max(0xffffffff),
    blockMapEraLengthBlocks: z.number().int().min(1).max(16380),
    // UINT_MAX / VDO_BLOCK_SIZE (process_one_key_value_pair)
    maxDiscardBlocks: threads(1, Math.floor(0xffffffff / 4096)),
    ackThreads: threads(0, 100),
    bioThreads: threads(1, 100),
    bioRotationCount: threads(1, 1024),
    cpuThreads: threads(1, 100),
    hashZoneThreads: threads(0, 100),
    logicalThreads: threads(0, 60),
    physicalThreads: threads(0, 16),
    compression: z.boolean().optional(),
    deduplication: z.boolean().optional(),
  },
  check(t, ctx) {
    // parse_device_config(): the three zone counts are all zero or all non-zero.
    const zones = [t.hashZoneThreads ?? 0, t.logicalThreads ?? 0, t.physicalThreads ?? 0].map((n) => n > 0);
    if (zones.some((z) => z !== zones[0])) ctx.addIssue({ code: 'custom', path: ['logicalThreads'], message: 'hash, logical and physical thread counts must all be zero or all non-zero' });
    // "Insufficient block map cache for logical zones": 2 * MAXIMUM_VDO_USER_VIOS (2048) per zone.
    if (t.blockMapCacheSizeBlocks < 4096 * (t.logicalThreads ?? 0)) ctx.addIssue({ code: 'custom', path: ['blockMapCacheSizeBlocks'], message: 'must be at least 4096 per logical thread' });
  },
  render(t, ctx) {
    const opts: string[] = [];
    for (const [key, field] of NUMERIC) if (t[field] !== undefined) opts.push(key, String(t[field]));
    for (const [key, field] of BOOLEAN) if (t[field] !== undefined) opts.push(key, t[field] ? 'on' : 'off');
    return ['V4', ctx.dev(t.storageDevice, 'storageDevice'), String(t.storageSizeBlocks), String(t.minimumIoSizeBytes), String(t.blockMapCacheSizeBlocks), String(t.blockMapEraLengthBlocks), ...opts];
  },
  parse(c: Cursor): VdoParams {
    c.oneOf('version', ['V4'] as const);
    const storageDevice = c.next('storageDevice');
    const storageSizeBlocks = c.big('storageSizeBlocks');
    const io = c.oneOf('minimumIoSizeBytes', ['512', '4096'] as const);
    const p: Mutable<VdoParams> = {
      storageDevice, storageSizeBlocks, minimumIoSizeBytes: io === '512' ? 512 : 4096,
      blockMapCacheSizeBlocks: c.num('blockMapCacheSizeBlocks'), blockMapEraLengthBlocks: c.num('blockMapEraLengthBlocks'),
    };
    if (c.remaining % 2 !== 0) c.fail('BAD_VALUE', 'options', 'an odd number of key/value words');
    while (!c.done) {
      const key = c.next('options');
      const n = NUMERIC.find(([k]) => k === key);
      const b = BOOLEAN.find(([k]) => k === key);
      if (n) p[n[1]] = c.num(n[1]);
      else if (b) p[b[1]] = c.oneOf(b[1], ['on', 'off'] as const) === 'on';
      else c.fail('BAD_VALUE', 'options', 'unknown option', key);
    }
    return p;
  },
  status(c): VdoStatus {
    const device = c.next('device');
    const operatingMode = c.oneOf('operatingMode', ['normal', 'recovering', 'read-only'] as const);
    const inRecovery = c.oneOf('inRecovery', ['recovering', '-'] as const) === 'recovering';
    const indexState = c.oneOf('indexState', ['closed', 'closing', 'error', 'offline', 'online', 'opening', 'unknown'] as const);
    const compressionState = c.oneOf('compressionState', ['online', 'offline'] as const);
    const usedPhysicalBlocks = c.big('usedPhysicalBlocks');
    const totalPhysicalBlocks = c.big('totalPhysicalBlocks');
    return { device, operatingMode, inRecovery, indexState, compressionState, usedPhysicalBlocks, totalPhysicalBlocks, extra: c.rest() };
  },
});

/** The `vdo` target: builder, table parser and status parser. */
export const vdo: TargetUnit<'vdo', VdoInput, VdoParams, VdoStatus> = vdoUnit;

const dumpWord = z.enum(['viopool', 'pools', 'vdo', 'queues', 'threads', 'default', 'all']);

/** Messages a vdo device understands (vdo_message()); `stats` output is read with `parseVdoStats`. */
export const vdoMessage = {
  /** `stats`: the volume's statistics as one text (parse it with `parseVdoStats`). */
  stats: (): string => 'stats',
  /** `compression on|off`: starts or stops compression. */
  compression: (on: boolean): string => `compression ${checked(z.boolean(), on, 'vdo', 'on') ? 'on' : 'off'}`,
  /** `index-close`, `index-create`, `index-disable`, `index-enable`: the deduplication index. */
  index: (action: 'close' | 'create' | 'disable' | 'enable'): string => `index-${checked(z.enum(['close', 'create', 'disable', 'enable']), action, 'vdo', 'action')}`,
  /** `dump [what…]`: internal structures to the kernel log (debugging a hung volume only). */
  dump: (...what: ('viopool' | 'pools' | 'vdo' | 'queues' | 'threads' | 'default' | 'all')[]): string =>
    ['dump', ...what.map((w, i) => checked(dumpWord, w, 'vdo', `what[${i}]`))].join(' '),
  /** `dump-on-shutdown`: a default dump when the volume next shuts down. */
  dumpOnShutdown: (): string => 'dump-on-shutdown',
} as const;
