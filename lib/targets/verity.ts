/** verity (verity.rst; verity_status() in dm-verity-target.c). */
import { z } from 'zod';
import { Cursor, hex, unhex } from './common.js';
import { bytesSchema, deviceSchema, u64Schema, wordSchema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { Bytes, DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** verity's forward error correction (`use_fec_from_device …`). */
export interface VerityFec {
  readonly device: string;
  /** Reed-Solomon roots (parity bytes per codeword), 2…24 (`fec_roots`). */
  readonly roots: number;
  /** How many blocks (of `dataBlockSizeBytes`) the FEC covers (`fec_blocks`). */
  readonly encodingBlocks: bigint;
  /** Where the FEC data starts on its device, in blocks of `dataBlockSizeBytes` (`fec_start`). */
  readonly startBlocks: bigint;
}

/** The `verity` target's parameters. */
export interface VerityParams {
  readonly version: 0 | 1;
  readonly dataDevice: string;
  readonly hashDevice: string;
  /** Data block size in bytes (a power of two, 512…1 MiB; `<data_block_size>`). */
  readonly dataBlockSizeBytes: number;
  /** Hash block size in bytes (`<hash_block_size>`). */
  readonly hashBlockSizeBytes: number;
  /** How many data blocks (of `dataBlockSizeBytes`) are verified (`<num_data_blocks>`). */
  readonly dataBlocks: bigint;
  /** Where the hash tree's root block is on `hashDevice`, in blocks of `hashBlockSizeBytes` (`<hash_start_block>`). */
  readonly hashStartBlocks: bigint;
  readonly algorithm: string;
  readonly rootDigest: Uint8Array;
  /** Empty = no salt (printed `-`). */
  readonly salt: Uint8Array;
  /** What a corrupted block does; the kernel default (EIO) is not printed. */
  readonly onCorruption?: 'ignore' | 'restart' | 'panic';
  /** What an I/O error does (6.12+). */
  readonly onError?: 'restart' | 'panic';
  readonly ignoreZeroBlocks?: true;
  readonly checkAtMostOnce?: true;
  readonly tryVerifyInTasklet?: true;
  readonly fec?: VerityFec;
  readonly rootHashSigKeyDesc?: string;
}

/** The `verity` target's status. */
export interface VerityStatus {
  /** `C`: a corrupted block was seen. */
  readonly corrupted: boolean;
  /** Blocks FEC has corrected, null for `-` (no FEC), undefined when not reported. */
  readonly fecCorrected: bigint | null | undefined;
  readonly extra: readonly string[];
}

const blockSize = z.number().int().min(512).max(1 << 20).refine((n) => (n & (n - 1)) === 0, 'a power of two');
const flag = z.boolean().optional();
const CORRUPTION = { ignore: 'ignore_corruption', restart: 'restart_on_corruption', panic: 'panic_on_corruption' } as const;
const ERROR = { restart: 'restart_on_error', panic: 'panic_on_error' } as const;

/** verity's forward error correction in a builder input (`use_fec_from_device …`). */
export interface VerityFecInput {
  /** The FEC device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Reed-Solomon roots (parity bytes per codeword), 2…24 (`fec_roots`). */
  readonly roots: number;
  /** How many blocks (of `dataBlockSizeBytes`) the FEC covers (`fec_blocks`). */
  readonly encodingBlocks: number | bigint;
  /** Where the FEC data starts on its device, in blocks of `dataBlockSizeBytes` (`fec_start`). */
  readonly startBlocks: number | bigint;
}
/**
 * The `verity` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface VerityInput {
  /** The hash format version (`<version>`): 0 as Chrome OS, 1 as veritysetup. */
  readonly version: 0 | 1;
  /** The data device: a path, `major:minor` or `{ major, minor }`. */
  readonly dataDevice: DeviceRef;
  /** The hash device: a path, `major:minor` or `{ major, minor }`. */
  readonly hashDevice: DeviceRef;
  /** Data block size in bytes (a power of two, 512…1 MiB; `<data_block_size>`). */
  readonly dataBlockSizeBytes: number;
  /** Hash block size in bytes (`<hash_block_size>`). */
  readonly hashBlockSizeBytes: number;
  /** How many data blocks (of `dataBlockSizeBytes`) are verified (`<num_data_blocks>`). */
  readonly dataBlocks: number | bigint;
  /** Where the hash tree's root block is on `hashDevice`, in blocks of `hashBlockSizeBytes` (`<hash_start_block>`). */
  readonly hashStartBlocks: number | bigint;
  /** The hash algorithm (`<algorithm>`), e.g. `sha256`. */
  readonly algorithm: string;
  /** The root hash of the hash tree (`<digest>`), bytes. */
  readonly rootDigest: Bytes;
  /** Empty = no salt (printed `-`). */
  readonly salt: Bytes;
  /** What a corrupted block does; the kernel default (EIO) is not printed. */
  readonly onCorruption?: 'ignore' | 'restart' | 'panic';
  /** What an I/O error does (6.12+). */
  readonly onError?: 'restart' | 'panic';
  /** `true` adds the `ignore_zero_blocks` option word. */
  readonly ignoreZeroBlocks?: boolean;
  /** `true` adds the `check_at_most_once` option word. */
  readonly checkAtMostOnce?: boolean;
  /** `true` adds the `try_verify_in_tasklet` option word. */
  readonly tryVerifyInTasklet?: boolean;
  /** Forward error correction from a device (`use_fec_from_device`); `encodingBlocks` and `startBlocks` in blocks of `dataBlockSizeBytes`. */
  readonly fec?: VerityFecInput;
  /** The keyring description of the root hash signature (`root_hash_sig_key_desc`). */
  readonly rootHashSigKeyDesc?: string;
}
/** One `verity` table line as a builder takes it: the line head and {@link VerityInput}. */
export interface VerityTarget extends LineHead<'verity'>, VerityInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link VerityInput} agree. */
export const verityUnit = defineTarget({
  type: 'verity',
  // dm-verity's constructor: "Device must be readonly" (EINVAL) for a writable table.
  readOnly: true,
  shape: {
    version: z.union([z.literal(0), z.literal(1)]),
    dataDevice: deviceSchema,
    hashDevice: deviceSchema,
    dataBlockSizeBytes: blockSize,
    hashBlockSizeBytes: blockSize,
    dataBlocks: u64Schema,
    hashStartBlocks: u64Schema,
    algorithm: wordSchema,
    rootDigest: bytesSchema.refine((b) => b.length > 0, 'must not be empty'),
    salt: bytesSchema,
    onCorruption: z.enum(['ignore', 'restart', 'panic']).optional(),
    onError: z.enum(['restart', 'panic']).optional(),
    ignoreZeroBlocks: flag,
    checkAtMostOnce: flag,
    tryVerifyInTasklet: flag,
    fec: z.strictObject({ device: deviceSchema, roots: z.number().int().min(2).max(24), encodingBlocks: u64Schema, startBlocks: u64Schema }).optional(),
    rootHashSigKeyDesc: wordSchema.optional(),
  },
  render(t, ctx) {
    const opts: string[] = [];
    if (t.onCorruption) opts.push(CORRUPTION[t.onCorruption]);
    if (t.onError) opts.push(ERROR[t.onError]);
    if (t.ignoreZeroBlocks) opts.push('ignore_zero_blocks');
    if (t.checkAtMostOnce) opts.push('check_at_most_once');
    if (t.tryVerifyInTasklet) opts.push('try_verify_in_tasklet');
    if (t.fec) {
      opts.push('use_fec_from_device', ctx.dev(t.fec.device, 'fec.device'), 'fec_blocks', String(t.fec.encodingBlocks), 'fec_start', String(t.fec.startBlocks), 'fec_roots', String(t.fec.roots));
    }
    if (t.rootHashSigKeyDesc) opts.push('root_hash_sig_key_desc', t.rootHashSigKeyDesc);
    return [
      String(t.version), ctx.dev(t.dataDevice, 'dataDevice'), ctx.dev(t.hashDevice, 'hashDevice'),
      String(t.dataBlockSizeBytes), String(t.hashBlockSizeBytes), String(t.dataBlocks), String(t.hashStartBlocks),
      t.algorithm, hex(t.rootDigest), t.salt.length ? hex(t.salt) : '-',
      ...(opts.length ? [String(opts.length), ...opts] : []),
    ];
  },
  parse(c: Cursor): VerityParams {
    const version = c.num('version', 1) as 0 | 1;
    const p: { -readonly [K in keyof VerityParams]: VerityParams[K] } = {
      version, dataDevice: c.dev('dataDevice'), hashDevice: c.dev('hashDevice'),
      dataBlockSizeBytes: c.num('dataBlockSizeBytes'), hashBlockSizeBytes: c.num('hashBlockSizeBytes'),
      dataBlocks: c.big('dataBlocks'), hashStartBlocks: c.big('hashStartBlocks'),
      algorithm: c.next('algorithm'), rootDigest: new Uint8Array(0), salt: new Uint8Array(0),
    };
    const root = c.next('rootDigest');
    const rd = unhex(root);
    p.rootDigest = rd && rd.length > 0 ? rd : c.fail('BAD_VALUE', 'rootDigest', 'not hex', root);
    const s = c.next('salt');
    if (s !== '-') {
      p.salt = unhex(s) ?? c.fail('BAD_VALUE', 'salt', 'not hex or -', s);
    }
    if (!c.done) {
      const o = new Cursor(c.target, c.counted('options', 32).join(' '));
      const fec: { device?: string; roots?: number; encodingBlocks?: bigint; startBlocks?: bigint } = {};
      while (!o.done) {
        const w = o.next('options');
        const corr = Object.entries(CORRUPTION).find(([, v]) => v === w);
        const err = Object.entries(ERROR).find(([, v]) => v === w);
        if (corr) p.onCorruption = corr[0] as VerityParams['onCorruption'];
        else if (err) p.onError = err[0] as VerityParams['onError'];
        else if (w === 'ignore_zero_blocks') p.ignoreZeroBlocks = true;
        else if (w === 'check_at_most_once') p.checkAtMostOnce = true;
        else if (w === 'try_verify_in_tasklet') p.tryVerifyInTasklet = true;
        else if (w === 'use_fec_from_device') fec.device = o.dev('fec.device');
        else if (w === 'fec_roots') fec.roots = o.num('fec.roots', 255);
        else if (w === 'fec_blocks') fec.encodingBlocks = o.big('fec.encodingBlocks');
        else if (w === 'fec_start') fec.startBlocks = o.big('fec.startBlocks');
        else if (w === 'root_hash_sig_key_desc') p.rootHashSigKeyDesc = o.next('rootHashSigKeyDesc');
        else o.fail('BAD_VALUE', 'options', 'unknown option', w);
      }
      if (fec.device !== undefined || fec.roots !== undefined || fec.encodingBlocks !== undefined || fec.startBlocks !== undefined) {
        const { device, roots, encodingBlocks, startBlocks } = fec;
        if (device === undefined || roots === undefined || encodingBlocks === undefined || startBlocks === undefined) {
          return c.fail('MISSING_FIELD', 'fec', 'use_fec_from_device needs fec_roots, fec_blocks and fec_start');
        }
        p.fec = { device, roots, encodingBlocks, startBlocks };
      }
    }
    c.end();
    return p;
  },
  status(c): VerityStatus {
    const v = c.oneOf('state', ['V', 'C'] as const);
    let fecCorrected: bigint | null | undefined;
    if (!c.done) {
      const f = c.next('fecCorrected');
      if (f === '-') fecCorrected = null;
      else if (/^\d{1,20}$/.test(f)) fecCorrected = BigInt(f);
      else c.fail('BAD_NUMBER', 'fecCorrected', 'not a number or -', f);
    }
    return { corrupted: v === 'C', fecCorrected, extra: c.rest() };
  },
});

/** The `verity` target: builder, table parser and status parser. */
export const verity: TargetUnit<'verity', VerityInput, VerityParams, VerityStatus> = verityUnit;

