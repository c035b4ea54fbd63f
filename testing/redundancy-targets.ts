/**
 * Simulated dm-mirror, dm-raid and dm-multipath: the targets over several copies or paths of
 * the same data (drivers/md/dm-raid1.c, dm-raid.c, dm-mpath.c). See testing/storage-targets.ts
 * for what every simulated storage target does and does not do.
 */
import { dev, fail, group, mm, u32, u64 } from './target-args.js';
import type { SimBlockDevice, SimTargetType } from './targets.js';

// ------------------------------------------------------------------------ mirror ---

export const mirror: SimTargetType = {
  name: 'mirror', version: [1, 14, 0],
  construct(argv, length, ctx) {
    const logType = argv[0];
    if (logType !== 'core' && logType !== 'disk') fail('mirror', 'Error creating mirror dirty log');
    const logArgs = group(argv, 1, 'mirror', 'Insufficient mirror log arguments');
    const logDev = logType === 'disk' ? dev(ctx, logArgs[0], 'mirror', 'Error creating mirror dirty log') : undefined;
    const region = u32(logArgs[logType === 'disk' ? 1 : 0]);
    if (region === undefined || region === 0 || (region & (region - 1)) !== 0) fail('mirror', 'Error creating mirror dirty log');
    let at = 2 + logArgs.length;
    const n = u32(argv[at]);
    if (n === undefined || n < 2 || n > 32) fail('mirror', 'Invalid number of mirrors');
    at++;
    if (argv.length < at + 2 * n!) fail('mirror', 'Too few mirror arguments');
    const devs: SimBlockDevice[] = [];
    const areas: { device: SimBlockDevice; startSectors: bigint; lengthSectors: bigint }[] = [];
    const parts: string[] = [];
    for (let i = 0; i < n!; i++) {
      const d = dev(ctx, argv[at + 2 * i], 'mirror', 'Device lookup failure');
      const off = u64(argv[at + 2 * i + 1]);
      if (off === undefined) fail('mirror', 'Invalid offset');
      devs.push(d);
      areas.push({ device: d, startSectors: off!, lengthSectors: length });
      parts.push(mm(d), String(off));
    }
    at += 2 * n!;
    const features = argv.length > at ? group(argv, at, 'mirror', 'Invalid number of features') : [];
    if (argv.length > at && at + 1 + features.length !== argv.length) fail('mirror', 'Too many mirror arguments');
    for (const f of features) if (f !== 'handle_errors' && f !== 'keep_log') fail('mirror', 'Unrecognised feature requested');
    if (features.includes('keep_log') && !features.includes('handle_errors')) fail('mirror', 'keep_log feature requires the handle_errors feature');
    const regions = (length + BigInt(region!) - 1n) / BigInt(region!);
    const logText = logType === 'disk' ? `disk ${logArgs.length} ${mm(logDev!)} ${logArgs.slice(1).join(' ')}` : `core ${logArgs.length} ${logArgs.join(' ')}`;
    return {
      table: `${logText} ${n} ${parts.join(' ')}${features.length ? ` ${features.length} ${features.join(' ')}` : ''}`,
      status: () => `${n} ${devs.map(mm).join(' ')} ${regions}/${regions} 1 ${'A'.repeat(n!)} ${logType === 'disk' ? `3 disk ${mm(logDev!)} A` : '1 core'}`,
      // mirror_ctr() creates the dirty log (which opens a disk log's device) before the legs.
      deps: logDev ? [logDev, ...devs] : devs,
      areas,
    };
  },
};

// ------------------------------------------------------------------------ raid ---

const RAID_TYPES: Record<string, { min: number; parity: number }> = {
  raid0: { min: 1, parity: 0 }, raid1: { min: 2, parity: 0 }, raid10: { min: 2, parity: 0 }, raid4: { min: 2, parity: 1 },
  raid5_la: { min: 2, parity: 1 }, raid5_ra: { min: 2, parity: 1 }, raid5_ls: { min: 2, parity: 1 }, raid5_rs: { min: 2, parity: 1 },
  raid5_n: { min: 2, parity: 1 }, raid6_zr: { min: 4, parity: 2 }, raid6_nr: { min: 4, parity: 2 }, raid6_nc: { min: 4, parity: 2 },
  raid6_n_6: { min: 4, parity: 2 }, raid6_la_6: { min: 4, parity: 2 }, raid6_ra_6: { min: 4, parity: 2 }, raid6_ls_6: { min: 4, parity: 2 },
  raid6_rs_6: { min: 4, parity: 2 },
};
const RAID_VALUE_ARGS = new Set(['region_size', 'raid10_copies', 'raid10_format', 'daemon_sleep', 'min_recovery_rate', 'max_recovery_rate',
  'max_write_behind', 'stripe_cache', 'journal_dev', 'journal_mode', 'data_offset', 'delta_disks', 'write_mostly', 'rebuild']);

