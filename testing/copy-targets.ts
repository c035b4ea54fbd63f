/**
 * Simulated dm-clone, dm-ebs and dm-vdo: targets that copy, re-block or deduplicate what lies
 * below them (drivers/md/dm-clone-target.c, dm-ebs-target.c, dm-vdo/dm-vdo-target.c). See
 * testing/storage-targets.ts for what every simulated storage target does and does not do.
 *
 * Approximations: a clone with hydration enabled is fully hydrated at once (the kernel copies
 * in the background); its used metadata blocks are the count a fresh 7.3 clone reported (6). A vdo needs no
 * formatted volume here, and its used physical blocks are a fixed share of the total standing
 * in for the volume's metadata; its index is `online` with deduplication on, `closed` with it off.
 */
import { SimError } from './errors.js';
import { dev, fail, group, mm, u32, u64 } from './target-args.js';
import type { SimTargetType } from './targets.js';

const pow2 = (n: number | undefined): n is number => n !== undefined && n > 0 && (n & (n - 1)) === 0;

// ------------------------------------------------------------------------ clone ---

export const clone: SimTargetType = {
  name: 'clone', version: [1, 0, 0],
  construct(argv, length, ctx) {
    if (argv.length < 4) fail('clone', 'Invalid number of arguments');
    const md = dev(ctx, argv[0], 'clone', 'Error opening metadata device');
    const dest = dev(ctx, argv[1], 'clone', 'Error opening destination device');
    if (dest.sizeSectors < length) fail('clone', 'Device size larger than destination device');
    const src = dev(ctx, argv[2], 'clone', 'Error opening source device');
    if (src.sizeSectors < length) fail('clone', 'Device size larger than source device');
    const region = u32(argv[3]);
    if (region === undefined || region < 8 || region > 1 << 21) fail('clone', 'Invalid region size');
    if (!pow2(region)) fail('clone', 'Region size is not a power of 2');
    const nrRegions = (length + BigInt(region!) - 1n) / BigInt(region!);
    if (nrRegions > 1n << 31n) fail('clone', 'Too many regions. Consider increasing the region size');
    let hydration = true;
    let passdown = true;
    let at = 4;
    if (argv.length > at) {
      const feats = group(argv, at, 'clone', 'Invalid number of feature arguments', 2);
      for (const f of feats) {
        if (f.toLowerCase() === 'no_hydration') hydration = false;
        else if (f.toLowerCase() === 'no_discard_passdown') passdown = false;
        else fail('clone', 'Invalid feature argument');
      }
      at += 1 + feats.length;
    }
    let threshold = 1;
    let batch = 1;
    if (argv.length > at) {
      const core = group(argv, at, 'clone', 'Invalid number of core arguments', 4);
      if (core.length % 2) fail('clone', 'Number of core arguments must be even');
      for (let i = 0; i < core.length; i += 2) {
        const k = core[i]!.toLowerCase();
        if (k !== 'hydration_threshold' && k !== 'hydration_batch_size') fail('clone', 'Invalid core argument');
        const v = u32(core[i + 1]);
        if (v === undefined) fail('clone', `Invalid value for argument \`${k}'`);
        if (k === 'hydration_threshold') threshold = v!;
        else batch = v!;
      }
    }
    // DM_CLONE_METADATA_MAX_SECTORS: at most 16 GiB of metadata is used (4 KiB blocks).
    const metaBlocks = (md.sizeSectors < 33423360n ? md.sizeSectors : 33423360n) / 8n;
    let hydrated = hydration ? nrRegions : 0n;
    return {
      // The kernel keeps its constructor's words after the three devices and prints them back.
      table: `${mm(md)} ${mm(dest)} ${mm(src)} ${argv.slice(3).join(' ')}`,
      status: () => {
        const feats = [...(hydration ? [] : ['no_hydration']), ...(passdown ? [] : ['no_discard_passdown'])];
        return `8 ${metaBlocks < 6n ? metaBlocks : 6n}/${metaBlocks} ${region} ${hydrated}/${nrRegions} 0 ${feats.length} ${feats.map((f) => `${f} `).join('')}4 hydration_threshold ${threshold} hydration_batch_size ${batch} rw`;
      },
      deps: [md, dest, src],
      areas: [{ device: src, startSectors: 0n, lengthSectors: length }, { device: dest, startSectors: 0n, lengthSectors: length }],
      message(m) {
        const cmd = m[0]?.toLowerCase();
        if (cmd === 'enable_hydration') { hydration = true; hydrated = nrRegions; return undefined; }
        if (cmd === 'disable_hydration') { hydration = false; return undefined; }
        if (m.length !== 2) throw new SimError('EINVAL', 'clone: invalid message');
        const v = u32(m[1]);
        if (v === undefined) throw new SimError('EINVAL', 'clone: invalid message value');
        if (cmd === 'hydration_threshold') threshold = v;
        else if (cmd === 'hydration_batch_size') batch = v;
        else throw new SimError('EINVAL', `clone: Unsupported message \`${m[0]}'`);
        return undefined;
      },
    };
  },
};

// -------------------------------------------------------------------------- ebs ---

