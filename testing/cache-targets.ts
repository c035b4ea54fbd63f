/**
 * Simulated dm-cache, dm-writecache and dm-era: the targets that keep a fast device or a
 * record of writes beside an origin (drivers/md/dm-cache-target.c, dm-writecache.c,
 * dm-era-target.c). See testing/storage-targets.ts for what every simulated storage target
 * does and does not do.
 */
import { dev, fail, group, mm, u32, u64 } from './target-args.js';
import type { SimTargetType } from './targets.js';

// ------------------------------------------------------------------------ cache ---

export const cache: SimTargetType = {
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

export const writecache: SimTargetType = {
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

export const era: SimTargetType = {
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
