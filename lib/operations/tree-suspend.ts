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
import { withProgress, isErrno, snapshot, current, devicesArg, suspendOne, resumeOne, resumeForUndo, stepOptions, bounds } from './tree-plan.js';

/**
 * Suspends `devices` and everything below them, top-down: a device only once every user of it
 * is suspended (dm_tree_suspend_children). A device whose user outside the subtree is live is
 * skipped, with everything only reachable through it. On any failure (an ioctl, a timeout, a
 * device replaced since the snapshot, the signal) everything this call suspended is resumed,
 * bottom-up, before the error is thrown: the stack is never left half-suspended by us.
 */
export async function suspendTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: SuspendTreeOptions = {}): Promise<SuspendTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options);
  const cleanup: unknown[] = [];
  return runOperation(dm[operationHost](), 'suspendTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const order = tree.subtree(refs).filter((n) => n.kind === 'dm');
  const set = new Set(order);
  const result = { suspended: [] as TreeNode[], alreadySuspended: [] as TreeNode[], skipped: [] as SuspendTreeResult['skipped'][number][], gone: [] as TreeNode[] };
  const down = new Set<TreeNode>(); // suspended now, by us or before
  try {
    for (const n of order) {
      op.checkpoint();
      op.progress(`suspend ${n.name}`, down.size + result.skipped.length + result.gone.length, order.length);
      const live: TreeNode[] = [];
      for (const p of n.parents) {
        if (set.has(p)) { if (!down.has(p) && !result.gone.includes(p)) live.push(p); continue; }
        // A user outside the subtree: only read, to see whether it is live.
        const s = p.kind === 'dm' ? await current(dm, p).catch((e) => { if (e instanceof DmIdentityError) return p.info; throw e; }) : undefined;
        if (s && !s.flags.suspended) live.push(p);
      }
      if (live.length) { result.skipped.push({ node: n, users: live }); continue; }
      const info = await current(dm, n);
      if (!info) { result.gone.push(n); continue; }
      if (info.flags.suspended) { down.add(n); result.alreadySuspended.push(n); continue; }
      await suspendOne(op, dm, n, o);
      // Undone bottom-up (the journal runs last-in first-out) if the operation fails or is stopped, after close() too.
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
      result.suspended.push(n);
    }
  } catch (e) {
    throw withProgress(e, result, []);
  }
  return result;
  }).catch((e: unknown) => {
    // Every resume the undo could not make, not only the first (the journal's cleanupError).
    if (cleanup.length && e !== null && typeof e === 'object') Object.assign(e, { cleanupErrors: cleanup });
    throw e;
  });
}

/**
 * Resumes the suspended devices among `devices` and everything below them, bottom-up
 * (dm_tree_activate_children): what a device uses first. A resume swaps in a device's
 * inactive table if it has one, as the kernel always does. Stops at the first failure.
 */
export async function resumeTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: ResumeTreeOptions = {}): Promise<ResumeTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options);
  return runOperation(dm[operationHost](), 'resumeTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const result = { resumed: [] as TreeNode[], gone: [] as TreeNode[] };
  try {
    const order = tree.bottomUp(refs).filter((n) => n.kind === 'dm');
    // Every device to resume is recorded before the first resume: a process that dies halfway
    // leaves the rest to recover(), which finishes the resume (docs/crash-safety.md) rather
    // than leaving the devices above the ones done suspended, their I/O hanging.
    // In one write: a record holding only some of them would have recover() resume those alone.
    const todo: (TreeNode | undefined)[] = [];
    for (const n of order) {
      const info = await current(dm, n);
      if (!info) { result.gone.push(n); todo.push(undefined); continue; }
      todo.push(info.flags.suspended ? n : undefined);
    }
    op.intentAll(todo.filter((n) => n !== undefined).map((n) => [slotOf('suspended', n.identity!), suspendedEffect(n.identity!, o)] as const));
    for (const [i, n] of todo.entries()) {
      op.checkpoint();
      if (!n) continue;
      op.progress(`resume ${n.name}`, i, order.length);
      await resumeOne(op, dm, n, o);
      result.resumed.push(n);
    }
  } catch (e) {
    throw withProgress(e, result, []);
  }
  return result;
  });
}
