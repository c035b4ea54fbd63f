/** mirror (dm-raid1.c, dm-log.rst) and raid (dm-raid.rst; raid_status()). */
import { z } from 'zod';
import { Cursor } from './common.js';
import { checked, deviceSchema, posU32Schema, u32Schema, u64Schema } from './schemas.js';
import { type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// ------------------------------------------------------------------- mirror ---

/** The dirty-region log of a `mirror` target. */
export type MirrorLog = MirrorCoreLog | MirrorDiskLog;

/** A `core` (in-memory) dirty-region log. */
export interface MirrorCoreLog {
  readonly type: 'core';
  /** Region size in 512-byte sectors (`<region_size>`). */
  readonly regionSizeSectors: number;
  readonly sync?: 'sync' | 'nosync';
}

/** A `disk` dirty-region log, kept on `device`. */
export interface MirrorDiskLog {
  readonly type: 'disk';
  readonly device: string;
  /** Region size in 512-byte sectors (`<region_size>`). */
  readonly regionSizeSectors: number;
  readonly sync?: 'sync' | 'nosync';
}

/** One leg of a `mirror` target. */
export interface MirrorLeg {
  readonly device: string;
  /** Where on `device` the leg starts, in 512-byte sectors. */
  readonly offsetSectors: bigint;
}

/** The `mirror` target's parameters. */
export interface MirrorParams {
  readonly log: MirrorLog;
  readonly mirrors: readonly MirrorLeg[];
  readonly handleErrors?: true;
  /** Only with handleErrors. */
  readonly keepLog?: true;
}

/** The `mirror` target's status. */
export interface MirrorStatus {
  readonly devices: readonly string[];
  readonly syncedRegions: bigint;
  readonly totalRegions: bigint;
  /** One per mirror: A alive, D write failure, S sync failure, R read failure, F flush failure, U unknown. */
  readonly health: readonly string[];
  readonly logType: string;
  /** The log's own status args after its type (disk: `<dev> <A|D>`). */
  readonly logArgs: readonly string[];
  readonly extra: readonly string[];
}

const syncWord = z.enum(['sync', 'nosync']).optional();

/** A `disk` dirty-region log of a `mirror` builder input, kept on `device`. */
export interface MirrorDiskLogInput {
  /** The log kind. */
  readonly type: 'disk';
  /** The log device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Region size in 512-byte sectors (`<region_size>`). */
  readonly regionSizeSectors: number;
  /** `sync` forces a full resynchronisation, `nosync` skips the initial one. */
  readonly sync?: 'sync' | 'nosync';
}
/** One leg of a `mirror` builder input. */
export interface MirrorLegInput {
  /** The leg's device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the leg starts, in 512-byte sectors. */
  readonly offsetSectors: number | bigint;
}
/**
 * The `mirror` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface MirrorInput {
  /** The dirty-region log: `core` (in memory) or `disk` (on a device); `regionSizeSectors` in 512-byte sectors. */
  readonly log: MirrorCoreLog | MirrorDiskLogInput;
  /** The legs: each a device and where on it the leg starts (`offsetSectors`, 512-byte sectors). */
  readonly mirrors: MirrorLegInput[];
  /** `true` adds the `handle_errors` option word. */
  readonly handleErrors?: boolean;
  /** Only with handleErrors. */
  readonly keepLog?: boolean;
}
/** One `mirror` table line as a builder takes it: the line head and {@link MirrorInput}. */
export interface MirrorTarget extends LineHead<'mirror'>, MirrorInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link MirrorInput} agree. */
export const mirrorUnit = defineTarget({
  type: 'mirror',
  shape: {
    log: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('core'), regionSizeSectors: posU32Schema, sync: syncWord }),
      z.strictObject({ type: z.literal('disk'), device: deviceSchema, regionSizeSectors: posU32Schema, sync: syncWord }),
    ]),
    mirrors: z.array(z.strictObject({ device: deviceSchema, offsetSectors: u64Schema })).min(1).max(32),
    handleErrors: z.boolean().optional(),
    keepLog: z.boolean().optional(),
  },
  check(t, ctx) {
    if (t.keepLog && !t.handleErrors) ctx.addIssue({ code: 'custom', message: 'keepLog needs handleErrors', path: ['keepLog'] });
  },
  render(t, ctx) {
    const log = t.log.type === 'core' ? [String(t.log.regionSizeSectors)] : [ctx.dev(t.log.device, 'log.device'), String(t.log.regionSizeSectors)];
    if (t.log.sync) log.push(t.log.sync);
    const feats = [...(t.handleErrors ? ['handle_errors'] : []), ...(t.keepLog ? ['keep_log'] : [])];
    return [
      t.log.type, String(log.length), ...log, String(t.mirrors.length),
      ...t.mirrors.flatMap((m, i) => [ctx.dev(m.device, `mirrors[${i}].device`), String(m.offsetSectors)]),
      ...(feats.length ? [String(feats.length), ...feats] : []),
    ];
  },
  parse(c): MirrorParams {
    const type = c.oneOf('log.type', ['core', 'disk'] as const);
    const args = new Cursor(c.target, c.counted('log', 8).join(' '));
    const device = type === 'disk' ? args.dev('log.device') : undefined;
    const regionSizeSectors = args.num('log.regionSizeSectors');
    const sync = args.done ? undefined : args.oneOf('log.sync', ['sync', 'nosync'] as const);
    args.end();
    const log: MirrorLog = type === 'disk'
      ? { type, device: device!, regionSizeSectors, ...(sync ? { sync } : {}) }
      : { type, regionSizeSectors, ...(sync ? { sync } : {}) };
    const n = c.num('mirrors.count', 32);
    const mirrors: MirrorLeg[] = [];
    for (let i = 0; i < n; i++) mirrors.push({ device: c.dev(`mirrors[${i}].device`), offsetSectors: c.big(`mirrors[${i}].offsetSectors`) });
    const p: Mutable<MirrorParams> = { log, mirrors };
    if (!c.done) {
      for (const w of c.counted('features', 8)) {
        if (w === 'handle_errors') p.handleErrors = true;
        else if (w === 'keep_log') p.keepLog = true;
        else c.fail('BAD_VALUE', 'features', 'unknown feature', w);
      }
    }
    c.end();
    return p;
  },
  status(c): MirrorStatus {
    const n = c.num('mirrors', 32);
    const devices: string[] = [];
    for (let i = 0; i < n; i++) devices.push(c.dev(`devices[${i}]`));
    const r = c.ratio('regions');
    const healthArgs = c.counted('health', 8);
    const health = [...(healthArgs[0] ?? '')];
    const logWords = c.counted('log', 16);
    return {
      devices, syncedRegions: r.used, totalRegions: r.total, health,
      logType: logWords[0] ?? '', logArgs: logWords.slice(1), extra: c.rest(),
    };
  },
});

