/**
 * What the tree operations share (tree-remove.ts, tree-suspend.ts, tree-reload.ts): reading
 * the snapshot, checking the arguments every one of them takes, and the one suspend and
 * resume step each of them uses, addressed by uuid and checked against the snapshot's
 * device (lib/operations/identity.ts). The rules of each operation are in its own file;
 * tree-operations.ts says what they are together.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { describeValue, deviceArg, optionsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { DeviceTree, isNode, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { DmArgumentError, DmError } from '../errors.js';
import { addressOf, checkReply, repliedBy, resumeOurs } from './identity.js';
import { bounded, checkTimeout } from './bounded-steps.js';
import { operationOptions, type Operation } from './operation.js';
import type { TreeOperationOptions, SuspendTreeOptions } from './tree-operations.js';
import { slotOf, suspendedEffect } from './intent-record.js';
import { clientParts } from '../client/internal-keys.js';
import { FEATURES } from '../client/features.js';
import { udevTransaction } from '../udev/cookie-call.js';
import { concurrencyArg } from './many.js';
import type { TreeFailure } from './tree-schedule.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

/** A failure after some steps were taken: what was done is attached, and what failed while undoing. */
export function withProgress<E>(e: E, progress: object, cleanup: unknown[]): E {
  if (e !== null && typeof e === 'object') {
    Object.assign(e, { treeProgress: progress });
    if (cleanup.length) Object.assign(e, { cleanupErrors: cleanup });
  }
  return e;
}

/**
 * The error a tree operation whose scheduler reported failures rejects with: the stop's own
 * error when the operation was stopped (signal, timeout, close), else the first failure.
 */
export function stopOrFirst(op: Operation, failures: readonly TreeFailure<TreeNode>[]): unknown {
  try { op.checkpoint(); } catch (stop) { return stop; }
  return failures[0]!.error;
}

export function isErrno(e: unknown, errno: number): boolean {
  return e instanceof DmError && e.errno === errno;
}

export function treeArg(tree: unknown): void {
  if (tree !== undefined && !(tree instanceof DeviceTree)) throw new DmArgumentError('options.tree', 'a DeviceTree', describeValue(tree));
}

export async function snapshot(dm: DeviceMapper, o: TreeOperationOptions): Promise<DeviceTree> {
  return o.tree ?? DeviceTree.read(dm);
}

/** The device's state now, checked to be the snapshot's device; undefined when it is gone. */
export async function current(dm: DeviceMapper, n: TreeNode): Promise<DeviceInfo | undefined> {
  const id = n.identity!;
  const r = await dm.info(addressOf(id));
  if (!r.exists) return undefined;
  checkReply('info', id, r, false);
  return r;
}

/** The devices argument, each checked (a tree node, or a device id as every client method takes) before anything is sent. */
export function devicesArg(v: unknown): readonly TreeDeviceRef[] {
  if (!Array.isArray(v) || v.length === 0) throw new DmArgumentError('devices', 'a non-empty array of devices', describeValue(v));
  const out: TreeDeviceRef[] = [];
  for (let i = 0; i < v.length; i++) {
    if (!(i in v)) throw new DmArgumentError(`devices[${i}]`, 'a device (the array has a hole here)', 'a hole');
    const d: unknown = v[i];
    out.push(isNode(d) ? d : deviceArg(d, `devices[${i}]`));
  }
  return out;
}


export interface StepOptions {
  readonly noflush?: boolean;
  readonly skipLockfs?: boolean;
  readonly timeoutMs: number;
  /** Devices in flight at once (suspendTree, resumeTree; reloadTree goes one at a time). */
  readonly concurrency: number;
}

/**
 * DM_DEV_SUSPEND (suspend or resume) as the client's suspend() and resume() make it, in a
 * lane of the tree scheduler (tree-schedule.ts): the transport may run it on a kernel-facing
 * thread of the lane's own, so that the waits of devices in flight overlap. Without a lane,
 * the client's method itself.
 */
async function suspendCall(dm: DeviceMapper, at: DeviceId, action: 'suspend' | 'resume', flags: { noflush?: boolean | undefined; skipLockfs?: boolean | undefined }, lane: number | undefined): Promise<DeviceInfo> {
  if (lane === undefined) return action === 'suspend' ? dm.suspend(at, flags) : dm.resume(at, flags);
  const { runner, udev } = dm[clientParts]();
  if (action === 'suspend') {
    if (flags.noflush) runner.require('noflush', FEATURES.noflush);
    return (await runner.runAsync('suspend', { id: at, action, ...flags }, { device: at, lane })).device;
  }
  // A resume announces the device to udev as the client's resume() does (its cookie, its wait).
  return udevTransaction(udev(undefined), {}, async (cookie) => (await runner.runAsync('suspend', { id: at, action, ...flags, cookie }, { device: at, lane })).device, (d) => d.flags.ueventGenerated);
}

