/**
 * Derived dm-stats metrics with libdm's formulas (`libdm-stats.c`, docs/stats.md), from the
 * counters of one interval (counters read and cleared at its start and end). Time counters
 * are in nanoseconds (milliseconds scaled up for regions without precise timestamps).
 */

/** The counters of one area (or a sum of areas) over one interval; times in nanoseconds. */
export interface StatsCounters {
  readonly reads: bigint;
  readonly readsMerged: bigint;
  readonly readSectors: bigint;
  readonly readNs: bigint;
  readonly writes: bigint;
  readonly writesMerged: bigint;
  readonly writeSectors: bigint;
  readonly writeNs: bigint;
  readonly ioInProgress: bigint;
  readonly ioNs: bigint;
  readonly weightedIoNs: bigint;
  readonly totalReadNs: bigint;
  readonly totalWriteNs: bigint;
}

/** The metrics libdm derives (`dm_stats_get_metric`); per-second values over the interval. */
export interface StatsMetrics {
  /** Read merges per second, as libdm computes it: merges / interval in ns (libdm omits the ×10⁹). */
  readonly readMergesPerSec: number;
  /** Write merges per second, with libdm's same omission. */
  readonly writeMergesPerSec: number;
  readonly readsPerSec: number;
  readonly writesPerSec: number;
  /** Sectors read per second. */
  readonly readSectorsPerSec: number;
  /** Sectors written per second. */
  readonly writeSectorsPerSec: number;
  /** Average request size in sectors. */
  readonly averageRequestSectors: number;
  /** Average queue depth (weighted I/O time / interval). */
  readonly averageQueueDepth: number;
  /** Average wait per request in ms (libdm computes ns; dmstats shows ms). */
  readonly averageWaitMs: number;
  /** Average wait per read in ms. */
  readonly averageReadWaitMs: number;
  /** Average wait per write in ms. */
  readonly averageWriteWaitMs: number;
  /** Service time in ms, with libdm's formula (utilisation passed through dm_percent_to_float). */
  readonly serviceTimeMs: number;
  /** Requests completed per second. */
  readonly throughputPerSec: number;
  /** Fraction of the interval the area was busy, 0…1. */
  readonly utilization: number;
}

import { DmArgumentError } from '../errors.js';
import { arrayArg, countersArg } from './checks.js';

const NS_PER_S = 1e9;

/** Adds counters (libdm sums areas and group members the same way). */
export function sumCounters(list: readonly StatsCounters[]): StatsCounters {
  list = arrayArg(list, 'list', countersArg);
  const keys = ['reads', 'readsMerged', 'readSectors', 'readNs', 'writes', 'writesMerged', 'writeSectors', 'writeNs', 'ioInProgress', 'ioNs', 'weightedIoNs', 'totalReadNs', 'totalWriteNs'] as const;
  const out: Record<string, bigint> = {};
  for (const k of keys) out[k] = list.reduce((n, c) => n + c[k], 0n);
  return out as unknown as StatsCounters;
}

/**
 * The metrics of counters over an interval of `intervalMs` milliseconds, each with the formula
 * of libdm's `_metric_fn` of the same name (including its quirks: merges per second lack the
 * ×10⁹, service time divides by a utilisation truncated to an integer percent and scaled by
 * 10⁻⁶). Durations are libdm's nanoseconds divided by 10⁶. `intervalMs` must be above 0 (libdm returns no metric for a zero interval).
 */
export function statsMetrics(c: StatsCounters, intervalMs: number): StatsMetrics {
  c = countersArg(c, 'counters');
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || !(intervalMs > 0)) throw new DmArgumentError('intervalMs', 'a finite number above 0', typeof intervalMs === 'number' ? String(intervalMs) : typeof intervalMs);
  const intervalNs = intervalMs * 1e6;
  const n = (v: bigint) => Number(v);
  const ios = n(c.reads + c.writes);
  const ticks = n(c.readNs + c.writeNs);
  const throughputPerSec = (NS_PER_S * ios) / intervalNs;
  const ioNs = n(c.ioNs) < intervalNs ? n(c.ioNs) : intervalNs;
  const utilization = ioNs / intervalNs;
  const utilPercent = utilization * 100;
  // (uint64_t) casts in C truncate toward zero; dm_percent_to_float takes an int32 percent.
  const svc = Math.trunc(throughputPerSec) === 0 || Math.trunc(utilPercent) === 0
    ? 0
    : (NS_PER_S * Math.fround(Math.fround(Math.trunc(utilPercent)) / 1000000)) / (100 * throughputPerSec);
  return {
    readMergesPerSec: n(c.readsMerged) / intervalNs,
    writeMergesPerSec: n(c.writesMerged) / intervalNs,
    readsPerSec: (n(c.reads) * NS_PER_S) / intervalNs,
    writesPerSec: (n(c.writes) * NS_PER_S) / intervalNs,
    readSectorsPerSec: (n(c.readSectors) * NS_PER_S) / intervalNs,
    writeSectorsPerSec: (n(c.writeSectors) * NS_PER_S) / intervalNs,
    averageRequestSectors: ios > 0 ? n(c.readSectors + c.writeSectors) / ios : 0,
    averageQueueDepth: c.weightedIoNs > 0n ? n(c.weightedIoNs) / intervalNs : 0,
    averageWaitMs: (ios > 0 ? ticks / ios : 0) / 1e6,
    averageReadWaitMs: (c.readNs > 0n && c.reads > 0n ? n(c.readNs) / n(c.reads) : 0) / 1e6,
    averageWriteWaitMs: (c.writeNs > 0n && c.writes > 0n ? n(c.writeNs) / n(c.writes) : 0) / 1e6,
    serviceTimeMs: svc / 1e6,
    throughputPerSec,
    utilization,
  };
}