export const ebs: SimTargetType = {
  name: 'ebs', version: [1, 0, 1],
  construct(argv, length, ctx) {
    if (argv.length < 3 || argv.length > 4) fail('ebs', 'Invalid argument count');
    const start = u64(argv[1]);
    if (start === undefined) fail('ebs', 'Invalid device offset sector');
    const e = u32(argv[2]);
    // %hu, __ebs_check_bs(), at most PAGE_SIZE (4 KiB here)
    if (e === undefined || e > 0xffff || !pow2(e) || e > 8) fail('ebs', 'Invalid emulated block size');
    let u: number | undefined;
    if (argv.length > 3) {
      u = u32(argv[3]);
      if (u === undefined || u > 0xffff || !pow2(u)) fail('ebs', 'Invalid underlying block size');
    }
    const d = dev(ctx, argv[0], 'ebs');
    // The simulated devices have 512-byte logical blocks: one sector.
    if (start! % BigInt(u ?? 1) !== 0n) fail('ebs', 'Device offset must be multiple of underlying block size');
    return {
      table: `${mm(d)} ${start} ${e}${u === undefined ? '' : ` ${u}`}`,
      status: () => '',
      deps: [d],
      areas: [{ device: d, startSectors: start!, lengthSectors: length }],
    };
  },
};

// -------------------------------------------------------------------------- vdo ---

/** The `stats` reply's groups, each key's value 0 on a fresh volume (write_vdo_statistics()). */
const BIOS = ['read', 'write', 'emptyFlush', 'discard', 'flush', 'fua'];
const GROUPS_BEFORE: [string, string[] | [string, string[]][]][] = [
  ['packer', ['compressedFragmentsWritten', 'compressedBlocksWritten', 'compressedFragmentsInPacker']],
  ['allocator', ['slabCount', 'slabsOpened', 'slabsReopened']],
  ['journal', [['diskFull', []], ['slabJournalCommitsRequested', []], ['entries', ['started', 'written', 'committed']], ['blocks', ['started', 'written', 'committed']]]],
  ['slabJournal', ['diskFullCount', 'flushCount', 'blockedCount', 'blocksWritten', 'tailBusyCount']],
  ['slabSummary', ['blocksWritten']],
  ['refCounts', ['blocksWritten']],
  ['blockMap', ['dirtyPages', 'cleanPages', 'freePages', 'failedPages', 'incomingPages', 'outgoingPages', 'cachePressure', 'readCount', 'writeCount', 'failedReads', 'failedWrites', 'reclaimed', 'readOutgoing', 'foundInCache', 'discardRequired', 'waitForPage', 'fetchRequired', 'pagesLoaded', 'pagesSaved', 'flushCount']],
  ['hashLock', ['dedupeAdviceValid', 'dedupeAdviceStale', 'concurrentDataMatches', 'concurrentHashCollisions', 'currDedupeQueries']],
  ['errors', ['invalidAdvicePBNCount', 'noSpaceErrorCount', 'readOnlyErrorCount']],
];
const BIO_GROUPS = ['biosIn', 'biosInPartial', 'biosOut', 'biosMeta', 'biosJournal', 'biosPageCache', 'biosOutCompleted', 'biosMetaCompleted', 'biosJournalCompleted', 'biosPageCacheCompleted', 'biosAcknowledged', 'biosAcknowledgedPartial', 'biosInProgress'];

function zeros(keys: string[] | [string, string[]][]): string {
  return `{ ${keys.map((k) => (typeof k === 'string' ? `${k} : 0, ` : k[1].length ? `${k[0]} : ${zeros(k[1])}, ` : `${k[0]} : 0, `)).join('')}}`;
}

let vdoInstances = 0;

