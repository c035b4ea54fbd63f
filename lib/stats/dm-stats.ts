/**
 * `DmStats`: dm-stats regions, areas, histograms and groups of one device, at parity with
 * libdm's `dm_stats` handle (docs/stats.md). Every call is one or a few `@stats_*` messages
 * on the operation core, addressed by the device's uuid where it has one.
 */
import type { DeviceId } from '../../codec/index.js';
import type { DeviceMapper } from '../client/client.js';
import { optionsArg } from '../client/args.js';
import { DmArgumentError, DmOperationError } from '../errors.js';
import type { Operation } from '../operations/operation.js';
import { runOn } from '../operations/handle-steps.js';
import { buildAuxData, escapeStatsWord, parseAuxData, parseRegionList } from './aux-data.js';
import { histogramArgument, parseHistogramBounds } from './histogram.js';
import { parseStatsList, parseStatsPrintRows, type ListedRegion, type PrintedArea } from './parse.js';
import { blockIoOf } from '../client/internal-keys.js';
import { DmAbortError, DmFileMapError } from '../errors.js';
import type { FileMapHandle } from '../kernel/backend.js';
import { readFileExtents, type FileExtentRun } from './fiemap.js';

const CALL = { signal: 'signal', timeoutMs: 'any' } as const;
const DEFAULT_TIMEOUT_MS = 30_000;
/** The program id dmstats uses, and this handle's default: regions made here are dmstats's. */
export const DMSTATS_PROGRAM_ID = 'dmstats';

/** `signal` and `timeoutMs` of one DmStats call. */
export interface StatsCallOptions {
  readonly signal?: AbortSignal | undefined;
  /** Bounds the call (default: the handle's, 30000). */
  readonly timeoutMs?: number | undefined;
}

/** `DmStats.open`'s options. */
export interface OpenStatsOptions extends StatsCallOptions {
  /** The program id of regions created here and the filter of `list` (default `dmstats`). */
  readonly programId?: string | undefined;
}

/** One region as listed, its group descriptor taken out of aux_data. */
export interface StatsRegion {
  readonly regionId: number;
  readonly startSectors: bigint;
  readonly lengthSectors: bigint;
  /** Length of each area (the last may be shorter), in sectors. */
  readonly areaLengthSectors: bigint;
  /** How many areas the region has. */
  readonly areaCount: number;
  /** '' when none. */
  readonly programId: string;
  /** The user's part of aux_data ('' when none). */
  readonly userData: string;
  /** Nanosecond counters (`precise_timestamps`). */
  readonly precise: boolean;
  /** Histogram bounds in ns (empty: no histogram). */
  readonly histogramBoundsNs: readonly bigint[];
  /** The group this region belongs to. */
  readonly groupId?: number | undefined;
}

/** A group of regions (its id is its first member's, which holds the descriptor). */
export interface StatsGroup {
  readonly groupId: number;
  /** '' when the group has no alias (dmstats then shows the device name). */
  readonly alias: string;
  readonly members: readonly number[];
}

/** `list()`'s result. */
export interface StatsListing {
  readonly regions: readonly StatsRegion[];
  readonly groups: readonly StatsGroup[];
}

/** `createRegion`'s options: the range, the areas, the timestamps and the tags. */
export interface CreateRegionOptions extends StatsCallOptions {
  /** Where the region starts (default 0; with `lengthSectors` 0 too: the whole device). */
  readonly startSectors?: bigint | number | undefined;
  /** The region's length (default: to the end of the device). */
  readonly lengthSectors?: bigint | number | undefined;
  /** Split the region into this many areas (default 1). */
  readonly areas?: number | undefined;
  /** Or into areas of this length. */
  readonly areaLengthSectors?: bigint | number | undefined;
  /** Nanosecond counters (`precise_timestamps`). */
  readonly precise?: boolean | undefined;
  /** Latency histogram bounds in ns, or a dmstats bounds string (numbers with ns/us/ms/s suffixes, comma-separated). */
  readonly histogramBounds?: readonly (bigint | number)[] | string | undefined;
  /** Program id (default the handle's). */
  readonly programId?: string | undefined;
  /** User data stored in aux_data. */
  readonly userData?: string | undefined;
}

/** `createSegmentRegions`' options: one region per table segment, grouped unless `group: false`. */
export interface CreateSegmentRegionsOptions extends Omit<CreateRegionOptions, 'startSectors' | 'lengthSectors'> {
  /** Group the regions (dmstats `--segments` does, unless `--nogroup`). Default true. */
  readonly group?: boolean | undefined;
  /** The group's alias. */
  readonly alias?: string | undefined;
}

