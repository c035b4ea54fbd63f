/**
 * vdo (vdo.rst; parse_device_config(), vdo_status(), vdo_message() in
 * dm-vdo/dm-vdo-target.c). The builder writes V4 lines (the kernel's TABLE_VERSION); the
 * parser also reads the V0–V3 lines of older vdo tools, which the kernel still accepts and
 * prints back verbatim (their retired words kept in `legacy`, so they rebuild). The kernel keeps the
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

/**
 * What a V0–V3 table line (older vdo tools) carries beyond a V4 line: the words the kernel
 * reads past (read cache, MD RAID5 mode, write policy, pool name: retired) and, in V0 and V1,
 * the thread configuration word. docs/targets.md has the layouts.
 */
export interface VdoLegacyLine {
  /** The table version: 0 (a line without a version word), 1, 2 or 3. */
  readonly version: 0 | 1 | 2 | 3;
  /** V0 and V1: the read cache's two words (`enabled|disabled` and its size), retired. */
  readonly readCache?: readonly [string, string];
  /** V0–V2: the MD RAID5 optimisation word (`on|off`), retired. */
  readonly raid5Mode?: string;
  /** V0–V3: the write policy (`auto|sync|async|async-unsafe`), retired. */
  readonly writePolicy?: string;
  /** V0–V2: the pool name, retired. */
  readonly poolName?: string;
  /**
   * V0 and V1: the thread configuration word as given (`.` for none, or `cpu=2,bio=4,…`); the
   * line is rebuilt with this word, and its counts are also read into the thread fields.
   */
  readonly threadConfig?: string;
}

