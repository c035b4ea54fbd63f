/**
 * The simulated kernel's other targets: every target with a typed unit in lib/targets/
 * (crypt, verity, integrity, cache, writecache, era, snapshot-origin, snapshot,
 * snapshot-merge, mirror, raid, multipath, clone, ebs, vdo) is known to the simulator, so code built on
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
 * One file per family: crypt-targets.ts (crypt, verity, integrity), cache-targets.ts (cache,
 * writecache, era), snapshot-targets.ts, redundancy-targets.ts (mirror, raid, multipath);
 * copy-targets.ts (clone, ebs, vdo); their shared argument parsing is target-args.ts.
 *
 * Sources: the constructors and *_status() functions of drivers/md/dm-crypt.c,
 * dm-verity-target.c, dm-integrity.c, dm-cache-target.c, dm-writecache.c, dm-era-target.c,
 * dm-snap.c, dm-raid1.c, dm-raid.c, dm-mpath.c, dm-clone-target.c, dm-ebs-target.c,
 * dm-vdo/dm-vdo-target.c; table/status texts the kernels printed
 * (spec/targets/cases.ts, spec/targets/realtools-cases.ts).
 */
import type { SimulatedKernel } from './simulator.js';
import type { ConstructedTarget, SimTargetType } from './targets.js';
import { crypt, integrity, verity } from './crypt-targets.js';
import { cache, era, writecache } from './cache-targets.js';
import { snapshotOrigin, snapshotType } from './snapshot-targets.js';
import { mirror, multipath, raid } from './redundancy-targets.js';
import { clone, ebs, vdo } from './copy-targets.js';

/** The storage targets of one simulated kernel (registered by its constructor). */
export function storageTargets(kernel: SimulatedKernel): SimTargetType[] {
  return [crypt, verity, integrity(kernel), cache, writecache, era, snapshotOrigin, snapshotType('snapshot'), snapshotType('snapshot-merge'), mirror, raid, multipath, clone, ebs, vdo];
}

export type { ConstructedTarget };
