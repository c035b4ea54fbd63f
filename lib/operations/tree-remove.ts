/**
 * removeTree: top-down, as dm_tree_deactivate_children (tree-operations.ts says the rule;
 * docs/device-tree.md).
 */
import { ERRNO } from '../../ffi/errors.js';
import { optionsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { clientArg, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { addressOf } from './identity.js';
import { concurrencyArg } from './many.js';
import { removeDevice } from './remove-device.js';
import { runTreeSchedule } from './tree-schedule.js';
import { retryPolicy } from './retry.js';
import { bounded, checkTimeout } from './bounded-steps.js';
import { operationOptions, runOperation, type Operation } from './operation.js';
import { operationHost } from '../client/internal-keys.js';
import { linkedSignal } from '../events/abort-fanout.js';
import type { RemoveTreeOptions, KeptReason, RemoveTreeResult } from './tree-operations.js';
import { intentDevice } from './intent-record.js';
import { DEFAULT_TIMEOUT_MS, withProgress, isErrno, treeArg, snapshot, current, devicesArg, OPERATION_KINDS, bounds, stopOrFirst } from './tree-plan.js';

/**
 * Removes `devices` and everything below them, top-down (libdevmapper's
 * dm_tree_deactivate_children): each device once every user of it in the subtree is gone,
 * addressed by uuid (or by name, verified first) with EBUSY retries. A device still used from
 * outside the subtree stays, with everything below it (`kept`); non-dm devices (loop, disks)
 * are never touched. Resolves with what happened; throws on other kernel errors and on
 * DmIdentityError (a device replaced since the snapshot: nothing further is touched), with
 * `treeProgress` (the partial result) on the error.
 */
export async function removeTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: RemoveTreeOptions = {}): Promise<RemoveTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  optionsArg(options, 'options', { ...OPERATION_KINDS, deferred: 'boolean', retries: 'uint', delayMs: 'uint', stepTimeoutMs: 'uint', concurrency: 'uint' });
  treeArg(options.tree);
  const concurrency = concurrencyArg(options.concurrency);
  const bounds = operationOptions(options);
  const policy = retryPolicy({ retries: options.retries, delayMs: options.delayMs });
  const timeoutMs = checkTimeout(options.stepTimeoutMs, DEFAULT_TIMEOUT_MS);
  return runOperation(dm[operationHost](), 'removeTree', bounds, (op) => removeTreeBody(op, dm, refs, options, policy, timeoutMs, concurrency));
}

