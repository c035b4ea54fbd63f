/** Argument checks of the dm-stats functions (a DmArgumentError before anything else runs). */
import { describeValue, objectArg, valueArg } from '../client/args.js';
import { DmArgumentError } from '../errors.js';
import type { StatsCounters } from './metrics.js';
import type { HistogramBin } from './histogram.js';

export const COUNTER_KEYS = ['reads', 'readsMerged', 'readSectors', 'readNs', 'writes', 'writesMerged', 'writeSectors', 'writeNs', 'ioInProgress', 'ioNs', 'weightedIoNs', 'totalReadNs', 'totalWriteNs'] as const;

/** An array without holes, each element checked by `each`; a copy. */
export function arrayArg<T>(v: unknown, argument: string, each: (x: unknown, argument: string) => T): T[] {
  if (!Array.isArray(v)) throw new DmArgumentError(argument, 'an array', describeValue(v));
  const out: T[] = [];
  for (let i = 0; i < v.length; i++) {
    if (!(i in v)) throw new DmArgumentError(`${argument}[${i}]`, 'an element (no holes)', 'a hole');
    out.push(each(v[i], `${argument}[${i}]`));
  }
  return out;
}

/** A u64 as a bigint. */
export function u64BigintArg(v: unknown, argument: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw new DmArgumentError(argument, 'a bigint 0…2^64-1', describeValue(v));
  return v;
}

/** A region id list's element. */
export function regionIdArg(v: unknown, argument: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new DmArgumentError(argument, 'a region id (an integer 0…2147483647)', describeValue(v));
  return v;
}

/** A string argument. */
export function stringArg(v: unknown, argument: string): string {
  valueArg(v, argument, 'string');
  return v as string;
}

/** Counters: an object with exactly the 13 counter keys, each a u64 bigint. */
export function countersArg(v: unknown, argument: string): StatsCounters {
  const o = objectArg(v, argument, `counters (${COUNTER_KEYS.join(', ')})`);
  for (const k in o) if (!(COUNTER_KEYS as readonly string[]).includes(k)) throw new DmArgumentError(`${argument}.${k}`, `one of ${COUNTER_KEYS.join(', ')}`, 'an unknown key');
  const out: Record<string, bigint> = {};
  for (const k of COUNTER_KEYS) out[k] = u64BigintArg(o[k], `${argument}.${k}`);
  return out as unknown as StatsCounters;
}

/** Histogram bins: `{ upperNs, count }` each a u64 bigint. */
export function binsArg(v: unknown, argument: string): HistogramBin[] {
  return arrayArg(v, argument, (x, a) => {
    const o = objectArg(x, a, 'a bin { upperNs, count }');
    for (const k in o) if (k !== 'upperNs' && k !== 'count') throw new DmArgumentError(`${a}.${k}`, 'upperNs or count', 'an unknown key');
    return { upperNs: u64BigintArg(o.upperNs, `${a}.upperNs`), count: u64BigintArg(o.count, `${a}.count`) };
  });
}

/** A plain object with only these keys (each may be absent). */
export function objectArgOf(v: unknown, argument: string, keys: readonly string[]): Record<string, unknown> {
  const o = objectArg(v, argument, `an object (${keys.join(', ')})`);
  for (const k in o) if (!keys.includes(k)) throw new DmArgumentError(`${argument}.${k}`, `one of ${keys.join(', ')}`, 'an unknown key');
  return o;
}
