/**
 * The simulated kernel's other targets: every target with a typed unit in lib/targets/
 * (crypt, verity, integrity, cache, writecache, era, snapshot-origin, snapshot,
 * snapshot-merge, mirror, raid, multipath) is known to the simulator, so code built on
 * `createTypedDevice` runs on it. Each constructor checks its arguments the way the
 * kernel's does (argument counts, numbers, device lookups, the `ti->error` texts of the
 * kernel's constructor), prints its table the way the kernel prints it (the kernel
 * defaults integrity fills, multipath's normalised path args, devices as major:minor) and
 * a status line in the kernel's format for a fresh, healthy device.
 *
 * There is no data path: counters are 0, mirrors and raid sets are in sync, caches and
 * snapshots hold only their metadata. Where a status field depends on on-disk metadata the
 * simulator cannot know (integrity's provided data sectors, writecache's block count) the
 * value is derived from the device sizes and documented as an approximation.
 *
 * Sources: the constructors and *_status() functions of drivers/md/dm-crypt.c,
 * dm-verity-target.c, dm-integrity.c, dm-cache-target.c, dm-writecache.c, dm-era-target.c,
 * dm-snap.c, dm-raid1.c, dm-raid.c, dm-mpath.c; table/status texts the kernels printed
 * (spec/targets/cases.ts, spec/targets/realtools-cases.ts).
 */
import type { SimulatedKernel } from './simulator.js';
import { SimError } from './errors.js';
import { type ConstructedTarget, type SimBlockDevice, type SimTargetType, type TargetContext } from './targets.js';

const mm = (d: SimBlockDevice) => `${d.major}:${d.minor}`;

function dev(ctx: TargetContext, arg: string | undefined, what: string, error = 'Device lookup failed'): SimBlockDevice {
  const d = arg === undefined ? undefined : ctx.lookup(arg);
  if (!d) throw new SimError(ctx.lookupErrno, `${what}: ${error}`);
  return d;
}

/** sscanf("%llu%c") == 1: a decimal that fits 64 bits. */
function u64(arg: string | undefined): bigint | undefined {
  if (arg === undefined || !/^\d{1,20}$/.test(arg)) return undefined;
  const v = BigInt(arg);
  return v <= 0xffffffffffffffffn ? v : undefined;
}

function u32(arg: string | undefined): number | undefined {
  const v = u64(arg);
  return v !== undefined && v <= 0xffffffffn ? Number(v) : undefined;
}

const fail = (target: string, text: string): never => { throw new SimError('EINVAL', `${target}: ${text}`); };

/** dm_read_arg_group(): a count followed by that many args, within what is left. */
function group(argv: string[], at: number, target: string, error: string, max = 0xffffffff): string[] {
  const n = u32(argv[at]);
  if (n === undefined || n > max || at + 1 + n > argv.length) fail(target, error);
  return argv.slice(at + 1, at + 1 + n!);
}

// ------------------------------------------------------------------------ crypt ---

const crypt: SimTargetType = {
  name: 'crypt', version: [1, 24, 0],
  construct(argv, length, ctx) {
    if (argv.length < 5) fail('crypt', 'Not enough arguments');
    const [cipher, key, ivOffset, device, start] = argv as [string, string, string, string, string];
    if (!/^(capi:)?[^\s]+$/.test(cipher) || (!cipher.startsWith('capi:') && !/^[a-z0-9]+(-[a-z0-9]+)?(-[a-z0-9]+(:[a-z0-9()]+)?)?$/.test(cipher))) {
      fail('crypt', 'Error allocating crypto tfm');
    }
    // crypt_set_key(): hex of an even length, '-' for none, or a :size:type:description keyring reference.
    const keyring = /^:(\d+):(logon|user|encrypted|trusted):\S+$/.exec(key);
    if (!keyring && key !== '-' && (key.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(key))) fail('crypt', 'Error decoding and setting key');
    if (u64(ivOffset) === undefined) fail('crypt', 'Invalid iv_offset sector');
    const d = dev(ctx, device, 'crypt');
    const off = u64(start);
    if (off === undefined) fail('crypt', 'Invalid device sector');
    let features: string[] = [];
    if (argv.length > 5) {
      features = group(argv, 5, 'crypt', 'Invalid number of feature args');
      if (5 + 1 + features.length !== argv.length) fail('crypt', 'Invalid number of feature args');
      for (const f of features) {
        if (!/^(allow_discards|same_cpu_crypt|submit_from_crypt_cpus|no_read_workqueue|no_write_workqueue|iv_large_sectors|sector_size:\d+|integrity:\d+:\S+|high_priority)$/.test(f)) {
          fail('crypt', 'Invalid feature arguments');
        }
        const ss = /^sector_size:(\d+)$/.exec(f);
        if (ss) {
          const n = Number(ss[1]);
          if (n < 512 || n > 4096 || (n & (n - 1)) !== 0) fail('crypt', 'Invalid feature value for sector_size');
          if (length % BigInt(n >> 9) !== 0n) fail('crypt', 'Device size is not multiple of sector_size feature');
        }
      }
    }
    // crypt_status(STATUSTYPE_TABLE): cipher, key, iv_offset, device, start, then the features
    // in the kernel's fixed order.
    const order = ['allow_discards', 'same_cpu_crypt', 'submit_from_crypt_cpus', 'no_read_workqueue', 'no_write_workqueue', 'integrity', 'sector_size', 'iv_large_sectors', 'high_priority'];
    const rank = (f: string) => order.indexOf(f.split(':')[0]!);
    const sorted = [...features].sort((a, b) => rank(a) - rank(b));
    const table = `${cipher} ${key} ${BigInt(ivOffset)} ${mm(d)} ${off}${sorted.length ? ` ${sorted.length} ${sorted.join(' ')}` : ''}`;
    return { table, status: () => '', deps: [d], areas: [{ device: d, startSectors: off!, lengthSectors: length }] };
  },
};

