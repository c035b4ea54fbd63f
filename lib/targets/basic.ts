/** linear, striped, zero, error (linear.rst, striped.rst, zero.rst). */
import { z } from 'zod';
import { deviceSchema, posU32Schema, u64Schema } from './common.js';
import { defineTarget, emptyStatus } from './unit.js';

/** The `linear` target's parameters: the device and where on it the mapping starts. */
export interface LinearParams {
  readonly device: string;
  /** Where on `device` the mapping starts, in 512-byte sectors (the table's `<offset>`). */
  readonly offsetSectors: bigint;
}

/** `<dev> <offset>`; status is empty. */
export const linear = defineTarget({
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

/** `<#stripes> <chunk_sectors> (<dev> <offset>)…`. */
export const striped = defineTarget({
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

export interface NoParams { readonly [k: string]: never }

const none = (c: import('./common.js').Cursor): Record<string, never> => {
  c.end();
  return {};
};

/** Returns zeros, swallows writes. */
export const zero = defineTarget({ type: 'zero', shape: {}, render: () => [], parse: none, status: emptyStatus });
/** Fails every I/O. */
export const error = defineTarget({ type: 'error', shape: {}, render: () => [], parse: none, status: emptyStatus });
