/**
 * Simulated dm-crypt, dm-verity and dm-integrity: the targets that encrypt, verify or
 * checksum what passes through (drivers/md/dm-crypt.c, dm-verity-target.c, dm-integrity.c).
 * See testing/storage-targets.ts for what every simulated storage target does and does not do.
 */
import type { SimulatedKernel } from './simulator.js';
import { dev, fail, group, mm, u32, u64 } from './target-args.js';
import type { SimBlockDevice, SimTargetType } from './targets.js';

// ------------------------------------------------------------------------ crypt ---

export const crypt: SimTargetType = {
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

export const verity: SimTargetType = {
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

export const integrity = (kernel: SimulatedKernel): SimTargetType => ({
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
    // The kernel's defaults (dm_integrity_ctr); journal_sectors depends on the device's size in
    // the kernel, and is a fixed approximation here. Every mode prints the journal, interleave
    // and buffer sizes (6.1, 6.12); only J its watermark and commit time, only B its bitmap
    // options (measured: D, B and R lines).
    nums['journal_sectors'] ??= '176';
    // 7.3 (dm 4.50) prints the journal's size only in mode J (measured: D, B and R lines).
    if (kernel.version[1] >= 50 && mode !== 'J') delete nums['journal_sectors'];
    nums['interleave_sectors'] ??= meta ? '1' : '32768';
    nums['buffer_sectors'] ??= '128';
    // Mode I (inline: the tags in the device's integrity profile) has neither a journal nor an
    // interleave: 7.3 prints only buffer_sectors (measured).
    if (mode === 'I') { delete nums['journal_sectors']; delete nums['interleave_sectors']; }
    if (mode === 'J') {
      nums['journal_watermark'] ??= '50';
      nums['commit_time'] ??= '10000';
    } else {
      delete nums['journal_watermark'];
      delete nums['commit_time'];
    }
    if (mode === 'B') {
      nums['sectors_per_bit'] ??= '32768';
      nums['bitmap_flush_interval'] ??= '10000';
    }
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
    for (const n of numOrder) if (nums[n] !== undefined) words.push(`${n}:${nums[n]}`);
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
