/**
 * `dmctl stats <verb>`: dmstats (dmsetup.c's stats commands) on the public DmStats API —
 * create, delete, clear, list, print, report, group, ungroup — with dmstats' options and
 * byte-for-byte output (docs/stats.md). `--json` prints the same facts as a document.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  DmStats, DMSTATS_PROGRAM_ID, sumCounters,
  UNBOUNDED_NS as UNBOUNDED, type HistogramBin, type DeviceId, type DeviceMapper, type StatsListing, type StatsRegion, type StatsSample,
} from '../lib/index.js';
import { jsonDocument, type CliIo } from './context.js';
import { U64StringSchema } from './schemas.js';
import { HUMAN_UNITS, parseDisplayUnits, statsCell, STATS_FIELD_SETS, type DisplayUnits, type StatsRow } from './stats-report.js';
import { Report, ReportError, type Cell } from './report/render.js';
import { deviceName, readAhead, REPORT_FIELDS, type ReportRow } from './format.js';
import { STATS_USAGE } from './stats-usage.js';

const OPTIONS = {
  alias: { type: 'string' }, allprograms: { type: 'boolean' }, allregions: { type: 'boolean' }, alldevices: { type: 'boolean' },
  area: { type: 'boolean' }, areas: { type: 'string' }, areasize: { type: 'string' }, bounds: { type: 'string' },
  clear: { type: 'boolean' }, count: { type: 'string', short: 'c' }, filemap: { type: 'boolean' }, force: { type: 'boolean', short: 'f' },
  group: { type: 'boolean' }, groupid: { type: 'string' }, histogram: { type: 'boolean' }, interval: { type: 'string' },
  length: { type: 'string' }, noheadings: { type: 'boolean' }, nogroup: { type: 'boolean' }, nosuffix: { type: 'boolean' },
  notimesuffix: { type: 'boolean' }, options: { type: 'string', short: 'o' }, precise: { type: 'boolean' },
  programid: { type: 'string' }, region: { type: 'boolean' }, regionid: { type: 'string' }, regions: { type: 'string' },
  relative: { type: 'boolean' }, raw: { type: 'boolean' }, segments: { type: 'boolean' }, start: { type: 'string' },
  units: { type: 'string' }, userdata: { type: 'string' }, uuid: { type: 'string', short: 'u' }, major: { type: 'string', short: 'j' },
  minor: { type: 'string', short: 'm' }, verbose: { type: 'boolean', short: 'v', multiple: true }, json: { type: 'boolean' },
  nomonitor: { type: 'boolean' }, follow: { type: 'string' }, foreground: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  sort: { type: 'string', short: 'O' }, select: { type: 'string', short: 'S' }, separator: { type: 'string' },
  rows: { type: 'boolean' }, nameprefixes: { type: 'boolean' }, unquoted: { type: 'boolean' }, unbuffered: { type: 'boolean' },
} as const;

type StatsOptions = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? boolean[] : (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** A dmstats failure: its message goes to stderr as dmstats logs it. */
class StatsFailure extends Error {}

/** `--json` of list and report: the rows dmstats prints, field by field. */
export const StatsReportOutputSchema = z.object({
  schemaVersion: z.literal(3),
  /** The field ids, in column order. */
  fields: z.array(z.string()),
  /** One object per row: field id → the text dmstats shows. */
  rows: z.array(z.record(z.string(), z.string())),
});
/** `--json` of create: the regions made. */
export const StatsCreateOutputSchema = z.object({
  schemaVersion: z.literal(3),
  device: z.string(),
  regions: z.array(z.object({ regionId: z.number().int(), areaCount: U64StringSchema })),
  groupId: z.number().int().optional(),
});

export { STATS_USAGE };

/** dmsetup's `_size_from_string`: a number in sectors, or with a unit suffix (dm_units_to_factor, non-strict). */
function sizeBytes(text: string, name: string): bigint {
  const m = /^\d{1,20}/.exec(text);
  if (!m) throw new StatsFailure(`Invalid ${name} argument: "${text}"`);
  const n = BigInt(m[0]);
  const unit = text.slice(m[0].length);
  if (unit === '') return n * 512n;
  const u = unit[0]!;
  const pow = 'bskmgtpe'.indexOf(u.toLowerCase());
  if (pow < 0) return n; // an unknown unit: dmsetup leaves the number as it is
  if (pow === 0) return n;
  if (pow === 1) return n * 512n;
  const base = u === u.toUpperCase() ? 1000n : 1024n;
  return n * base ** BigInt(pow - 1);
}