/** `print`'s options. */
export interface PrintStatsOptions extends StatsCallOptions {
  /** `@stats_print_clear`: zero the counters printed. */
  readonly clear?: boolean | undefined;
  /** First area to print. */
  readonly firstArea?: number | undefined;
  /** How many areas to print. */
  readonly areaCount?: number | undefined;
}

/** The counters of one region read by `sample`. */
export interface RegionSample {
  readonly region: StatsRegion;
  readonly areas: readonly PrintedArea[];
}

/** `sample`'s result: each region's areas, and when they were read. */
export interface StatsSample {
  readonly regions: readonly RegionSample[];
  readonly groups: readonly StatsGroup[];
  /** `process.hrtime.bigint()` when the read finished; two samples' difference is the interval. */
  readonly takenAtNs: bigint;
}


/** `createFromFile`'s options (dmstats `create --filemap`). */
export interface CreateFileRegionsOptions extends StatsCallOptions {
  /** Group the regions (default true; dmstats `--nogroup` is false). */
  readonly group?: boolean | undefined;
  /** The group's alias (default: the file's base name, as dmstats sets it; only with a group). */
  readonly alias?: string | undefined;
  /** Nanosecond counters (`precise_timestamps`). */
  readonly precise?: boolean | undefined;
  /** Latency histogram bounds, as `createRegion`'s. */
  readonly histogramBounds?: readonly (bigint | number)[] | string | undefined;
  /** Program id of the regions (default `dmstats`). */
  readonly programId?: string | undefined;
}

/** What `createFromFile` and `updateFromFile` did. */
export interface FileRegions {
  /** A handle bound to the device that holds the file. */
  readonly stats: DmStats;
  /** The file's region ids, in file order (libdm's table: the first is not always the group id). */
  readonly regionIds: readonly number[];
  /** The group, when the regions are grouped (and, for an update, when any remain). */
  readonly groupId?: number | undefined;
}

/** `followFile`'s options (dmfilemapd's job, in this process). */
export interface FollowFileOptions {
  /** Ends the follow (DmAbortError). */
  readonly signal?: AbortSignal | undefined;
  /** Ends the follow after this long (DmOperationError TIMEOUT; default: none). */
  readonly timeoutMs?: number | undefined;
  /** How often the file's allocation is checked (default 500, dmfilemapd's wait). */
  readonly intervalMs?: number | undefined;
  /** Called after each update with what it did. */
  readonly onUpdate?: ((update: { readonly regionIds: readonly number[]; readonly groupId: number | undefined }) => void) | undefined;
}

/** Why `followFile` ended by itself. */
export interface FollowFileResult {
  /** `group-removed`: the group is gone (dmfilemapd's "Filemap group removed"); `no-extents`: the file has no extents left. */
  readonly reason: 'group-removed' | 'no-extents';
  /** The group id when it ended. */
  readonly groupId: number;
}

function basename(p: string): string {
  const parts = p.split('/').filter((x) => x !== '');
  return parts[parts.length - 1] ?? p;
}

async function openFileMap(dm: DeviceMapper, file: unknown): Promise<FileMapHandle> {
  if (typeof file !== 'string' || file.length === 0 || file.includes('\0')) throw new DmArgumentError('file', 'a file path', JSON.stringify(file));
  const io = dm[blockIoOf]();
  if (!io.openFileMap) throw new DmFileMapError('NOT_MAPPABLE', file, 'Cannot map file: this backend has no FS_IOC_FIEMAP.');
  return io.openFileMap(file);
}

function u64(v: unknown, argument: string): bigint {
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new DmArgumentError(argument, 'a non-negative integer (number or bigint)', String(v));
}
function regionIdArg(v: unknown, argument = 'regionId'): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff) return v;
  throw new DmArgumentError(argument, 'a region id (an integer 0…2147483647)', String(v));
}
function wordArg(v: unknown, argument: string): string {
  if (typeof v !== 'string' || v.length === 0 || /\s/.test(v)) throw new DmArgumentError(argument, 'one word without whitespace', JSON.stringify(v));
  return v;
}

/** Areas of a region (`_nr_areas`: a partial last area counts). */
export function areaCountOf(lengthSectors: bigint, areaLengthSectors: bigint): number {
  if (!lengthSectors || !areaLengthSectors) return 1;
  return Number((lengthSectors + areaLengthSectors - 1n) / areaLengthSectors);
}