// ------------------------------------------------------------------------ verity ---

const verity: SimTargetType = {
  name: 'verity', version: [1, 8, 1],
  construct(argv, length, ctx) {
    if (argv.length < 10) fail('verity', 'Not enough arguments');
    const version = u32(argv[0]);
    if (version === undefined || version > 1) fail('verity', 'Invalid version');
    const data = dev(ctx, argv[1], 'verity', 'Data device lookup failed');
    const hash = dev(ctx, argv[2], 'verity', 'Hash device lookup failed');
    const dbs = u32(argv[3]);
    if (dbs === undefined || dbs < 512 || dbs > 1 << 30 || (dbs & (dbs - 1)) !== 0) fail('verity', 'Invalid data device block size');
    const hbs = u32(argv[4]);
    if (hbs === undefined || hbs < 512 || hbs > 1 << 30 || (hbs & (hbs - 1)) !== 0) fail('verity', 'Invalid hash device block size');
    const blocks = u64(argv[5]);
    if (blocks === undefined) fail('verity', 'Invalid data blocks');
    if (blocks! * BigInt(dbs! >> 9) < length) fail('verity', 'Data device is too small');
    if (u64(argv[6]) === undefined) fail('verity', 'Invalid hash start');
    if (!/^[a-z0-9()-]+$/.test(argv[7]!)) fail('verity', 'Cannot initialize hash function');
    if (!/^[0-9a-fA-F]+$/.test(argv[8]!) || argv[8]!.length % 2) fail('verity', 'Invalid root digest');
    if (argv[9] !== '-' && (!/^[0-9a-fA-F]*$/.test(argv[9]!) || argv[9]!.length % 2)) fail('verity', 'Invalid salt');
    const deps = [data, hash];
    const rest = argv.length > 10 ? group(argv, 10, 'verity', 'Invalid number of feature args') : [];
    if (argv.length > 10 && 11 + rest.length !== argv.length) fail('verity', 'Invalid number of feature args');
    const out: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const w = rest[i]!;
      if (w === 'use_fec_from_device') { const f = dev(ctx, rest[++i], 'verity', 'FEC device lookup failed'); deps.push(f); out.push(w, mm(f)); }
      else if (['fec_blocks', 'fec_start', 'fec_roots'].includes(w)) { if (u64(rest[i + 1]) === undefined) fail('verity', `Invalid ${w}`); out.push(w, String(u64(rest[++i]))); }
      else if (w === 'root_hash_sig_key_desc') out.push(w, rest[++i] ?? fail('verity', 'Invalid root_hash_sig_key_desc'));
      else if (/^(ignore_corruption|restart_on_corruption|panic_on_corruption|ignore_zero_blocks|check_at_most_once|try_verify_in_tasklet|restart_on_error|panic_on_error)$/.test(w)) out.push(w);
      else fail('verity', 'Unrecognized verity feature request');
    }
    const head = argv.slice(0, 10).map((a, i) => (i === 1 ? mm(data) : i === 2 ? mm(hash) : a)).join(' ');
    return {
      table: `${head}${out.length ? ` ${out.length} ${out.join(' ')}` : ''}`,
      status: () => 'V',
      deps,
      areas: [{ device: data, startSectors: 0n, lengthSectors: length }],
    };
  },
};

// --------------------------------------------------------------------- integrity ---

