/**
 * integrity (dm-integrity.rst; dm_integrity_status()). HMAC and journal keys are bytes,
 * written as hex straight into the params bytes; parsed output redacts them unless `showKeys`.
 */
import { z } from 'zod';
import { optBig, optNum, splitOption, unhex, type Cursor, type Piece, type RedactedKey, type Token } from './common.js';
import { bytesSchema, deviceSchema, posU32Schema, u32Schema, u64Schema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { Bytes, DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** An algorithm with an optional key: `internal_hash:hmac(sha256):<hex key>`. */
export interface IntegrityAlgorithm {
  readonly algorithm: string;
  readonly key?: Uint8Array | RedactedKey;
}

/** The `integrity` target's parameters (key-carrying: its hash/journal keys are bytes). */
export interface IntegrityParams {
  readonly device: string;
  /** Reserved 512-byte sectors at the start of the device (`<offset>`). */
  readonly offsetSectors: bigint;
  /** Tag bytes per sector (`<tag_size>`; 0 = decided by internal_hash). */
  readonly tagSizeBytes: number;
  /** D direct, J journal, B bitmap, R recovery, I inline (6.11+). */
  readonly mode: 'D' | 'J' | 'B' | 'R' | 'I';
  readonly metaDevice?: string;
  /** The integrity block size in bytes (`block_size`; 512 is the default and not printed). */
  readonly blockSizeBytes?: number;
  readonly recalculate?: true;
  readonly resetRecalculate?: true;
  readonly allowDiscards?: true;
  /** Derived from the device size when not given: normalise cannot fill it in. */
  readonly journalSectors?: number;
  readonly interleaveSectors?: number;
  readonly bufferSectors?: number;
  /** Flush the journal when it is this full, in percent (`journal_watermark`). */
  readonly journalWatermarkPercent?: number;
  /** Commit the journal at least this often, in milliseconds (`commit_time`). */
  readonly commitTimeMs?: number;
  /** 512-byte sectors one bitmap bit covers (`sectors_per_bit`). */
  readonly sectorsPerBit?: bigint;
  /** Flush the bitmap at least this often, in milliseconds (`bitmap_flush_interval`). */
  readonly bitmapFlushIntervalMs?: number;
  readonly fixPadding?: true;
  readonly fixHmac?: true;
  readonly legacyRecalculate?: true;
  readonly internalHash?: IntegrityAlgorithm;
  readonly journalCrypt?: IntegrityAlgorithm;
  readonly journalMac?: IntegrityAlgorithm;
  /**
   * The option names (`journal_sectors`, `fix_padding`, …) in the order the kernel printed
   * them, when that differs from the builder's order (which is 5.10–6.x's): newer kernels
   * print `interleave_sectors buffer_sectors` before `journal_sectors`. Set by the parser so
   * that a parsed line rebuilds to the kernel's text; omit it when building.
   */
  readonly optionOrder?: readonly string[];
}

/** The `integrity` target's status. */
export interface IntegrityStatus {
  readonly mismatches: bigint;
  readonly providedDataSectors: bigint;
  /** Where recalculation has got to, or null when not recalculating. */
  readonly recalculatePosition: bigint | null;
  readonly extra: readonly string[];
}

const flag = z.boolean().optional();
const alg = z.strictObject({ algorithm: z.string().regex(/^[^\s:]+$/, 'one word without ":"'), key: bytesSchema.optional() });

const FLAGS = [
  ['recalculate', 'recalculate'],
  ['resetRecalculate', 'reset_recalculate'],
  ['allowDiscards', 'allow_discards'],
  ['fixPadding', 'fix_padding'],
  ['fixHmac', 'fix_hmac'],
  ['legacyRecalculate', 'legacy_recalculate'],
] as const;
const NUMS = [
  ['journalSectors', 'journal_sectors'],
  ['interleaveSectors', 'interleave_sectors'],
  ['bufferSectors', 'buffer_sectors'],
  ['journalWatermarkPercent', 'journal_watermark'],
  ['commitTimeMs', 'commit_time'],
  ['bitmapFlushIntervalMs', 'bitmap_flush_interval'],
] as const;
const ALGS = [['internalHash', 'internal_hash'], ['journalCrypt', 'journal_crypt'], ['journalMac', 'journal_mac']] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** An algorithm of an `integrity` builder input, with its key when it takes one. */
export interface IntegrityAlgorithmInput {
  /** The kernel crypto API name (`crc32c`, `hmac(sha256)`). */
  readonly algorithm: string;
  /** The key's bytes, for a keyed algorithm. */
  readonly key?: Bytes;
}
/**
 * The `integrity` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface IntegrityInput {
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Reserved 512-byte sectors at the start of the device (`<offset>`). */
  readonly offsetSectors: number | bigint;
  /** Tag bytes per sector (`<tag_size>`; 0 = decided by internal_hash). */
  readonly tagSizeBytes: number;
  /** D direct, J journal, B bitmap, R recovery, I inline (6.11+). */
  readonly mode: 'D' | 'J' | 'B' | 'R' | 'I';
  /** The meta device: a path, `major:minor` or `{ major, minor }`. */
  readonly metaDevice?: DeviceRef;
  /** The integrity block size in bytes (`block_size`; 512 is the default and not printed). */
  readonly blockSizeBytes?: number;
  /** `true` adds the `recalculate` option word. */
  readonly recalculate?: boolean;
  /** `true` adds the `reset_recalculate` option word. */
  readonly resetRecalculate?: boolean;
  /** `true` adds the `allow_discards` option word. */
  readonly allowDiscards?: boolean;
  /** `true` adds the `fix_padding` option word. */
  readonly fixPadding?: boolean;
  /** `true` adds the `fix_hmac` option word. */
  readonly fixHmac?: boolean;
  /** `true` adds the `legacy_recalculate` option word. */
  readonly legacyRecalculate?: boolean;
  /** The journal's size in 512-byte sectors (`journal_sectors`); derived from the device size when not given: normalise cannot fill it in. */
  readonly journalSectors?: number;
  /** 512-byte sectors interleaved between metadata and data (`interleave_sectors`). */
  readonly interleaveSectors?: number;
  /** 512-byte sectors in one metadata buffer (`buffer_sectors`). */
  readonly bufferSectors?: number;
  /** Flush the journal when it is this full, in percent (`journal_watermark`). */
  readonly journalWatermarkPercent?: number;
  /** Commit the journal at least this often, in milliseconds (`commit_time`). */
  readonly commitTimeMs?: number;
  /** 512-byte sectors one bitmap bit covers (`sectors_per_bit`). */
  readonly sectorsPerBit?: number | bigint;
  /** Flush the bitmap at least this often, in milliseconds (`bitmap_flush_interval`). */
  readonly bitmapFlushIntervalMs?: number;
  /** The tag algorithm and its key, if keyed (`internal_hash:<alg>[:<key>]`). */
  readonly internalHash?: IntegrityAlgorithmInput;
  /** The journal encryption algorithm and key (`journal_crypt:<alg>[:<key>]`). */
  readonly journalCrypt?: IntegrityAlgorithmInput;
  /** The journal MAC algorithm and key (`journal_mac:<alg>[:<key>]`). */
  readonly journalMac?: IntegrityAlgorithmInput;
  /**
   * The option names (`journal_sectors`, `fix_padding`, …) in the order the kernel printed
   * them, when that differs from the builder's order (which is 5.10–6.x's): newer kernels
   * print `interleave_sectors buffer_sectors` before `journal_sectors`. Set by the parser so
   * that a parsed line rebuilds to the kernel's text; omit it when building.
   */
  readonly optionOrder?: string[];
}
/** One `integrity` table line as a builder takes it: the line head and {@link IntegrityInput}. */
export interface IntegrityTarget extends LineHead<'integrity'>, IntegrityInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link IntegrityInput} agree. */
export const integrityUnit = defineTarget({
  type: 'integrity',
  shape: {
    device: deviceSchema,
    offsetSectors: u64Schema,
    tagSizeBytes: u32Schema,
    mode: z.enum(['D', 'J', 'B', 'R', 'I']),
    metaDevice: deviceSchema.optional(),
    blockSizeBytes: z.number().int().min(512).max(4096).refine((n) => (n & (n - 1)) === 0, 'a power of two').optional(),
    recalculate: flag, resetRecalculate: flag, allowDiscards: flag, fixPadding: flag, fixHmac: flag, legacyRecalculate: flag,
    journalSectors: posU32Schema.optional(),
    interleaveSectors: posU32Schema.optional(),
    bufferSectors: posU32Schema.optional(),
    journalWatermarkPercent: z.number().int().min(0).max(100).optional(),
    commitTimeMs: u32Schema.optional(),
    sectorsPerBit: u64Schema.optional(),
    bitmapFlushIntervalMs: u32Schema.optional(),
    internalHash: alg.optional(),
    journalCrypt: alg.optional(),
    journalMac: alg.optional(),
    optionOrder: z.array(z.string().regex(/^[a-z_]+$/, 'an option name')).max(64).optional(),
  },
  hasKeys: (t) => ALGS.some(([k]) => (t[k]?.key?.length ?? 0) > 0),
  // The kernel's order (dm_integrity_status, 5.10–6.x), so a rendered line reads back
  // unchanged; `optionOrder` (from a parsed line of a newer kernel) reorders the options.
  render(t, ctx) {
    const args = optionTokens(t, ctx.dev, ctx.key);
    const order = t.optionOrder;
    if (order) {
      const rank = (name: string) => { const i = order.indexOf(name); return i < 0 ? order.length : i; };
      args.sort((a, b) => rank(a[0]) - rank(b[0])); // stable: unlisted options keep their place
    }
    return [ctx.dev(t.device, 'device'), String(t.offsetSectors), String(t.tagSizeBytes), t.mode, String(args.length), ...args.map(([, tok]) => tok)];
  },
  parse(c: Cursor): IntegrityParams {
    const device = c.dev('device');
    const offsetSectors = c.big('offsetSectors');
    const tag = c.next('tagSizeBytes');
    const tagSizeBytes = tag === '-' ? 0 : /^\d{1,9}$/.test(tag) ? Number(tag) : c.fail('BAD_NUMBER', 'tagSizeBytes', 'not a number', tag);
    const p: Mutable<IntegrityParams> = { device, offsetSectors, tagSizeBytes, mode: c.oneOf('mode', ['D', 'J', 'B', 'R', 'I'] as const) };
    const names: string[] = [];
    for (const word of c.counted('options', 64)) {
      const [name, value] = splitOption(word);
      names.push(name);
      const f = FLAGS.find(([, w]) => w === word);
      const n = NUMS.find(([, w]) => w === name);
      const a = ALGS.find(([, w]) => w === name);
      if (f) p[f[0]] = true;
      else if (n) p[n[0]] = optNum(c, n[0], value);
      else if (a) {
        const [algorithm, key] = splitOption(value ?? '');
        if (!algorithm) c.fail('BAD_VALUE', a[0], 'missing algorithm');
        let bytes: Uint8Array | undefined;
        if (key !== undefined) {
          bytes = unhex(key);
          if (!bytes) c.fail('BAD_VALUE', `${a[0]}.key`, 'not hex');
        }
        p[a[0]] = bytes ? { algorithm, key: bytes } : { algorithm };
      } else if (name === 'meta_device') {
        const m = /^(\d{1,4}):(\d{1,7})$/.exec(value ?? '');
        if (!m) c.fail('BAD_DEVICE', 'metaDevice', 'not major:minor', value);
        p.metaDevice = `${Number(m[1])}:${Number(m[2])}`;
      } else if (name === 'block_size') p.blockSizeBytes = optNum(c, 'blockSizeBytes', value);
      else if (name === 'sectors_per_bit') p.sectorsPerBit = optBig(c, 'sectorsPerBit', value);
      else c.fail('BAD_VALUE', 'options', 'unknown option', name);
    }
    c.end();
    const builderOrder = optionTokens(p, (ref) => String(ref), () => '').map(([n]) => n);
    if (builderOrder.join(' ') !== names.join(' ')) p.optionOrder = names;
    return p;
  },
  redact(p) {
    let out = p;
    for (const [k] of ALGS) {
      const a = out[k];
      if (a?.key instanceof Uint8Array) out = { ...out, [k]: { algorithm: a.algorithm, key: { redacted: true, sizeBytes: a.key.length } } };
    }
    return out;
  },
  /**
   * What dm-integrity fills in (journal_sectors depends on the device and is left alone). In
   * mode R the kernel prints the superblock's interleave and its buffer size like D's
   * (measured on 6.1); in mode I (no superblock interleave, no journal) only its buffer size
   * (measured on 7.3: `I 2 buffer_sectors:128 internal_hash:crc32c`).
   */
  defaults(p, ctx) {
    const out: Mutable<IntegrityParams> = { ...p };
    if (out.blockSizeBytes === 512) delete out.blockSizeBytes;
    // 7.3 (dm 4.50) prints journal_sectors only in mode J (measured); 6.1 and 6.12 in every mode.
    const k = ctx.kernel;
    if (k && (k[0] > 4 || (k[0] === 4 && k[1] >= 50)) && out.mode !== 'J') delete out.journalSectors;
    out.bufferSectors ??= 128;
    if (out.mode === 'I') return out;
    out.interleaveSectors ??= out.metaDevice === undefined ? 32768 : 1;
    if (out.mode === 'J') {
      out.journalWatermarkPercent ??= 50;
      out.commitTimeMs ??= 10000;
    }
    if (out.mode === 'B') {
      out.sectorsPerBit ??= 32768n;
      out.bitmapFlushIntervalMs ??= 10000;
    }
    return out;
  },
  status(c): IntegrityStatus {
    const mismatches = c.big('mismatches');
    const providedDataSectors = c.big('providedDataSectors');
    const r = c.done ? '-' : c.next('recalculatePosition');
    if (r !== '-' && !/^\d{1,20}$/.test(r)) c.fail('BAD_NUMBER', 'recalculatePosition', 'not a number or -', r);
    return { mismatches, providedDataSectors, recalculatePosition: r === '-' ? null : BigInt(r), extra: c.rest() };
  },
});

