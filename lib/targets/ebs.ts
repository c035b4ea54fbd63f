/**
 * ebs, the emulated block size target (dm-ebs.rst; ebs_ctr(), ebs_status() in
 * dm-ebs-target.c). Its table text is `<dev> <start> <ebs>` and the underlying block size
 * only when the constructor was given one; it reports no status.
 */
import { z } from 'zod';
import { emptyStatus, type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import { deviceSchema, u64Schema } from './schemas.js';
import type { Cursor, DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** The `ebs` target's parameters. */
export interface EbsParams {
  readonly device: string;
  /** Where the mapping starts on the device, in 512-byte sectors (a multiple of the underlying block size). */
  readonly offsetSectors: bigint;
  /** The block size shown to the layers above, in 512-byte sectors: a power of two, at most a page (8 with 4 KiB pages). */
  readonly emulatedBlockSizeSectors: number;
  /** The block size used on the device, in 512-byte sectors; omitted = the device's logical block size. */
  readonly underlyingBlockSizeSectors?: number;
}

/**
 * The `ebs` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; the device a path, `major:minor` or numbers.
 */
export interface EbsInput {
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where the mapping starts on the device, in 512-byte sectors (a multiple of the underlying block size). */
  readonly offsetSectors: number | bigint;
  /** The block size shown to the layers above, in 512-byte sectors: a power of two, at most a page (8 with 4 KiB pages). */
  readonly emulatedBlockSizeSectors: number;
  /** The block size used on the device, in 512-byte sectors; omitted = the device's logical block size. */
  readonly underlyingBlockSizeSectors?: number;
}
/** One `ebs` table line as a builder takes it: the line head and {@link EbsInput}. */
export interface EbsTarget extends LineHead<'ebs'>, EbsInput {}

// __ebs_check_bs(): non-zero and a power of two; read with %hu. The emulated size is further
// bounded by the page size, which the builder cannot know: 128 sectors is a 64 KiB page.
const powerOfTwo = (max: number) => z.number().int().min(1).max(max).refine((n) => (n & (n - 1)) === 0, 'a power of two');

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link EbsInput} agree. */
export const ebsUnit = defineTarget({
  type: 'ebs',
  shape: {
    device: deviceSchema,
    offsetSectors: u64Schema,
    emulatedBlockSizeSectors: powerOfTwo(128),
    underlyingBlockSizeSectors: powerOfTwo(32768).optional(),
  },
  check(t, ctx) {
    const u = t.underlyingBlockSizeSectors;
    if (u !== undefined && BigInt(t.offsetSectors) % BigInt(u) !== 0n) {
      ctx.addIssue({ code: 'custom', path: ['offsetSectors'], message: 'must be a multiple of underlyingBlockSizeSectors' });
    }
  },
  render(t, ctx) {
    const out = [ctx.dev(t.device, 'device'), String(t.offsetSectors), String(t.emulatedBlockSizeSectors)];
    if (t.underlyingBlockSizeSectors !== undefined) out.push(String(t.underlyingBlockSizeSectors));
    return out;
  },
  parse(c: Cursor): EbsParams {
    const device = c.dev('device');
    const offsetSectors = c.big('offsetSectors');
    const emulatedBlockSizeSectors = c.num('emulatedBlockSizeSectors', 0xffff);
    const underlying = c.done ? undefined : c.num('underlyingBlockSizeSectors', 0xffff);
    c.end();
    return underlying === undefined ? { device, offsetSectors, emulatedBlockSizeSectors } : { device, offsetSectors, emulatedBlockSizeSectors, underlyingBlockSizeSectors: underlying };
  },
  status: emptyStatus,
});

/** The `ebs` target: builder, table parser and status parser (it reports none). */
export const ebs: TargetUnit<'ebs', EbsInput, EbsParams, EmptyStatus> = ebsUnit;