async function removeTreeBody(op: Operation, dm: DeviceMapper, refs: readonly TreeDeviceRef[], options: RemoveTreeOptions, policy: ReturnType<typeof retryPolicy>, timeoutMs: number, concurrency: number): Promise<RemoveTreeResult> {
  const tree = await snapshot(dm, options);
  const named = new Set(refs.map((d, i) => tree.node(d, `devices[${i}]`)));
  const set = new Set(tree.subtree([...named]).filter((n) => n.kind === 'dm'));
  const result = { removed: [] as TreeNode[], deferred: [] as TreeNode[], kept: [] as RemoveTreeResult['kept'][number][], gone: [] as TreeNode[], complete: false };
  const removed = new Set<TreeNode>();
  const deferred = new Set<TreeNode>();
  const kept = new Set<TreeNode>();
  let onRemoved: (n: TreeNode) => void = () => {};
  const handled = (n: TreeNode) => removed.has(n) || deferred.has(n) || kept.has(n) || result.gone.includes(n);
  const keep = (node: TreeNode, reason: KeptReason, users: TreeNode[], extra: { openCount?: number; suspended?: TreeNode[] } = {}) => {
    kept.add(node);
    result.kept.push({ node, reason, users, ...extra });
  };

  /** The mapped devices below `n` that are suspended now (each read afresh and identity-checked). */
  const suspendedBelow = async (n: TreeNode): Promise<TreeNode[]> => {
    const out: TreeNode[] = [];
    for (const b of tree.subtree([n])) {
      if (b === n || b.kind !== 'dm') continue;
      const s = await current(dm, b);
      if (s?.flags.suspended) out.push(b);
    }
    return out;
  };

  const remove = async (n: TreeNode, asDeferred: boolean, lane: number): Promise<'removed' | 'deferred' | 'busy' | 'gone'> => {
    // Stops the EBUSY retries of a removal the bound gave up on, and follows the operation's stop.
    const step = new AbortController();
    const link = linkedSignal([op.signal], step);
    try {
      // In the scheduler's lane: the transport may run it on a kernel-facing thread of the
      // lane's own, so that the grace periods of devices in flight overlap (tree-schedule.ts).
      const r = await op.step(`remove ${n.name}`, () => bounded(removeDevice(dm, addressOf(n.identity!), {
        expect: n.identity!, retries: policy.attempts, delayMs: policy.delayMs, signal: step.signal, deferred: asDeferred || undefined,
      }, lane), timeoutMs, `removing ${n.name} (${n.key})`));
      return r.deferred ? 'deferred' : 'removed';
    } catch (e) {
      if (isErrno(e, ERRNO.EBUSY)) return 'busy';
      if (isErrno(e, ERRNO.ENXIO)) return 'gone';
      step.abort();
      if (op.signal.aborted) op.checkpoint(); // stopped: the stop's own error
      throw e;
    } finally {
      link.release();
    }
  };

  // Set once a device failed: no further removal is sent (those in flight finish).
  let failed = false;
  const inSet = (ns: readonly TreeNode[]) => ns.filter((c) => set.has(c));

  /**
   * One device whose users in the subtree are all dealt with: kept, found gone, or removed.
   * Resolves with the devices it makes candidates (what it uses, once it is gone); a device
   * kept makes none, so nothing below it is touched unless another user of it reaches it.
   */
  const settle = async (n: TreeNode, lane: number): Promise<readonly TreeNode[]> => {
    op.checkpoint();
    const holders = n.parents.filter((p) => !set.has(p) || kept.has(p));
    if (holders.length) { keep(n, 'used', holders); return []; }
    const info = await current(dm, n);
    if (!info) {
      result.gone.push(n);
      return inSet(n.children);
    }
    // Users of the subtree that still exist hold it open once each (deferred ones, until their last close).
    const heldBy = n.parents.filter((p) => deferred.has(p));
    let asDeferred: boolean;
    if (info.openCount > heldBy.length) {
      // Open beyond its users in the tree: only a device the caller named is waited for (EBUSY
      // retries) or deferred; below, it is someone else's (libdm skips open non-top-level nodes).
      if (!named.has(n)) { keep(n, 'open', heldBy, { openCount: info.openCount }); return []; }
      asDeferred = options.deferred === true;
    } else if (info.openCount > 0) {
      // Held only by deferred users in the tree: it goes when they do.
      if (!options.deferred) { keep(n, 'used', heldBy, { openCount: info.openCount }); return []; }
      asDeferred = true;
    } else {
      asDeferred = false;
    }
    // A suspended device below: the removal (or a deferred one, later) could sleep until it is
    // resumed, e.g. a thin-pool's metadata commit (docs/kernel-facts.md). Not tried.
    const blocked = await suspendedBelow(n);
    if (blocked.length) { keep(n, 'suspended', heldBy, { suspended: blocked }); return []; }
    // Another device failed while this one was being read: this one is not tried (in no list).
    if (failed) return [];
    const outcome = await remove(n, asDeferred, lane);
    if (outcome === 'busy') { keep(n, named.has(n) ? 'busy' : 'open', heldBy); return []; }
    if (outcome === 'gone') result.gone.push(n);
    else if (outcome === 'deferred') { deferred.add(n); result.deferred.push(n); } else { removed.add(n); result.removed.push(n); onRemoved(n); }
    op.progress(`${outcome} ${n.name}`, removed.size + deferred.size + kept.size + result.gone.length, set.size);
    return inSet(n.children);
  };

  // Recorded before the first removal: a process that dies half-way leaves recover() the rest
  // of the subtree to remove (forward, top-down, each device identity-checked; what is in use stays).
  const order = tree.topDown([...named]).filter((n) => set.has(n) && n.identity);
  const gone: number[] = [];
  const intent = () => op.intent('removing', { kind: 'removing', devices: order.map((n) => intentDevice(n.identity!)), removed: [...gone] });
  intent();
  onRemoved = (n) => { gone.push(order.indexOf(n)); intent(); };
  const failures = await runTreeSchedule<TreeNode>({
    initial: tree.topDown([...named]).filter((n) => named.has(n) && set.has(n)),
    concurrency,
    // A device's turn: every user of it in the subtree dealt with (removed, deferred, kept or gone).
    ready: (n) => n.parents.every((p) => !set.has(p) || handled(p)),
    run: (n, lane) => settle(n, lane).catch((e: unknown) => { failed = true; throw e; }),
    canStart: () => !op.signal.aborted,
  });
  if (failures.length) {
    // The stop's own error when the operation was stopped, else the first failure; every
    // device's outcome on it (`treeProgress`: removed, deferred, kept, gone, failed; a device
    // in none of them was not tried).
    throw withProgress(stopOrFirst(op, failures), { ...result, failed: failures }, []);
  }
  result.complete = [...set].every((n) => removed.has(n) || deferred.has(n) || result.gone.includes(n));
  return result;
}
