/**
 * The simulator's dm-stats (Documentation/admin-guide/device-mapper/statistics.rst and
 * drivers/md/dm-stats.c): the `@stats_*` grammar with the kernel's checks and errors
 * (EINVAL for a malformed message, ENOENT for an unknown region), its list and print
 * formats, and counters for the I/O reported with `SimulatedKernel.simulateIo`.
 */
import { SimError } from './errors.js';

/** One area's counters, as the kernel keeps them (times in ms, or ns for a precise region). */
export interface SimAreaCounters {
  /** Reads and writes completed (`[read, write]`). */
  ios: [bigint, bigint];
  /** Reads and writes merged. */
  merges: [bigint, bigint];
  /** Sectors read and written. */
  sectors: [bigint, bigint];
  /** Time spent reading and writing. */
  ticks: [bigint, bigint];
  /** Time with reads, with writes in progress. */
  ioTicks: [bigint, bigint];
  /** Time with any I/O in progress. */
  ioTicksTotal: bigint;
  /** Weighted time in progress (time × I/Os in flight). */
  weightedTicks: bigint;
  /** Completions per histogram bin (empty without a histogram). */
  histogram: bigint[];
}

/** One dm-stats region of a device, by id. */
export interface SimStatsRegion {
  /** First sector. */
  readonly startSectors: bigint;
  /** Sectors covered. */
  readonly lengthSectors: bigint;
  /** Sectors per area: `<step>`, or the length divided by N for `/<N>` (rounded up). */
  readonly step: bigint;
  /** `-` when none. */
  readonly programId: string;
  /** `-` when none; `@stats_set_aux` replaces it. */
  auxData: string;
  /** `precise_timestamps`. */
  readonly precise: boolean;
  /** `histogram:` boundaries (ms, or ns for a precise region). */
  readonly histogramBounds: readonly bigint[];
  /** Per area. */
  readonly areas: SimAreaCounters[];
}

const U64 = /^\d{1,20}$/;
const einval = (name: string) => new SimError('EINVAL', `ioctl: device-mapper: stats: Invalid parameters for message ${name}`);
const enoent = () => new SimError('ENOENT', 'ioctl: stats: no such region');

function zeroArea(bins: number): SimAreaCounters {
  return { ios: [0n, 0n], merges: [0n, 0n], sectors: [0n, 0n], ticks: [0n, 0n], ioTicks: [0n, 0n], ioTicksTotal: 0n, weightedTicks: 0n, histogram: bins ? new Array<bigint>(bins + 1).fill(0n) : [] };
}

/** sscanf("%d%c") of a region id: digits only, within int, not negative. */
function regionIdOf(word: string | undefined, name: string): number {
  if (word === undefined || !/^\+?\d{1,10}$/.test(word) || Number(word) > 0x7fffffff) throw einval(name);
  return Number(word);
}

function parseHistogram(text: string, name: string): bigint[] {
  const out: bigint[] = [];
  let last = 0n;
  for (const w of text.split(',')) {
    if (!U64.test(w)) throw einval(name);
    const v = BigInt(w);
    if (v <= last) throw einval(name);
    out.push(v);
    last = v;
  }
  return out;
}

function create(regions: Map<number, SimStatsRegion>, deviceSectors: bigint, argv: readonly string[]): string {
  const name = argv[0]!;
  if (argv.length < 3) throw einval(name);
  let start = 0n;
  let len = deviceSectors || 1n;
  if (argv[1] !== '-') {
    const m = /^(\d{1,20})\+(\d{1,20})$/.exec(argv[1]!);
    if (!m) throw einval(name);
    start = BigInt(m[1]!);
    len = BigInt(m[2]!);
  }
  const end = start + len;
  if (start >= end || end >= 1n << 64n) throw einval(name);
  let step: bigint;
  const div = /^\/(\d{1,10})$/.exec(argv[2]!);
  if (div) {
    const d = BigInt(div[1]!);
    if (d === 0n || d > 0xffffffffn) throw einval(name);
    step = (end - start + d - 1n) / d || 1n;
  } else if (U64.test(argv[2]!) && BigInt(argv[2]!) > 0n) {
    step = BigInt(argv[2]!);
  } else throw einval(name);
  let i = 3;
  let precise = false;
  let histogram: bigint[] = [];
  if (argv[i] !== undefined && /^\d{1,10}$/.test(argv[i]!)) {
    let n = Number(argv[i++]);
    while (n-- > 0) {
      const a = argv[i++];
      if (a === undefined) throw einval(name);
      if (a.toLowerCase() === 'precise_timestamps') precise = true;
      else if (a.slice(0, 10).toLowerCase() === 'histogram:') {
        if (histogram.length) throw einval(name);
        histogram = parseHistogram(a.slice(10), name);
      } else throw einval(name);
    }
  }
  const programId = argv[i++] ?? '-';
  const auxData = argv[i++] ?? '-';
  if (i < argv.length) throw einval(name);
  const nAreas = Number((end - start + step - 1n) / step);
  let id = 0;
  while (regions.has(id)) id++;
  regions.set(id, {
    startSectors: start, lengthSectors: len, step, programId, auxData, precise, histogramBounds: histogram,
    areas: Array.from({ length: nAreas }, () => zeroArea(histogram.length)),
  });
  return String(id);
}