/** Takes groups out of listed regions as libdm's `_stats_parse_list` does. */
export function groupsOf(listed: readonly ListedRegion[]): StatsListing {
  const present = new Set(listed.map((r) => r.regionId));
  const groups: StatsGroup[] = [];
  const groupOf = new Map<number, number>();
  const user = new Map<number, string>();
  for (const r of listed) {
    const p = parseAuxData(r.auxData);
    user.set(r.regionId, p.userData);
    // A descriptor is valid only in its group's first region (the group id).
    if (!p.group || p.group.members[0] !== r.regionId) continue;
    const members = p.group.members.filter((m) => present.has(m) && !groupOf.has(m));
    for (const m of members) groupOf.set(m, r.regionId);
    groups.push({ groupId: r.regionId, alias: p.group.alias, members });
  }
  const regions = listed.map((r): StatsRegion => ({
    regionId: r.regionId, startSectors: r.startSectors, lengthSectors: r.lengthSectors, areaLengthSectors: r.areaLengthSectors,
    areaCount: areaCountOf(r.lengthSectors, r.areaLengthSectors), programId: r.programId, userData: user.get(r.regionId)!,
    precise: r.precise, histogramBoundsNs: r.histogramBoundsNs, groupId: groupOf.get(r.regionId),
  }));
  return { regions, groups };
}

/**
 * A dm-stats handle bound to one device (libdm's `dm_stats`). Regions and groups it writes
 * are read by dmstats and the reverse: groups live in the first member's aux_data as
 * `DMS_GROUP=<alias>:<members>#<user data>`, exactly as libdm writes them. It owns nothing:
 * disposing it does nothing to the device's regions.
 */
export class DmStats {
  readonly #dm: DeviceMapper;
  readonly #id: DeviceId;
  readonly #timeoutMs: number;
  /** The device's name when bound. */
  readonly name: string;
  /** The device's uuid (null: none; the handle then addresses it by name). */
  readonly uuid: string | null;
  /** The program id of regions created here and `list`'s default filter. */
  readonly programId: string;

  private constructor(dm: DeviceMapper, id: DeviceId, name: string, uuid: string | null, programId: string, timeoutMs: number) {
    this.#dm = dm;
    this.#id = id;
    this.name = name;
    this.uuid = uuid;
    this.programId = programId;
    this.#timeoutMs = timeoutMs;
  }

  /** Binds a handle to a device by name, uuid or dev (one DM_DEV_STATUS to learn its name and uuid). */
  static async open(dm: DeviceMapper, device: string | DeviceId, options: OpenStatsOptions = {}): Promise<DmStats> {
    optionsArg(options, 'options', { ...CALL, programId: 'string' });
    const programId = options.programId === undefined ? DMSTATS_PROGRAM_ID : wordArg(options.programId, 'options.programId');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return runOn(dm, 'DmStats.open', { signal: options.signal, timeoutMs }, async (op) => {
      const info = (await op.step('status', () => dm.status(device, { signal: op.signal }))).device;
      const id: DeviceId = info.uuid ? { uuid: info.uuid } : { name: info.name };
      return new DmStats(dm, id, info.name, info.uuid || null, programId, timeoutMs);
    });
  }

  #run<T>(name: string, options: StatsCallOptions, body: (op: Operation) => Promise<T>): Promise<T> {
    return runOn(this.#dm, `DmStats.${name}`, { signal: options.signal, timeoutMs: options.timeoutMs ?? this.#timeoutMs }, body);
  }

  #send(op: Operation, message: string): Promise<string | undefined> {
    return op.step(message.split(' ')[0]!, () => this.#dm.message(this.#id, 0, message, { signal: op.signal }));
  }

