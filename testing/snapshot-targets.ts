/**
 * Simulated snapshot-origin, snapshot and snapshot-merge (drivers/md/dm-snap.c). See
 * testing/storage-targets.ts for what every simulated storage target does and does not do.
 */
import { dev, fail, group, mm, u32 } from './target-args.js';
import type { SimTargetType } from './targets.js';

// --------------------------------------------------------------------- snapshots ---

export const snapshotOrigin: SimTargetType = {
  name: 'snapshot-origin', version: [1, 9, 0],
  construct(argv, length, ctx) {
    if (argv.length !== 1) fail('snapshot-origin', 'origin: incorrect number of arguments');
    const d = dev(ctx, argv[0], 'snapshot-origin', 'Cannot get target device');
    return { table: mm(d), status: () => '', deps: [d], areas: [{ device: d, startSectors: 0n, lengthSectors: length }] };
  },
};

export function snapshotType(name: 'snapshot' | 'snapshot-merge'): SimTargetType {
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