export const raid: SimTargetType = {
  name: 'raid', version: [1, 15, 1],
  construct(argv, length, ctx) {
    const kind = RAID_TYPES[argv[0] ?? ''];
    if (!kind) fail('raid', 'Unrecognised raid_type');
    const params = group(argv, 1, 'raid', 'Cannot understand number of RAID parameters');
    if (params.length < 1 || u32(params[0]) === undefined) fail('raid', 'Bad numerical argument given for chunk_size');
    for (let i = 1; i < params.length; i++) {
      const w = params[i]!;
      if (w === 'sync' || w === 'nosync') continue;
      if (!RAID_VALUE_ARGS.has(w) || params[i + 1] === undefined) fail('raid', `Wrong number of raid parameters given`);
      i++;
    }
    const at = 2 + params.length;
    const n = u32(argv[at]);
    if (n === undefined || n < kind!.min || n > 253) fail('raid', 'Cannot understand number of raid devices parameters');
    if (argv.length !== at + 1 + 2 * n!) fail('raid', 'Wrong number of raid device parameters given');
    const deps: SimBlockDevice[] = [];
    const pairs: string[] = [];
    for (let i = 0; i < 2 * n!; i++) {
      const a = argv[at + 1 + i]!;
      if (a === '-') { pairs.push('-'); continue; }
      const d = dev(ctx, a, 'raid', i % 2 ? 'RAID device lookup failure' : 'RAID metadata device lookup failure');
      deps.push(d);
      pairs.push(mm(d));
    }
    const type = argv[0]!;
    const total = type.startsWith('raid1') ? length : length / BigInt(Math.max(1, n! - kind!.parity));
    return {
      table: `${argv.slice(0, at + 1).join(' ')} ${pairs.join(' ')}`,
      status: () => `${type} ${n} ${'A'.repeat(n!)} ${total}/${total} idle 0 0 -`,
      deps,
    };
  },
};

// --------------------------------------------------------------------- multipath ---

/** Path selectors: their per-path args as the kernel prints them back, and their status info count. */
const SELECTORS: Record<string, { pathArgs: (args: string[]) => string[]; info: string[] }> = {
  // rr_add_path(): repeat_count > 1 is ignored ("repeat_count > 1 is deprecated, using 1 instead").
  'round-robin': { pathArgs: () => ['1'], info: [] },
  'queue-length': { pathArgs: () => ['1'], info: ['0'] },
  'service-time': { pathArgs: (a) => ['1', a[1] ?? '1'], info: ['0', '1'] },
  'historical-service-time': { pathArgs: () => [], info: ['0'] },
  'io-affinity': { pathArgs: (a) => [a[0] ?? '0'], info: [] },
};

export const multipath: SimTargetType = {
  name: 'multipath', version: [1, 14, 0],
  construct(argv, length, ctx) {
    const features = group(argv, 0, 'multipath', 'invalid number of feature args');
    let at = 1 + features.length;
    const hw = group(argv, at, 'multipath', 'invalid number of hardware handler args');
    at += 1 + hw.length;
    const nrPgs = u32(argv[at]);
    if (nrPgs === undefined || nrPgs > 1024) fail('multipath', 'invalid number of priority groups');
    const first = u32(argv[at + 1]);
    if (first === undefined || first > nrPgs!) fail('multipath', 'invalid initial priority group');
    at += 2;
    const groups: { selector: string; paths: { d: SimBlockDevice; args: string[] }[]; selArgs: string[] }[] = [];
    for (let g = 0; g < nrPgs!; g++) {
      const selector = argv[at++];
      const sel = SELECTORS[selector ?? ''];
      if (!sel) fail('multipath', 'unknown path selector type');
      const selArgs = group(argv, at, 'multipath', 'invalid number of selector args');
      at += 1 + selArgs.length;
      const nPaths = u32(argv[at]);
      const nArgs = u32(argv[at + 1]);
      if (nPaths === undefined || nPaths === 0) fail('multipath', 'invalid number of paths');
      if (nArgs === undefined) fail('multipath', 'invalid number of selector args');
      at += 2;
      const paths: { d: SimBlockDevice; args: string[] }[] = [];
      for (let p = 0; p < nPaths!; p++) {
        const d = dev(ctx, argv[at], 'multipath', 'error getting device');
        const args = argv.slice(at + 1, at + 1 + nArgs!);
        if (args.length !== nArgs) fail('multipath', 'not enough path parameters');
        paths.push({ d, args });
        at += 1 + nArgs!;
      }
      groups.push({ selector: selector!, paths, selArgs });
    }
    if (at !== argv.length) fail('multipath', 'too many path parameters');
    const queueIfNoPath = features.includes('queue_if_no_path');
    // multipath_status(TABLE): features (queue_if_no_path first), hw handler, groups; every
    // path line ends in a blank, so the table ends in one.
    let table = `${features.length} ${features.join(' ')}${features.length ? ' ' : ''}${hw.length} ${hw.join(' ')}${hw.length ? ' ' : ''}${nrPgs} ${first} `;
    let status = `2 ${queueIfNoPath ? 1 : 0} 0 0 ${nrPgs} ${first === 0 ? 1 : first} `;
    for (const g of groups) {
      const sel = SELECTORS[g.selector]!;
      const printed = g.paths.map((p) => sel.pathArgs(p.args));
      table += `${g.selector} 0 ${g.paths.length} ${printed[0]!.length} ${g.paths.map((p, i) => `${mm(p.d)} ${printed[i]!.join(' ')}`.trimEnd() + ' ').join('')}`;
      status += `E 0 ${g.paths.length} ${sel.info.length} ${g.paths.map((p) => `${mm(p.d)} A 0 ${sel.info.map((x) => `${x} `).join('')}`).join('')}`;
    }
    return { table, status: () => status, deps: groups.flatMap((g) => g.paths.map((p) => p.d)), areas: groups.flatMap((g) => g.paths.map((p) => ({ device: p.d, startSectors: 0n, lengthSectors: length }))) };
  },
};