/** atoi-like, as dmsetup's `_int_args`. */
function intArg(text: string | undefined): number {
  const m = /^\s*([+-]?\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

interface Device { readonly name: string; readonly id: DeviceId }

const U64_MASK = (1n << 64n) - 1n;

async function devicesOf(dm: DeviceMapper, args: readonly string[], o: StatsOptions): Promise<Device[] | undefined> {
  if (o.uuid !== undefined) return [{ name: o.uuid, id: { uuid: o.uuid } }];
  if (o.major !== undefined && o.minor !== undefined) return [{ name: `${o.major}:${o.minor}`, id: { dev: { major: intArg(o.major), minor: intArg(o.minor) } } }];
  if (args.length > 0) return args.map((a) => ({ name: a, id: { name: a } }));
  return undefined;
}

async function allDevices(dm: DeviceMapper): Promise<Device[]> {
  return (await dm.list()).map((d) => ({ name: d.name, id: { name: d.name } }));
}

/** The rows of dmstats' walk (REGION|GROUP, or with areas first for report) over one device's listing. */
function rowsOf(name: string, listing: StatsListing, walk: { areas: boolean; regions: boolean; groups: boolean; skipSingleArea: boolean }, sample: StatsSample | undefined, intervalNs: number, noHeadings: boolean): StatsRow[] {
  const rows: StatsRow[] = [];
  const aliasOf = (r: StatsRegion) => {
    const g = r.groupId === undefined ? undefined : listing.groups.find((x) => x.groupId === r.groupId);
    return g && g.alias ? g.alias : name;
  };
  const areasOf = (id: number) => sample?.regions.find((s) => s.region.regionId === id)?.areas ?? [];
  // dm_stats_get_histogram: an area's own, a region's or group's the sum of its areas'
  // (bins as the first region's bounds); without counters read (list), the bounds, counts 0.
  const histOf = (leader: StatsRegion, areas: readonly { histogram: readonly HistogramBin[] }[]): HistogramBin[] | undefined => {
    if (!leader.histogramBoundsNs.length) return undefined;
    const bins = [...leader.histogramBoundsNs, UNBOUNDED].map((upperNs) => ({ upperNs, count: 0n }));
    for (const a of areas) a.histogram.forEach((b, i) => { if (bins[i]) bins[i] = { upperNs: bins[i]!.upperNs, count: bins[i]!.count + b.count }; });
    return bins;
  };
  const base = (r: StatsRegion) => ({ name: aliasOf(r), groupId: r.groupId, region: r, intervalNs, noHeadings, regionStartSectors: r.startSectors, regionLengthSectors: r.lengthSectors });
  if (walk.areas) {
    for (const r of listing.regions) {
      const areas = areasOf(r.regionId);
      for (let a = 0; a < r.areaCount; a++) {
        rows.push({ ...base(r), type: 'area', areaId: a, areaCount: r.areaCount, areaStartSectors: r.startSectors + r.areaLengthSectors * BigInt(a), areaLengthSectors: r.areaLengthSectors, areaOffsetSectors: r.areaLengthSectors * BigInt(a), counters: areas[a]?.counters, histogram: histOf(r, areas[a] ? [areas[a]!] : []) });
      }
    }
  }
  if (walk.regions) {
    for (const r of listing.regions) {
      if (walk.skipSingleArea && r.areaCount < 2) continue;
      const areas = areasOf(r.regionId);
      // libdm computes a region row's area start and offset with its cursor's area id, which
      // for a region is the DM_STATS_WALK_REGION flag (2^49): the values wrap at 2^64, and
      // dmstats shows what results (usually "0b").
      const walkRegion = 1n << 49n;
      rows.push({ ...base(r), type: 'region', areaId: 0, areaCount: r.areaCount, areaStartSectors: (r.startSectors + r.areaLengthSectors * walkRegion) & U64_MASK, areaLengthSectors: r.areaLengthSectors, areaOffsetSectors: (r.areaLengthSectors * walkRegion) & U64_MASK, counters: sumCounters(areas.map((x) => x.counters)), histogram: histOf(r, areas) });
    }
  }
  if (walk.groups) {
    for (const g of listing.groups) {
      const leader = listing.regions.find((r) => r.regionId === g.groupId)!;
      const members = listing.regions.filter((r) => g.members.includes(r.regionId));
      const len = members.reduce((n, r) => n + r.lengthSectors, 0n);
      rows.push({
        type: 'group', name: g.alias || name, groupId: g.groupId, region: leader, group: g, intervalNs, noHeadings, areaId: 0, areaCount: 1,
        regionStartSectors: leader.startSectors, regionLengthSectors: len, areaStartSectors: leader.startSectors, areaLengthSectors: len, areaOffsetSectors: 0n,
        counters: sumCounters(members.flatMap((r) => areasOf(r.regionId).map((x) => x.counters))), histogram: histOf(leader, members.flatMap((r) => areasOf(r.regionId))),
      });
    }
  }
  return rows;
}

/**
 * getopt_long takes the next word as a string option's value whatever it starts with
 * (`-O -region_id`, `--separator -`); parseArgs refuses a dash there, so each such pair is
 * joined into `--name=value` first.
 */
function joinValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    const long = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const short = !long && /^-[A-Za-z]$/.test(a) ? Object.entries(OPTIONS).find(([, d]) => 'short' in d && d.short === a[1])?.[0] : undefined;
    const name = long ?? short;
    const def = name !== undefined && Object.hasOwn(OPTIONS, name) ? OPTIONS[name as keyof typeof OPTIONS] : undefined;
    if (def && def.type === 'string' && i + 1 < argv.length) {
      out.push(`--${name}=${argv[i + 1]}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Runs `dmctl stats …` (argv after `stats`). */
export async function runStats(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: { values: StatsOptions; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinValues(argv), options: OPTIONS, allowPositionals: true, strict: true }) as unknown as { values: StatsOptions; positionals: string[] };
  } catch (e) {
    io.stderr(`dmctl stats: ${(e instanceof Error ? e.message : String(e)).split('. ')[0]}\nUsage: dmctl ${STATS_USAGE}\n`);
    return 1;
  }
  const o = parsed.values;
  const [verb, ...args] = parsed.positionals;
  if (verb === undefined || o.help) {
    (verb === undefined && !o.help ? io.stderr : io.stdout)(`Usage: dmctl ${STATS_USAGE}\n`);
    return verb === undefined && !o.help ? 1 : 0;
  }
  if (o.allprograms && o.programid !== undefined) {
    io.stderr('Please supply one of --allprograms and --programid\n');
    return 1;
  }
  if (o.follow !== undefined && o.nomonitor) {
    io.stderr('Use of --follow is incompatible with --nomonitor.\n');
    return 1;
  }
  let dm: DeviceMapper | undefined;
  try {
    dm = await io.open();
    const ok = await VERB_RUN[verb]?.(dm, args, o, io);
    if (ok === undefined) {
      io.stderr('Unknown stats command.\n');
      return 1;
    }
    return ok ? 0 : 1;
  } catch (e) {
    io.stderr(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    dm?.close();
  }
}

type VerbFn = (dm: DeviceMapper, args: string[], o: StatsOptions, io: CliIo) => Promise<boolean>;

const create: VerbFn = async (dm, args, o, io) => {
  if (o.allregions) throw new StatsFailure('Cannot use --allregions with create.');
  if (o.allprograms) throw new StatsFailure('Cannot use --allprograms with create.');
  if (o.areas !== undefined && o.areasize !== undefined) throw new StatsFailure('Please specify one of --areas and --areasize.');
  if (o.programid !== undefined && o.programid === '' && !o.force) throw new StatsFailure('Creating a region with no program id requires --force.');
  if (o.filemap) return createFilemap(dm, args, o, io);
  let devices = await devicesOf(dm, args, o);
  if (!devices) {
    if (!o.alldevices) throw new StatsFailure('Please specify device(s) or use --alldevices.');
    devices = await allDevices(dm);
  }
  if (o.alias !== undefined && o.nogroup) throw new StatsFailure('Cannot set alias with --nogroup.');
  const areas = o.areas !== undefined ? intArg(o.areas) || 1 : 1;
  const areaSize = o.areasize !== undefined ? sizeBytes(o.areasize, 'areasize') / 512n : 0n;
  const start = o.start !== undefined ? sizeBytes(o.start, 'start') / 512n : 0n;
  const len = o.length !== undefined ? sizeBytes(o.length, 'length') / 512n : 0n;
  const programId = o.programid !== undefined && o.programid !== '' ? o.programid : DMSTATS_PROGRAM_ID;
  const step = areaSize ? { areaLengthSectors: areaSize } : { areas };
  const nrAreas = (l: bigint) => (!l ? 1n : areaSize ? l / areaSize + (l % areaSize ? 1n : 0n) : BigInt(areas));
  let out = '';
  const made: { regionId: number; areaCount: string }[] = [];
  let groupId: number | undefined;
  let devname = '';
  for (const d of devices) {
    const t = await dm.table(d.id);
    devname = t.device.name;
    const st = await DmStats.open(dm, d.id, { programId });
    const common = { ...step, precise: !!o.precise, histogramBounds: o.bounds, programId, userData: o.userdata ?? '' };
    const segs = o.segments ? t.targets.map((x) => ({ start: BigInt(x.start), len: BigInt(x.length) })) : [{ start, len: len || (start ? 0n : t.targets.reduce((n, x) => n + BigInt(x.length), 0n)) }];
    const ids: number[] = [];
    for (const s of segs) {
      const whole = !o.segments && !start && !len;
      let id: number;
      try {
        id = await st.createRegion({ ...common, ...(whole ? {} : { startSectors: s.start, lengthSectors: o.segments ? s.len : len }) });
      } catch (e) {
        io.stdout(out);
        out = '';
        throw new StatsFailure(`${devname}: Could not create statistics region.${e instanceof Error ? ` (${e.message})` : ''}`);
      }
      ids.push(id);
      made.push({ regionId: id, areaCount: String(nrAreas(s.len)) });
      out += `${devname}: Created new region with ${nrAreas(s.len)} area(s) as region ID ${id}\n`;
    }
    if (o.segments && !o.nogroup && ids.length > 1) {
      groupId = await st.createGroup(ids, { alias: o.alias });
      out += `Grouped regions ${ids.join(',')} as group ID ${groupId}${o.alias !== undefined ? ` with alias ${o.alias}` : ''}\n`;
    }
  }
  if (o.json) io.stdout(jsonDocument(StatsCreateOutputSchema, { device: devname, regions: made, ...(groupId === undefined ? {} : { groupId }) }));
  else io.stdout(out);
  return true;
};

const del: VerbFn = async (dm, args, o, io) => {
  if (o.regionid !== undefined && o.groupid !== undefined) throw new StatsFailure('Please use one of --regionid and --groupid.');
  if (o.regionid === undefined && !o.allregions && o.groupid === undefined) throw new StatsFailure('Please specify a --regionid or --groupid, or use --allregions.');
  let devices = await devicesOf(dm, args, o);
  if (!devices) {
    if (!o.alldevices) throw new StatsFailure('Please specify device(s) or use --alldevices.');
    devices = await allDevices(dm);
  }
  const programId = o.allprograms ? undefined : o.programid ?? DMSTATS_PROGRAM_ID;
  for (const d of devices) {
    const st = await DmStats.open(dm, d.id, programId ? { programId } : {});
    if (o.groupid !== undefined) {
      const gid = intArg(o.groupid);
      try {
        await st.deleteGroup(gid, { removeRegions: true });
      } catch (e) {
        throw new StatsFailure(`Group ID ${gid} does not exist\nCould not delete statistics group.`);
      }
      io.stdout(`Deleted statistics group ${gid}.\n`);
    } else if (o.allregions) {
      const l = await st.list(programId ? { programId } : { allPrograms: true });
      for (const r of l.regions) await st.deleteRegion(r.regionId);
    } else {
      const id = intArg(o.regionid);
      try {
        await st.deleteRegion(id);
      } catch {
        throw new StatsFailure(`Region ID ${id} does not exist\nCould not delete statistics region`);
      }
    }
  }
  return true;
};

const clear: VerbFn = async (dm, args, o) => {
  if (o.regionid === undefined && !o.allregions) throw new StatsFailure('Please specify a --regionid or use --allregions.');
  const devices = (await devicesOf(dm, args, o)) ?? (await allDevices(dm));
  for (const d of devices) {
    const st = await DmStats.open(dm, d.id);
    const l = await st.list();
    if (l.regions.length === 0) continue;
    const ids = o.allregions ? l.regions.map((r) => r.regionId) : [intArg(o.regionid)];
    for (const id of ids) {
      if (!l.regions.some((r) => r.regionId === id)) throw new StatsFailure(`No such region: ${id}.`);
      await st.clearRegion(id);
    }
  }
  return true;
};

const print: VerbFn = async (dm, args, o, io) => {
  if (o.regionid === undefined && !o.allregions) throw new StatsFailure('Please specify a --regionid or use --allregions.');
  const devices = (await devicesOf(dm, args, o)) ?? (await allDevices(dm));
  for (const d of devices) {
    const st = await DmStats.open(dm, d.id);
    const l = await st.list();
    if (o.allregions && l.regions.length === 0) continue;
    if (!o.allregions) {
      try {
        io.stdout(await st.print(intArg(o.regionid), { clear: !!o.clear }));
      } catch {
        throw new StatsFailure('Could not print statistics region.');
      }
      continue;
    }
    // dmstats prints every region twice with --allregions (dmsetup.c's _stats_print prints
    // it through _stats_print_one_region and then again): kept, for identical output.
    for (const r of l.regions) {
      io.stdout(await st.print(r.regionId, { clear: !!o.clear }));
      io.stdout(await st.print(r.regionId, { clear: !!o.clear }));
    }
  }
  return true;
};

/** Sleeps `ms`, or resolves false at once when SIGINT (or `signal`) interrupts, as dmstats' usleep wait. */
function intervalWait(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    // Listening only while waiting: elsewhere SIGINT keeps its default (the process ends).
    const onInt = () => { clearTimeout(timer); process.off('SIGINT', onInt); resolve(false); };
    const timer = setTimeout(() => { process.off('SIGINT', onInt); resolve(true); }, ms);
    process.on('SIGINT', onInt);
  });
}

async function report(dm: DeviceMapper, args: string[], o: StatsOptions, io: CliIo, list: boolean): Promise<boolean> {
  const objArgs = !!(o.area || o.region || o.group);
  const walk = objArgs
    ? { areas: !!o.area, regions: !!o.region, groups: !!o.group, skipSingleArea: false }
    : { areas: false, regions: true, groups: true, skipSingleArea: false };
  if ((list && o.verbose?.length) || (!list && !objArgs)) Object.assign(walk, { areas: true, regions: true, groups: true, skipSingleArea: true });
  const defaults = list
    ? (o.histogram ? (o.verbose?.length ? STATS_FIELD_SETS.histAreaList : STATS_FIELD_SETS.histList) : o.verbose?.length ? STATS_FIELD_SETS.areaList : STATS_FIELD_SETS.list)
    : (o.histogram ? (o.relative ? STATS_FIELD_SETS.histRelative : STATS_FIELD_SETS.hist) : o.raw ? STATS_FIELD_SETS.raw : STATS_FIELD_SETS.report);
  // dmsetup.c: a count of 0, or an interval without a count, repeats until interrupted.
  const helpAsked = o.options?.includes('help') ?? false;
  const countArg = helpAsked ? 0 : intArg(o.count);
  let count = countArg ? countArg : !helpAsked && (o.count !== undefined || o.interval !== undefined) ? Infinity : 1;
  const intervalSecs = o.interval !== undefined && !helpAsked ? intArg(o.interval) : 1;
  let report: Report;
  try {
    report = new Report({
      options: o.options, defaults, sort: o.sort, select: o.select, separator: o.separator, noheadings: o.noheadings,
      nameprefixes: o.nameprefixes, unquoted: o.unquoted, rows: o.rows, unbuffered: o.unbuffered && !o.json,
      ...(list ? { baseType: 'stats_meta' as const } : { baseTypes: ['stats', 'stats_meta'] as const }),
    });
  } catch (e) {
    if (!(e instanceof ReportError)) throw e;
    io.stderr(e.stderr);
    return false;
  }
  if (report.warnings) io.stderr(report.warnings);
  if (report.helpOnly) return true;
  let units: DisplayUnits = HUMAN_UNITS;
  if (o.units !== undefined) {
    const u = parseDisplayUnits(o.units);
    if (!u) throw new StatsFailure('Invalid --units argument.');
    units = u;
  }
  const program = o.allprograms ? { allPrograms: true } : { programId: o.programid ?? DMSTATS_PROGRAM_ID };
  const devices = (await devicesOf(dm, args, o)) ?? (await allDevices(dm));
  const intervalNs = intervalSecs * 1e9;
  const jsonRows: Record<string, string>[] = [];
  // dmsetup's stats objects carry the device's task and info too: its name, uuid and info
  // fields (not deps, tree or split-name ones here) are shown on every row of the device.
  const wantsDevice = report.reportTypes.has('task') || report.reportTypes.has('info');
  for (;;) {
    const rows: (StatsRow & { device?: ReportRow | undefined })[] = [];
    for (const d of devices) {
      let device: ReportRow | undefined;
      if (wantsDevice) {
        const i = await dm.info(d.id);
        if (i.exists) device = { name: i.name, uuid: i.uuid ?? '', mangledName: i.name, info: i, readAhead: readAhead(io.sysfs, i.dev), blkdevname: deviceName(io.sysfs, i.dev, true, i.dev.major) };
      }
      const before = rows.length;
      const st = await DmStats.open(dm, d.id);
      if (list) {
        const l = await st.list(program);
        rows.push(...rowsOf(st.name, l, walk, undefined, intervalNs, !!o.noheadings));
      } else {
        const s = await st.sample(program);
        rows.push(...rowsOf(st.name, { regions: s.regions.map((x) => x.region), groups: s.groups }, walk, s, intervalNs, !!o.noheadings));
      }
      for (let k = before; k < rows.length; k++) rows[k] = { ...rows[k]!, device };
    }
    for (const r of rows) {
      const row: StatsRow = { ...r, units, noTimeSuffix: !!o.notimesuffix };
      const deviceCell = (id: string): Cell | undefined => {
        const c = r.device && Object.hasOwn(REPORT_FIELDS, id) ? REPORT_FIELDS[id]! : undefined;
        if (!c) return undefined;
        const text = c.value(r.device!);
        return { text, sort: c.right && /^\d+$/.test(text) ? BigInt(text) : text };
      };
      let text: string;
      try {
        text = report.add((f) => (f.type === 'task' || f.type === 'info' ? deviceCell(f.id) : statsCell(f.id, row)));
      } catch (e) {
        if (!(e instanceof ReportError)) throw e;
        io.stderr(`${e.stderr}Command failed.\n`);
        return false;
      }
      if (text && !o.json) io.stdout(text);
    }
    if (o.json) jsonRows.push(...report.takeJson());
    else {
      // dmsetup's main loop: a repeating report prints its headings each time.
      let out = countArg !== 1 && !report.isEmpty ? report.columnHeadings() : '';
      out += report.output();
      io.stdout(out);
    }
    if (count <= 1) break;
    if (!o.json) io.stdout('\n');
    if (!(await intervalWait(intervalNs / 1e6))) {
      io.stderr('Report interval interrupted by signal.\n');
      return false;
    }
    count--;
  }
  if (o.json) io.stdout(jsonDocument(StatsReportOutputSchema, { fields: report.shownFields.map((f) => f.id), rows: jsonRows }));
  return true;
}

const group: VerbFn = async (dm, args, o, io) => {
  if (o.regions === undefined) throw new StatsFailure('Group requires --regions.');
  const devices = await devicesOf(dm, args, o);
  if (!devices) throw new StatsFailure('Please specify device(s) or use --alldevices.');
  for (const d of devices) {
    const st = await DmStats.open(dm, d.id);
    let gid: number;
    try {
      gid = await st.createGroup(o.regions, { alias: o.alias });
    } catch (e) {
      throw new StatsFailure(`${e instanceof Error ? e.message : String(e)}\nCould not create group on ${d.name}: ${o.regions}`);
    }
    io.stdout(`Grouped regions ${o.regions} as group ID ${gid} on ${d.name}\n`);
  }
  return true;
};

const ungroup: VerbFn = async (dm, args, o, io) => {
  if (o.groupid === undefined) throw new StatsFailure('Please specify group id.');
  const devices = await devicesOf(dm, args, o);
  if (!devices) throw new StatsFailure('Please specify device(s) or use --alldevices.');
  const gid = intArg(o.groupid);
  for (const d of devices) {
    const st = await DmStats.open(dm, d.id);
    let ok = true;
    try {
      await st.deleteGroup(gid);
    } catch {
      ok = false;
      io.stderr(`Group ID ${gid} does not exist\nCould not delete group ${gid} on ${d.name}.\n`);
    }
    io.stdout(`Removed group ID ${gid} on ${d.name}\n`);
    if (!ok) return false;
  }
  return true;
};

/** dmsetup.c's `_stats_check_filemap_switches`. */
function checkFilemapSwitches(o: StatsOptions): void {
  if (o.areas !== undefined || o.areasize !== undefined) throw new StatsFailure('--filemap is incompatible with --areas and --area-size.');
  if (o.start !== undefined || o.length !== undefined) throw new StatsFailure('--filemap is incompatible with --start and --length.');
  if (o.segments) throw new StatsFailure('--filemap and --segments are incompatible.');
  if (o.userdata !== undefined) throw new StatsFailure('--userdata is not yet supported with --filemap.');
  if (o.uuid !== undefined || o.major !== undefined) throw new StatsFailure('--uuid and --major are incompatible with --filemap.');
  if (o.alldevices) throw new StatsFailure('--alldevices is incompatible with --filemap.');
}

/**
 * `_stats_get_filemapd_mode`: none with --nomonitor or --nogroup, inode by default, or
 * --follow's; dmctl starts no dmfilemapd (docs/stats.md), so the mode only decides whether
 * an invalid --follow fails the command as it does dmstats'.
 */
function filemapMode(o: StatsOptions): 'none' | 'inode' | 'path' {
  if (o.nomonitor || o.nogroup) return 'none';
  if (o.follow === undefined) return 'inode';
  if (o.follow === 'inode' || o.follow === 'path') return o.follow;
  throw new StatsFailure(`Could not parse dmfilemapd mode: ${o.follow}`);
}

/** dmsetup's `_get_abspath` (canonicalize_file_name) without touching the host: the path made absolute. */
function absPath(file: string): string {
  return path.resolve(file);
}

function filemapError(e: unknown, abspath: string, what: string): StatsFailure {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return new StatsFailure(`Could not canonicalize file name: ${abspath}`);
  return new StatsFailure(`${e instanceof Error ? e.message : String(e)}\n${what}`);
}

async function createFilemap(dm: DeviceMapper, args: string[], o: StatsOptions, io: CliIo): Promise<boolean> {
  checkFilemapSwitches(o);
  const file = args[0];
  if (file === undefined) throw new StatsFailure('--filemap requires a file path argument');
  const abspath = absPath(file);
  const programId = o.programid !== undefined && o.programid !== '' ? o.programid : DMSTATS_PROGRAM_ID;
  const group = !o.nogroup;
  if (!o.nomonitor && filemapMode(o) === 'none') return false;
  if (!group && o.alias !== undefined) throw new StatsFailure('Cannot set alias with --nogroup.');
  let made;
  try {
    // dmsetup.c's _stats_create_file reads --precise from _int_args, which a switch never
    // sets, in the dmstats the live suite compares with (LVM2 2.03.16): the regions get no
    // precise_timestamps unless sub-ms --bounds force them. Kept, for identical regions.
    made = await DmStats.createFromFile(dm, abspath, { group, precise: false, histogramBounds: o.bounds, programId, ...(group ? { alias: o.alias ?? path.basename(abspath) } : {}) });
  } catch (e) {
    throw filemapError(e, abspath, `Could not create regions from file ${abspath}.`);
  }
  const ids = made.regionIds;
  if (o.json) {
    io.stdout(jsonDocument(StatsCreateOutputSchema, { device: made.stats.name, regions: ids.map((regionId) => ({ regionId, areaCount: '1' })), ...(made.groupId === undefined ? {} : { groupId: made.groupId }) }));
  } else if (group) io.stdout(`${file}: Created new group with ${ids.length} region(s) as group ID ${ids[0]}.\n`);
  else io.stdout(ids.map((id) => `${file}: Created new region with 1 area as region ID ${id}.\n`).join(''));
  if (group && !o.nomonitor && o.foreground) return follow(dm, abspath, made.groupId!, io);
  return true;
}

/** `--foreground` without --nomonitor: dmfilemapd's loop, run here (DmStats.followFile) until SIGINT or its end. */
async function follow(dm: DeviceMapper, abspath: string, groupId: number, io: CliIo): Promise<boolean> {
  const stop = new AbortController();
  const onInt = () => stop.abort();
  process.on('SIGINT', onInt);
  try {
    const r = await DmStats.followFile(dm, abspath, groupId, {
      signal: stop.signal,
      onUpdate: (u) => { if (u.groupId !== undefined && u.groupId !== groupId) { io.stderr(`group_id changed from ${groupId} to ${u.groupId}\n`); groupId = u.groupId; } },
    });
    io.stderr(r.reason === 'group-removed' ? 'Filemap group removed: exiting.\n' : 'File contains no extents: exiting.\n');
    return true;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ABORT_ERR') return true;
    throw e;
  } finally {
    process.off('SIGINT', onInt);
  }
}

const updateFilemap: VerbFn = async (dm, args, o, io) => {
  checkFilemapSwitches(o);
  const file = args[0];
  if (file === undefined) throw new StatsFailure('update_filemap requires a file path argument');
  if (o.groupid === undefined) throw new StatsFailure('--groupid is required to update a filemap group.');
  const abspath = absPath(file);
  let groupId = intArg(o.groupid);
  if (!o.nomonitor && filemapMode(o) === 'none') return false;
  if (!o.nomonitor && o.foreground) return follow(dm, abspath, groupId, io);
  // Without --nomonitor dmstats hands the update to dmfilemapd; dmctl starts none and does
  // the one-shot update dmstats falls back to (docs/stats.md).
  let made;
  try {
    made = await DmStats.updateFromFile(dm, abspath, groupId, o.programid !== undefined && o.programid !== '' ? { programId: o.programid } : {});
  } catch (e) {
    throw filemapError(e, abspath, `Could not update regions from file ${abspath}`);
  }
  const ids = made.regionIds;
  if (o.json) {
    io.stdout(jsonDocument(StatsCreateOutputSchema, { device: made.stats.name, regions: ids.map((regionId) => ({ regionId, areaCount: '1' })), ...(made.groupId === undefined ? {} : { groupId: made.groupId }) }));
    return true;
  }
  // libdm logs this when FIEMAP found nothing (the update then deletes every region).
  if (ids.length === 0) io.stderr('Cannot map file: no allocated extents.\n');
  // libdm's table ends in DM_STATS_REGION_NOT_PRESENT (2^64-1): its first entry when empty.
  const first = ids.length ? BigInt(ids[0]!) : U64_MASK;
  let out = '';
  if (BigInt(groupId) !== first) {
    out += `Group ID changed from ${groupId} to ${first}`;
  }
  out += `${file}: Updated group ID ${first === BigInt(groupId) ? groupId : first} with ${ids.length} region(s).\n`;
  io.stdout(out);
  return true;
};

const VERB_RUN: Record<string, VerbFn> = Object.assign(Object.create(null) as Record<string, VerbFn>, {
  create, delete: del, update_filemap: updateFilemap, clear, print, group, ungroup,
  list: (dm: DeviceMapper, a: string[], o: StatsOptions, io: CliIo) => report(dm, a, o, io, true),
  report: (dm: DeviceMapper, a: string[], o: StatsOptions, io: CliIo) => report(dm, a, o, io, false),
});

