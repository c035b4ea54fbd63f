/**
 * What the tree operations share (tree-remove.ts, tree-suspend.ts, tree-reload.ts): reading
 * the snapshot, checking the arguments every one of them takes, and the one suspend and
 * resume step each of them uses, addressed by uuid and checked against the snapshot's
 * device (lib/operations/identity.ts). The rules of each operation are in its own file;
 * tree-operations.ts says what they are together.
 */
import type { DeviceInfo } from '../../codec/index.js';
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

export const DEFAULT_TIMEOUT_MS = 30_000;

/** A failure after some steps were taken: what was done is attached, and what failed while undoing. */
export function withProgress<E>(e: E, progress: object, cleanup: unknown[]): E {
  if (e !== null && typeof e === 'object') {
    Object.assign(e, { treeProgress: progress });
    if (cleanup.length) Object.assign(e, { cleanupErrors: cleanup });
  }
  return e;
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


export interface StepOptions { readonly noflush?: boolean; readonly skipLockfs?: boolean; readonly timeoutMs: number }

/**
 * The suspend step. A suspend that reached another device than the snapshot's (a device
 * without a uuid whose name changed hands after the check: the kernel's one window,
 * docs/identity.md) is reported and left as it is: the kernel suspends a suspended device
 * without saying so, so the step cannot know it changed that device, and resuming it would
 * swap in whatever its owner staged. A suspend that returns after the operation or the bound
 * gave up is undone when it reached our device, verified again right before the resume.
 */
export async function suspendOne(op: Operation, dm: DeviceMapper, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  const late = (r: DeviceInfo) => { if (repliedBy('suspend', id, r)) void resumeOurs(op.kernel, id, flags, `resume ${n.name}`).catch(() => {}); };
  // Recorded first: a process that dies with the device suspended leaves it to recover(), which resumes it.
  op.intent(slotOf('suspended', id), suspendedEffect(id, o));
  const r = await op.step(`suspend ${n.name}`, () => bounded(dm.suspend(at, flags), o.timeoutMs, `suspending ${n.name} (${n.key})`, late), { onLate: late });
  op.check('suspend', id, r);
}

export async function resumeOne(op: Operation | undefined, dm: DeviceMapper, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  const call = () => bounded(dm.resume(at, flags), o.timeoutMs, `resuming ${n.name} (${n.key})`);
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

export function stepOptions(options: SuspendTreeOptions): StepOptions {
  optionsArg(options, 'options', { ...OPERATION_KINDS, noflush: 'boolean', skipLockfs: 'boolean', stepTimeoutMs: 'uint' });
  treeArg(options.tree);
  operationOptions(options);
  return { noflush: options.noflush, skipLockfs: options.skipLockfs, timeoutMs: checkTimeout(options.stepTimeoutMs, DEFAULT_TIMEOUT_MS) };
}

/** The option kinds every tree operation takes (values checked by operationOptions). */
export const OPERATION_KINDS = { tree: 'any', signal: 'signal', timeoutMs: 'any', onProgress: 'function' } as const;

/** What an operation's caller gets of its options: the stop and progress ones. */
export const bounds = (o: TreeOperationOptions) => ({ signal: o.signal, timeoutMs: o.timeoutMs, onProgress: o.onProgress });