/** The `integrity` target: builder, table parser and status parser (key-carrying). */
export const integrity: TargetUnit<'integrity', IntegrityInput, IntegrityParams, IntegrityStatus> = integrityUnit;

/** What optionTokens reads: builder input or parsed params (devices as paths, numbers or objects). */
type OptionSource = {
  readonly [K in (typeof FLAGS)[number][0] | (typeof NUMS)[number][0]]?: unknown;
} & {
  readonly metaDevice?: string | { readonly major: number; readonly minor: number };
  readonly blockSizeBytes?: number;
  readonly sectorsPerBit?: bigint | number;
} & { readonly [K in (typeof ALGS)[number][0]]?: { readonly algorithm: string; readonly key?: unknown } };

/** The options as [name, token] pairs in the builder's (5.10–6.x kernels') order. */
function optionTokens(
  t: OptionSource,
  dev: (ref: string | { readonly major: number; readonly minor: number }, field: string) => string,
  key: (bytes: Uint8Array) => Piece,
): [string, Token][] {
  const args: [string, Token][] = [];
  if (t.metaDevice !== undefined) args.push(['meta_device', `meta_device:${dev(t.metaDevice, 'metaDevice')}`]);
  if (t.blockSizeBytes !== undefined && t.blockSizeBytes !== 512) args.push(['block_size', `block_size:${t.blockSizeBytes}`]);
  for (const [k, w] of FLAGS.slice(0, 3)) if (t[k]) args.push([w, w]);
  for (const [k, w] of NUMS.slice(0, 5)) if (t[k] !== undefined) args.push([w, `${w}:${String(t[k])}`]);
  if (t.sectorsPerBit !== undefined) args.push(['sectors_per_bit', `sectors_per_bit:${t.sectorsPerBit}`]);
  if (t.bitmapFlushIntervalMs !== undefined) args.push(['bitmap_flush_interval', `bitmap_flush_interval:${String(t.bitmapFlushIntervalMs)}`]);
  for (const [k, w] of FLAGS.slice(3)) if (t[k]) args.push([w, w]);
  for (const [k, w] of ALGS) {
    const a = t[k];
    if (!a) continue;
    args.push([w, a.key instanceof Uint8Array && a.key.length > 0 ? [`${w}:${a.algorithm}:`, key(a.key)] : `${w}:${a.algorithm}`]);
  }
  return args;
}