/**
 * The suspend step. A suspend that reached another device than the snapshot's (a device
 * without a uuid whose name changed hands after the check: the kernel's one window,
 * docs/identity.md) is reported and left as it is: the kernel suspends a suspended device
 * without saying so, so the step cannot know it changed that device, and resuming it would
 * swap in whatever its owner staged. A suspend that returns after the operation or the bound
 * gave up is undone when it reached our device, verified again right before the resume.
 */
export async function suspendOne(op: Operation, dm: DeviceMapper, n: TreeNode, o: StepOptions, lane?: number): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  const late = (r: DeviceInfo) => { if (repliedBy('suspend', id, r)) void resumeOurs(op.kernel, id, flags, `resume ${n.name}`).catch(() => {}); };
  // Recorded first: a process that dies with the device suspended leaves it to recover(), which resumes it.
  op.intent(slotOf('suspended', id), suspendedEffect(id, o));
  const r = await op.step(`suspend ${n.name}`, () => bounded(suspendCall(dm, at, 'suspend', flags, lane), o.timeoutMs, `suspending ${n.name} (${n.key})`, late), { onLate: late });
  op.check('suspend', id, r);
}

export async function resumeOne(op: Operation | undefined, dm: DeviceMapper, n: TreeNode, o: StepOptions, lane?: number): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  const call = () => bounded(suspendCall(dm, at, 'resume', flags, lane), o.timeoutMs, `resuming ${n.name} (${n.key})`);
  const r = op ? await op.step(`resume ${n.name}`, call) : await call();
  checkReply('resume', id, r, true);
  settleResumed(op, id);
}

/** A resumed device needs no recovery: not suspended, and its staged table (if any) live. */
function settleResumed(op: Operation | undefined, id: { readonly name: string; readonly uuid: string | null }): void {
  op?.settle(slotOf('suspended', id));
  op?.settle(slotOf('loaded', id));
}

/**
 * The resume of a device this operation suspended, through the calls that still work after
 * close(), bounded: verify-then-resume (lib/operations/identity.ts resumeOurs), so a device
 * replaced since (even one that took over its uuid) or resumed by someone else is left alone.
 */
export async function resumeForUndo(op: Operation, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  await bounded(resumeOurs(op.kernel, id, { noflush: o.noflush, skipLockfs: o.skipLockfs }, `resume ${n.name}`), o.timeoutMs, `resuming ${n.name} (${n.key})`);
  settleResumed(op, id);
}

/** Resumes `nodes` (given top-down) bottom-up, going on past failures; returns the errors. */
export async function undoSuspend(op: Operation, nodes: readonly TreeNode[], o: StepOptions): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const n of [...nodes].reverse()) {
    try {
      await resumeForUndo(op, n, o);
    } catch (e) {
      if (!isErrno(e, ERRNO.ENXIO)) errors.push(e);
    }
  }
  return errors;
}

/** The options of suspendTree and resumeTree (`parallel`: they take `concurrency`), and of reloadTree (which does not). */
export function stepOptions(options: SuspendTreeOptions, parallel = false): StepOptions {
  const kinds = { ...OPERATION_KINDS, noflush: 'boolean', skipLockfs: 'boolean', stepTimeoutMs: 'uint' } as const;
  if (parallel) optionsArg(options, 'options', { ...kinds, concurrency: 'uint' });
  else optionsArg(options, 'options', kinds);
  treeArg(options.tree);
  operationOptions(options);
  return {
    noflush: options.noflush, skipLockfs: options.skipLockfs, timeoutMs: checkTimeout(options.stepTimeoutMs, DEFAULT_TIMEOUT_MS),
    concurrency: parallel ? concurrencyArg(options.concurrency) : 1,
  };
}

/** The option kinds every tree operation takes (values checked by operationOptions). */
export const OPERATION_KINDS = { tree: 'any', signal: 'signal', timeoutMs: 'any', onProgress: 'function' } as const;

/** What an operation's caller gets of its options: the stop and progress ones. */
export const bounds = (o: TreeOperationOptions) => ({ signal: o.signal, timeoutMs: o.timeoutMs, onProgress: o.onProgress });
