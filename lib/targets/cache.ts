/** cache, writecache and era (cache.rst, writecache.rst, era.rst). */
import { z } from 'zod';
import { Cursor, denseArray } from './common.js';
import { checked, deviceSchema, posU32Schema, u32Schema, u64Schema, wordSchema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// -------------------------------------------------------------------- cache ---

/** The `cache` target's parameters. */
export interface CacheParams {
  readonly metadataDevice: string;
  readonly cacheDevice: string;
  readonly originDevice: string;
  /** Cache block size in 512-byte sectors (64…2097152, a multiple of 64; the table's `<block size>`). */
  readonly blockSizeSectors: number;
  /** Omitted = the kernel's default (writeback). */
  readonly ioMode?: 'writethrough' | 'writeback' | 'passthrough';
  readonly metadata2?: true;
  readonly noDiscardPassdown?: true;
  /** `smq` (also `mq`, an alias of smq), `cleaner`, `default`. */
  readonly policy: string;
  /** Policy tunables as `key value` pairs, echoed by the kernel as given. */
  readonly policyArgs: Readonly<Record<string, string>>;
}

/** The `cache` target's status (or `Fail`/`Error`). */
export type CacheStatus =
  | {
    readonly health: 'ok';
    /** Metadata block size in sectors. */
    /** Metadata block size in 512-byte sectors. */
    readonly metadataBlockSizeSectors: number;
    readonly usedMetadataBlocks: bigint;
    readonly totalMetadataBlocks: bigint;
    /** Cache block size in 512-byte sectors. */
    readonly cacheBlockSizeSectors: number;
    readonly usedCacheBlocks: bigint;
    readonly totalCacheBlocks: bigint;
    readonly readHits: bigint;
    readonly readMisses: bigint;
    readonly writeHits: bigint;
    readonly writeMisses: bigint;
    readonly demotions: bigint;
    readonly promotions: bigint;
    readonly dirty: bigint;
    /** e.g. `['writethrough']`, `['metadata2', 'writeback']`. */
    readonly features: readonly string[];
    /** Core tunables, e.g. `{ migration_threshold: '2048' }`. */
    readonly coreArgs: Readonly<Record<string, string>>;
    readonly policy: string;
    readonly policyArgs: Readonly<Record<string, string>>;
    readonly metadataMode: 'rw' | 'ro';
    readonly needsCheck: boolean;
    readonly extra: readonly string[];
  }
  | { readonly health: 'fail' | 'error'; readonly extra: readonly string[] };

const argValue = z.union([wordSchema, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]);

/**
 * Policy arguments: one-word keys, word or integer values. Checked by hand rather than
 * with `z.record`, whose output object is built by assignment and silently drops a
 * `__proto__` key; this returns the caller's object, every own key intact.
 */
const policyArgsSchema = z.custom<Readonly<Record<string, string | number>>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
    && Object.entries(v).every(([k, x]) => wordSchema.safeParse(k).success && argValue.safeParse(x).success),
  'policyArgs must be an object of one-word keys with word or non-negative integer values',
);

