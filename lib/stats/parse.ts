/**
 * The kernel's `@stats_list` and `@stats_print` output, read as libdm reads it
 * (docs/stats.md).
 */
import type { StatsCounters } from './metrics.js';
import { UNBOUNDED_NS, type HistogramBin } from './histogram.js';
import { arrayArg, stringArg, u64BigintArg } from './checks.js';
import { valueArg } from '../client/args.js';

/** One line of `@stats_list`, before group descriptors are taken out of aux_data. */
export interface ListedRegion {
  readonly regionId: number;
  readonly startSectors: bigint;
  readonly lengthSectors: bigint;
  /** The area length (`<step>`), in sectors. */
  readonly areaLengthSectors: bigint;
  /** '' when the kernel shows `-`. */
  readonly programId: string;
  /** The stored aux_data ('' when `-`). */
  readonly auxData: string;
  readonly precise: boolean;
  /** Histogram bounds in ns (empty: none). */
  readonly histogramBoundsNs: readonly bigint[];
}

const NS_PER_MS = 1000000n;

/**
 * Parses `@stats_list`. The kernel prints `<id>: <start>+<len> <step> <program_id>
 * <aux_data>` and then ` precise_timestamps` and ` histogram:<bounds>` when set; the
 * options are taken from the end, so aux_data holding a space (written escaped) is read
 * whole, where libdm would cut it at the space.
 */
export function parseStatsList(text: string): ListedRegion[] {
  stringArg(text, 'text');
  const out: ListedRegion[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{1,10}): (\d{1,20})\+(\d{1,20}) (\d{1,20}) (.*)$/.exec(line);
    if (!m) continue;
    let rest = m[5]!;
    let histogramArg: string | undefined;
    let precise = false;
    const h = / histogram:([\d,]{1,4096})$/.exec(rest);
    if (h) {
      histogramArg = h[1]!;
      rest = rest.slice(0, h.index);
    }
    if (rest.endsWith(' precise_timestamps')) {
      precise = true;
      rest = rest.slice(0, -' precise_timestamps'.length);
    }
    const sp = rest.indexOf(' ');
    const programId = sp < 0 ? rest : rest.slice(0, sp);
    const auxData = sp < 0 ? '' : rest.slice(sp + 1);
    const scale = precise ? 1n : NS_PER_MS;
    out.push({
      regionId: Number(m[1]),
      startSectors: BigInt(m[2]!),
      lengthSectors: BigInt(m[3]!),
      areaLengthSectors: BigInt(m[4]!),
      programId: programId === '-' ? '' : programId,
      auxData: auxData === '-' ? '' : auxData,
      precise,
      histogramBoundsNs: histogramArg ? histogramArg.split(',').filter((x) => x !== '').map((x) => BigInt(x) * scale) : [],
    });
  }
  return out;
}

/** One area of `@stats_print`: where it starts, the kernel's length field and its counters. */
export interface PrintedArea {
  readonly startSectors: bigint;
  /** The length field as printed: the region's step, also for a shorter last area. */
  readonly lengthSectors: bigint;
  /** The 13 counters, time counters in ns (scaled from ms unless the region is precise). */
  readonly counters: StatsCounters;
  /** The histogram (empty when the region has none). */
  readonly histogram: readonly HistogramBin[];
}

/**
 * Parses `@stats_print` rows (`<start>+<len>` and 13 counters, then `n:n:…:n` when the region
 * has a histogram). `precise` says whether the time counters are already in ns; without it
 * they are milliseconds, and multiplied by 10⁶ as libdm does. `boundsNs` are the region's
 * histogram bounds, which label the bins.
 */
export function parseStatsPrintRows(text: string, precise: boolean, boundsNs: readonly bigint[] = []): PrintedArea[] {
  stringArg(text, 'text');
  valueArg(precise, 'precise', 'boolean');
  boundsNs = arrayArg(boundsNs, 'boundsNs', u64BigintArg);
  const out: PrintedArea[] = [];
  const scale = precise ? 1n : NS_PER_MS;
  for (const line of text.split('\n')) {
    const words = line.trim().split(' ');
    const m = /^(\d{1,20})\+(\d{1,20})$/.exec(words[0] ?? '');
    if (!m || words.length < 14) continue;
    const v = words.slice(1, 14);
    if (!v.every((x) => /^\d{1,20}$/.test(x))) continue;
    const n = v.map((x) => BigInt(x));
    const counters: StatsCounters = {
      reads: n[0]!, readsMerged: n[1]!, readSectors: n[2]!, readNs: n[3]! * scale,
      writes: n[4]!, writesMerged: n[5]!, writeSectors: n[6]!, writeNs: n[7]! * scale,
      ioInProgress: n[8]!, ioNs: n[9]! * scale, weightedIoNs: n[10]! * scale,
      totalReadNs: n[11]! * scale, totalWriteNs: n[12]! * scale,
    };
    const histogram: HistogramBin[] = [];
    if (boundsNs.length > 0 && words[14] !== undefined) {
      const counts = words[14].split(':');
      counts.forEach((c, i) => histogram.push({ upperNs: i < boundsNs.length ? boundsNs[i]! : UNBOUNDED_NS, count: /^\d{1,20}$/.test(c) ? BigInt(c) : 0n }));
    }
    out.push({ startSectors: BigInt(m[1]!), lengthSectors: BigInt(m[2]!), counters, histogram });
  }
  return out;
}
