/**
 * What `dmstats list` and `dmstats report` print: dmsetup's stats fields (ids, headings,
 * widths and alignment as in dmsetup.c's field table) laid out by libdm-report's aligned
 * column rules (a column is as wide as its declared width or its widest value; numbers and
 * sizes right-aligned, strings left; one space between columns; headings cut to the width).
 */
import { histogramToString, HISTOGRAM_FLAGS, statsMetrics, sumCounters, UNBOUNDED_NS, type HistogramBin, type StatsCounters, type StatsGroup, type StatsRegion } from '../lib/index.js';
import { formatRegionList } from '../lib/index.js';

/** One object of the walk: an area, a region or a group. */
export interface StatsRow {
  readonly type: 'area' | 'region' | 'group';
  readonly name: string;
  readonly groupId: number | undefined;
  readonly region: StatsRegion;
  readonly group?: StatsGroup | undefined;
  readonly areaId: number;
  readonly regionStartSectors: bigint;
  readonly regionLengthSectors: bigint;
  readonly areaCount: number;
  readonly areaStartSectors: bigint;
  readonly areaLengthSectors: bigint;
  readonly areaOffsetSectors: bigint;
  readonly counters?: StatsCounters | undefined;
  readonly histogram?: readonly HistogramBin[] | undefined;
  readonly intervalNs: number;
  readonly noHeadings: boolean;
}

type Kind = 'num' | 'siz' | 'str';
interface Field { readonly heading: string; readonly width: number; readonly kind: Kind; value(r: StatsRow): string }

/** C's printf("%.*f"): the double's exact value rounded half to even (toFixed rounds ties up). */
export function cFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  const neg = x < 0;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e = -1074;
  if (expBits !== 0) { mant |= 1n << 52n; e = expBits - 1075; }
  let num = mant * 10n ** BigInt(digits);
  let den = 1n;
  if (e >= 0) num <<= BigInt(e); else den <<= BigInt(-e);
  let q = num / den;
  const r = num % den;
  if (2n * r > den || (2n * r === den && (q & 1n) === 1n)) q += 1n;
  const t = q.toString().padStart(digits + 1, '0');
  return (neg ? '-' : '') + (digits ? `${t.slice(0, -digits)}.${t.slice(-digits)}` : t);
}

const U64 = (1n << 64n) - 1n;
const SUFFIXES = ['e', 'p', 't', 'g', 'm', 'k', 'b'];

/**
 * dm_size_to_string(size, 'h', use_si_units=1, ...): dmstats' default units. A size in
 * sectors, shown in bytes in the largest power-of-1024 unit it reaches, two decimals (none
 * for bytes), the unit's letter after it; 0 is "0". The ×512 wraps at 2^64 as in C.
 */
export function humanSize(sectors: bigint): string {
  const size = sectors & U64;
  if (size === 0n) return '0';
  const bytes = (size * 512n) & U64;
  let unit = 1n << 60n;
  let s = 0;
  while (s < 6 && bytes < unit) { unit /= 1024n; s++; }
  return `${cFixed(Number(bytes) / Number(unit), s === 6 ? 0 : 2)}${SUFFIXES[s]}`;
}

const f2 = (v: number) => cFixed(v, 2);
const metric = (r: StatsRow) => statsMetrics(r.counters ?? sumCounters([]), (r.intervalNs || 1) / 1e6);
const counter = (k: keyof StatsCounters) => (r: StatsRow) => String((r.counters ?? sumCounters([]))[k]);
const bounds = (r: StatsRow) => (r.region.histogramBoundsNs.length
  ? [...r.region.histogramBoundsNs, UNBOUNDED_NS].map((upperNs) => ({ upperNs, count: 0n })) : undefined);
const hist = (flags: number) => (r: StatsRow) => {
  const h = r.histogram && r.histogram.length ? r.histogram : undefined;
  return h ? histogramToString(h, r.noHeadings ? -1 : 0, flags | HISTOGRAM_FLAGS.suffix) : '';
};

