/** multipath, basic form (multipath_status() in dm-mpath.c; dm-queue-length.rst, dm-service-time.rst). */
import { z } from 'zod';
import { type Cursor } from './common.js';
import { deviceSchema, posU32Schema, wordSchema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** One path of a multipath priority group, with its selector arguments. */
export interface MultipathPath { readonly device: string; readonly args: readonly string[] }
/** A priority group of a `multipath` target. */
export interface MultipathGroup {
  /** round-robin, queue-length, service-time, historical-service-time, io-affinity. */
  readonly selector: string;
  readonly selectorArgs: readonly string[];
  /** Every path of a group carries the same number of selector args. */
  readonly paths: readonly MultipathPath[];
}

/** The `multipath` target's parameters. */
export interface MultipathParams {
  /** Feature words, e.g. `['queue_if_no_path']` or `['pg_init_retries', '3']`. */
  readonly features: readonly string[];
  /** `[]`, or the hardware handler's name and args. */
  readonly hwHandler: readonly string[];
  /** 1-based initial priority group. */
  readonly initialGroup: number;
  readonly groups: readonly MultipathGroup[];
}

/** The `multipath` target's status. */
export interface MultipathStatus {
  /** The status feature words: `<queue_io> <pg_init_count>` on current kernels. */
  readonly features: readonly string[];
  readonly queueIo: boolean | undefined;
  readonly pgInitCount: number | undefined;
  readonly hwHandlerStatus: readonly string[];
  /** The next group to be used (1-based; 0 = none). */
  readonly nextGroup: number;
  readonly groups: readonly {
    /** A active, E enabled, D disabled. */
    readonly state: 'A' | 'E' | 'D';
    readonly selectorStatus: readonly string[];
    readonly paths: readonly { readonly device: string; readonly active: boolean; readonly failCount: number; readonly selectorInfo: readonly string[] }[];
  }[];
  readonly extra: readonly string[];
}

const word = wordSchema;

/** One path of a `multipath` priority group. */
export interface MultipathPathInput {
  /** The path's device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** The path selector's per-path args (round-robin: the repeat count). */
  readonly args?: string[];
}
/** One priority group of a `multipath` builder input. */
export interface MultipathGroupInput {
  /** The path selector (`round-robin`, `queue-length`, `service-time`). */
  readonly selector: string;
  /** The selector's args. */
  readonly selectorArgs?: string[];
  /** The group's paths, in order. */
  readonly paths: MultipathPathInput[];
}
/**
 * The `multipath` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface MultipathInput {
  /** The priority groups, in order: each a path selector with its args and the paths with theirs. */
  readonly groups: MultipathGroupInput[];
  /** Feature words, e.g. `['queue_if_no_path']` or `['pg_init_retries', '3']`. */
  readonly features?: string[];
  /** `[]`, or the hardware handler's name and args. */
  readonly hwHandler?: string[];
  /** 1-based initial priority group. */
  readonly initialGroup?: number;
}
/** One `multipath` table line as a builder takes it: the line head and {@link MultipathInput}. */
export interface MultipathTarget extends LineHead<'multipath'>, MultipathInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link MultipathInput} agree. */
export const multipathUnit = defineTarget({
  type: 'multipath',
  shape: {
    features: z.array(word).optional(),
    hwHandler: z.array(word).optional(),
    initialGroup: posU32Schema.optional(),
    groups: z.array(z.strictObject({
      selector: wordSchema,
      selectorArgs: z.array(word).optional(),
      paths: z.array(z.strictObject({ device: deviceSchema, args: z.array(word).optional() })).min(1),
    })).min(1),
  },
  check(t, ctx) {
    t.groups.forEach((g, i) => {
      const n = g.paths[0]?.args?.length ?? 0;
      if (g.paths.some((p) => (p.args?.length ?? 0) !== n)) ctx.addIssue({ code: 'custom', message: 'every path of a group needs the same number of args', path: ['groups', i, 'paths'] });
    });
    if ((t.initialGroup ?? 1) > t.groups.length) ctx.addIssue({ code: 'custom', message: 'initialGroup beyond the last group', path: ['initialGroup'] });
  },
  render(t, ctx) {
    const f = t.features ?? [];
    const h = t.hwHandler ?? [];
    return [
      String(f.length), ...f, String(h.length), ...h, String(t.groups.length), String(t.initialGroup ?? 1),
      ...t.groups.flatMap((g, gi) => [
        g.selector, String(g.selectorArgs?.length ?? 0), ...(g.selectorArgs ?? []),
        String(g.paths.length), String(g.paths[0]?.args?.length ?? 0),
        ...g.paths.flatMap((p, pi) => [ctx.dev(p.device, `groups[${gi}].paths[${pi}].device`), ...(p.args ?? [])]),
      ]),
    ];
  },
  parse(c: Cursor): MultipathParams {
    const features = c.counted('features', 64);
    const hwHandler = c.counted('hwHandler', 64);
    const ng = c.num('groups.count', 1024);
    const initialGroup = c.num('initialGroup');
    const groups: MultipathGroup[] = [];
    for (let g = 0; g < ng; g++) {
      const selector = c.next(`groups[${g}].selector`);
      const selectorArgs = c.counted(`groups[${g}].selectorArgs`, 64);
      const np = c.num(`groups[${g}].paths.count`, 1024);
      const na = c.num(`groups[${g}].pathArgs.count`, 64);
      const paths: MultipathPath[] = [];
      for (let p = 0; p < np; p++) {
        const device = c.dev(`groups[${g}].paths[${p}].device`);
        const args: string[] = [];
        for (let a = 0; a < na; a++) args.push(c.next(`groups[${g}].paths[${p}].args[${a}]`));
        paths.push({ device, args });
      }
      groups.push({ selector, selectorArgs, paths });
    }
    c.end();
    return { features, hwHandler, initialGroup, groups };
  },
  // Request-based multipath forces round-robin's repeat_count to 1 ("repeat_count > 1 is deprecated").
  defaults: (p) => ({
    ...p,
    groups: p.groups.map((g) => (g.selector === 'round-robin' ? { ...g, paths: g.paths.map((x) => (x.args.length >= 1 ? { ...x, args: ['1', ...x.args.slice(1)] } : x)) } : g)),
  }),
  status(c): MultipathStatus {
    const features = c.counted('features', 64);
    const hwHandlerStatus = c.counted('hwHandlerStatus', 64);
    const ng = c.num('groups.count', 1024);
    const nextGroup = c.num('nextGroup');
    const groups: MultipathStatus['groups'][number][] = [];
    for (let g = 0; g < ng; g++) {
      const state = c.oneOf(`groups[${g}].state`, ['A', 'E', 'D'] as const);
      const selectorStatus = c.counted(`groups[${g}].selectorStatus`, 64);
      const np = c.num(`groups[${g}].paths.count`, 1024);
      const ni = c.num(`groups[${g}].selectorInfo.count`, 64);
      const paths: MultipathStatus['groups'][number]['paths'][number][] = [];
      for (let p = 0; p < np; p++) {
        const device = c.dev(`groups[${g}].paths[${p}].device`);
        const active = c.oneOf(`groups[${g}].paths[${p}].state`, ['A', 'F'] as const) === 'A';
        const failCount = c.num(`groups[${g}].paths[${p}].failCount`);
        const selectorInfo: string[] = [];
        for (let i = 0; i < ni; i++) selectorInfo.push(c.next(`groups[${g}].paths[${p}].selectorInfo[${i}]`));
        paths.push({ device, active, failCount, selectorInfo });
      }
      groups.push({ state, selectorStatus, paths });
    }
    const num = (s: string | undefined) => (s !== undefined && /^\d{1,9}$/.test(s) ? Number(s) : undefined);
    return {
      features,
      queueIo: features.length >= 2 ? features[0] === '1' : undefined,
      pgInitCount: features.length >= 2 ? num(features[1]) : undefined,
      hwHandlerStatus, nextGroup, groups, extra: c.rest(),
    };
  },
});

/** The `multipath` target: builder, table parser and status parser. */
export const multipath: TargetUnit<'multipath', MultipathInput, MultipathParams, MultipathStatus> = multipathUnit;
