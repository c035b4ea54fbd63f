/** thin-pool and thin (thin-provisioning.rst; pool_status(), thin_status() in dm-thin.c). */
import { z } from 'zod';
import { type Cursor } from './common.js';
import { checked, deviceSchema, u64Schema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

const flag = z.boolean().optional();

const POOL_FEATURES = [
  ['skipBlockZeroing', 'skip_block_zeroing'],
  ['ignoreDiscard', 'ignore_discard'],
  ['noDiscardPassdown', 'no_discard_passdown'],
  ['readOnly', 'read_only'],
  ['errorIfNoSpace', 'error_if_no_space'],
] as const;

/** The `thin-pool` target's parameters. */
export interface ThinPoolParams {
  readonly metadataDevice: string;
  readonly dataDevice: string;
  /** Data block size in 512-byte sectors: 128…2097152, a multiple of 128 (the table's `<data block size>`). */
  readonly blockSizeSectors: number;
  /** Free data blocks (of `blockSizeSectors`) below which the pool raises an event (the table's `<low water mark>`). */
  readonly lowWaterMarkBlocks: bigint;
  readonly skipBlockZeroing?: true;
  readonly ignoreDiscard?: true;
  readonly noDiscardPassdown?: true;
  readonly readOnly?: true;
  readonly errorIfNoSpace?: true;
}

/** The `thin-pool` target's status (`health: ok`), or `Fail`/`Error`. */
export type ThinPoolStatus =
  | {
    readonly health: 'ok';
    readonly transactionId: bigint;
    readonly usedMetadataBlocks: bigint;
    readonly totalMetadataBlocks: bigint;
    readonly usedDataBlocks: bigint;
    readonly totalDataBlocks: bigint;
    /** The held metadata root (reserve_metadata_snap), or null. */
    readonly heldMetadataRoot: bigint | null;
    readonly mode: 'rw' | 'ro' | 'out_of_data_space';
    readonly discard: 'discard_passdown' | 'no_discard_passdown' | 'ignore_discard';
    readonly whenNoSpace: 'error' | 'queue';
    readonly needsCheck: boolean;
    /** Metadata low-water mark in metadata blocks (kernels 4.19+). */
    readonly metadataLowWatermarkBlocks: bigint | undefined;
    readonly extra: readonly string[];
  }
  /** `Fail`: the pool is in failure mode. `Error`: the kernel could not read its metadata. */
  | { readonly health: 'fail' | 'error'; readonly extra: readonly string[] };

/**
 * The `thin-pool` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface ThinPoolInput {
  /** The metadata device: a path, `major:minor` or `{ major, minor }`. */
  readonly metadataDevice: DeviceRef;
  /** The data device: a path, `major:minor` or `{ major, minor }`. */
  readonly dataDevice: DeviceRef;
  /** Data block size in 512-byte sectors: 128…2097152, a multiple of 128 (the table's `<data block size>`). */
  readonly blockSizeSectors: number;
  /** Free data blocks (of `blockSizeSectors`) below which the pool raises an event (the table's `<low water mark>`). */
  readonly lowWaterMarkBlocks: number | bigint;
  /** `true` adds the `skip_block_zeroing` option word. */
  readonly skipBlockZeroing?: boolean;
  /** `true` adds the `ignore_discard` option word. */
  readonly ignoreDiscard?: boolean;
  /** `true` adds the `no_discard_passdown` option word. */
  readonly noDiscardPassdown?: boolean;
  /** `true` adds the `read_only` option word. */
  readonly readOnly?: boolean;
  /** `true` adds the `error_if_no_space` option word. */
  readonly errorIfNoSpace?: boolean;
}
/** One `thin-pool` table line as a builder takes it: the line head and {@link ThinPoolInput}. */
export interface ThinPoolTarget extends LineHead<'thin-pool'>, ThinPoolInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link ThinPoolInput} agree. */
export const thinPoolUnit = defineTarget({
  type: 'thin-pool',
  shape: {
    metadataDevice: deviceSchema,
    dataDevice: deviceSchema,
    blockSizeSectors: z.number().int().min(128).max(2097152).multipleOf(128),
    lowWaterMarkBlocks: u64Schema,
    skipBlockZeroing: flag,
    ignoreDiscard: flag,
    noDiscardPassdown: flag,
    readOnly: flag,
    errorIfNoSpace: flag,
  },
  render(t, ctx) {
    const feats = POOL_FEATURES.filter(([k]) => t[k]).map(([, w]) => w);
    return [ctx.dev(t.metadataDevice, 'metadataDevice'), ctx.dev(t.dataDevice, 'dataDevice'), String(t.blockSizeSectors), String(t.lowWaterMarkBlocks), String(feats.length), ...feats];
  },
  parse(c): ThinPoolParams {
    const p: { -readonly [K in keyof ThinPoolParams]: ThinPoolParams[K] } = {
      metadataDevice: c.dev('metadataDevice'), dataDevice: c.dev('dataDevice'), blockSizeSectors: c.num('blockSizeSectors'), lowWaterMarkBlocks: c.big('lowWaterMarkBlocks'),
    };
    if (!c.done) {
      for (const w of c.counted('features', 16)) {
        const f = POOL_FEATURES.find(([, word]) => word === w) ?? c.fail('BAD_VALUE', 'features', 'unknown feature', w);
        p[f[0]] = true;
      }
    }
    c.end();
    return p;
  },
  status(c): ThinPoolStatus {
    const first = c.peek();
    if (first === 'Fail' || first === 'Error') {
      c.next('health');
      return { health: first === 'Fail' ? 'fail' : 'error', extra: c.rest() };
    }
    const transactionId = c.big('transactionId');
    const meta = c.ratio('metadata');
    const data = c.ratio('data');
    const held = c.next('heldMetadataRoot');
    if (held !== '-' && !/^\d{1,20}$/.test(held)) c.fail('BAD_VALUE', 'heldMetadataRoot', 'not a block number or -', held);
    const mode = c.oneOf('mode', ['rw', 'ro', 'out_of_data_space'] as const);
    const discard = c.oneOf('discard', ['discard_passdown', 'no_discard_passdown', 'ignore_discard'] as const);
    const noSpace = c.oneOf('whenNoSpace', ['error_if_no_space', 'queue_if_no_space'] as const);
    const check = c.oneOf('needsCheck', ['needs_check', '-'] as const);
    const metadataLowWatermarkBlocks = c.done ? undefined : c.big('metadataLowWatermarkBlocks');
    return {
      health: 'ok', transactionId,
      usedMetadataBlocks: meta.used, totalMetadataBlocks: meta.total, usedDataBlocks: data.used, totalDataBlocks: data.total,
      heldMetadataRoot: held === '-' ? null : BigInt(held),
      mode, discard, whenNoSpace: noSpace === 'error_if_no_space' ? 'error' : 'queue', needsCheck: check === 'needs_check',
      metadataLowWatermarkBlocks, extra: c.rest(),
    };
  },
});

