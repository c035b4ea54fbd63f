/** linear, striped, zero, error (linear.rst, striped.rst, zero.rst). */
import { z } from 'zod';
import { deviceSchema, posU32Schema, u64Schema } from './schemas.js';
import { emptyStatus, type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** The `linear` target's parameters: the device and where on it the mapping starts. */
export interface LinearParams {
  readonly device: string;
  /** Where on `device` the mapping starts, in 512-byte sectors (the table's `<offset>`). */
  readonly offsetSectors: bigint;
}

/**
 * The `linear` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface LinearInput {
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the mapping starts, in 512-byte sectors (the table's `<offset>`). */
  readonly offsetSectors: number | bigint;
}
/** One `linear` table line as a builder takes it: the line head and {@link LinearInput}. */
export interface LinearTarget extends LineHead<'linear'>, LinearInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link LinearInput} agree. */
export const linearUnit = defineTarget({
  type: 'linear',
  shape: { device: deviceSchema, offsetSectors: u64Schema },
  render: (t, ctx) => [ctx.dev(t.device, 'device'), String(t.offsetSectors)],
  parse: (c): LinearParams => {
    const p = { device: c.dev('device'), offsetSectors: c.big('offsetSectors') };
    c.end();
    return p;
  },
  status: emptyStatus,
});

/** `<dev> <offset>`; status is empty. */
export const linear: TargetUnit<'linear', LinearInput, LinearParams, EmptyStatus> = linearUnit;

/** One stripe of a `striped` target: the device and where on it the stripe starts. */
export interface Stripe {
  readonly device: string;
  /** Where on `device` the stripe starts, in 512-byte sectors. */
  readonly offsetSectors: bigint;
}
/** The `striped` target's parameters. */
export interface StripedParams {
  /** Chunk size in 512-byte sectors (the table's `<chunk_sectors>`). */
  readonly chunkSizeSectors: number;
  readonly stripes: readonly Stripe[];
}
/** The `striped` target's status. */
export interface StripedStatus {
  readonly devices: readonly string[];
  /** One per stripe: true = alive (`A`), false = dead (`D`). */
  readonly alive: readonly boolean[];
  readonly extra: readonly string[];
}

/** One stripe of a `striped` builder input. */
export interface StripeInput {
  /** The stripe's device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the stripe starts, in 512-byte sectors. */
  readonly offsetSectors: number | bigint;
}
/**
 * The `striped` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface StripedInput {
  /** Chunk size in sectors (a power of two ≥ 8 on 4 KiB-page kernels). */
  readonly chunkSizeSectors: number;
  /** The stripes, in order: each a device and where on it the stripe starts (`offsetSectors`, 512-byte sectors). */
  readonly stripes: StripeInput[];
}
/** One `striped` table line as a builder takes it: the line head and {@link StripedInput}. */
export interface StripedTarget extends LineHead<'striped'>, StripedInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link StripedInput} agree. */
export const stripedUnit = defineTarget({
  type: 'striped',
  shape: {
    /** Chunk size in sectors (a power of two ≥ 8 on 4 KiB-page kernels). */
    chunkSizeSectors: posU32Schema,
    stripes: z.array(z.strictObject({ device: deviceSchema, offsetSectors: u64Schema })).min(1),
  },
  render: (t, ctx) => [
    String(t.stripes.length), String(t.chunkSizeSectors),
    ...t.stripes.flatMap((s, i) => [ctx.dev(s.device, `stripes[${i}].device`), String(s.offsetSectors)]),
  ],
  parse: (c): StripedParams => {
    const n = c.num('stripes.count', 1 << 16);
    const chunkSizeSectors = c.num('chunkSizeSectors');
    const stripes: Stripe[] = [];
    for (let i = 0; i < n; i++) stripes.push({ device: c.dev(`stripes[${i}].device`), offsetSectors: c.big(`stripes[${i}].offsetSectors`) });
    c.end();
    return { chunkSizeSectors, stripes };
  },
  status: (c): StripedStatus => {
    const n = c.num('stripes', 1 << 16);
    const devices: string[] = [];
    for (let i = 0; i < n; i++) devices.push(c.dev(`devices[${i}]`));
    c.num('groups');
    const health = c.next('health');
    if (!/^[AD]*$/.test(health) || health.length !== n) c.fail('BAD_VALUE', 'health', `expected ${n} of A|D`, health);
    return { devices, alive: [...health].map((h) => h === 'A'), extra: c.rest() };
  },
});

/** `<#stripes> <chunk_sectors> (<dev> <offset>)…`. */
export const striped: TargetUnit<'striped', StripedInput, StripedParams, StripedStatus> = stripedUnit;

export interface NoParams { readonly [k: string]: never }

const none = (c: import('./common.js').Cursor): Record<string, never> => {
  c.end();
  return {};
};

/** The builder input of a target without params (`zero`, `error`): nothing. */
export interface NoInput {}
/** One `zero` table line as a builder takes it: the line head only. */
export interface ZeroTarget extends LineHead<'zero'> {}
/** One `error` table line as a builder takes it: the line head only. */
export interface ErrorTarget extends LineHead<'error'> {}

/** @internal The unit as inferred from its (empty) zod shape. */
export const zeroUnit = defineTarget({ type: 'zero', shape: {}, render: () => [], parse: none, status: emptyStatus });
/** @internal The unit as inferred from its (empty) zod shape. */
export const errorUnit = defineTarget({ type: 'error', shape: {}, render: () => [], parse: none, status: emptyStatus });
/** Returns zeros, swallows writes. */
export const zero: TargetUnit<'zero', NoInput, Record<string, never>, EmptyStatus> = zeroUnit;
/** Fails every I/O. */
export const error: TargetUnit<'error', NoInput, Record<string, never>, EmptyStatus> = errorUnit;
