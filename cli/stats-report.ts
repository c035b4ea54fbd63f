/**
 * dmstats' fields (`dmstats list` and `dmstats report`): each field's text as dmsetup.c's
 * display functions make it (sizes through dm_size_to_string with `--units`, histograms with
 * or without time suffixes) and the value it sorts and selects on. The layout, `-o`, `-O`
 * and `-S` are the report engine's (cli/report/render.ts), dmstats drives the same one.
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
  /** `--units` (dmstats' default `h`). */
  readonly units?: DisplayUnits | undefined;
  /** `--notimesuffix`: histogram bounds without ns/us/ms/s. */
  readonly noTimeSuffix?: boolean | undefined;
}

type Kind = 'num' | 'siz' | 'str';
interface Field {
  readonly heading: string;
  readonly width: number;
  readonly kind: Kind;
  value(r: StatsRow): string;
  /** The value -O sorts and -S compares (dmsetup's sortval): a size in sectors, a metric's double; default the text's number. */
  sort?(r: StatsRow): bigint | number | string;
}

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

/** `--units`: dm_units_to_factor's unit type letter and factor in bytes (dmsetup's `_disp_units`, `_disp_factor`). */
export interface DisplayUnits { readonly type: string; readonly factor: bigint }

/** dmstats' default units: `h` (dmsetup.c sets `--units h` for the stats commands). */
export const HUMAN_UNITS: DisplayUnits = { type: 'h', factor: 1n };

const KIB = 1024n;
const UNIT_MULTIPLIERS: Readonly<Record<string, bigint>> = {
  h: 1n, H: 1n, r: 1n, R: 1n, b: 1n, B: 1n, s: 512n, S: 512n,
  k: KIB, m: KIB ** 2n, g: KIB ** 3n, t: KIB ** 4n, p: KIB ** 5n, e: KIB ** 6n,
  K: 1000n, M: 1000n ** 2n, G: 1000n ** 3n, T: 1000n ** 4n, P: 1000n ** 5n, E: 1000n ** 6n,
};

/**
 * dm_units_to_factor(text, &type, strict=0): an optional number, then one unit letter
 * (anything after it ignored). A number makes the type `U` (custom units of that many of
 * the letter); h/H/r/R take no number. Undefined where libdm returns 0 ("Invalid --units
 * argument.").
 */
export function parseDisplayUnits(text: string): DisplayUnits | undefined {
  let v = 1n;
  let custom = 0;
  let rest = text;
  const m = /^\d/.test(text) ? /^(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)/.exec(text) : null;
  if (m) {
    custom = Number(m[1]);
    v = BigInt(/^\d+/.exec(m[1]!)![0]);
    if (Number(v) === custom) custom = 0; // integer arithmetic, as libdm's _close_enough
    rest = text.slice(m[1]!.length);
  }
  const u = rest[0];
  if (u === undefined || !Object.hasOwn(UNIT_MULTIPLIERS, u)) return undefined;
  const mult = UNIT_MULTIPLIERS[u]!;
  if ('hHrR'.includes(u)) return { type: u, factor: 1n };
  const type = m ? 'U' : u;
  if (custom === 0) return { type, factor: (v * mult) & U64 };
  return { type, factor: BigInt(Math.trunc(custom * Number(mult))) };
}

// dm_size_to_string's suffix table (use_si_units = 1, DM_SIZE_UNIT): powers of 1000, of 1024, then B/U/S.
const SI_1000 = ['E', 'P', 'T', 'G', 'M', 'K'];
const SI_1024 = ['e', 'p', 't', 'g', 'm', 'k'];

/**
 * dm_size_to_string(size, units.type, use_si_units=1, units.factor, show_units(), DM_SIZE_UNIT)
 * as dmsetup's stats size fields call it. A size in sectors; ×512 wraps at 2^64 as in C.
 * `h`/`H` (and `r`/`R`) pick the largest unit the size reaches (1024 or 1000 based) and always
 * print its letter (`b`/`B` for bytes, which get no decimals); `r`/`R` add `<` when two
 * decimals round. Any other unit divides by its factor, two decimals (none for b, B, s, S);
 * dmsetup's show_units() reads `_int_args[UNITS_ARG]`, which a string option never sets, so
 * no suffix follows (`--nosuffix` changes nothing). 0 is "0".
 */