  async #listed(op: Operation, programId: string | null): Promise<StatsListing> {
    const out = await this.#send(op, programId === null ? '@stats_list' : `@stats_list ${programId}`);
    return groupsOf(parseStatsList(out ?? ''));
  }

  /**
   * `@stats_list`: the regions of this handle's program (`programId` for another,
   * `allPrograms` for every region) and the groups among them.
   */
  async list(options: StatsCallOptions & { readonly programId?: string | undefined; readonly allPrograms?: boolean | undefined } = {}): Promise<StatsListing> {
    optionsArg(options, 'options', { ...CALL, programId: 'string', allPrograms: 'boolean' });
    const program = options.allPrograms ? null : options.programId === undefined ? this.programId : wordArg(options.programId, 'options.programId');
    return this.#run('list', options, (op) => this.#listed(op, program));
  }

  /** The `@stats_create` message for a region (`_stats_create_region`), checked before any ioctl. */
  static createMessage(options: Omit<CreateRegionOptions, 'signal' | 'timeoutMs'> & { readonly programId: string }): string {
    const start = u64(options.startSectors ?? 0, 'options.startSectors');
    const len = u64(options.lengthSectors ?? 0, 'options.lengthSectors');
    if (options.areas !== undefined && options.areaLengthSectors !== undefined) throw new DmArgumentError('options', 'one of areas and areaLengthSectors', 'both');
    let step: string;
    if (options.areaLengthSectors !== undefined) {
      const a = u64(options.areaLengthSectors, 'options.areaLengthSectors');
      step = a === 0n ? '/1' : String(a);
    } else {
      const areas = options.areas ?? 1;
      if (!Number.isInteger(areas) || areas < 1 || areas > 0xffffffff) throw new DmArgumentError('options.areas', 'an integer 1…4294967295', String(areas));
      step = `/${areas}`;
    }
    let precise = options.precise === true;
    const args: string[] = [];
    let hist: string | undefined;
    if (options.histogramBounds !== undefined) {
      const bounds = typeof options.histogramBounds === 'string'
        ? parseHistogramBounds(options.histogramBounds, 'options.histogramBounds')
        : options.histogramBounds.map((b, i) => u64(b, `options.histogramBounds[${i}]`));
      const h = histogramArgument(bounds, precise);
      precise = h.precise;
      hist = h.argument;
    }
    if (precise) args.push('precise_timestamps');
    if (hist !== undefined) args.push(`histogram:${hist}`);
    const range = start || len ? `${start}+${len}` : '-';
    const opt = args.length ? ` ${args.length} ${args.join(' ')}` : '';
    const user = options.userData ? escapeStatsWord(options.userData, 'options.userData') : '-';
    return `@stats_create ${range} ${step}${opt} ${wordArg(options.programId, 'options.programId')} ${user}`;
  }

  /** Creates one region (the whole device by default); returns its id. */
  async createRegion(options: CreateRegionOptions = {}): Promise<number> {
    optionsArg(options, 'options', { ...CALL, startSectors: 'any', lengthSectors: 'any', areas: 'any', areaLengthSectors: 'any', precise: 'boolean', histogramBounds: 'any', programId: 'string', userData: 'string' });
    const message = DmStats.createMessage({ ...options, programId: options.programId ?? this.programId });
    return this.#run('createRegion', options, async (op) => this.#create(op, message));
  }

  async #create(op: Operation, message: string): Promise<number> {
    const out = await this.#send(op, message);
    const id = Number.parseInt(out ?? '', 10);
    if (!Number.isInteger(id)) throw new DmOperationError('INVALID_INPUT', `@stats_create answered ${JSON.stringify(out)}, not a region id`);
    return id;
  }

  /**
   * One region per segment of the live table (dmstats `--segments`); the regions are grouped
   * (as dmstats does unless `--nogroup`) when there are several and `group` is not false.
   */
  async createSegmentRegions(options: CreateSegmentRegionsOptions = {}): Promise<number[]> {
    optionsArg(options, 'options', { ...CALL, areas: 'any', areaLengthSectors: 'any', precise: 'boolean', histogramBounds: 'any', programId: 'string', userData: 'string', group: 'boolean', alias: 'string' });
    const programId = options.programId ?? this.programId;
    DmStats.createMessage({ ...options, programId });
    return this.#run('createSegmentRegions', options, async (op) => {
      const t = await op.step('table', () => this.#dm.table(this.#id, { signal: op.signal }));
      const ids: number[] = [];
      for (const seg of t.targets) {
        ids.push(await this.#create(op, DmStats.createMessage({ ...options, programId, startSectors: seg.start, lengthSectors: seg.length })));
      }
      if (ids.length > 1 && options.group !== false) await this.#group(op, ids, options.alias ?? '');
      return ids;
    });
  }

  /** Deletes a region; one in a group leaves it first (its leader's descriptor rewritten), as libdm does. */
  async deleteRegion(regionId: number, options: StatsCallOptions = {}): Promise<void> {
    const id = regionIdArg(regionId);
    optionsArg(options, 'options', CALL);
    return this.#run('deleteRegion', options, async (op) => {
      const listing = await this.#listed(op, null);
      await this.#delete(op, listing, id);
    });
  }

  async #delete(op: Operation, listing: StatsListing, id: number): Promise<void> {
    if (!listing.regions.some((r) => r.regionId === id)) throw new DmOperationError('ENXIO', `region ID ${id} does not exist on ${this.name}`);
    const group = listing.groups.find((g) => g.members.includes(id));
    if (group) {
      const leader = listing.regions.find((r) => r.regionId === group.groupId)!;
      const members = group.members.filter((m) => m !== id);
      // Removing the leader dissolves the group (its descriptor is the group).
      const keep = id !== group.groupId && members.length > 0 ? { alias: group.alias, members } : undefined;
      await this.#send(op, `@stats_set_aux ${group.groupId} ${buildAuxData(leader.userData, keep)}`);
    }
    await this.#send(op, `@stats_delete ${id}`);
  }

  /** `@stats_clear`: zeroes a region's counters. */
  async clearRegion(regionId: number, options: StatsCallOptions = {}): Promise<void> {
    const id = regionIdArg(regionId);
    optionsArg(options, 'options', CALL);
    await this.#run('clearRegion', options, (op) => this.#send(op, `@stats_clear ${id}`));
  }

  /** `@stats_print` (or `_clear`): the kernel's text for a region's areas. */
  async print(regionId: number, options: PrintStatsOptions = {}): Promise<string> {
    const id = regionIdArg(regionId);
    optionsArg(options, 'options', { ...CALL, clear: 'boolean', firstArea: 'uint', areaCount: 'uint' });
    const lines = options.firstArea !== undefined || options.areaCount !== undefined ? ` ${options.firstArea ?? 0} ${options.areaCount ?? '-'}` : '';
    return this.#run('print', options, async (op) => (await this.#send(op, `@stats_print${options.clear ? '_clear' : ''} ${id}${lines}`)) ?? '');
  }

  /** Sets a region's user data, keeping its group descriptor. */
  async setUserData(regionId: number, userData: string, options: StatsCallOptions = {}): Promise<void> {
    const id = regionIdArg(regionId);
    if (typeof userData !== 'string') throw new DmArgumentError('userData', 'a string', String(userData));
    optionsArg(options, 'options', CALL);
    return this.#run('setUserData', options, async (op) => {
      const listing = await this.#listed(op, null);
      if (!listing.regions.some((r) => r.regionId === id)) throw new DmOperationError('ENXIO', `region ID ${id} does not exist on ${this.name}`);
      const g = listing.groups.find((x) => x.groupId === id);
      await this.#send(op, `@stats_set_aux ${id} ${buildAuxData(userData, g && { alias: g.alias, members: g.members })}`);
    });
  }

  /**
   * Groups regions (`dm_stats_create_group`): every member present and in no group, and all
   * histogram bounds equal; the group's id is its first member's. Returns the group id.
   */
  async createGroup(members: readonly number[] | string, options: StatsCallOptions & { readonly alias?: string | undefined } = {}): Promise<number> {
    const ids = typeof members === 'string' ? parseRegionList(members) : [...new Set(members.map((m, i) => regionIdArg(m, `members[${i}]`)))].sort((a, b) => a - b);
    if (ids.length === 0) throw new DmArgumentError('members', 'at least one region id', '[]');
    optionsArg(options, 'options', { ...CALL, alias: 'string' });
    buildAuxData('', { alias: options.alias ?? '', members: ids });
    return this.#run('createGroup', options, (op) => this.#group(op, ids, options.alias ?? ''));
  }

  async #group(op: Operation, ids: number[], alias: string): Promise<number> {
    const listing = await this.#listed(op, null);
    let bounds: string | undefined;
    for (const id of ids) {
      const r = listing.regions.find((x) => x.regionId === id);
      if (!r) throw new DmOperationError('ENXIO', `region ID ${id} does not exist on ${this.name}`);
      if (r.groupId !== undefined) throw new DmOperationError('INVALID_INPUT', `region ID ${id} is already a member of group ID ${r.groupId}`);
      if (r.histogramBoundsNs.length > 0) {
        const b = r.histogramBoundsNs.join(',');
        if (bounds !== undefined && bounds !== b) throw new DmOperationError('INVALID_INPUT', 'all region histogram bounds must match exactly');
        bounds = b;
      }
    }
    const leader = listing.regions.find((x) => x.regionId === ids[0])!;
    await this.#send(op, `@stats_set_aux ${ids[0]} ${buildAuxData(leader.userData, { alias, members: ids })}`);
    return ids[0]!;
  }

  /** Removes a group (`dm_stats_delete_group`): its regions stay unless `removeRegions`. */
  async deleteGroup(groupId: number, options: StatsCallOptions & { readonly removeRegions?: boolean | undefined } = {}): Promise<void> {
    const gid = regionIdArg(groupId, 'groupId');
    optionsArg(options, 'options', { ...CALL, removeRegions: 'boolean' });
    return this.#run('deleteGroup', options, async (op) => {
      const listing = await this.#listed(op, null);
      const g = listing.groups.find((x) => x.groupId === gid);
      if (!g) throw new DmOperationError('ENXIO', `group ID ${gid} does not exist on ${this.name}`);
      const leader = listing.regions.find((r) => r.regionId === gid)!;
      await this.#send(op, `@stats_set_aux ${gid} ${buildAuxData(leader.userData)}`);
      if (options.removeRegions) {
        for (const m of [...g.members].reverse()) await this.#send(op, `@stats_delete ${m}`);
      }
    });
  }

  /** Sets a group's alias (`dm_stats_set_alias`). */
  async setAlias(groupId: number, alias: string, options: StatsCallOptions = {}): Promise<void> {
    const gid = regionIdArg(groupId, 'groupId');
    if (typeof alias !== 'string') throw new DmArgumentError('alias', 'a string', String(alias));
    optionsArg(options, 'options', CALL);
    return this.#run('setAlias', options, async (op) => {
      const listing = await this.#listed(op, null);
      const g = listing.groups.find((x) => x.groupId === gid);
      if (!g) throw new DmOperationError('ENXIO', `group ID ${gid} does not exist on ${this.name}`);
      const leader = listing.regions.find((r) => r.regionId === gid)!;
      await this.#send(op, `@stats_set_aux ${gid} ${buildAuxData(leader.userData, { alias, members: g.members })}`);
    });
  }

  /**
   * Reads every listed region's areas (libdm's `dm_stats_populate`: `@stats_print_clear`, so
   * the next sample counts from here; `clear: false` leaves the counters). The metrics of an
   * interval are `statsMetrics(counters, intervalMs)` of the sample that ends it.
   */
  async sample(options: StatsCallOptions & { readonly clear?: boolean | undefined; readonly programId?: string | undefined; readonly allPrograms?: boolean | undefined; readonly regionId?: number | undefined } = {}): Promise<StatsSample> {
    optionsArg(options, 'options', { ...CALL, clear: 'boolean', programId: 'string', allPrograms: 'boolean', regionId: 'uint' });
    const program = options.allPrograms ? null : options.programId === undefined ? this.programId : wordArg(options.programId, 'options.programId');
    return this.#run('sample', options, async (op) => {
      const listing = await this.#listed(op, program);
      const regions: RegionSample[] = [];
      for (const r of listing.regions) {
        if (options.regionId !== undefined && r.regionId !== options.regionId) continue;
        const text = (await this.#send(op, `@stats_print${options.clear === false ? '' : '_clear'} ${r.regionId}`)) ?? '';
        regions.push({ region: r, areas: parseStatsPrintRows(text, r.precise, r.histogramBoundsNs) });
      }
      return { regions, groups: listing.groups, takenAtNs: process.hrtime.bigint() };
    });
  }

  /** Binds a handle to the device that holds a file (dm_stats_bind_from_fd), or refuses one on another device. */
  static async #forFile(dm: DeviceMapper, file: FileMapHandle, options: StatsCallOptions, programId: string): Promise<DmStats> {
    try {
      return await DmStats.open(dm, { dev: file.device }, { signal: options.signal, timeoutMs: options.timeoutMs, programId });
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENXIO') throw new DmFileMapError('NOT_MAPPABLE', file.path, 'Cannot map file: not a device-mapper device.');
      throw e;
    }
  }

  /**
   * One region per physically contiguous run of a file's extents (libdm's
   * `dm_stats_create_regions_from_fd`, dmstats `create --filemap`) on the device-mapper
   * device that holds the file, grouped with the file's base name as alias unless
   * `group: false`. Regions made before a failure are deleted again.
   */
  static async createFromFile(dm: DeviceMapper, file: string, options: CreateFileRegionsOptions = {}): Promise<FileRegions> {
    optionsArg(options, 'options', { ...CALL, group: 'boolean', alias: 'string', precise: 'boolean', histogramBounds: 'any', programId: 'string' });
    const group = options.group !== false;
    if (options.alias !== undefined && !group) throw new DmArgumentError('options.alias', 'absent without a group (libdm: "Cannot set alias without grouping regions.")', JSON.stringify(options.alias));
    const programId = options.programId === undefined ? DMSTATS_PROGRAM_ID : wordArg(options.programId, 'options.programId');
    const alias = options.alias ?? basename(file);
    if (group) buildAuxData('', { alias, members: [0] });
    DmStats.createMessage({ precise: options.precise, histogramBounds: options.histogramBounds, programId });
    const handle = await openFileMap(dm, file);
    try {
      const stats = await DmStats.#forFile(dm, handle, options, programId);
      return await stats.#run('createFromFile', options, async (op) => {
        const { runs } = await op.step('FIEMAP', () => readFileExtents(handle, () => op.checkpoint()));
        if (runs.length === 0) throw new DmFileMapError('NOT_MAPPABLE', file, 'Cannot map file: no allocated extents.');
        const ids = await stats.#createRuns(op, runs, options);
        if (!group) return { stats, regionIds: ids };
        const groupId = await stats.#group(op, [...ids].sort((a, b) => a - b), options.alias === undefined ? alias : options.alias);
        return { stats, regionIds: ids, groupId };
      });
    } finally {
      await handle.close();
    }
  }

  async #createRuns(op: Operation, runs: readonly FileExtentRun[], options: { precise?: boolean | undefined; histogramBounds?: readonly (bigint | number)[] | string | undefined }): Promise<number[]> {
    const ids: number[] = [];
    for (const run of runs) {
      const id = await this.#create(op, DmStats.createMessage({ precise: options.precise, histogramBounds: options.histogramBounds, programId: this.programId, startSectors: run.startSectors, lengthSectors: run.lengthSectors }));
      // libdm's out_remove: a file map made halfway is taken back.
      op.undo(`@stats_delete ${id}`, () => this.#dm.message(this.#id, 0, `@stats_delete ${id}`));
      ids.push(id);
    }
    return ids;
  }

  /**
   * Brings a file map up to date after the file changed (libdm's
   * `dm_stats_update_regions_from_fd`, dmstats `update_filemap`): regions whose extent is gone
   * are deleted, new extents get regions, the group keeps its id and alias unless its leader
   * was deleted (then the remaining regions are regrouped, under the lowest region id).
   */
  static async updateFromFile(dm: DeviceMapper, file: string, groupId: number, options: StatsCallOptions & { readonly programId?: string | undefined } = {}): Promise<FileRegions> {
    const gid = regionIdArg(groupId, 'groupId');
    optionsArg(options, 'options', { ...CALL, programId: 'string' });
    const programId = options.programId === undefined ? DMSTATS_PROGRAM_ID : wordArg(options.programId, 'options.programId');
    const handle = await openFileMap(dm, file);
    try {
      const stats = await DmStats.#forFile(dm, handle, options, programId);
      return await stats.#run('updateFromFile', options, (op) => stats.#update(op, handle, gid));
    } finally {
      await handle.close();
    }
  }

  async #update(op: Operation, handle: FileMapHandle, gid: number): Promise<FileRegions> {
    const listing = await this.#listed(op, this.programId);
    const g = listing.groups.find((x) => x.groupId === gid);
    if (!g) throw new DmOperationError('ENXIO', `Group ID ${gid} does not exist.`);
    const leader = listing.regions.find((r) => r.regionId === gid)!;
    const { runs } = await op.step('FIEMAP', () => readFileExtents(handle, () => op.checkpoint()));
    // First pass (_stats_unmap_regions): last member first, keep a region whose extent is
    // still there, delete the others, each leaving the group as libdm's delete does.
    const kept = new Map<string, number>();
    let members = [...g.members];
    let regroup = false;
    for (const id of [...g.members].sort((a, b) => b - a)) {
      const r = listing.regions.find((x) => x.regionId === id)!;
      const key = `${r.startSectors}+${r.lengthSectors}`;
      if (runs.some((x) => `${x.startSectors}+${x.lengthSectors}` === key)) {
        if (!kept.has(key)) kept.set(key, id);
        continue;
      }
      if (!regroup) {
        members = members.filter((m) => m !== id);
        if (id === gid) regroup = true;
        await this.#send(op, `@stats_set_aux ${gid} ${buildAuxData(leader.userData, regroup ? undefined : { alias: g.alias, members })}`);
      }
      await this.#send(op, `@stats_delete ${id}`);
    }
    // Second pass: the kept regions in file order, new regions for the other runs.
    const bounds = leader.histogramBoundsNs.length ? leader.histogramBoundsNs : undefined;
    const ids: number[] = [];
    const fresh: FileExtentRun[] = [];
    for (const run of runs) {
      const k = kept.get(`${run.startSectors}+${run.lengthSectors}`);
      if (k === undefined) fresh.push(run);
    }
    const made = await this.#createRuns(op, fresh, { precise: leader.precise, histogramBounds: bounds });
    let m = 0;
    for (const run of runs) ids.push(kept.get(`${run.startSectors}+${run.lengthSectors}`) ?? made[m++]!);
    if (!regroup) {
      await this.#send(op, `@stats_set_aux ${gid} ${buildAuxData(leader.userData, { alias: g.alias, members: [...new Set([...members, ...made])].sort((a, b) => a - b) })}`);
      return { stats: this, regionIds: ids, groupId: gid };
    }
    if (ids.length === 0) return { stats: this, regionIds: ids, groupId: undefined };
    const groupId = await this.#group(op, [...new Set(ids)].sort((a, b) => a - b), g.alias);
    return { stats: this, regionIds: ids, groupId };
  }

  /**
   * Keeps a file map up to date while the file changes (dmfilemapd's job, in this process):
   * every `intervalMs` the file's allocation is checked, and when it changed the group is
   * updated as `updateFromFile` does. Resolves when the group is removed or the file has no
   * extents left; the signal (DmAbortError) or `timeoutMs` (DmOperationError TIMEOUT) end it
   * otherwise.
   */
  static async followFile(dm: DeviceMapper, file: string, groupId: number, options: FollowFileOptions = {}): Promise<FollowFileResult> {
    let gid = regionIdArg(groupId, 'groupId');
    optionsArg(options, 'options', { signal: 'signal', timeoutMs: 'any', intervalMs: 'uint', onUpdate: 'any' });
    if (options.onUpdate !== undefined && typeof options.onUpdate !== 'function') throw new DmArgumentError('options.onUpdate', 'a function', typeof options.onUpdate);
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)) throw new DmArgumentError('options.timeoutMs', 'a non-negative number of ms', String(timeoutMs));
    const intervalMs = options.intervalMs ?? 500;
    const site = new Error();
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const stopped = () => {
      if (options.signal?.aborted) throw Object.assign(new DmAbortError(options.signal.reason), { stack: site.stack });
      if (Date.now() >= deadline) throw Object.assign(new DmOperationError('TIMEOUT', `DmStats.followFile: ${file} followed for ${timeoutMs} ms`), { stack: site.stack });
    };
    const handle = await openFileMap(dm, file);
    try {
      // The program id of new regions is the group leader's, as dmfilemapd takes it.
      const probe = await DmStats.#forFile(dm, handle, {}, DMSTATS_PROGRAM_ID);
      const leader = (await probe.list({ allPrograms: true })).regions.find((r) => r.regionId === gid);
      const stats = await DmStats.#forFile(dm, handle, {}, leader?.programId || DMSTATS_PROGRAM_ID);
      let blocks = await handle.allocatedSectors();
      for (;;) {
        stopped();
        const listing = await stats.list({ allPrograms: true });
        if (!listing.groups.some((g) => g.groupId === gid)) return { reason: 'group-removed', groupId: gid };
        const now = await handle.allocatedSectors();
        if (now !== blocks) {
          blocks = now;
          const u = await stats.#run('followFile', {}, (op) => stats.#update(op, handle, gid));
          options.onUpdate?.({ regionIds: u.regionIds, groupId: u.groupId });
          if (u.regionIds.length === 0) return { reason: 'no-extents', groupId: gid };
          gid = u.groupId ?? gid;
        }
        await new Promise<void>((resolve) => {
          const wait = Math.max(0, Math.min(intervalMs, deadline - Date.now()));
          const done = () => { clearTimeout(t); options.signal?.removeEventListener('abort', done); resolve(); };
          const t = setTimeout(done, wait);
          options.signal?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      await handle.close();
    }
  }

  /** Nothing to release: the regions belong to the device. */
  async [Symbol.asyncDispose](): Promise<void> {}
}