const integrity = (kernel: SimulatedKernel): SimTargetType => ({
  name: 'integrity', version: [1, 10, 0],
  construct(argv, length, ctx) {
    if (argv.length < 4) fail('integrity', 'Invalid argument count');
    const d = dev(ctx, argv[0], 'integrity');
    const start = u64(argv[1]);
    if (start === undefined) fail('integrity', 'Invalid starting offset');
    const tag = argv[2] === '-' ? 0 : u32(argv[2]);
    if (tag === undefined) fail('integrity', 'Invalid tag size');
    const mode = argv[3]!;
    if (!/^[DJBRI]$/.test(mode)) fail('integrity', 'Invalid mode (expecting J, B, D, R)');
    const opts = argv.length > 4 ? group(argv, 4, 'integrity', 'Invalid number of feature args') : [];
    if (argv.length > 4 && 5 + opts.length !== argv.length) fail('integrity', 'Invalid number of feature args');
    const nums: Record<string, string> = {};
    const flags: string[] = [];
    const algs: Record<string, string> = {};
    let meta: SimBlockDevice | undefined;
    for (const o of opts) {
      const m = /^([a-z_]+)(?::(.*))?$/.exec(o);
      const name = m?.[1] ?? '';
      const value = m?.[2];
      if (['journal_sectors', 'interleave_sectors', 'buffer_sectors', 'journal_watermark', 'commit_time', 'sectors_per_bit', 'bitmap_flush_interval', 'block_size'].includes(name)) {
        if (u64(value) === undefined) fail('integrity', 'Invalid argument');
        nums[name] = String(u64(value));
      } else if (name === 'meta_device') meta = dev(ctx, value, 'integrity', 'Device lookup failed');
      else if (['recalculate', 'reset_recalculate', 'allow_discards', 'fix_padding', 'fix_hmac', 'legacy_recalculate'].includes(name) && value === undefined) flags.push(name);
      else if (['internal_hash', 'journal_crypt', 'journal_mac'].includes(name) && value) algs[name] = value;
      else fail('integrity', 'Invalid argument');
    }
    if (mode === 'J') nums['journal_sectors'] ??= '176'; // the kernel's defaults (dm_integrity_ctr)
    nums['interleave_sectors'] ??= mode === 'D' || mode === 'R' ? '0' : '32768';
    nums['buffer_sectors'] ??= '128';
    nums['journal_watermark'] ??= '50';
    nums['commit_time'] ??= '10000';
    // dm_integrity_status(TABLE): meta_device, block_size, the early flags, the numbers (6.x
    // order; newer kernels print interleave and buffer sectors first), late flags, algorithms.
    const newest = kernel.version[1] >= 50;
    const numOrder = newest
      ? ['interleave_sectors', 'buffer_sectors', 'journal_sectors', 'journal_watermark', 'commit_time']
      : ['journal_sectors', 'interleave_sectors', 'buffer_sectors', 'journal_watermark', 'commit_time'];
    const words: string[] = [];
    if (meta) words.push(`meta_device:${mm(meta)}`);
    if (nums['block_size'] && nums['block_size'] !== '512') words.push(`block_size:${nums['block_size']}`);
    for (const f of ['recalculate', 'reset_recalculate', 'allow_discards']) if (flags.includes(f)) words.push(f);
    for (const n of numOrder) if (nums[n] !== undefined && !(n === 'journal_sectors' && mode !== 'J' && mode !== 'B')) words.push(`${n}:${nums[n]}`);
    if (mode === 'B') for (const n of ['sectors_per_bit', 'bitmap_flush_interval']) if (nums[n]) words.push(`${n}:${nums[n]}`);
    for (const f of ['fix_padding', 'fix_hmac', 'legacy_recalculate']) if (flags.includes(f)) words.push(f);
    for (const a of ['internal_hash', 'journal_crypt', 'journal_mac']) if (algs[a]) words.push(`${a}:${algs[a]}`);
    const recalc = flags.includes('recalculate') ? String(length) : '-';
    return {
      table: `${mm(d)} ${start} ${argv[2] === '-' ? '-' : tag} ${mode} ${words.length} ${words.join(' ')}`,
      // Approximation: the provided data sectors are the mapped length (the kernel derives
      // them from the superblock it formats, always at least the length).
      status: () => `0 ${length} ${recalc}`,
      deps: meta ? [d, meta] : [d],
    };
  },
});

// ------------------------------------------------------------------------ cache ---