export function sizeToString(sectors: bigint, units: DisplayUnits = HUMAN_UNITS): string {
  let size = sectors & U64;
  const t = units.type;
  const human = !SI_1000.includes(t) && !SI_1024.includes(t) && !'BUSbus'.includes(t);
  if (size === 0n) return '0';
  size = (size * 512n) & U64;
  if (!human) {
    const precision = 'BbSs'.includes(t) ? 0 : 2;
    return cFixed(Number(size) / Number(units.factor), precision);
  }
  const base = t === 'H' || t === 'R' ? 1000n : 1024n;
  const letters = base === 1000n ? [...SI_1000, 'B'] : [...SI_1024, 'b'];
  let byte = base ** 6n;
  let s = 0;
  for (; s < 6 && size < byte; s++) byte /= base;
  let prefix = '';
  if (s < 6 && (t === 'r' || t === 'R')) {
    const d = (100 * Number(size)) / Number(byte);
    if (Math.abs(Math.floor(d) - roundHalfEven(d)) >= Number.EPSILON) prefix = '<';
  }
  return `${prefix}${cFixed(Number(size) / Number(byte), s === 6 ? 0 : 2)}${letters[s]}`;
}

/** nearbyintl in the default rounding mode: ties to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/**
 * dm_size_to_string(size, 'h', use_si_units=1, ...): dmstats' default units. A size in
 * sectors, shown in bytes in the largest power-of-1024 unit it reaches, two decimals (none
 * for bytes), the unit's letter after it; 0 is "0". The ×512 wraps at 2^64 as in C.
 */
export function humanSize(sectors: bigint): string {
  return sizeToString(sectors, HUMAN_UNITS);
}

const f2 = (v: number) => cFixed(v, 2);
const metric = (r: StatsRow) => statsMetrics(r.counters ?? sumCounters([]), (r.intervalNs || 1) / 1e6);
const counter = (k: keyof StatsCounters) => (r: StatsRow) => String((r.counters ?? sumCounters([]))[k]);
const bounds = (r: StatsRow) => (r.region.histogramBoundsNs.length
  ? [...r.region.histogramBoundsNs, UNBOUNDED_NS].map((upperNs) => ({ upperNs, count: 0n })) : undefined);