/** The `mirror` target: builder, table parser and status parser. */
export const mirror: TargetUnit<'mirror', MirrorInput, MirrorParams, MirrorStatus> = mirrorUnit;

// --------------------------------------------------------------------- raid ---

/** The raid levels/layouts dm-raid accepts. */
export const RAID_TYPES = [
  'raid0', 'raid1', 'raid10', 'raid4', 'raid5_n', 'raid5_la', 'raid5_ra', 'raid5_ls', 'raid5_rs',
  'raid6_zr', 'raid6_nr', 'raid6_nc', 'raid6_n_6', 'raid6_la_6', 'raid6_ra_6', 'raid6_ls_6', 'raid6_rs_6',
] as const;

/** One leg of a `raid` target: its metadata device (or none) and its data device. */
export interface RaidDevice {
  /** Metadata device, or null (`-`). */
  readonly meta: string | null;
  /** Data device, or null (`-`: missing). */
  readonly data: string | null;
}

/** The `raid` target's parameters. */
export interface RaidParams {
  readonly raidType: (typeof RAID_TYPES)[number];
  /** Chunk size in 512-byte sectors (0 for raid1). */
  readonly chunkSizeSectors: number;
  readonly sync?: 'sync' | 'nosync';
  readonly rebuild?: readonly number[];
  /** Bitmap flush interval in milliseconds (`daemon_sleep`). */
  readonly daemonSleepMs?: number;
  readonly minRecoveryRate?: number;
  readonly maxRecoveryRate?: number;
  readonly writeMostly?: readonly number[];
  readonly maxWriteBehind?: number;
  readonly stripeCache?: number;
  /** Region size in 512-byte sectors (`region_size`). */
  readonly regionSizeSectors?: number;
  readonly raid10Copies?: number;
  readonly raid10Format?: 'near' | 'far' | 'offset';
  readonly deltaDisks?: number;
  /** Where the data starts on each data device, in 512-byte sectors (`data_offset`). */
  readonly dataOffsetSectors?: bigint;
  readonly journalDev?: string;
  readonly journalMode?: 'writethrough' | 'writeback';
  readonly devices: readonly RaidDevice[];
}