const cache: SimTargetType = {
  name: 'cache', version: [2, 2, 0],
  construct(argv, length, ctx) {
    if (argv.length < 6) fail('cache', 'Insufficient args');
    const md = dev(ctx, argv[0], 'cache', 'Error opening metadata device');
    const cd = dev(ctx, argv[1], 'cache', 'Error opening cache device');
    const od = dev(ctx, argv[2], 'cache', 'Error opening origin device');
    if (od.sizeSectors < length) fail('cache', 'Device size larger than cached device');
    const bs = u32(argv[3]);
    if (bs === undefined || bs < 64 || bs > 2097152 || bs % 64 !== 0) fail('cache', 'Invalid data block size');
    if (bs! > cd.sizeSectors) fail('cache', 'Data block size is larger than the cache device');
    const features = group(argv, 4, 'cache', 'Invalid number of cache feature arguments');
    let io = 'writethrough';
    let metadata2 = false;
    let noDiscardPassdown = false;
    for (const f of features) {
      if (f === 'writeback' || f === 'writethrough' || f === 'passthrough') io = f;
      else if (f === 'metadata2') metadata2 = true;
      else if (f === 'no_discard_passdown') noDiscardPassdown = true;
      else fail('cache', 'Unrecognised cache feature requested');
    }
    let at = 5 + features.length;
    const policy = argv[at++];
    if (policy !== 'smq' && policy !== 'mq' && policy !== 'cleaner' && policy !== 'default') fail('cache', 'Error creating cache\'s policy');
    const policyArgs = argv.length > at ? group(argv, at, 'cache', 'Invalid number of policy arguments') : [];
    if (policyArgs.length % 2) fail('cache', 'Invalid number of policy arguments');
    if (argv.length !== at + (argv.length > at ? 1 + policyArgs.length : 0)) fail('cache', 'Invalid number of policy arguments');
    let migration = '2048';
    for (let i = 0; i < policyArgs.length; i += 2) {
      if (u32(policyArgs[i + 1]) === undefined) fail('cache', 'Error setting cache policy\'s config values');
      if (policyArgs[i] === 'migration_threshold') migration = policyArgs[i + 1]!;
    }
    const table = `${mm(md)} ${mm(cd)} ${mm(od)} ${argv.slice(3).join(' ')}`;
    const totalMeta = md.sizeSectors / 8n;
    const totalCache = cd.sizeSectors / BigInt(bs!);
    const name = policy === 'default' ? 'smq' : policy!;
    const featureWords = [...(metadata2 ? ['metadata2'] : []), io, ...(noDiscardPassdown ? ['no_discard_passdown'] : [])];
    const policyStatus = name === 'mq'
      ? '10 random_threshold 0 sequential_threshold 0 discard_promote_adjustment 0 read_promote_adjustment 0 write_promote_adjustment 0'
      : '0';
    return {
      table,
      status: () => `8 9/${totalMeta} ${bs} 0/${totalCache} 0 0 0 0 0 0 0 ${featureWords.length} ${featureWords.join(' ')} 2 migration_threshold ${migration} ${name} ${policyStatus} rw - `,
      deps: [md, cd, od],
      areas: [{ device: od, startSectors: 0n, lengthSectors: length }],
    };
  },
};

// -------------------------------------------------------------------- writecache ---

const writecache: SimTargetType = {
  name: 'writecache', version: [1, 6, 0],
  construct(argv, length, ctx) {
    if (argv.length < 5) fail('writecache', 'Not enough arguments');
    const mode = argv[0];
    if (mode !== 's' && mode !== 'p') fail('writecache', 'Persistent memory or SSD cache mode not specified');
    const od = dev(ctx, argv[1], 'writecache', 'Origin data device lookup failed');
    const cd = dev(ctx, argv[2], 'writecache', 'Cache data device lookup failed');
    const bs = u32(argv[3]);
    if (bs === undefined || bs < 512 || bs > 4096 || (bs & (bs - 1)) !== 0) fail('writecache', 'Invalid block size');
    const opts = group(argv, 4, 'writecache', 'Invalid number of feature args');
    if (5 + opts.length !== argv.length) fail('writecache', 'Invalid number of feature args');
    for (let i = 0; i < opts.length; i++) {
      const w = opts[i]!;
      if (['start_sector', 'high_watermark', 'low_watermark', 'writeback_jobs', 'autocommit_blocks', 'autocommit_time', 'max_age'].includes(w)) {
        if (u64(opts[++i]) === undefined) fail('writecache', `Invalid ${w.replace('_', ' ')}`);
      } else if (!['cleaner', 'fua', 'nofua', 'metadata_only', 'pause_writeback'].includes(w)) fail('writecache', 'Unrecognised writecache feature requested');
    }
    if (opts.includes('pause_writeback')) { const i = opts.indexOf('pause_writeback'); if (u64(opts[i + 1]) === undefined) fail('writecache', 'Invalid pause_writeback'); }
    // Approximation of the block count: the cache device in blocks, less its superblock and
    // 16 bytes of metadata per block (writecache_alloc_entries()).
    const blocks = (cd.sizeSectors * 512n - 4096n) / BigInt(bs! + 16);
    return {
      table: `${mode} ${mm(od)} ${mm(cd)} ${argv.slice(3).join(' ')}`,
      status: () => `0 ${blocks} ${blocks} 0 0 0 0 0 0 0 0 0 0 0`,
      deps: [od, cd],
      areas: [{ device: od, startSectors: 0n, lengthSectors: length }],
    };
  },
};

