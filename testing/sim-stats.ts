/**
 * The simulator's small model of dm-stats (Documentation/admin-guide/device-mapper/statistics.rst):
 * regions with an id, a range and a step; `@stats_create`, `@stats_list`, `@stats_print`,
 * `@stats_delete`, `@stats_clear`. Counters stay 0: the simulator moves no I/O.
 */
import { SimError } from './errors.js';

/** One dm-stats region of a device, by id. */
export interface SimStatsRegion {
  /** First sector. */
  readonly startSectors: bigint;
  /** Sectors covered. */
  readonly lengthSectors: bigint;
  /** Sectors per area: `@stats_create`'s `<step>`, or the length divided by N for `/<N>` (rounded up). */
  readonly step: bigint;
}

/**
 * Handles one `@stats_*` message for a device whose regions are `regions` and whose live
 * table spans `deviceSectors`; returns the message output (undefined: none). Errors are
 * SimErrors (EINVAL), as the kernel's.
 */
export function statsMessage(regions: Map<number, SimStatsRegion>, deviceSectors: bigint, argv: readonly string[]): string | undefined {
  const region = (id: string | undefined) => {
    const r = id !== undefined && /^\d+$/.test(id) ? regions.get(Number(id)) : undefined;
    if (!r) throw new SimError('EINVAL', `ioctl: stats: no region ${id}`);
    return r;
  };
  switch (argv[0]) {
    case '@stats_create': {
      const range = argv[1];
      const stepArg = argv[2];
      if (!range || !stepArg) throw new SimError('EINVAL', 'ioctl: Invalid parameters for message @stats_create');
      let start = 0n;
      let length = deviceSectors;
      if (range !== '-') {
        const m = /^(\d+)\+(\d+)$/.exec(range);
        if (!m) throw new SimError('EINVAL', 'ioctl: Invalid range for @stats_create');
        start = BigInt(m[1]!);
        length = BigInt(m[2]!);
      }
      if (length === 0n) throw new SimError('EINVAL', 'ioctl: @stats_create on an empty range');
      const step = stepArg.startsWith('/') ? (length + BigInt(stepArg.slice(1)) - 1n) / BigInt(stepArg.slice(1)) : BigInt(stepArg);
      let id = 0;
      while (regions.has(id)) id++;
      regions.set(id, { startSectors: start, lengthSectors: length, step });
      return String(id);
    }
    case '@stats_list':
      return [...regions].map(([id, r]) => `${id}: ${r.startSectors}+${r.lengthSectors} ${r.step} - -\n`).join('');
    case '@stats_delete':
      region(argv[1]);
      regions.delete(Number(argv[1]));
      return undefined;
    case '@stats_clear':
      region(argv[1]);
      return undefined;
    case '@stats_print': {
      const r = region(argv[1]);
      let out = '';
      const end = r.startSectors + r.lengthSectors;
      for (let s = r.startSectors; s < end; s += r.step) {
        const len = s + r.step > end ? end - s : r.step;
        out += `${s}+${len} 0 0 0 0 0 0 0 0 0 0 0\n`;
      }
      return out;
    }
    default:
      throw new SimError('EINVAL', `ioctl: Unsupported message sent to DM core: ${argv[0]}`);
  }
}
