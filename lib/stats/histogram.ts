/**
 * dm-stats latency histograms as libdm handles them (docs/stats.md): the bounds string
 * dmstats takes (`--bounds`), the `histogram:` argument of `@stats_create`,
 * and the bin strings dmstats prints.
 */
import { DmArgumentError } from '../errors.js';
import { binsArg } from './checks.js';
import { describeValue, valueArg } from '../client/args.js';

const NS_PER_US = 1000n;
const NS_PER_MS = 1000000n;
const NS_PER_S = 1000000000n;
/** The upper bound of a histogram's last bin (libdm's UINT64_MAX). */
export const UNBOUNDED_NS = 0xffffffffffffffffn;

/**
 * Parses a bounds string as `dm_histogram_bounds_from_string` does: numbers separated by
 * commas, each with an optional `ns`, `us`, `ms` or `s` suffix. As in libdm, a suffix stays
 * in force for the numbers after it that have none (a bare number after `<n>ms` is in ms too). Returns
 * nanoseconds.
 */
export function parseHistogramBounds(text: string, argument = 'bounds'): bigint[] {
  if (typeof text !== 'string' || text.length === 0) throw new DmArgumentError(argument, 'a comma-separated list of bounds with optional ns, us, ms or s suffixes', describeValue(text));
  const out: bigint[] = [];
  let mult = 1n;
  let i = 0;
  const bad = (why: string) => new DmArgumentError(argument, why, JSON.stringify(text));
  while (i < text.length) {
    if (text[i] === ',') throw bad('no empty bins');
    const m = /^\d{1,20}/.exec(text.slice(i));
    if (!m) throw bad('digits, commas and the suffixes ns, us, ms, s');
    let value = BigInt(m[0]);
    i += m[0].length;
    if (text[i] === 's') {
      mult = NS_PER_S;
      i++;
    } else if (text[i + 1] === 's' && (text[i] === 'm' || text[i] === 'u' || text[i] === 'n')) {
      mult = text[i] === 'm' ? NS_PER_MS : text[i] === 'u' ? NS_PER_US : 1n;
      i += 2;
    } else if (i < text.length && text[i] !== ',') {
      throw bad('digits, commas and the suffixes ns, us, ms, s');
    }
    if (text[i] === ',') i++;
    value *= mult;
    if (value > UNBOUNDED_NS) throw bad('bounds below 2^64 ns');
    out.push(value);
  }
  return out;
}

/**
 * The `histogram:` value of `@stats_create` for bounds in nanoseconds (`_build_histogram_arg`):
 * in milliseconds, unless a bound is not a whole millisecond or `precise` was asked for, when
 * the region needs precise timestamps and the bounds go in nanoseconds. The kernel wants them
 * strictly increasing.
 */
export function histogramArgument(boundsNs: readonly bigint[], precise: boolean): { readonly argument: string; readonly precise: boolean } {
  if (boundsNs.length === 0) throw new DmArgumentError('histogramBoundsNs', 'at least one bound', '[]');
  for (let i = 1; i < boundsNs.length; i++) {
    if (boundsNs[i]! <= boundsNs[i - 1]!) throw new DmArgumentError('histogramBoundsNs', 'bounds in strictly increasing order', boundsNs.join(','));
  }
  if (boundsNs[0]! <= 0n) throw new DmArgumentError('histogramBoundsNs', 'bounds above 0', boundsNs.join(','));
  const needsPrecise = precise || boundsNs.some((b) => b % NS_PER_MS !== 0n);
  const scale = needsPrecise ? 1n : NS_PER_MS;
  return { argument: boundsNs.map((b) => String(b / scale)).join(','), precise: needsPrecise };
}

/** One histogram bin: its upper bound in ns (UNBOUNDED_NS for the last) and its count. */
export interface HistogramBin {
  /** The bin's upper bound in nanoseconds. */
  readonly upperNs: bigint;
  /** I/Os whose latency fell in the bin. */
  readonly count: bigint;
}