/** dmstats' fields by id. */
export const STATS_FIELDS: Readonly<Record<string, Field>> = {
  read_count: { heading: '#Reads', width: 6, kind: 'num', value: counter('reads') },
  reads_merged_count: { heading: '#RdMrgs', width: 7, kind: 'num', value: counter('readsMerged') },
  read_sector_count: { heading: '#RdSectors', width: 10, kind: 'num', value: counter('readSectors') },
  read_time: { heading: 'AccRdTime', width: 11, kind: 'num', value: counter('readNs') },
  write_count: { heading: '#Writes', width: 7, kind: 'num', value: counter('writes') },
  writes_merged_count: { heading: '#WrMrgs', width: 7, kind: 'num', value: counter('writesMerged') },
  write_sector_count: { heading: '#WrSectors', width: 10, kind: 'num', value: counter('writeSectors') },
  write_time: { heading: 'AccWrTime', width: 11, kind: 'num', value: counter('writeNs') },
  in_progress_count: { heading: '#InProg', width: 7, kind: 'num', value: counter('ioInProgress') },
  io_ticks: { heading: 'IoTicks', width: 7, kind: 'num', value: counter('ioNs') },
  queue_ticks: { heading: 'QueueTicks', width: 10, kind: 'num', value: counter('weightedIoNs') },
  read_ticks: { heading: 'RdTicks', width: 7, kind: 'num', value: counter('totalReadNs') },
  write_ticks: { heading: 'WrTicks', width: 7, kind: 'num', value: counter('totalWriteNs') },
  reads_merged_per_sec: { heading: 'RMrg/s', width: 6, kind: 'num', value: (r) => f2(metric(r).readMergesPerSec) },
  writes_merged_per_sec: { heading: 'WMrg/s', width: 6, kind: 'num', value: (r) => f2(metric(r).writeMergesPerSec) },
  reads_per_sec: { heading: 'R/s', width: 3, kind: 'num', value: (r) => f2(metric(r).readsPerSec) },
  writes_per_sec: { heading: 'W/s', width: 3, kind: 'num', value: (r) => f2(metric(r).writesPerSec) },
  // dmsetup shows these two as sizes: sectors per second, in sectors by default.
  read_size_per_sec: { heading: 'RSz/s', width: 5, kind: 'num', value: (r) => humanSize(BigInt(Math.trunc(metric(r).readSectorsPerSec))) },
  write_size_per_sec: { heading: 'WSz/s', width: 5, kind: 'num', value: (r) => humanSize(BigInt(Math.trunc(metric(r).writeSectorsPerSec))) },
  avg_request_size: { heading: 'AvgRqSz', width: 7, kind: 'num', value: (r) => humanSize(BigInt(Math.trunc(metric(r).averageRequestSectors))) },
  queue_size: { heading: 'QSize', width: 5, kind: 'num', value: (r) => f2(metric(r).averageQueueDepth) },
  await: { heading: 'AWait', width: 5, kind: 'num', value: (r) => f2(metric(r).averageWaitMs) },
  read_await: { heading: 'RdAWait', width: 7, kind: 'num', value: (r) => f2(metric(r).averageReadWaitMs) },
  write_await: { heading: 'WrAWait', width: 7, kind: 'num', value: (r) => f2(metric(r).averageWriteWaitMs) },
  throughput: { heading: 'Throughput', width: 10, kind: 'num', value: (r) => f2(metric(r).throughputPerSec) },
  service_time: { heading: 'SvcTm', width: 5, kind: 'num', value: (r) => f2(metric(r).serviceTimeMs) },
  util: { heading: 'Util%', width: 5, kind: 'num', value: (r) => f2(roundPercent(utilPercent(metric(r).utilization))) },
  hist_count: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values) },
  hist_count_bounds: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsLower) },
  hist_count_ranges: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsRange) },
  hist_percent: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative) },
  hist_percent_bounds: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative | HISTOGRAM_FLAGS.boundsLower) },
  hist_percent_ranges: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative | HISTOGRAM_FLAGS.boundsRange) },
  interval_ns: { heading: 'IntervalNs', width: 10, kind: 'num', value: (r) => String(Math.trunc(r.intervalNs)) },
  interval: { heading: 'Interval', width: 8, kind: 'num', value: (r) => cFixed(r.intervalNs / 1e9, 6) },
  region_id: { heading: 'RgID', width: 4, kind: 'num', value: (r) => (r.type === 'group' ? formatRegionList(r.group!.members) : String(r.region.regionId)) },
  region_start: { heading: 'RgStart', width: 7, kind: 'siz', value: (r) => humanSize(r.regionStartSectors) },
  region_len: { heading: 'RgSize', width: 6, kind: 'siz', value: (r) => humanSize(r.regionLengthSectors) },
  area_id: { heading: 'ArID', width: 4, kind: 'num', value: (r) => String(r.areaId) },
  area_start: { heading: 'ArStart', width: 7, kind: 'siz', value: (r) => humanSize(r.areaStartSectors) },
  area_len: { heading: 'ArSize', width: 6, kind: 'siz', value: (r) => humanSize(r.areaLengthSectors) },
  area_offset: { heading: 'ArOff', width: 5, kind: 'siz', value: (r) => humanSize(r.areaOffsetSectors) },
  area_count: { heading: '#Areas', width: 6, kind: 'num', value: (r) => String(r.areaCount) },
  group_id: { heading: 'GrpID', width: 5, kind: 'num', value: (r) => (r.groupId === undefined ? '-' : String(r.groupId)) },
  program_id: { heading: 'ProgID', width: 6, kind: 'str', value: (r) => r.region.programId },
  user_data: { heading: 'UserData', width: 8, kind: 'str', value: (r) => (r.type === 'group' ? '' : r.region.userData) },
  precise: { heading: 'Precise', width: 7, kind: 'str', value: (r) => (r.region.precise ? '1' : '0') },
  hist_bins: { heading: '#Bins', width: 9, kind: 'str', value: (r) => String(r.type === 'group' || !r.region.histogramBoundsNs.length ? 0 : r.region.histogramBoundsNs.length + 1) },
  hist_bounds: { heading: 'Histogram Bounds', width: 16, kind: 'str', value: (r) => { const b = bounds(r); return b ? histogramToString(b, 0, HISTOGRAM_FLAGS.boundsLower | HISTOGRAM_FLAGS.suffix) : ''; } },
  hist_ranges: { heading: 'Histogram Ranges', width: 16, kind: 'str', value: (r) => { const b = bounds(r); return b ? histogramToString(b, 0, HISTOGRAM_FLAGS.boundsRange | HISTOGRAM_FLAGS.suffix) : ''; } },
  stats_name: { heading: 'Name', width: 16, kind: 'str', value: (r) => r.name },
  obj_type: { heading: 'ObjType', width: 7, kind: 'str', value: (r) => r.type },
};