function printRegion(r: SimStatsRegion, startIdx: number, count: number, clear: boolean): string {
  let out = '';
  const endIdx = Math.min(r.areas.length, startIdx + count);
  for (let x = Math.min(startIdx, endIdx); x < endIdx; x++) {
    const a = r.areas[x]!;
    // The kernel prints the step as every area's length, the last one's too.
    out += `${r.startSectors + r.step * BigInt(x)}+${r.step} ${a.ios[0]} ${a.merges[0]} ${a.sectors[0]} ${a.ticks[0]} ${a.ios[1]} ${a.merges[1]} ${a.sectors[1]} ${a.ticks[1]} 0 ${a.ioTicksTotal} ${a.weightedTicks} ${a.ioTicks[0]} ${a.ioTicks[1]}`;
    if (a.histogram.length) out += ` ${a.histogram.join(':')}`;
    out += '\n';
    if (clear) r.areas[x] = zeroArea(r.histogramBounds.length);
  }
  return out;
}

/**
 * Handles one `@stats_*` message for a device whose regions are `regions` and whose live
 * table spans `deviceSectors`; returns the message output (undefined: none). Errors are
 * SimErrors with the kernel's errno.
 */
export function statsMessage(regions: Map<number, SimStatsRegion>, deviceSectors: bigint, argv: readonly string[]): string | undefined {
  const name = argv[0]!;
  const region = (word: string | undefined) => {
    const r = regions.get(regionIdOf(word, name));
    if (!r) throw enoent();
    return r;
  };
  switch (name.toLowerCase()) {
    case '@stats_create':
      return create(regions, deviceSectors, argv);
    case '@stats_list': {
      if (argv.length > 2) throw einval(name);
      const program = argv[1];
      let out = '';
      for (const id of [...regions.keys()].sort((a, b) => a - b)) {
        const r = regions.get(id)!;
        if (program !== undefined && r.programId !== program) continue;
        out += `${id}: ${r.startSectors}+${r.lengthSectors} ${r.step} ${r.programId} ${r.auxData}`;
        if (r.precise) out += ' precise_timestamps';
        if (r.histogramBounds.length) out += ` histogram:${r.histogramBounds.join(',')}`;
        out += '\n';
      }
      return out;
    }
    case '@stats_delete':
      if (argv.length !== 2) throw einval(name);
      region(argv[1]);
      regions.delete(Number(argv[1]));
      return undefined;
    case '@stats_clear': {
      if (argv.length !== 2) throw einval(name);
      const r = region(argv[1]);
      for (let x = 0; x < r.areas.length; x++) r.areas[x] = zeroArea(r.histogramBounds.length);
      return '';
    }
    case '@stats_print':
    case '@stats_print_clear': {
      if (argv.length !== 2 && argv.length !== 4) throw einval(name);
      const id = regionIdOf(argv[1], name);
      let startIdx = 0;
      let count = Number.MAX_SAFE_INTEGER;
      if (argv.length === 4) {
        if (argv[2] !== '-') { if (!/^\d{1,15}$/.test(argv[2]!)) throw einval(name); startIdx = Number(argv[2]); }
        if (argv[3] !== '-') { if (!/^\d{1,15}$/.test(argv[3]!)) throw einval(name); count = Number(argv[3]); }
      }
      const r = regions.get(id);
      if (!r) throw enoent();
      return printRegion(r, startIdx, count, name.toLowerCase() === '@stats_print_clear');
    }
    case '@stats_set_aux': {
      if (argv.length !== 3) throw einval(name);
      region(argv[1]).auxData = argv[2]!;
      return undefined;
    }
    default:
      throw new SimError('EINVAL', `ioctl: Unsupported message sent to DM core: ${name}`);
  }
}

/** One I/O the simulated device completed, for `SimulatedKernel.simulateIo`. */
export interface SimIo {
  /** `read` or `write`. */
  readonly direction: 'read' | 'write';
  /** First sector of the I/O on the dm device. */
  readonly startSectors: bigint | number;
  /** Its length (above 0). */
  readonly lengthSectors: bigint | number;
  /** How long it took, in ms (default 0; precise regions count it in ns). */
  readonly durationMs?: number;
  /** Count it as merged with the previous I/O. */
  readonly merged?: boolean;
}

/** Counts one completed I/O in every region it touches, split across areas as dm_stat_bio does. */
export function statsAccountIo(regions: Map<number, SimStatsRegion>, io: SimIo): void {
  const idx = io.direction === 'write' ? 1 : 0;
  const start = BigInt(io.startSectors);
  const end = start + BigInt(io.lengthSectors);
  const ms = BigInt(Math.max(0, Math.round(io.durationMs ?? 0)));
  const ns = BigInt(Math.max(0, Math.round((io.durationMs ?? 0) * 1e6)));
  for (const r of regions.values()) {
    const rEnd = r.startSectors + r.lengthSectors;
    if (end <= r.startSectors || start >= rEnd) continue;
    let rel = start > r.startSectors ? start - r.startSectors : 0n;
    let todo = (end < rEnd ? end : rEnd) - (start > r.startSectors ? start : r.startSectors);
    let entry = Number(rel / r.step);
    let offset = rel % r.step;
    const dur = r.precise ? ns : ms;
    while (todo > 0n) {
      const frag = todo < r.step - offset ? todo : r.step - offset;
      const a = r.areas[entry]!;
      a.sectors[idx] += frag;
      a.ios[idx] += 1n;
      if (io.merged) a.merges[idx] += 1n;
      a.ticks[idx] += dur;
      a.ioTicks[idx] += dur;
      a.ioTicksTotal += dur;
      a.weightedTicks += dur;
      if (a.histogram.length) {
        const bounds = r.histogramBounds;
        let bin = 0;
        while (bin < bounds.length && bounds[bin]! <= dur) bin++;
        a.histogram[bin]! += 1n;
      }
      todo -= frag;
      entry++;
      offset = 0n;
      rel = 0n;
    }
  }
}