function pairs(c: Cursor, field: string, words: readonly string[]): Record<string, string> {
  if (words.length % 2 !== 0) c.fail('BAD_VALUE', field, 'an odd number of key/value words');
  // Keys are the table's words: defined as own properties, so `__proto__` is kept as a key
  // instead of silently replacing the object's prototype (plain assignment would).
  const out: Record<string, string> = {};
  for (let i = 0; i < words.length; i += 2) Object.defineProperty(out, words[i]!, { value: words[i + 1]!, enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * The `cache` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface CacheInput {
  /** The metadata device: a path, `major:minor` or `{ major, minor }`. */
  readonly metadataDevice: DeviceRef;
  /** The cache device: a path, `major:minor` or `{ major, minor }`. */
  readonly cacheDevice: DeviceRef;
  /** The origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly originDevice: DeviceRef;
  /** Cache block size in 512-byte sectors (64…2097152, a multiple of 64; the table's `<block size>`). */
  readonly blockSizeSectors: number;
  /** `smq` (also `mq`, an alias of smq), `cleaner`, `default`. */
  readonly policy: string;
  /** Omitted = the kernel's default (writeback). */
  readonly ioMode?: 'writethrough' | 'writeback' | 'passthrough';
  /** `true` adds the `metadata2` option word. */
  readonly metadata2?: boolean;
  /** `true` adds the `no_discard_passdown` option word. */
  readonly noDiscardPassdown?: boolean;
  /** Policy tunables as `key value` pairs, echoed by the kernel as given. */
  readonly policyArgs?: Readonly<Record<string, string | number>>;
}
/** One `cache` table line as a builder takes it: the line head and {@link CacheInput}. */
export interface CacheTarget extends LineHead<'cache'>, CacheInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link CacheInput} agree. */
export const cacheUnit = defineTarget({
  type: 'cache',
  shape: {
    metadataDevice: deviceSchema,
    cacheDevice: deviceSchema,
    originDevice: deviceSchema,
    blockSizeSectors: z.number().int().min(64).max(2097152).multipleOf(64),
    ioMode: z.enum(['writethrough', 'writeback', 'passthrough']).optional(),
    metadata2: z.boolean().optional(),
    noDiscardPassdown: z.boolean().optional(),
    policy: wordSchema,
    policyArgs: policyArgsSchema.optional(),
  },
  // The kernel echoes the constructor args after the three devices verbatim, so the order
  // of the features is the creator's. Render them in libdevmapper's order (`metadata2`, then
  // the io mode, then `no_discard_passdown`): LVM2 creates the cache devices users have, and
  // their kernel text must rebuild byte for byte (docs/kernel-facts.md, "Real tools").
  render(t, ctx) {
    const feats: string[] = [];
    if (t.metadata2) feats.push('metadata2');
    if (t.ioMode) feats.push(t.ioMode);
    if (t.noDiscardPassdown) feats.push('no_discard_passdown');
    const args = Object.entries(t.policyArgs ?? {}).flatMap(([k, v]) => [k, String(v)]);
    return [
      ctx.dev(t.metadataDevice, 'metadataDevice'), ctx.dev(t.cacheDevice, 'cacheDevice'), ctx.dev(t.originDevice, 'originDevice'),
      String(t.blockSizeSectors), String(feats.length), ...feats, t.policy, String(args.length), ...args,
    ];
  },
  parse(c): CacheParams {
    const p: Mutable<Omit<CacheParams, 'policy' | 'policyArgs'>> = {
      metadataDevice: c.dev('metadataDevice'), cacheDevice: c.dev('cacheDevice'), originDevice: c.dev('originDevice'), blockSizeSectors: c.num('blockSizeSectors'),
    };
    for (const w of c.counted('features', 16)) {
      if (w === 'writethrough' || w === 'writeback' || w === 'passthrough') p.ioMode = w;
      else if (w === 'metadata2') p.metadata2 = true;
      else if (w === 'no_discard_passdown') p.noDiscardPassdown = true;
      else c.fail('BAD_VALUE', 'features', 'unknown feature', w);
    }
    const policy = c.next('policy');
    const policyArgs = pairs(c, 'policyArgs', c.counted('policyArgs', 256));
    c.end();
    return { ...p, policy, policyArgs };
  },
  defaults: (p) => ({ ...p, policyArgs: p.policyArgs ?? {} }),
  status(c): CacheStatus {
    const first = c.peek();
    if (first === 'Fail' || first === 'Error') {
      c.next('health');
      return { health: first === 'Fail' ? 'fail' : 'error', extra: c.rest() };
    }
    const metadataBlockSizeSectors = c.num('metadataBlockSizeSectors');
    const meta = c.ratio('metadata');
    const cacheBlockSizeSectors = c.num('cacheBlockSizeSectors');
    const blocks = c.ratio('cacheBlocks');
    const counters = (['readHits', 'readMisses', 'writeHits', 'writeMisses', 'demotions', 'promotions', 'dirty'] as const).map((f) => c.big(f));
    const features = c.counted('features', 16);
    const coreArgs = pairs(c, 'coreArgs', c.counted('coreArgs', 256));
    const policy = c.next('policy');
    const policyArgs = pairs(c, 'policyArgs', c.counted('policyArgs', 256));
    const metadataMode = c.oneOf('metadataMode', ['rw', 'ro'] as const);
    const check = c.done ? '-' : c.oneOf('needsCheck', ['needs_check', '-'] as const);
    const [readHits, readMisses, writeHits, writeMisses, demotions, promotions, dirty] = counters as [bigint, bigint, bigint, bigint, bigint, bigint, bigint];
    return {
      health: 'ok', metadataBlockSizeSectors, usedMetadataBlocks: meta.used, totalMetadataBlocks: meta.total,
      cacheBlockSizeSectors, usedCacheBlocks: blocks.used, totalCacheBlocks: blocks.total,
      readHits, readMisses, writeHits, writeMisses, demotions, promotions, dirty,
      features, coreArgs, policy, policyArgs, metadataMode, needsCheck: check === 'needs_check', extra: c.rest(),
    };
  },
});

/** The `cache` target: builder, table parser and status parser. */
export const cache: TargetUnit<'cache', CacheInput, CacheParams, CacheStatus> = cacheUnit;

/** Messages a cache understands: core and policy tunables (`migration_threshold`, …). */
export const cacheMessage = {
  /** A `<key> <value>` message setting a cache policy tunable. */
  set: (key: string, value: string | number): string => `${checked(wordSchema, key, 'cache', 'key')} ${checked(argValue, value, 'cache', 'value')}`,
  /** `invalidate_cblocks <cblock>|<begin>-<end>…` (passthrough mode only). */
  invalidateCblocks: (ranges: readonly (number | readonly [number, number])[]): string =>
    `invalidate_cblocks ${denseArray(ranges, 'cache', 'ranges').map((r, i) => (typeof r === 'number'
      ? String(checked(u32Schema, r, 'cache', `ranges[${i}]`))
      : `${checked(u32Schema, denseArray(r, 'cache', `ranges[${i}]`)[0], 'cache', `ranges[${i}][0]`)}-${checked(u32Schema, (r as readonly unknown[])[1], 'cache', `ranges[${i}][1]`)}`)).join(' ')}`,
} as const;

// --------------------------------------------------------------- writecache ---

/** The `writecache` target's parameters. */
export interface WritecacheParams {
  /** `p` persistent memory, `s` SSD. */
  readonly mode: 'p' | 's';
  readonly originDevice: string;
  readonly cacheDevice: string;
  /** Bytes (512…page size, a power of two). */
  readonly blockSizeBytes: number;
  /** Where the cache data starts on the cache device, in 512-byte sectors (`start_sector`). */
  readonly startSectors?: bigint;
  /** Start writeback above this much of the cache in use, in percent (`high_watermark`). */
  readonly highWatermarkPercent?: number;
  /** Stop writeback below this much of the cache in use, in percent (`low_watermark`). */
  readonly lowWatermarkPercent?: number;
  readonly writebackJobs?: number;
  readonly autocommitBlocks?: number;
  /** Milliseconds; the kernel keeps jiffies, so use multiples of 1000/HZ to read back exactly. */
  readonly autocommitTimeMs?: number;
  /** Write back blocks older than this, in milliseconds (`max_age`). */
  readonly maxAgeMs?: number;
  readonly cleaner?: true;
  /** true = `fua`, false = `nofua`. */
  readonly fua?: boolean;
  readonly metadataOnly?: true;
  /** Pause writeback for this long after a write, in milliseconds (`pause_writeback`). */
  readonly pauseWritebackMs?: number;
}

/** The `writecache` target's status. */
export interface WritecacheStatus {
  /** 0, or the error number the cache failed with. */
  readonly error: number;
  /** Cache blocks (of the table's `blockSizeBytes`) in all. */
  readonly totalBlocks: bigint;
  readonly freeBlocks: bigint;
  readonly writebackBlocks: bigint;
  /** Statistics (kernels 5.15+); undefined on older ones. */
  readonly stats: {
    readonly reads: bigint; readonly readHits: bigint; readonly writes: bigint;
    readonly writeHitsUncommitted: bigint; readonly writeHitsCommitted: bigint;
    readonly writesAround: bigint; readonly writesAllocate: bigint; readonly writesBlockedOnFreelist: bigint;
    readonly flushes: bigint; readonly discards: bigint;
  } | undefined;
  readonly extra: readonly string[];
}

const WC_NUMS = [
  ['highWatermarkPercent', 'high_watermark'], ['lowWatermarkPercent', 'low_watermark'], ['writebackJobs', 'writeback_jobs'],
  ['autocommitBlocks', 'autocommit_blocks'], ['autocommitTimeMs', 'autocommit_time'], ['maxAgeMs', 'max_age'],
] as const;

/**
 * The `writecache` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface WritecacheInput {
  /** `p` persistent memory, `s` SSD. */
  readonly mode: 'p' | 's';
  /** The origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly originDevice: DeviceRef;
  /** The cache device: a path, `major:minor` or `{ major, minor }`. */
  readonly cacheDevice: DeviceRef;
  /** Bytes (512…page size, a power of two). */
  readonly blockSizeBytes: number;
  /** Where the cache data starts on the cache device, in 512-byte sectors (`start_sector`). */
  readonly startSectors?: number | bigint;
  /** Start writeback above this much of the cache in use, in percent (`high_watermark`). */
  readonly highWatermarkPercent?: number;
  /** Stop writeback below this much of the cache in use, in percent (`low_watermark`). */
  readonly lowWatermarkPercent?: number;
  /** How many blocks may be written back at once (`writeback_jobs`), a count. */
  readonly writebackJobs?: number;
  /** Commit after this many blocks are written (`autocommit_blocks`), a count. */
  readonly autocommitBlocks?: number;
  /** Milliseconds; the kernel keeps jiffies, so use multiples of 1000/HZ to read back exactly. */
  readonly autocommitTimeMs?: number;
  /** Write back blocks older than this, in milliseconds (`max_age`). */
  readonly maxAgeMs?: number;
  /** `true` adds the `cleaner` option word. */
  readonly cleaner?: boolean;
  /** true = `fua`, false = `nofua`. */
  readonly fua?: boolean;
  /** `true` adds the `metadata_only` option word. */
  readonly metadataOnly?: boolean;
  /** Pause writeback for this long after a write, in milliseconds (`pause_writeback`). */
  readonly pauseWritebackMs?: number;
}
/** One `writecache` table line as a builder takes it: the line head and {@link WritecacheInput}. */
export interface WritecacheTarget extends LineHead<'writecache'>, WritecacheInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link WritecacheInput} agree. */
export const writecacheUnit = defineTarget({
  type: 'writecache',
  shape: {
    mode: z.enum(['p', 's']),
    originDevice: deviceSchema,
    cacheDevice: deviceSchema,
    blockSizeBytes: z.number().int().min(512).max(65536).refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    startSectors: u64Schema.optional(),
    highWatermarkPercent: z.number().int().min(0).max(100).optional(),
    lowWatermarkPercent: z.number().int().min(0).max(100).optional(),
    writebackJobs: u32Schema.optional(),
    autocommitBlocks: u32Schema.optional(),
    autocommitTimeMs: u32Schema.optional(),
    maxAgeMs: u32Schema.optional(),
    cleaner: z.boolean().optional(),
    fua: z.boolean().optional(),
    metadataOnly: z.boolean().optional(),
    pauseWritebackMs: u32Schema.optional(),
  },
  // writecache_status()'s order.
  render(t, ctx) {
    const a: string[] = [];
    if (t.startSectors !== undefined) a.push('start_sector', String(t.startSectors));
    for (const [k, w] of WC_NUMS) if (t[k] !== undefined) a.push(w, String(t[k]));
    if (t.cleaner) a.push('cleaner');
    if (t.fua !== undefined) a.push(t.fua ? 'fua' : 'nofua');
    if (t.metadataOnly) a.push('metadata_only');
    if (t.pauseWritebackMs !== undefined) a.push('pause_writeback', String(t.pauseWritebackMs));
    return [t.mode, ctx.dev(t.originDevice, 'originDevice'), ctx.dev(t.cacheDevice, 'cacheDevice'), String(t.blockSizeBytes), String(a.length), ...a];
  },
  parse(c): WritecacheParams {
    const p: Mutable<WritecacheParams> = {
      mode: c.oneOf('mode', ['p', 's'] as const), originDevice: c.dev('originDevice'), cacheDevice: c.dev('cacheDevice'), blockSizeBytes: c.num('blockSizeBytes'),
    };
    const a = new Cursor(c.target, c.counted('options', 64).join(' '));
    while (!a.done) {
      const w = a.next('options');
      const n = WC_NUMS.find(([, word]) => word === w);
      if (n) p[n[0]] = a.num(n[0]);
      else if (w === 'start_sector') p.startSectors = a.big('startSectors');
      else if (w === 'cleaner') p.cleaner = true;
      else if (w === 'fua' || w === 'nofua') p.fua = w === 'fua';
      else if (w === 'metadata_only') p.metadataOnly = true;
      else if (w === 'pause_writeback') p.pauseWritebackMs = a.num('pauseWritebackMs');
      else a.fail('BAD_VALUE', 'options', 'unknown option', w);
    }
    c.end();
    return p;
  },
  status(c): WritecacheStatus {
    const error = c.int('error');
    const totalBlocks = c.big('totalBlocks');
    const freeBlocks = c.big('freeBlocks');
    const writebackBlocks = c.big('writebackBlocks');
    let stats: WritecacheStatus['stats'];
    if (c.remaining >= 10) {
      const f = (['reads', 'readHits', 'writes', 'writeHitsUncommitted', 'writeHitsCommitted', 'writesAround', 'writesAllocate', 'writesBlockedOnFreelist', 'flushes', 'discards'] as const);
      const s: Record<string, bigint> = {};
      for (const k of f) s[k] = c.big(`stats.${k}`);
      stats = s as unknown as WritecacheStatus['stats'];
    }
    return { error, totalBlocks, freeBlocks, writebackBlocks, stats, extra: c.rest() };
  },
});