/** dm_make_percent of a 0…1 utilisation, as dmsetup's util field builds it. */
function utilPercent(u: number): number {
  if (u <= 0) return 0;
  if (u >= 1) return 100000000;
  const p = Math.trunc(100000000 * u);
  return p === 100000000 ? 99999999 : p === 0 ? 1 : p;
}

/** dm_percent_to_round_float(p, 2): never shows 0.00 or 100.00 for a value strictly between. */
function roundPercent(p: number): number {
  if (p > 0 && p < 10000) return Math.fround(0.01);
  if (p > 100000000 - 10000 && p < 100000000) return Math.fround(99.99);
  return Math.fround(Math.fround(p) / 1000000);
}

/** dmstats' field lists (dmsetup.c). */
const DEV_INFO = 'statsname,group_id,region_id,obj_type';
const AREA_INFO = 'area_id,area_start,area_len';
const AREA_INFO_FULL = `${DEV_INFO},region_start,region_len,area_count,area_id,area_start,area_len`;
const REGION_INFO = `${DEV_INFO},region_start,region_len,area_count,area_len`;
const METRICS = 'reads_merged_per_sec,writes_merged_per_sec,reads_per_sec,writes_per_sec,read_size_per_sec,write_size_per_sec,avg_request_size,queue_size,util,await,read_await,write_await';
const COUNTERS = 'read_count,reads_merged_count,read_sector_count,read_time,read_ticks,write_count,writes_merged_count,write_sector_count,write_time,write_ticks,in_progress_count,io_ticks,queue_ticks';
export const STATS_FIELD_SETS = {
  report: `${DEV_INFO},${AREA_INFO},${METRICS}`,
  raw: `${DEV_INFO},${AREA_INFO},${COUNTERS}`,
  list: `${REGION_INFO},program_id`,
  areaList: `${AREA_INFO_FULL},program_id`,
  histList: `${REGION_INFO},hist_bins,hist_bounds`,
  histAreaList: `${AREA_INFO_FULL},hist_bins,hist_bounds`,
  hist: `${REGION_INFO},util,await,hist_count_bounds`,
  histRelative: `${REGION_INFO},util,await,hist_percent_bounds`,
} as const;

/** Expands `-o` as dmsetup does: `+fields` appends to the default list; the `statsname` alias is `stats_name`. */
export function resolveStatsFields(option: string | undefined, defaults: string): string[] {
  const list = option === undefined ? defaults : option.startsWith('+') ? `${defaults},${option.slice(1)}` : option;
  return list.split(',').filter((x) => x !== '').map((x) => (x === 'statsname' ? 'stats_name' : x));
}

/** Lays rows out as libdm-report's aligned columns (or `--noheadings`, or `--separator`-less unaligned). */
export function renderStatsReport(fieldIds: readonly string[], rows: readonly StatsRow[], options: { readonly noHeadings?: boolean | undefined } = {}): string {
  const fields = fieldIds.map((id) => {
    const f = STATS_FIELDS[id];
    if (!f) throw new Error(`Unrecognised field: ${id}`);
    return f;
  });
  const cells = rows.map((r) => fields.map((f) => f.value(r)));
  const widths = fields.map((f, i) => Math.max(f.width, ...cells.map((c) => c[i]!.length)));
  const lines: string[] = [];
  if (!options.noHeadings && rows.length > 0) lines.push(fields.map((f, i) => f.heading.slice(0, widths[i]).padEnd(widths[i]!)).join(' '));
  for (const c of cells) lines.push(c.map((v, i) => (fields[i]!.kind === 'str' ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' '));
  return lines.map((l) => `${l}\n`).join('');
}