// ------------------------------------------------------------------------ era ---

const era: SimTargetType = {
  name: 'era', version: [1, 0, 0],
  construct(argv, length, ctx) {
    if (argv.length !== 3) fail('era', 'Invalid argument count');
    const md = dev(ctx, argv[0], 'era', 'Error opening metadata device');
    const od = dev(ctx, argv[1], 'era', 'Error opening data device');
    const bs = u32(argv[2]);
    if (bs === undefined || bs === 0 || (bs & (bs - 1)) !== 0) fail('era', 'Invalid block size');
    return {
      table: `${mm(md)} ${mm(od)} ${bs}`,
      status: () => `8 9/${md.sizeSectors / 8n} 1 -`, // a fresh era metadata device: 9 blocks used (measured, 6.1)
      deps: [md, od],
      areas: [{ device: od, startSectors: 0n, lengthSectors: length }],
    };
  },
};

// --------------------------------------------------------------------- snapshots ---

const snapshotOrigin: SimTargetType = {
  name: 'snapshot-origin', version: [1, 9, 0],
  construct(argv, length, ctx) {
    if (argv.length !== 1) fail('snapshot-origin', 'origin: incorrect number of arguments');
    const d = dev(ctx, argv[0], 'snapshot-origin', 'Cannot get target device');
    return { table: mm(d), status: () => '', deps: [d], areas: [{ device: d, startSectors: 0n, lengthSectors: length }] };
  },
};

function snapshotType(name: 'snapshot' | 'snapshot-merge'): SimTargetType {
  return {
    name, version: [1, 16, 0],
    construct(argv, _length, ctx) {
      if (argv.length < 4) fail(name, 'requires 4 or more arguments');
      const origin = dev(ctx, argv[0], name, 'Cannot get origin device');
      const cow = dev(ctx, argv[1], name, 'Cannot get COW device');
      if (cow.major === origin.major && cow.minor === origin.minor) fail(name, 'COW device cannot be the same as origin device');
      const persist = argv[2]!.toUpperCase();
      if (persist !== 'P' && persist !== 'N' && persist !== 'PO') fail(name, 'Couldn\'t create exception store');
      const chunk = u32(argv[3]);
      if (chunk === undefined || chunk === 0 || (chunk & (chunk - 1)) !== 0) fail(name, 'Couldn\'t create exception store');
      const features = argv.length > 4 ? group(argv, 4, name, 'Invalid number of feature args') : [];
      if (argv.length > 4 && 5 + features.length !== argv.length) fail(name, 'Invalid number of feature args');
      for (const f of features) if (f !== 'discard_zeroes_cow' && f !== 'discard_passdown_origin') fail(name, 'Unrecognised feature requested');
      if (features.includes('discard_passdown_origin') && !features.includes('discard_zeroes_cow')) fail(name, "discard_passdown_origin feature depends on discard_zeroes_cow");
      // Persistent stores hold a header chunk and one metadata chunk; transient ones nothing.
      const meta = persist === 'N' ? 0n : 2n * BigInt(chunk!);
      return {
        table: `${mm(origin)} ${mm(cow)} ${persist} ${chunk}${features.length ? ` ${features.length} ${features.join(' ')}` : ''}`,
        status: () => `${meta}/${cow.sizeSectors} ${meta}`,
        deps: [origin, cow],
      };
    },
  };
}

// ------------------------------------------------------------------------ mirror ---

const mirror: SimTargetType = {
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

const raid: SimTargetType = {
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

const multipath: SimTargetType = {
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

/** The storage targets of one simulated kernel (registered by its constructor). */
export function storageTargets(kernel: SimulatedKernel): SimTargetType[] {
  return [crypt, verity, integrity(kernel), cache, writecache, era, snapshotOrigin, snapshotType('snapshot'), snapshotType('snapshot-merge'), mirror, raid, multipath];
}

export type { ConstructedTarget };
