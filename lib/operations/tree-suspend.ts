/**
 * suspendTree (top-down, as dm_tree_suspend_children) and resumeTree (bottom-up, as
 * dm_tree_activate_children); tree-operations.ts says the rules, docs/device-tree.md more.
 */
import { ERRNO } from '../../ffi/errors.js';
import type { DeviceMapper } from '../client/client.js';
import { clientArg, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { DmIdentityError } from '../errors.js';
import { runOperation } from './operation.js';
import { slotOf, suspendedEffect } from './intent-record.js';
import { operationHost } from '../client/internal-keys.js';
import type { SuspendTreeOptions, ResumeTreeOptions, SuspendTreeResult, ResumeTreeResult } from './tree-operations.js';
import { withProgress, isErrno, snapshot, current, devicesArg, suspendOne, resumeOne, resumeForUndo, stepOptions, bounds, stopOrFirst } from './tree-plan.js';
import { runTreeSchedule } from './tree-schedule.js';

/**
 * Suspends `devices` and everything below them, top-down: a device only once every user of it
 * is suspended (dm_tree_suspend_children). A device whose user outside the subtree is live is
 * skipped, with everything only reachable through it. Devices whose users are all dealt with
 * go at once, up to `concurrency` (tree-schedule.ts). On any failure (an ioctl, a timeout, a
 * device replaced since the snapshot, the signal) no further device starts, those in flight
 * finish, and everything this call suspended is resumed, bottom-up, before the error is
 * thrown: the stack is never left half-suspended by us.
 */
export async function suspendTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: SuspendTreeOptions = {}): Promise<SuspendTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options, true);
  const cleanup: unknown[] = [];
  return runOperation(dm[operationHost](), 'suspendTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const order = tree.subtree(refs).filter((n) => n.kind === 'dm');
  const set = new Set(order);
  const result = { suspended: [] as TreeNode[], alreadySuspended: [] as TreeNode[], skipped: [] as SuspendTreeResult['skipped'][number][], gone: [] as TreeNode[] };
  const down = new Set<TreeNode>(); // suspended now, by us or before
  const decided = new Set<TreeNode>(); // down, skipped or gone
  let failed = false;
  const settle = async (n: TreeNode, lane: number): Promise<readonly TreeNode[]> => {
    op.checkpoint();
    op.progress(`suspend ${n.name}`, decided.size, order.length);
    const live: TreeNode[] = [];
    for (const p of n.parents) {
      if (set.has(p)) { if (!down.has(p) && !result.gone.includes(p)) live.push(p); continue; }
      // A user outside the subtree: only read, to see whether it is live.
      const s = p.kind === 'dm' ? await current(dm, p).catch((e) => { if (e instanceof DmIdentityError) return p.info; throw e; }) : undefined;
      if (s && !s.flags.suspended) live.push(p);
    }
    if (live.length) { result.skipped.push({ node: n, users: live }); decided.add(n); return []; }
    const info = await current(dm, n);
    if (!info) { result.gone.push(n); decided.add(n); return []; }
    if (info.flags.suspended) { down.add(n); result.alreadySuspended.push(n); decided.add(n); return []; }
    // Another device failed meanwhile: this one is not suspended (the operation is being undone).
    if (failed) return [];
    await suspendOne(op, dm, n, o, lane);
    // Undone bottom-up if the operation fails or is stopped, after close() too: the journal
    // runs last-in first-out, and a device's suspend returns only after its users' did.
    op.undo(`resume ${n.name}`, async () => {
      try {
        await resumeForUndo(op, n, o);
      } catch (e) {
        if (isErrno(e, ERRNO.ENXIO)) return;
        cleanup.push(e);
        throw e;
      }
    });
    down.add(n);
    decided.add(n);
    result.suspended.push(n);
    return [];
  };
  const failures = await runTreeSchedule<TreeNode>({
    initial: order,
    concurrency: o.concurrency,
    // Top-down: a device once every user of it in the subtree is suspended, skipped or gone.
    ready: (n) => n.parents.every((p) => !set.has(p) || decided.has(p)),
    run: (n, lane) => settle(n, lane).catch((e: unknown) => { failed = true; throw e; }),
    canStart: () => !op.signal.aborted,
  });
  if (failures.length) throw withProgress(stopOrFirst(op, failures), { ...result, failed: failures }, []);
  return result;
  }).catch((e: unknown) => {
    // Every resume the undo could not make, not only the first (the journal's cleanupError).
    if (cleanup.length && e !== null && typeof e === 'object') Object.assign(e, { cleanupErrors: cleanup });
    throw e;
  });
}

/**
 * Resumes the suspended devices among `devices` and everything below them, bottom-up
 * (dm_tree_activate_children): what a device uses first. Devices whose suspended lower
 * devices are all resumed go at once, up to `concurrency` (tree-schedule.ts). A resume swaps
 * in a device's inactive table if it has one, as the kernel always does. At the first failure
 * no further device starts; those in flight finish.
 */
export async function resumeTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: ResumeTreeOptions = {}): Promise<ResumeTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options, true);
  return runOperation(dm[operationHost](), 'resumeTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const result = { resumed: [] as TreeNode[], gone: [] as TreeNode[] };
  const order = tree.bottomUp(refs).filter((n) => n.kind === 'dm');
  // Every device to resume is recorded before the first resume: a process that dies halfway
  // leaves the rest to recover(), which finishes the resume (docs/crash-safety.md) rather
  // than leaving the devices above the ones done suspended, their I/O hanging.
  // In one write: a record holding only some of them would have recover() resume those alone.
  const todo: TreeNode[] = [];
  try {
    for (const n of order) {
      const info = await current(dm, n);
      if (!info) { result.gone.push(n); continue; }
      if (info.flags.suspended) todo.push(n);
    }
  } catch (e) {
    throw withProgress(e, result, []);
  }
  op.intentAll(todo.map((n) => [slotOf('suspended', n.identity!), suspendedEffect(n.identity!, o)] as const));
  const pending = new Set(todo);
  const resumed = new Set<TreeNode>();
  let failed = false;
  const failures = await runTreeSchedule<TreeNode>({
    initial: todo,
    concurrency: o.concurrency,
    // Bottom-up: a device once every suspended device it uses is resumed.
    ready: (n) => n.children.every((c) => !pending.has(c) || resumed.has(c)),
    run: async (n, lane) => {
      try {
        op.checkpoint();
        op.progress(`resume ${n.name}`, resumed.size + result.gone.length, order.length);
        if (failed) return [];
        await resumeOne(op, dm, n, o, lane);
        resumed.add(n);
        result.resumed.push(n);
        return [];
      } catch (e) {
        failed = true;
        throw e;
      }
    },
    canStart: () => !op.signal.aborted,
  });
  if (failures.length) throw withProgress(stopOrFirst(op, failures), { ...result, failed: failures }, []);
  return result;
  });
}
