/**
 * clone (dm-clone.rst; clone_ctr(), clone_status(), clone_message() in dm-clone-target.c).
 * The kernel keeps a copy of the constructor's words after the three devices and prints them
 * back verbatim, so the table text is the builder's with the devices as `major:minor`.
 */
import { z } from 'zod';
import { type Cursor } from './common.js';
import { checked, deviceSchema, u32Schema } from './schemas.js';
import { type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The `clone` target's parameters. */
export interface CloneParams {
  readonly metadataDevice: string;
  readonly destinationDevice: string;
  readonly sourceDevice: string;
  /** Region size in 512-byte sectors: a power of two, 8…2097152 (the table's `<region size>`). */
  readonly regionSizeSectors: number;
  /** `no_hydration`: background hydration starts disabled. */
  readonly noHydration?: true;
  /** `no_discard_passdown`: discards are not passed to the destination device. */
  readonly noDiscardPassdown?: true;
  /** Regions hydrated in parallel in the background (`hydration_threshold`; the kernel's default 1). */
  readonly hydrationThreshold?: number;
  /** Regions batched into one copy (`hydration_batch_size`; the kernel's default 1). */
  readonly hydrationBatchRegions?: number;
}

/** The `clone` target's status (`health: ok`), or `Fail`/`Error`. */
export type CloneStatus =
  | {
    readonly health: 'ok';
    /** Metadata block size in 512-byte sectors (8: 4 KiB). */
    readonly metadataBlockSizeSectors: number;
    readonly usedMetadataBlocks: bigint;
    readonly totalMetadataBlocks: bigint;
    /** Region size in 512-byte sectors. */
    readonly regionSizeSectors: number;
    readonly hydratedRegions: bigint;
    readonly totalRegions: bigint;
    /** Regions being copied right now. */
    readonly hydratingRegions: number;
    /** `no_hydration` while hydration is disabled, `no_discard_passdown` when discards stay. */
    readonly features: readonly string[];
    readonly hydrationThreshold: number;
    readonly hydrationBatchRegions: number;
    /** `rw`, `ro` (a metadata operation failed), `fail`. */
    readonly metadataMode: 'rw' | 'ro' | 'fail';
    readonly extra: readonly string[];
  }
  /** `Fail`: the metadata is in failure mode. `Error`: the kernel could not read its metadata. */
  | { readonly health: 'fail' | 'error'; readonly extra: readonly string[] };

/**
 * The `clone` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Devices a path, `major:minor` or numbers.
 */
export interface CloneInput {
  /** The metadata device: a path, `major:minor` or `{ major, minor }`. */
  readonly metadataDevice: DeviceRef;
  /** The destination device (becomes the copy): a path, `major:minor` or `{ major, minor }`. */
  readonly destinationDevice: DeviceRef;
  /** The read-only source device: a path, `major:minor` or `{ major, minor }`. */
  readonly sourceDevice: DeviceRef;
  /** Region size in 512-byte sectors: a power of two, 8…2097152 (the table's `<region size>`). */
  readonly regionSizeSectors: number;
  /** `true` adds the `no_hydration` feature. */
  readonly noHydration?: boolean;
  /** `true` adds the `no_discard_passdown` feature. */
  readonly noDiscardPassdown?: boolean;
  /** `hydration_threshold <n>`: regions hydrated in parallel in the background. */
  readonly hydrationThreshold?: number;
  /** `hydration_batch_size <n>`: regions batched into one copy. */
  readonly hydrationBatchRegions?: number;
}
/** One `clone` table line as a builder takes it: the line head and {@link CloneInput}. */
export interface CloneTarget extends LineHead<'clone'>, CloneInput {}

const CORE = [['hydrationThreshold', 'hydration_threshold'], ['hydrationBatchRegions', 'hydration_batch_size']] as const;

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link CloneInput} agree. */
export const cloneUnit = defineTarget({
  type: 'clone',
  shape: {
    metadataDevice: deviceSchema,
    destinationDevice: deviceSchema,
    sourceDevice: deviceSchema,
    // MIN_REGION_SIZE…MAX_REGION_SIZE, is_power_of_2 (parse_region_size)
    regionSizeSectors: z.number().int().min(8).max(2097152).refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    noHydration: z.boolean().optional(),
    noDiscardPassdown: z.boolean().optional(),
    hydrationThreshold: u32Schema.optional(),
    hydrationBatchRegions: u32Schema.optional(),
  },
  render(t, ctx) {
    const feats: string[] = [];
    if (t.noHydration) feats.push('no_hydration');
    if (t.noDiscardPassdown) feats.push('no_discard_passdown');
    const core = CORE.flatMap(([k, w]) => (t[k] === undefined ? [] : [w, String(t[k])]));
    // The feature group must be there (possibly `0`) for the core group to follow it.
    const groups = core.length > 0 ? [String(feats.length), ...feats, String(core.length), ...core] : feats.length > 0 ? [String(feats.length), ...feats] : [];
    return [ctx.dev(t.metadataDevice, 'metadataDevice'), ctx.dev(t.destinationDevice, 'destinationDevice'), ctx.dev(t.sourceDevice, 'sourceDevice'), String(t.regionSizeSectors), ...groups];
  },
  parse(c: Cursor): CloneParams {
    const p: Mutable<CloneParams> = {
      metadataDevice: c.dev('metadataDevice'), destinationDevice: c.dev('destinationDevice'), sourceDevice: c.dev('sourceDevice'), regionSizeSectors: c.num('regionSizeSectors'),
    };
    if (!c.done) {
      for (const w of c.counted('features', 2)) {
        if (w === 'no_hydration') p.noHydration = true;
        else if (w === 'no_discard_passdown') p.noDiscardPassdown = true;
        else c.fail('BAD_VALUE', 'features', 'unknown feature', w);
      }
    }
    if (!c.done) {
      const core = c.counted('coreArgs', 4);
      if (core.length % 2 !== 0) c.fail('BAD_VALUE', 'coreArgs', 'an odd number of key/value words');
      for (let i = 0; i < core.length; i += 2) {
        const k = CORE.find(([, w]) => w === core[i]);
        if (!k) c.fail('BAD_VALUE', 'coreArgs', 'unknown core argument', core[i]);
        const v = core[i + 1]!;
        if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) c.fail('BAD_NUMBER', k[0], 'not a number in range', v);
        p[k[0]] = Number(v);
      }
    }
    c.end();
    return p;
  },
  status(c): CloneStatus {
    const first = c.peek();
    if (first === 'Fail' || first === 'Error') {
      c.next('health');
      return { health: first === 'Fail' ? 'fail' : 'error', extra: c.rest() };
    }
    const metadataBlockSizeSectors = c.num('metadataBlockSizeSectors');
    const meta = c.ratio('metadata');
    const regionSizeSectors = c.num('regionSizeSectors');
    const regions = c.ratio('regions');
    const hydratingRegions = c.num('hydratingRegions');
    const features = c.counted('features', 16);
    const core = c.counted('coreArgs', 64);
    if (core.length % 2 !== 0) c.fail('BAD_VALUE', 'coreArgs', 'an odd number of key/value words');
    const values: { hydration_threshold?: number; hydration_batch_size?: number } = {};
    for (let i = 0; i < core.length; i += 2) {
      const v = core[i + 1]!;
      if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) c.fail('BAD_NUMBER', `coreArgs.${core[i]}`, 'not a number in range', v);
      const k = core[i];
      if (k === 'hydration_threshold' || k === 'hydration_batch_size') values[k] = Number(v);
    }
    const hydrationThreshold = values.hydration_threshold;
    const hydrationBatchRegions = values.hydration_batch_size;
    if (hydrationThreshold === undefined || hydrationBatchRegions === undefined) return c.fail('MISSING_FIELD', 'coreArgs', 'hydration_threshold and hydration_batch_size expected');
    const mode = c.oneOf('metadataMode', ['rw', 'ro', 'Fail'] as const);
    return {
      health: 'ok', metadataBlockSizeSectors, usedMetadataBlocks: meta.used, totalMetadataBlocks: meta.total,
      regionSizeSectors, hydratedRegions: regions.used, totalRegions: regions.total, hydratingRegions, features,
      hydrationThreshold, hydrationBatchRegions,
      metadataMode: mode === 'Fail' ? 'fail' : mode, extra: c.rest(),
    };
  },
});

/** The `clone` target: builder, table parser and status parser. */
export const clone: TargetUnit<'clone', CloneInput, CloneParams, CloneStatus> = cloneUnit;

/** Messages a clone device understands (clone_message()). */
export const cloneMessage = {
  /** `enable_hydration`: starts (or resumes) background hydration. */
  enableHydration: (): string => 'enable_hydration',
  /** `disable_hydration`: stops background hydration; regions written still hydrate. */
  disableHydration: (): string => 'disable_hydration',
  /** `hydration_threshold <regions>`: regions copied in parallel (0 stops hydration). */
  hydrationThreshold: (regions: number): string => `hydration_threshold ${checked(u32Schema, regions, 'clone', 'regions')}`,
  /** `hydration_batch_size <regions>`: regions batched into one copy. */
  hydrationBatchSize: (regions: number): string => `hydration_batch_size ${checked(u32Schema, regions, 'clone', 'regions')}`,
} as const;