/** libdm's `dm_histogram_to_string` flags. */
export const HISTOGRAM_FLAGS = { suffix: 0x1, values: 0x2, relative: 0x4, boundsLower: 0x10, boundsUpper: 0x20, boundsRange: 0x30 } as const;

function scaled(ns: bigint, suffix: boolean): string {
  if (!suffix) return String(ns);
  if (ns % NS_PER_S === 0n) return `${ns / NS_PER_S}s`;
  if (ns % NS_PER_MS === 0n) return `${ns / NS_PER_MS}ms`;
  if (ns % NS_PER_US === 0n) return `${ns / NS_PER_US}us`;
  return `${ns}ns`;
}

/** dm_make_percent: fixed-point percent (1% = 1000000), never 0 or 100% unless exact. */
export function makePercent(numerator: number, denominator: number): number {
  if (!denominator) return 100000000;
  if (!numerator) return 0;
  if (numerator === denominator) return 100000000;
  const p = Math.trunc(100000000 * (numerator / denominator));
  if (p === 100000000) return 99999999;
  if (p === 0) return 1;
  return p;
}

/** C's float rounding of dm_percent_to_float. */
function percentToFloat(p: number): number { return Math.fround(Math.fround(p) / 1000000); }

function padStart(s: string, width: number): string { return s.length >= width ? s : ' '.repeat(width - s.length) + s; }

/** `dm_histogram_to_string(dmh, -1, width, flags)`: every bin of a histogram as dmstats prints it. */
export function histogramToString(bins: readonly HistogramBin[], width: number, flags: number): string {
  bins = binsArg(bins, 'bins');
  if (typeof width !== 'number' || !Number.isSafeInteger(width)) throw new DmArgumentError('width', 'an integer (negative: no padding)', String(typeof width === 'symbol' ? 'a symbol' : width));
  valueArg(flags, 'flags', 'uint');
  const boundsMode = flags & 0x30;
  const values = (flags & HISTOGRAM_FLAGS.values) !== 0;
  const percent = (flags & HISTOGRAM_FLAGS.relative) !== 0;
  const suffix = (flags & HISTOGRAM_FLAGS.suffix) !== 0;
  let minwidth = width;
  if (width < 0 || !values) width = minwidth = 0;
  else if (percent) width = minwidth = width || 6;
  else width = minwidth = width || 6;
  let sep = values && !width ? ':' : '';
  const sum = bins.reduce((n, b) => n + b.count, 0n);
  let out = '';
  for (let bin = 0; bin < bins.length; bin++) {
    let boundsBuf = '';
    if (boundsMode) {
      const boundsWidth = !width ? width : suffix ? 6 : 10;
      const lower = bin === 0 ? 0n : bins[bin - 1]!.upperNs;
      const upper = bins[bin]!.upperNs;
      const l = scaled(lower, suffix);
      const colon = values ? ':' : '';
      let mode = boundsMode;
      let bound = '';
      if (mode > HISTOGRAM_FLAGS.boundsLower) {
        if (upper === UNBOUNDED_NS) {
          bound = `>${l}`;
          mode = HISTOGRAM_FLAGS.boundsUpper;
        } else bound = scaled(upper, suffix);
      } else bound = l;
      boundsBuf = mode === HISTOGRAM_FLAGS.boundsRange ? `${l}-${bound}${colon}` : `${padStart(bound, boundsWidth)}${colon}`;
      sep = width || !values ? ',' : ':';
      if (width) width -= boundsBuf.length - (boundsWidth + 1);
      width = width > 0 ? width : 0;
    }
    if (bin === bins.length - 1) sep = '';
    const b = bins[bin]!;
    if (percent) {
      const w = bin === 0 ? b.upperNs : b.upperNs - bins[bin - 1]!.upperNs;
      const pr = !sum || !b.count || !w ? 0 : makePercent(Number(b.count), Number(sum));
      out += `${boundsBuf}${padStart(percentToFloat(pr).toFixed(2), width)}%${sep}`;
    } else if (values) out += `${boundsBuf}${padStart(String(b.count), width)}${sep}`;
    else if (boundsMode) out += `${boundsBuf}${sep}`;
    width = minwidth;
  }
  return out;
}