/** The `vdo` target's parameters (a V4 table line, or an older one with `legacy`). */
export interface VdoParams {
  /** The storage device as the table names it (the kernel echoes the constructor's word). */
  readonly storageDevice: string;
  /** The storage device's size in 4096-byte blocks; must match the volume's. Absent only in a V0 line (the kernel takes the device's size). */
  readonly storageSizeBlocks?: bigint;
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
  /** A V0–V3 line's version and retired words (absent: V4). */
  readonly legacy?: VdoLegacyLine;
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
  /** The storage device's size in 4096-byte blocks; must match the volume's. Required except in a V0 line (`legacy.version` 0). */
  readonly storageSizeBlocks?: number | bigint;
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
  /** Rebuilds a V0–V3 line (as a parsed one carries it); absent: a V4 line. */
  readonly legacy?: VdoLegacyLine;
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
/** A V0/V1 thread configuration word's keys (parse_one_thread_config_spec), key → field. */
const THREAD_KEYS = NUMERIC.slice(1);
/** REQUIRED_ARGC: the words of a V0…V4 line (V0 and V1 exactly, V2–V4 at least). */
const REQUIRED_WORDS = [10, 12, 9, 7, 6] as const;
/** One table word: no blank inside. */
const word = z.string().regex(/^\S{1,255}$/, 'one word (no blanks)');
const legacySchema = z.strictObject({
  version: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
  readCache: z.tuple([word, word]).readonly().optional(),
  raid5Mode: word.optional(),
  writePolicy: word.optional(),
  poolName: word.optional(),
  threadConfig: word.optional(),
});

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link VdoInput} agree. */
export const vdoUnit = defineTarget({
  type: 'vdo',
  shape: {
    storageDevice: deviceSchema,
    storageSizeBlocks: u64Schema.optional(),
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
    legacy: legacySchema.optional(),
  },
  check(t, ctx) {
    checkLegacy(t, ctx);
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
    const dev = ctx.dev(t.storageDevice, 'storageDevice');
    const io = String(t.minimumIoSizeBytes);
    const cache = [String(t.blockMapCacheSizeBlocks), String(t.blockMapEraLengthBlocks)];
    const l = t.legacy;
    if (!l) return ['V4', dev, String(t.storageSizeBlocks), io, ...cache, ...opts];
    // parse_device_config()'s order for the older versions (checkLegacy made sure each word is there).
    const v = l.version;
    return [
      ...(v >= 1 ? [`V${v}`, dev, String(t.storageSizeBlocks)] : [dev]), io,
      ...(v <= 1 ? l.readCache! : []), ...cache,
      ...(v <= 2 ? [l.raid5Mode!] : []), l.writePolicy!,
      ...(v <= 2 ? [l.poolName!] : []),
      ...(v <= 1 ? [l.threadConfig!] : opts),
    ];
  },
  parse(c: Cursor): VdoParams {
    // get_version_number(): `V<n>` first (1…4), or no version word at all (V0).
    const words = c.remaining;
    const first = c.peek() ?? '';
    const tagged = /^V\d+$/.test(first);
    const version = tagged ? Number(first.slice(1)) : 0;
    if (tagged && (version < 1 || version > 4)) c.fail('BAD_VALUE', 'version', 'V1…V4 (or none: V0)', first);
    const need = REQUIRED_WORDS[version as 0 | 1 | 2 | 3 | 4];
    if (version <= 1 ? words !== need : words < need) c.fail('BAD_VALUE', 'version', `a V${version} line has ${version <= 1 ? '' : 'at least '}${need} words, this one ${words}`);
    if (tagged) c.next('version');
    const storageDevice = c.next('storageDevice');
    const storageSizeBlocks = version >= 1 ? c.big('storageSizeBlocks') : undefined;
    const io = c.oneOf('minimumIoSizeBytes', ['512', '4096'] as const);
    const readCache = version <= 1 ? [c.next('readCache'), c.next('readCache')] as const : undefined;
    const p: Mutable<VdoParams> = {
      storageDevice, ...(storageSizeBlocks !== undefined ? { storageSizeBlocks } : {}), minimumIoSizeBytes: io === '512' ? 512 : 4096,
      blockMapCacheSizeBlocks: c.num('blockMapCacheSizeBlocks'), blockMapEraLengthBlocks: c.num('blockMapEraLengthBlocks'),
    };
    if (version < 4) {
      const legacy: Mutable<VdoLegacyLine> = { version: version as 0 | 1 | 2 | 3 };
      if (readCache) legacy.readCache = readCache;
      if (version <= 2) legacy.raid5Mode = c.next('raid5Mode');
      legacy.writePolicy = c.next('writePolicy');
      if (version <= 2) legacy.poolName = c.next('poolName');
      if (version <= 1) {
        legacy.threadConfig = c.next('threadConfig');
        readThreadConfig(c, legacy.threadConfig, p);
      }
      p.legacy = legacy;
      if (version <= 1) { c.end(); return p; }
    }
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

/** Each version's words are there, and only those (storageSizeBlocks: all but V0; pairs: V2 and later). */
function checkLegacy(t: { storageSizeBlocks?: unknown; legacy?: z.output<typeof legacySchema>; maxDiscardBlocks?: number; compression?: boolean; deduplication?: boolean }, ctx: z.RefinementCtx): void {
  const v = t.legacy?.version ?? 4;
  const l = t.legacy ?? {};
  if ((v >= 1) !== (t.storageSizeBlocks !== undefined)) ctx.addIssue({ code: 'custom', path: ['storageSizeBlocks'], message: v >= 1 ? 'is required' : 'is not part of a V0 line' });
  const want: [keyof VdoLegacyLine, boolean][] = [['readCache', v <= 1], ['raid5Mode', v <= 2], ['writePolicy', v <= 3], ['poolName', v <= 2], ['threadConfig', v <= 1]];
  for (const [k, needed] of want) {
    if (v === 4) break;
    if (needed !== ((l as VdoLegacyLine)[k] !== undefined)) ctx.addIssue({ code: 'custom', path: ['legacy', k], message: needed ? `is required in a V${v} line` : `is not part of a V${v} line` });
  }
  // V0 and V1 take no key/value pairs: their threads are in threadConfig.
  if (v <= 1 && (t.maxDiscardBlocks !== undefined || t.compression !== undefined || t.deduplication !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['legacy', 'version'], message: 'a V0/V1 line has no maxDiscard, compression or deduplication' });
  }
}

/** A V0/V1 thread word (`.` or `key=n,…`) into the thread fields; unknown keys are ignored, as the kernel does. */
function readThreadConfig(c: Cursor, text: string, p: Mutable<VdoParams>): void {
  if (text === '.') return;
  for (const spec of text.split(',')) {
    const m = /^([^=]*)=(\d{1,10})$/.exec(spec);
    if (!m || Number(m[2]) > 0xffffffff) c.fail('BAD_VALUE', 'threadConfig', 'key=count pairs separated by commas, or "."', text);
    const f = THREAD_KEYS.find(([k]) => k === m[1]);
    if (f) p[f[1]] = Number(m[2]);
  }
}

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