export const vdo: SimTargetType = {
  name: 'vdo', version: [9, 0, 0],
  construct(argv, length, ctx) {
    if (length % 8n !== 0n) fail('vdo', 'Logical size must be a multiple of 4096');
    if (argv.length === 0) fail('vdo', 'Incorrect number of arguments');
    // dm-vdo's get_version_number and parse_device_config: a line without a V<n> word is V0;
    // V0 and V1 have exactly REQUIRED_ARGC words (the last a thread-config string), V2+ at
    // least that many, then key/value pairs. Older versions carry words the kernel skips: the
    // read-cache pair (≤ V1), the RAID5 mode (≤ V2), the write policy (≤ V3), the pool name
    // (≤ V2); V0 has no physical block count (the storage device's size is used).
    const REQUIRED_ARGC = [10, 12, 9, 7, 6];
    const v = /^V(\d+)$/.exec(argv[0]!);
    const version = v ? Number(v[1]) : 0;
    if (v && (version < 1 || version > 4)) fail('vdo', 'Unknown version number detected');
    if (version <= 1 ? argv.length !== REQUIRED_ARGC[version] : argv.length < REQUIRED_ARGC[version]!) fail('vdo', 'Incorrect number of arguments for version');
    let i = version === 0 ? 0 : 1;
    const storage = argv[i++];
    const physicalWord = version >= 1 ? argv[i++] : undefined;
    const logicalBlockSize = argv[i++];
    if (version <= 1) i += 2;
    const cache = u32(argv[i++]);
    const maxAge = u32(argv[i++]);
    if (version <= 2) i += 1;
    if (version <= 3) i += 1;
    if (version <= 2) i += 1;
    if (physicalWord !== undefined && u64(physicalWord) === undefined) fail('vdo', 'Invalid physical block count');
    if (logicalBlockSize !== '512' && logicalBlockSize !== '4096') fail('vdo', 'Invalid logical block size');
    if (cache === undefined) fail('vdo', 'Invalid block map page cache size');
    if (maxAge === undefined) fail('vdo', 'Invalid block map maximum age');
    let opts = argv.slice(i);
    if (version <= 1) {
      // One thread-config word: "." or comma-separated key=value.
      const spec = opts[0]!;
      opts = spec === '.' ? [] : spec.split(',').flatMap((kv) => {
        const m = /^([A-Za-z]+)=(\d+)$/.exec(kv);
        if (!m) fail('vdo', 'Invalid thread-count configuration');
        return [m![1]!, m![2]!];
      });
    }
    if (opts.length % 2) fail('vdo', 'Odd number of optional arguments given but they should be <key> <value> pairs');
    let compression = false;
    let dedupe = true;
    const zones: Record<string, number> = { hash: 0, logical: 0, physical: 0 };
    for (let i = 0; i < opts.length; i += 2) {
      const [k, val] = [opts[i]!, opts[i + 1]!];
      if (k === 'compression' || k === 'deduplication') {
        if (val !== 'on' && val !== 'off') fail('vdo', 'Invalid optional argument configuration');
        if (k === 'compression') compression = val === 'on';
        else dedupe = val === 'on';
        continue;
      }
      const n = u32(val);
      if (n === undefined) fail('vdo', 'Invalid optional argument configuration');
      if (k in zones) zones[k] = n!;
    }
    if ((zones.logical === 0) !== (zones.physical === 0) || (zones.physical === 0) !== (zones.hash === 0)) fail('vdo', 'Logical, physical, and hash zones counts must all be zero or all non-zero');
    if (cache! < 4096 * zones.logical!) fail('vdo', 'Insufficient block map cache for logical zones');
    const d = dev(ctx, storage, 'vdo', 'Unable to open storage device');
    const physical = physicalWord === undefined ? d.sizeSectors / 8n : u64(physicalWord)!;
    if (physical * 8n > d.sizeSectors) fail('vdo', 'Cannot load metadata from device');
    const instance = vdoInstances++;
    const overhead = physical / 16n;
    const stats = () => [
      `{ version : 36, dataBlocksUsed : 0, overheadBlocksUsed : ${overhead}, logicalBlocksUsed : 0, physicalBlocks : ${physical}, logicalBlocks : ${length / 8n}, `,
      `blockMapCacheSize : ${BigInt(cache!) * 4096n}, blockSize : 4096, completeRecoveries : 0, readOnlyRecoveries : 0, mode : normal, inRecoveryMode : 0, recoveryPercentage : 0, `,
      GROUPS_BEFORE.map(([g, keys]) => `${g} : ${zeros(keys)}, `).join(''),
      `instance : ${instance}, currentVIOsInProgress : 0, maxVIOs : 2048, dedupeAdviceTimeouts : 0, flushOut : 0, logicalBlockSize : ${logicalBlockSize}, `,
      BIO_GROUPS.map((g) => `${g} : ${zeros(BIOS)}, `).join(''),
      `memoryUsage : { bytesUsed : 0, peakBytesUsed : 0, }, `,
      `index : ${zeros(['entriesIndexed', 'postsFound', 'postsNotFound', 'queriesFound', 'queriesNotFound', 'updatesFound', 'updatesNotFound', 'entriesDiscarded'])}, }`,
    ].join('');
    return {
      // The kernel keeps the constructor's words and prints them back as given.
      table: argv.join(' '),
      status: () => `${d.path} normal - ${dedupe ? 'online' : 'closed'} ${compression ? 'online' : 'offline'} ${overhead} ${physical}`,
      deps: [d],
      areas: [{ device: d, startSectors: 0n, lengthSectors: physical * 8n }],
      message(m) {
        const cmd = m[0]?.toLowerCase();
        if (m.length === 1 && cmd === 'stats') return stats();
        if (cmd === 'dump') return undefined;
        if (m.length === 1 && (cmd === 'dump-on-shutdown' || cmd === 'index-close' || cmd === 'index-create' || cmd === 'index-disable' || cmd === 'index-enable')) {
          if (cmd === 'index-close' || cmd === 'index-disable') dedupe = false;
          if (cmd === 'index-enable' || cmd === 'index-create') dedupe = true;
          return undefined;
        }
        if (m.length === 2 && cmd === 'compression' && (m[1]!.toLowerCase() === 'on' || m[1]!.toLowerCase() === 'off')) {
          compression = m[1]!.toLowerCase() === 'on';
          return undefined;
        }
        throw new SimError('EINVAL', `vdo: unrecognized dmsetup message '${m[0] ?? ''}' received`);
      },
    };
  },
};
