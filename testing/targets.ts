/**
 * Target types of the simulated kernel. Each renders its table line the way the kernel
 * prints it (device paths become major:minor) and its status line; unknown types are
 * rejected at load with EINVAL, like a missing module. Users register their own with
 * `SimulatedKernel.registerTarget()`.
 */
import { SimError } from './errors.js';
import type { Version } from '../codec/index.js';

/** A block device of the simulated machine that tables may name (by path or major:minor). */
export interface SimBlockDevice {
  /** Its path, e.g. `/dev/loop0` (a table may name it by path or major:minor). */
  readonly path: string;
  /** Major number. */
  readonly major: number;
  /** Minor number. */
  readonly minor: number;
  /** Size in 512-byte sectors. */
  readonly sizeSectors: bigint;
}

/** A range of a block device a target maps, in 512-byte sectors. */
export interface DeviceArea {
  /** The device mapped. */
  readonly device: SimBlockDevice;
  /** First sector. */
  readonly startSectors: bigint;
  /** Sectors mapped. */
  readonly lengthSectors: bigint;
}

/** What a simulated target's constructor may ask of the kernel (device lookups). */
export interface TargetContext {
  /** Resolves a device argument (path or major:minor) to a known block device, or undefined. */
  lookup(arg: string): SimBlockDevice | undefined;
  /** The errno of a failed device lookup: ENODEV on 4.47 (6.1), ENOENT on 4.48 (6.12), measured. */
  readonly lookupErrno: 'ENODEV' | 'ENOENT';
}

/** A target of a simulated table, as its constructor made it. */
export interface ConstructedTarget {
  /** The params as the kernel prints them in table output. */
  readonly table: string;
  /** The status text (INFO). */
  status(): string;
  /**
   * Block devices the target uses, in the order its constructor opens them with
   * dm_get_device() (repeats allowed): DM_TABLE_DEPS lists the table's devices newest first
   * (table-devices.ts), so this order, not the order of the parameters, decides it.
   */
  readonly deps: readonly SimBlockDevice[];
  /**
   * The areas of its devices the target maps (its `iterate_devices`): checked against the
   * devices' sizes when the table goes live, as dm_calculate_queue_limits() does at resume
   * (device-areas.ts).
   */
  readonly areas?: readonly DeviceArea[];
  /** Handles a target message; returns output text or undefined. Throw a SimError for failures. */
  message?(argv: string[]): string | undefined;
  /** Called on every resume of the device whose live table holds the target (the kernel's preresume/resume). */
  resume?(): void;
  /**
   * Devices the target writes to when its device is removed (a thin-pool commits its
   * metadata in postsuspend and in its destructor). A DM_DEV_REMOVE of the device sleeps in
   * the kernel while one of them cannot take I/O (it, or a device below it, is suspended):
   * the simulator parks an async remove until that changes (docs/kernel-facts.md).
   */
  readonly writesOnRemove?: readonly SimBlockDevice[];
}

/** A target type the simulated kernel knows ({@link SimulatedKernel.registerTarget}). */
export interface SimTargetType {
  /** The target type's name in table lines, e.g. `linear`. */
  readonly name: string;
  /** Its version as DM_LIST_VERSIONS reports it. */
  readonly version: readonly [number, number, number];
  /** Parses the params; throw `SimError` ('EINVAL', reason) to reject the table. */
  construct(argv: string[], lengthSectors: bigint, ctx: TargetContext): ConstructedTarget;
}

function dev(ctx: TargetContext, arg: string | undefined, what: string): SimBlockDevice {
  const d = arg === undefined ? undefined : ctx.lookup(arg);
  // Measured: a table naming a device that does not exist fails with ENODEV on 4.47
  // (Linux 6.1) and ENOENT on 4.48 (Linux 6.12).
  if (!d) throw new SimError(ctx.lookupErrno, `${what}: Device lookup failed`);
  return d;
}

function sector(arg: string | undefined, what: string): bigint {
  if (arg === undefined || !/^\d+$/.test(arg)) throw new SimError('EINVAL', `${what}: Invalid device sector`);
  return BigInt(arg);
}

const noArgs = (name: string): SimTargetType['construct'] => (argv) => {
  if (argv.length !== 0) throw new SimError('EINVAL', `${name}: No arguments required`);
  return { table: '', status: () => '', deps: [] };
};

/** The target types every simulated kernel has (zero, error, linear, striped, …); more come with `registerTarget()`. */
export const BUILTIN_TARGETS: readonly SimTargetType[] = [
  {
    name: 'linear', version: [1, 4, 0],
    construct(argv, len, ctx) {
      if (argv.length !== 2) throw new SimError('EINVAL', 'linear: Invalid argument count');
      const d = dev(ctx, argv[0], 'linear');
      const off = sector(argv[1], 'linear');
      return { table: `${d.major}:${d.minor} ${off}`, status: () => '', deps: [d], areas: [{ device: d, startSectors: off, lengthSectors: len }] };
    },
  },
  {
    name: 'striped', version: [1, 6, 0],
    construct(argv, length, ctx) {
      const n = Number(argv[0]);
      const chunk = Number(argv[1]);
      if (!Number.isInteger(n) || n < 1 || argv.length !== 2 + 2 * n) throw new SimError('EINVAL', 'striped: Not enough destinations specified');
      if (!Number.isInteger(chunk) || chunk < 8 || (chunk & (chunk - 1)) !== 0) throw new SimError('EINVAL', 'striped: Invalid chunk_size');
      if (length % BigInt(chunk * n) !== 0n) throw new SimError('EINVAL', 'striped: Target length not divisible by chunk size');
      const devs: SimBlockDevice[] = [];
      const areas: DeviceArea[] = [];
      const parts: string[] = [String(n), String(chunk)];
      for (let i = 0; i < n; i++) {
        const d = dev(ctx, argv[2 + 2 * i], 'striped');
        const start = sector(argv[3 + 2 * i], 'striped');
        parts.push(`${d.major}:${d.minor}`, String(start));
        devs.push(d);
        areas.push({ device: d, startSectors: start, lengthSectors: length / BigInt(n) }); // stripe_iterate_devices(): each stripe's share
      }
      return {
        areas,
        table: parts.join(' '),
        status: () => `${n} ${devs.map((d) => `${d.major}:${d.minor}`).join(' ')} 1 ${'A'.repeat(n)}`,
        deps: devs,
      };
    },
  },
  { name: 'zero', version: [1, 1, 0], construct: noArgs('zero') },
  { name: 'error', version: [1, 5, 0], construct: noArgs('error') },
];

/** dm_split_args(): whitespace separates, backslash quotes the next character. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) { cur += s[++i]; inWord = true; continue; }
    if (/\s/.test(c)) {
      if (inWord) { out.push(cur); cur = ''; inWord = false; }
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (inWord) out.push(cur);
  return out;
}

/**
 * A built-in target's version as the measured kernels report it, when it differs from the
 * unit's default (5.10/6.1's): 6.12 (dm 4.48) bumped zero and error, 7.3 (dm 4.50) also linear
 * and striped. From fixtures/recorded/<version>/listVersions.basic.json.
 */
export function builtinTargetVersion(name: string, version: Version): readonly [number, number, number] | undefined {
  const minor = version[1];
  const bumps: Record<string, readonly [number, number, number]> =
    minor >= 50 ? { zero: [1, 2, 0], error: [1, 7, 0], linear: [1, 5, 0], striped: [1, 7, 0] }
    : minor >= 48 ? { zero: [1, 2, 0], error: [1, 7, 0] }
    : {};
  return Object.hasOwn(bumps, name) ? bumps[name] : undefined;
}