const timeSuffix = (r: StatsRow) => (r.noTimeSuffix ? 0 : HISTOGRAM_FLAGS.suffix);
const hist = (flags: number) => (r: StatsRow) => {
  const h = r.histogram && r.histogram.length ? r.histogram : undefined;
  return h ? histogramToString(h, r.noHeadings ? -1 : 0, flags | timeSuffix(r)) : '';
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
  reads_merged_per_sec: { heading: 'RMrg/s', width: 6, kind: 'num', value: (r) => f2(metric(r).readMergesPerSec), sort: (r) => metric(r).readMergesPerSec },
  writes_merged_per_sec: { heading: 'WMrg/s', width: 6, kind: 'num', value: (r) => f2(metric(r).writeMergesPerSec), sort: (r) => metric(r).writeMergesPerSec },
  reads_per_sec: { heading: 'R/s', width: 3, kind: 'num', value: (r) => f2(metric(r).readsPerSec), sort: (r) => metric(r).readsPerSec },
  writes_per_sec: { heading: 'W/s', width: 3, kind: 'num', value: (r) => f2(metric(r).writesPerSec), sort: (r) => metric(r).writesPerSec },
  // dmsetup shows these two as sizes: sectors per second, in sectors by default.
  read_size_per_sec: { heading: 'RSz/s', width: 5, kind: 'num', value: (r) => sizeToString(BigInt(Math.trunc(metric(r).readSectorsPerSec)), r.units), sort: (r) => metric(r).readSectorsPerSec },
  write_size_per_sec: { heading: 'WSz/s', width: 5, kind: 'num', value: (r) => sizeToString(BigInt(Math.trunc(metric(r).writeSectorsPerSec)), r.units), sort: (r) => metric(r).writeSectorsPerSec },
  avg_request_size: { heading: 'AvgRqSz', width: 7, kind: 'num', value: (r) => sizeToString(BigInt(Math.trunc(metric(r).averageRequestSectors)), r.units), sort: (r) => metric(r).averageRequestSectors },
  queue_size: { heading: 'QSize', width: 5, kind: 'num', value: (r) => f2(metric(r).averageQueueDepth), sort: (r) => metric(r).averageQueueDepth },
  await: { heading: 'AWait', width: 5, kind: 'num', value: (r) => f2(metric(r).averageWaitMs), sort: (r) => metric(r).averageWaitMs },
  read_await: { heading: 'RdAWait', width: 7, kind: 'num', value: (r) => f2(metric(r).averageReadWaitMs), sort: (r) => metric(r).averageReadWaitMs },
  write_await: { heading: 'WrAWait', width: 7, kind: 'num', value: (r) => f2(metric(r).averageWriteWaitMs), sort: (r) => metric(r).averageWriteWaitMs },
  throughput: { heading: 'Throughput', width: 10, kind: 'num', value: (r) => f2(metric(r).throughputPerSec), sort: (r) => metric(r).throughputPerSec },
  service_time: { heading: 'SvcTm', width: 5, kind: 'num', value: (r) => f2(metric(r).serviceTimeMs), sort: (r) => metric(r).serviceTimeMs },
  util: { heading: 'Util%', width: 5, kind: 'num', value: (r) => f2(roundPercent(utilPercent(metric(r).utilization))), sort: (r) => utilPercent(metric(r).utilization) },
  hist_count: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values) },
  hist_count_bounds: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsLower) },
  hist_count_ranges: { heading: 'Histogram Counts', width: 16, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.boundsRange) },
  hist_percent: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative) },
  hist_percent_bounds: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative | HISTOGRAM_FLAGS.boundsLower) },
  hist_percent_ranges: { heading: 'Histogram%', width: 10, kind: 'str', value: hist(HISTOGRAM_FLAGS.values | HISTOGRAM_FLAGS.relative | HISTOGRAM_FLAGS.boundsRange) },
  interval_ns: { heading: 'IntervalNs', width: 10, kind: 'num', value: (r) => String(Math.trunc(r.intervalNs)) },
  interval: { heading: 'Interval', width: 8, kind: 'num', value: (r) => cFixed(r.intervalNs / 1e9, 6), sort: (r) => r.intervalNs / 1e9 },
  region_id: { heading: 'RgID', width: 4, kind: 'num', value: (r) => (r.type === 'group' ? formatRegionList(r.group!.members) : String(r.region.regionId)), sort: (r) => BigInt(r.type === 'group' ? r.groupId ?? 0 : r.region.regionId) },
  region_start: { heading: 'RgStart', width: 7, kind: 'siz', value: (r) => sizeToString(r.regionStartSectors, r.units), sort: (r) => r.regionStartSectors & U64 },
  region_len: { heading: 'RgSize', width: 6, kind: 'siz', value: (r) => sizeToString(r.regionLengthSectors, r.units), sort: (r) => r.regionLengthSectors & U64 },
  area_id: { heading: 'ArID', width: 4, kind: 'num', value: (r) => String(r.areaId) },
  area_start: { heading: 'ArStart', width: 7, kind: 'siz', value: (r) => sizeToString(r.areaStartSectors, r.units), sort: (r) => r.areaStartSectors & U64 },
  area_len: { heading: 'ArSize', width: 6, kind: 'siz', value: (r) => sizeToString(r.areaLengthSectors, r.units), sort: (r) => r.areaLengthSectors & U64 },
  area_offset: { heading: 'ArOff', width: 5, kind: 'siz', value: (r) => sizeToString(r.areaOffsetSectors, r.units), sort: (r) => r.areaOffsetSectors & U64 },
  area_count: { heading: '#Areas', width: 6, kind: 'num', value: (r) => String(r.areaCount) },
  group_id: { heading: 'GrpID', width: 5, kind: 'num', value: (r) => (r.groupId === undefined ? '-' : String(r.groupId)) },
  program_id: { heading: 'ProgID', width: 6, kind: 'str', value: (r) => r.region.programId },
  user_data: { heading: 'UserData', width: 8, kind: 'str', value: (r) => (r.type === 'group' ? '' : r.region.userData) },
  precise: { heading: 'Precise', width: 7, kind: 'str', value: (r) => (r.region.precise ? '1' : '0') },
  hist_bins: { heading: '#Bins', width: 9, kind: 'str', value: (r) => String(r.type === 'group' || !r.region.histogramBoundsNs.length ? 0 : r.region.histogramBoundsNs.length + 1) },
  hist_bounds: { heading: 'Histogram Bounds', width: 16, kind: 'str', value: (r) => { const b = bounds(r); return b ? histogramToString(b, 0, HISTOGRAM_FLAGS.boundsLower | timeSuffix(r)) : ''; } },
  hist_ranges: { heading: 'Histogram Ranges', width: 16, kind: 'str', value: (r) => { const b = bounds(r); return b ? histogramToString(b, 0, HISTOGRAM_FLAGS.boundsRange | timeSuffix(r)) : ''; } },
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

/**
 * A field's cell for the report engine (cli/report/render.ts): the text dmstats shows and the
 * value it sorts and selects on. Undefined for a field dmstats' objects have no data for.
 */
export function statsCell(id: string, row: StatsRow): { text: string; sort: bigint | number | string } | undefined {
  const f = Object.hasOwn(STATS_FIELDS, id) ? STATS_FIELDS[id] : undefined;
  if (!f) return undefined;
  const text = f.value(row);
  if (f.sort) return { text, sort: f.sort(row) };
  return { text, sort: f.kind !== 'str' && /^\d+$/.test(text) ? BigInt(text) : text };
}
