/** snapshot-origin, snapshot, snapshot-merge (snapshot.rst; snapshot_status() in dm-snap.c). */
import { z } from 'zod';
import { type Cursor } from './common.js';
import { deviceSchema, posU32Schema } from './schemas.js';
import { emptyStatus, type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** The `snapshot-origin` target's parameters. */
export interface SnapshotOriginParams { readonly origin: string }

/**
 * The `snapshot-origin` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface SnapshotOriginInput {
  /** The origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly origin: DeviceRef;
}
/** One `snapshot-origin` table line as a builder takes it: the line head and {@link SnapshotOriginInput}. */
export interface SnapshotOriginTarget extends LineHead<'snapshot-origin'>, SnapshotOriginInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link SnapshotOriginInput} agree. */
export const snapshotOriginUnit = defineTarget({
  type: 'snapshot-origin',
  shape: { origin: deviceSchema },
  render: (t, ctx) => [ctx.dev(t.origin, 'origin')],
  parse(c): SnapshotOriginParams {
    const p = { origin: c.dev('origin') };
    c.end();
    return p;
  },
  status: emptyStatus,
});

/** The `snapshot-origin` target: builder, table parser and status parser. */
export const snapshotOrigin: TargetUnit<'snapshot-origin', SnapshotOriginInput, SnapshotOriginParams, EmptyStatus> = snapshotOriginUnit;

/**
 * `persistent`: P (survives reboots), PO (persistent, overflow reported to userspace) or N
 * (transient).
 */
export interface SnapshotParams {
  readonly origin: string;
  readonly cow: string;
  readonly persistence: 'P' | 'PO' | 'N';
  /** Chunk size in 512-byte sectors (`<chunksize>`). */
  readonly chunkSizeSectors: number;
  readonly discardZeroesCow?: true;
  /** Only with discardZeroesCow. */
  readonly discardPassdownOrigin?: true;
}

/** The `snapshot`/`snapshot-merge` target's status. */
export type SnapshotStatus =
  | {
    readonly state: 'active';
    readonly allocatedSectors: bigint;
    readonly totalSectors: bigint;
    readonly metadataSectors: bigint;
    readonly extra: readonly string[];
  }
  | { readonly state: 'invalid' | 'merge_failed' | 'overflow' | 'unknown'; readonly extra: readonly string[] };

/**
 * The `snapshot` and `snapshot-merge` targets' builder input (what `buildTarget` takes besides
 * `start`, `length`, `type`); devices a path, `major:minor` or numbers.
 */
export interface SnapshotInput {
  /** The origin device: a path, `major:minor` or `{ major, minor }`. */
  readonly origin: DeviceRef;
  /** The copy-on-write device that holds the snapshot's chunks. */
  readonly cow: DeviceRef;
  /** `P` persistent, `PO` persistent with overflow reported, `N` transient (not for snapshot-merge). */
  readonly persistence: 'P' | 'PO' | 'N';
  /** Chunk size in 512-byte sectors (`<chunksize>`). */
  readonly chunkSizeSectors: number;
  /** `true` adds the `discard_zeroes_cow` feature. */
  readonly discardZeroesCow?: boolean;
  /** `true` adds the `discard_passdown_origin` feature; only with discardZeroesCow. */
  readonly discardPassdownOrigin?: boolean;
}
/** One `snapshot` table line as a builder takes it: the line head and {@link SnapshotInput}. */
export interface SnapshotTarget extends LineHead<'snapshot'>, SnapshotInput {}
/** One `snapshot-merge` table line as a builder takes it: the line head and {@link SnapshotInput}. */
export interface SnapshotMergeTarget extends LineHead<'snapshot-merge'>, SnapshotInput {}

/** @internal A snapshot unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link SnapshotInput} agree. */
export function snapshotUnit<T extends 'snapshot' | 'snapshot-merge'>(type: T) {
  return defineTarget({
    type,
    shape: {
      origin: deviceSchema,
      cow: deviceSchema,
      persistence: z.enum(['P', 'PO', 'N']),
      chunkSizeSectors: posU32Schema,
      discardZeroesCow: z.boolean().optional(),
      discardPassdownOrigin: z.boolean().optional(),
    },
    check(t, ctx) {
      if (t.discardPassdownOrigin && !t.discardZeroesCow) ctx.addIssue({ code: 'custom', message: 'discardPassdownOrigin needs discardZeroesCow', path: ['discardPassdownOrigin'] });
      if (type === 'snapshot-merge' && t.persistence === 'N') ctx.addIssue({ code: 'custom', message: 'snapshot-merge needs a persistent store', path: ['persistence'] });
    },
    render(t, ctx) {
      const out = [ctx.dev(t.origin, 'origin'), ctx.dev(t.cow, 'cow'), t.persistence, String(t.chunkSizeSectors)];
      if (t.discardZeroesCow) out.push(t.discardPassdownOrigin ? '2' : '1', 'discard_zeroes_cow', ...(t.discardPassdownOrigin ? ['discard_passdown_origin'] : []));
      return out;
    },
    parse(c): SnapshotParams {
      const p: { -readonly [K in keyof SnapshotParams]: SnapshotParams[K] } = {
        origin: c.dev('origin'), cow: c.dev('cow'), persistence: c.oneOf('persistence', ['P', 'PO', 'N'] as const), chunkSizeSectors: c.num('chunkSizeSectors'),
      };
      if (!c.done) {
        for (const w of c.counted('features', 8)) {
          if (w === 'discard_zeroes_cow') p.discardZeroesCow = true;
          else if (w === 'discard_passdown_origin') p.discardPassdownOrigin = true;
          else c.fail('BAD_VALUE', 'features', 'unknown feature', w);
        }
      }
      c.end();
      return p;
    },
    status: snapshotStatus,
  });
}

function snapshotStatus(c: Cursor): SnapshotStatus {
  const first = c.peek();
  if (first === 'Invalid' || first === 'Overflow' || first === 'Unknown') {
    c.next('state');
    return { state: first === 'Invalid' ? 'invalid' : first === 'Overflow' ? 'overflow' : 'unknown', extra: c.rest() };
  }
  if (first === 'Merge' && c.tokens[1] === 'failed') {
    c.next('state');
    c.next('state');
    return { state: 'merge_failed', extra: c.rest() };
  }
  const r = c.ratio('usage');
  return { state: 'active', allocatedSectors: r.used, totalSectors: r.total, metadataSectors: c.big('metadataSectors'), extra: c.rest() };
}

/** `<origin> <cow> <P|PO|N> <chunk> [<#feat> discard_zeroes_cow [discard_passdown_origin]]`. */
export const snapshot: TargetUnit<'snapshot', SnapshotInput, SnapshotParams, SnapshotStatus> = snapshotUnit('snapshot');
/** Same params as snapshot (persistent only); merge is done when allocated == metadata sectors. */
export const snapshotMerge: TargetUnit<'snapshot-merge', SnapshotInput, SnapshotParams, SnapshotStatus> = snapshotUnit('snapshot-merge');