/** The `writecache` target: builder, table parser and status parser. */
export const writecache: TargetUnit<'writecache', WritecacheInput, WritecacheParams, WritecacheStatus> = writecacheUnit;

/** writecache messages: `flush`, `flush_on_suspend`, `cleaner`, `clear_stats` (5.15+). */
export const writecacheMessage = { flush: 'flush', flushOnSuspend: 'flush_on_suspend', cleaner: 'cleaner', clearStats: 'clear_stats' } as const;

// ---------------------------------------------------------------------- era ---

/** The `era` target's parameters. */
export interface EraParams {
  readonly metadataDevice: string;
  readonly originDevice: string;
  /** Block size in 512-byte sectors (`<block size>`). */
  readonly blockSizeSectors: number;
}

/** The `era` target's status. */
export interface EraStatus {
  /** Metadata block size in 512-byte sectors. */
  readonly metadataBlockSizeSectors: number;
  readonly usedMetadataBlocks: bigint;
  readonly totalMetadataBlocks: bigint;
  readonly currentEra: number;
  readonly heldMetadataRoot: bigint | null;
  readonly extra: readonly string[];
}

/**
 * The `era` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface EraInput {
  /** The metadata device: a path, `major:minor` or `{ major, minor }`. */
  readonly metadataDevice: DeviceRef;
  /** The origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly originDevice: DeviceRef;
  /** Block size in 512-byte sectors (`<block size>`). */
  readonly blockSizeSectors: number;
}
/** One `era` table line as a builder takes it: the line head and {@link EraInput}. */
export interface EraTarget extends LineHead<'era'>, EraInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link EraInput} agree. */
export const eraUnit = defineTarget({
  type: 'era',
  shape: { metadataDevice: deviceSchema, originDevice: deviceSchema, blockSizeSectors: posU32Schema },
  render: (t, ctx) => [ctx.dev(t.metadataDevice, 'metadataDevice'), ctx.dev(t.originDevice, 'originDevice'), String(t.blockSizeSectors)],
  parse(c): EraParams {
    const p = { metadataDevice: c.dev('metadataDevice'), originDevice: c.dev('originDevice'), blockSizeSectors: c.num('blockSizeSectors') };
    c.end();
    return p;
  },
  status(c): EraStatus {
    const metadataBlockSizeSectors = c.num('metadataBlockSizeSectors');
    const m = c.ratio('metadata');
    const currentEra = c.num('currentEra');
    const h = c.next('heldMetadataRoot');
    if (h !== '-' && !/^\d{1,20}$/.test(h)) c.fail('BAD_VALUE', 'heldMetadataRoot', 'not a block number or -', h);
    return { metadataBlockSizeSectors, usedMetadataBlocks: m.used, totalMetadataBlocks: m.total, currentEra, heldMetadataRoot: h === '-' ? null : BigInt(h), extra: c.rest() };
  },
});

/** The `era` target: builder, table parser and status parser. */
export const era: TargetUnit<'era', EraInput, EraParams, EraStatus> = eraUnit;

/** era messages. */
export const eraMessage = { checkpoint: 'checkpoint', takeMetadataSnap: 'take_metadata_snap', dropMetadataSnap: 'drop_metadata_snap' } as const;