/** The `thin-pool` target: builder, table parser and status parser. */
export const thinPool: TargetUnit<'thin-pool', ThinPoolInput, ThinPoolParams, ThinPoolStatus> = thinPoolUnit;

const devId = z.number().int().min(0).max(0xffffff);

/** Messages a thin-pool understands (send with `DeviceMapper.message(pool, 0, …)`). */
export const thinPoolMessage = {
  /** `create_thin <id>`: a new, empty thin. */
  createThin: (id: number): string => `create_thin ${checked(devId, id, 'thin-pool', 'id')}`,
  /** `create_snap <id> <origin>`: a new thin snapshotting thin `origin`. */
  createSnap: (id: number, origin: number): string => `create_snap ${checked(devId, id, 'thin-pool', 'id')} ${checked(devId, origin, 'thin-pool', 'origin')}`,
  /** `delete <id>`: drops a thin and its blocks. */
  delete: (id: number): string => `delete ${checked(devId, id, 'thin-pool', 'id')}`,
  /** `set_transaction_id <current> <next>`: refused unless `current` matches. */
  setTransactionId: (current: number | bigint, next: number | bigint): string =>
    `set_transaction_id ${checked(u64Schema, current, 'thin-pool', 'current')} ${checked(u64Schema, next, 'thin-pool', 'next')}`,
  /** `reserve_metadata_snap`: holds a metadata root for userspace tools. */
  reserveMetadataSnap: (): string => 'reserve_metadata_snap',
  /** `release_metadata_snap`: drops the held metadata root. */
  releaseMetadataSnap: (): string => 'release_metadata_snap',
} as const;

/** The `thin` target's parameters. */
export interface ThinParams {
  readonly poolDevice: string;
  /** 24-bit device id inside the pool. */
  readonly deviceId: number;
  readonly externalOrigin?: string;
}

/** The `thin` target's status, or `Fail`. */
export type ThinStatus =
  | {
    readonly health: 'ok';
    /** Mapped sectors; null when the thin device is not open in the pool (`-`). */
    readonly mappedSectors: bigint | null;
    /** The highest mapped sector, or null when nothing is mapped. */
    readonly highestMappedSector: bigint | null;
    readonly extra: readonly string[];
  }
  | { readonly health: 'fail' | 'error'; readonly extra: readonly string[] };

/**
 * The `thin` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface ThinInput {
  /** The pool device: a path, `major:minor` or `{ major, minor }`. */
  readonly poolDevice: DeviceRef;
  /** 24-bit device id inside the pool. */
  readonly deviceId: number;
  /** The external origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly externalOrigin?: DeviceRef;
}
/** One `thin` table line as a builder takes it: the line head and {@link ThinInput}. */
export interface ThinTarget extends LineHead<'thin'>, ThinInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link ThinInput} agree. */
export const thinUnit = defineTarget({
  type: 'thin',
  shape: { poolDevice: deviceSchema, deviceId: devId, externalOrigin: deviceSchema.optional() },
  render: (t, ctx) => [ctx.dev(t.poolDevice, 'poolDevice'), String(t.deviceId), ...(t.externalOrigin === undefined ? [] : [ctx.dev(t.externalOrigin, 'externalOrigin')])],
  parse(c): ThinParams {
    const p: { -readonly [K in keyof ThinParams]: ThinParams[K] } = { poolDevice: c.dev('poolDevice'), deviceId: c.num('deviceId', 0xffffff) };
    if (!c.done) p.externalOrigin = c.dev('externalOrigin');
    c.end();
    return p;
  },
  status(c: Cursor): ThinStatus {
    const first = c.next('mappedSectors');
    if (first === 'Fail' || first === 'Error') return { health: first === 'Fail' ? 'fail' : 'error', extra: c.rest() };
    if (first === '-') return { health: 'ok', mappedSectors: null, highestMappedSector: null, extra: c.rest() };
    if (!/^\d{1,20}$/.test(first)) c.fail('BAD_NUMBER', 'mappedSectors', 'not a number', first);
    const h = c.next('highestMappedSector');
    if (h !== '-' && !/^\d{1,20}$/.test(h)) c.fail('BAD_NUMBER', 'highestMappedSector', 'not a number or -', h);
    return { health: 'ok', mappedSectors: BigInt(first), highestMappedSector: h === '-' ? null : BigInt(h), extra: c.rest() };
  },
});

/** The `thin` target: builder, table parser and status parser. */
export const thin: TargetUnit<'thin', ThinInput, ThinParams, ThinStatus> = thinUnit;