/** The `raid` target's status. */
export interface RaidStatus {
  readonly raidType: string;
  /** One per device: A alive and in sync, a alive but not in sync, D dead/failed. */
  readonly health: readonly string[];
  readonly syncedSectors: bigint;
  readonly totalSectors: bigint;
  /** idle, frozen, resync, recover, check, repair, reshape, undef. */
  readonly syncAction: string;
  readonly mismatches: bigint;
  readonly dataOffsetSectors: bigint | undefined;
  /** Journal device state: A, D or `-` (none). */
  readonly journal: string | undefined;
  readonly extra: readonly string[];
}

const RAID_NUMS = [
  ['daemonSleepMs', 'daemon_sleep'], ['minRecoveryRate', 'min_recovery_rate'], ['maxRecoveryRate', 'max_recovery_rate'],
] as const;
const RAID_NUMS2 = [['maxWriteBehind', 'max_write_behind'], ['stripeCache', 'stripe_cache'], ['regionSizeSectors', 'region_size'], ['raid10Copies', 'raid10_copies']] as const;

/** One member of a `raid` builder input: its metadata and data devices, `null` for `-`. */
export interface RaidDeviceInput {
  /** The metadata device (a path, `major:minor` or `{ major, minor }`), or `null` for none. */
  readonly meta: DeviceRef | null;
  /** The data device (a path, `major:minor` or `{ major, minor }`), or `null` for a missing one. */
  readonly data: DeviceRef | null;
}
/**
 * The `raid` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface RaidInput {
  /** The RAID level and layout (`<raid_type>`). */
  readonly raidType: 'raid0' | 'raid1' | 'raid10' | 'raid4' | 'raid5_n' | 'raid5_la' | 'raid5_ra' | 'raid5_ls' | 'raid5_rs' | 'raid6_zr' | 'raid6_nr' | 'raid6_nc' | 'raid6_n_6' | 'raid6_la_6' | 'raid6_ra_6' | 'raid6_ls_6' | 'raid6_rs_6';
  /** Chunk size in 512-byte sectors (0 for raid1). */
  readonly chunkSizeSectors: number;
  /** The member devices in order: metadata and data device of each, `null` for `-`. */
  readonly devices: RaidDeviceInput[];
  /** `sync` forces a full resynchronisation, `nosync` skips the initial one. */
  readonly sync?: 'sync' | 'nosync';
  /** Indexes of devices to rebuild (`rebuild <idx>`). */
  readonly rebuild?: number[];
  /** Bitmap flush interval in milliseconds (`daemon_sleep`). */
  readonly daemonSleepMs?: number;
  /** Minimum recovery rate in KiB/s per device (`min_recovery_rate`). */
  readonly minRecoveryRate?: number;
  /** Maximum recovery rate in KiB/s per device (`max_recovery_rate`). */
  readonly maxRecoveryRate?: number;
  /** Indexes of raid1 devices marked write-mostly (`write_mostly <idx>`). */
  readonly writeMostly?: number[];
  /** Outstanding write-behind writes to write-mostly devices, a count (`max_write_behind`). */
  readonly maxWriteBehind?: number;
  /** Stripe cache entries for raid4/5/6, a count (`stripe_cache`). */
  readonly stripeCache?: number;
  /** Region size in 512-byte sectors (`region_size`). */
  readonly regionSizeSectors?: number;
  /** Copies of each data block in raid10, a count (`raid10_copies`). */
  readonly raid10Copies?: number;
  /** The raid10 layout (`raid10_format`). */
  readonly raid10Format?: 'near' | 'far' | 'offset';
  /** Devices added (positive) or removed (negative) by a reshape (`delta_disks`). */
  readonly deltaDisks?: number;
  /** Where the data starts on each data device, in 512-byte sectors (`data_offset`). */
  readonly dataOffsetSectors?: number | bigint;
  /** The raid4/5/6 journal device (`journal_dev`). */
  readonly journalDev?: DeviceRef;
  /** The raid4/5/6 journal mode (`journal_mode`). */
  readonly journalMode?: 'writethrough' | 'writeback';
}
/** One `raid` table line as a builder takes it: the line head and {@link RaidInput}. */
export interface RaidTarget extends LineHead<'raid'>, RaidInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link RaidInput} agree. */
export const raidUnit = defineTarget({
  type: 'raid',
  shape: {
    raidType: z.enum(RAID_TYPES),
    chunkSizeSectors: u32Schema,
    sync: z.enum(['sync', 'nosync']).optional(),
    rebuild: z.array(z.number().int().min(0).max(252)).optional(),
    daemonSleepMs: posU32Schema.optional(),
    minRecoveryRate: u32Schema.optional(),
    maxRecoveryRate: u32Schema.optional(),
    writeMostly: z.array(z.number().int().min(0).max(252)).optional(),
    maxWriteBehind: u32Schema.optional(),
    stripeCache: u32Schema.optional(),
    regionSizeSectors: posU32Schema.optional(),
    raid10Copies: z.number().int().min(2).max(255).optional(),
    raid10Format: z.enum(['near', 'far', 'offset']).optional(),
    deltaDisks: z.number().int().min(-252).max(252).optional(),
    dataOffsetSectors: u64Schema.optional(),
    journalDev: deviceSchema.optional(),
    journalMode: z.enum(['writethrough', 'writeback']).optional(),
    devices: z.array(z.strictObject({ meta: deviceSchema.nullable(), data: deviceSchema.nullable() })).min(1).max(253),
  },
  // raid_status()'s documented order ("This has to be in the documented order for userspace!").
  render(t, ctx) {
    const a: string[] = [];
    if (t.sync) a.push(t.sync);
    for (const i of t.rebuild ?? []) a.push('rebuild', String(i));
    for (const [k, w] of RAID_NUMS) if (t[k] !== undefined) a.push(w, String(t[k]));
    for (const i of t.writeMostly ?? []) a.push('write_mostly', String(i));
    for (const [k, w] of RAID_NUMS2) if (t[k] !== undefined) a.push(w, String(t[k]));
    if (t.raid10Format) a.push('raid10_format', t.raid10Format);
    if (t.deltaDisks !== undefined) a.push('delta_disks', String(t.deltaDisks));
    if (t.dataOffsetSectors !== undefined) a.push('data_offset', String(t.dataOffsetSectors));
    if (t.journalDev !== undefined) a.push('journal_dev', ctx.dev(t.journalDev, 'journalDev'));
    if (t.journalMode) a.push('journal_mode', t.journalMode);
    return [
      t.raidType, String(a.length + 1), String(t.chunkSizeSectors), ...a, String(t.devices.length),
      ...t.devices.flatMap((d, i) => [d.meta === null ? '-' : ctx.dev(d.meta, `devices[${i}].meta`), d.data === null ? '-' : ctx.dev(d.data, `devices[${i}].data`)]),
    ];
  },
  parse(c): RaidParams {
    const raidType = c.oneOf('raidType', RAID_TYPES);
    const n = c.num('params.count', 1024);
    if (n < 1 || n > c.remaining) c.fail('BAD_VALUE', 'params.count', 'out of range', String(n));
    const chunkSizeSectors = c.num('chunkSizeSectors');
    const a = new Cursor(c.target, Array.from({ length: n - 1 }, (_, i) => c.next(`params[${i}]`)).join(' '));
    const p: Mutable<Omit<RaidParams, 'devices'>> = { raidType, chunkSizeSectors };
    const rebuild: number[] = [];
    const writeMostly: number[] = [];
    while (!a.done) {
      const w = a.next('params');
      const num = [...RAID_NUMS, ...RAID_NUMS2].find(([, word]) => word === w);
      if (w === 'sync' || w === 'nosync') p.sync = w;
      else if (num) p[num[0]] = a.num(num[0]);
      else if (w === 'rebuild') rebuild.push(a.num('rebuild', 252));
      else if (w === 'write_mostly') writeMostly.push(a.num('writeMostly', 252));
      else if (w === 'raid10_format') p.raid10Format = a.oneOf('raid10Format', ['near', 'far', 'offset'] as const);
      else if (w === 'delta_disks') p.deltaDisks = a.int('deltaDisks');
      else if (w === 'data_offset') p.dataOffsetSectors = a.big('dataOffsetSectors');
      else if (w === 'journal_dev') p.journalDev = a.dev('journalDev');
      else if (w === 'journal_mode') p.journalMode = a.oneOf('journalMode', ['writethrough', 'writeback'] as const);
      else a.fail('BAD_VALUE', 'params', 'unknown parameter', w);
    }
    if (rebuild.length) p.rebuild = rebuild;
    if (writeMostly.length) p.writeMostly = writeMostly;
    const nd = c.num('devices.count', 253);
    const devices: RaidDevice[] = [];
    const devOrNull = (f: string) => (c.peek() === '-' ? (c.next(f), null) : c.dev(f));
    for (let i = 0; i < nd; i++) devices.push({ meta: devOrNull(`devices[${i}].meta`), data: devOrNull(`devices[${i}].data`) });
    c.end();
    return { ...p, devices };
  },
  status(c): RaidStatus {
    const raidType = c.next('raidType');
    const n = c.num('devices', 253);
    const h = c.next('health');
    if (h.length !== n || !/^[AaD]+$/.test(h)) c.fail('BAD_VALUE', 'health', `expected ${n} of A|a|D`, h);
    const r = c.ratio('sync');
    const syncAction = c.next('syncAction');
    const mismatches = c.big('mismatches');
    const dataOffsetSectors = c.done ? undefined : c.big('dataOffsetSectors');
    const journal = c.done ? undefined : c.next('journal');
    return { raidType, health: [...h], syncedSectors: r.used, totalSectors: r.total, syncAction, mismatches, dataOffsetSectors, journal, extra: c.rest() };
  },
});

/** The `raid` target: builder, table parser and status parser. */
export const raid: TargetUnit<'raid', RaidInput, RaidParams, RaidStatus> = raidUnit;

/** Sync actions a raid target accepts as messages. */
export const RAID_MESSAGES = ['idle', 'frozen', 'resync', 'recover', 'check', 'repair'] as const;
/** A sync-action message to a `raid` target (`idle`, `frozen`, `resync`, …), validated. */
export const raidMessage = (action: (typeof RAID_MESSAGES)[number]): string => checked(z.enum(RAID_MESSAGES), action, 'raid', 'action');
